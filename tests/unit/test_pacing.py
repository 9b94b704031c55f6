"""Budget pacing on hand-made days and on the simulator's normal behaviour."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from sandbox.simulator import CampaignSimulator
from services.alerts.anomaly import DetectorParams
from services.alerts.pacing import check_pacing, check_pacing_with_history
from shared.metrics import HourlyMetrics

CAMPAIGN = UUID("00000000-0000-0000-0000-0000000000c3")
DAY = datetime(2025, 3, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
BUDGET = 2400.0


def _hours(spend: list[float], day: datetime = DAY, budget: float = BUDGET) -> list[HourlyMetrics]:
    return [
        HourlyMetrics(CAMPAIGN, day + i * HOUR, 1000, 20, 1, amount, 50.0, budget)
        for i, amount in enumerate(spend)
    ]


def test_on_pace_spend_raises_nothing() -> None:
    assert check_pacing(_hours([100.0] * 12)) is None


def test_spend_ahead_of_pace_is_reported_with_its_fractions() -> None:
    # six hours: a flat day expects 25% of 2,400; 900 is 37.5%
    result = check_pacing(_hours([150.0] * 6))
    assert result is not None
    assert result.kind == "budget_pacing"
    assert result.observed_fraction == pytest.approx(0.375)
    assert result.expected_fraction == pytest.approx(0.25)
    assert result.severity == "medium"  # 1.5x the expected share
    assert result.profile_kind == "flat"
    assert result.content.alert_type == "budget_threshold"
    assert result.content.title.startswith("Spend running 50% ahead of pace")
    assert "900.00" in result.content.description


def test_small_lead_within_tolerance_raises_nothing() -> None:
    # 20% ahead of a flat day at 06:00, under the 25% tolerance
    assert check_pacing(_hours([120.0] * 6)) is None


def test_early_hours_need_a_minimum_lead() -> None:
    # twice the expected share after one hour, but only 4% of the budget
    assert check_pacing(_hours([200.0])) is None
    stricter = DetectorParams(pacing_min_gap=0.01)
    assert check_pacing(_hours([200.0]), params=stricter) is not None


def test_spending_past_the_budget_is_budget_exceeded() -> None:
    result = check_pacing(_hours([110.0] * 23))
    assert result is not None
    assert result.kind == "budget_exceeded"
    assert result.observed_fraction == pytest.approx(110 * 23 / BUDGET)
    assert result.severity == "high"
    assert result.content.title.startswith("Daily budget exceeded by 5%")
    much_more = check_pacing(_hours([150.0] * 23))
    assert much_more is not None and much_more.severity == "critical"


def test_a_supplied_profile_expects_a_busy_afternoon() -> None:
    # the profile puts two thirds of the budget in the 12 hours after noon
    profile = [1.0] * 12 + [2.0] * 12
    afternoon = _hours([50.0] * 12 + [150.0] * 4)
    # 1,200 by the end of 15:00 is 50%: flat expects 66.7%, the profile 55.6%
    assert check_pacing(afternoon) is None
    assert check_pacing(afternoon, profile) is None
    # the same spend front-loaded into the morning is ahead of the profile
    morning = _hours([100.0] * 12)
    assert check_pacing(morning) is None
    result = check_pacing(morning, profile)
    assert result is not None and result.profile_kind == "supplied"
    assert result.expected_fraction == pytest.approx(1 / 3)


def test_zero_budget_has_nothing_to_pace_against() -> None:
    assert check_pacing(_hours([10.0] * 5, budget=0.0)) is None


def test_hours_from_several_days_are_rejected() -> None:
    with pytest.raises(ValueError):
        check_pacing(_hours([10.0]) + _hours([10.0], day=DAY + 24 * HOUR))


def test_check_with_history_uses_the_learned_profile() -> None:
    shape = [1.0] * 8 + [3.0] * 16
    history: list[HourlyMetrics] = []
    for day in range(3):
        history += _hours([x * 40 for x in shape], day=DAY - (3 - day) * 24 * HOUR)
    # today's morning spends at the learned rate: on pace
    assert check_pacing_with_history(history + _hours([40.0] * 8)) is None
    # a flat morning at three times that rate runs ahead of the learned profile
    result = check_pacing_with_history(history + _hours([120.0] * 8))
    assert result is not None
    assert result.kind == "budget_pacing" and result.profile_kind == "learned"


def test_simulated_campaigns_never_trip_pacing_on_their_own() -> None:
    start = datetime(2025, 3, 3, tzinfo=UTC)
    sim = CampaignSimulator(20, seed=8, start=start)
    history: dict[UUID, list[HourlyMetrics]] = defaultdict(list)
    raised = []
    for hours in sim.simulate_range(start, 24 * 6):
        for row in hours:
            history[row.campaign_id].append(row)
            result = check_pacing_with_history(history[row.campaign_id])
            if result is not None:
                raised.append(result)
    assert raised == []
    # ...while the same check does fire on an obviously overspending day
    row = history[sim.campaign_ids[0]][-1]
    overspent = [
        HourlyMetrics(row.campaign_id, start + i * HOUR, 1, 0, 0, row.budget / 4, 0.0, row.budget)
        for i in range(6)
    ]
    assert check_pacing_with_history(overspent) is not None
