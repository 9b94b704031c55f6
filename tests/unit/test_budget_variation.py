"""The sandbox's varied backfill budgets: the history budget pool tests fit curves on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
