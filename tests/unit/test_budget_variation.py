"""The sandbox's varied backfill budgets and its expected day: what budget pool tests
fit curves on and check them against."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from sandbox.simulator import CampaignSimulator

START = datetime(2026, 10, 1, 5, tzinfo=UTC)


def test_backfilled_days_vary_within_the_share_and_the_default_returns_after() -> None:
    default = CampaignSimulator(3, 11, START)
    varied = CampaignSimulator(3, 11, START)
    until = START + timedelta(days=10)
    varied.vary_budgets(until, 0.4)
    for campaign in varied.campaign_ids:
        base = default.state_at(campaign, START).daily_budget
        daily = {
            varied.state_at(campaign, START + timedelta(hours=h)).daily_budget
            for h in range(0, 10 * 24)
        }
        assert len(daily) >= 8  # a new level (nearly) every day
        assert all(0.6 * base - 0.01 <= b <= 1.4 * base + 0.01 for b in daily)
        assert varied.state_at(campaign, until).daily_budget == base
        # A day's budget holds for the whole UTC day.
        noon = datetime(2026, 10, 3, 12, tzinfo=UTC)
        assert varied.state_at(campaign, noon) == varied.state_at(campaign, noon.replace(hour=0))


def test_no_variation_changes_nothing() -> None:
    default = CampaignSimulator(2, 11, START)
    same = CampaignSimulator(2, 11, START)
    same.vary_budgets(START + timedelta(days=5), 0.0)
    hour = START + timedelta(hours=30)
    assert same.simulate_hour(hour) == default.simulate_hour(hour)


def test_the_expected_day_matches_the_simulated_average() -> None:
    simulator = CampaignSimulator(2, 5, START)
    campaign = simulator.campaign_ids[1]
    budget = simulator.state_at(campaign, START).daily_budget
    days = 60
    rows = [r for hour in simulator.simulate_range(START, days * 24) for r in hour]
    mine = [r for r in rows if r.campaign_id == campaign]
    spend = sum(r.spend for r in mine) / days
    revenue = sum(r.revenue for r in mine) / days
    expected_spend, expected_revenue = simulator.expected_day(campaign, budget)
    assert expected_spend == pytest.approx(spend, rel=0.01)
    assert expected_revenue == pytest.approx(revenue, rel=0.05)
    # More budget buys more revenue at a falling rate.
    more = [simulator.expected_day(campaign, budget * f)[1] for f in (1.0, 1.5, 2.0)]
    assert more[0] < more[1] < more[2]
    assert more[2] - more[1] < more[1] - more[0]
    assert np.isfinite(more).all()
