"""Budget pools' pure parts: when a pool is due, the tenant's limits as absolute bounds,
what a run's explanation says, and the pool's request checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import numpy as np
import pytest
from pydantic import ValidationError

from services.optimizer.core.limits import clamp
from services.optimizer.pools.pool import (
    CampaignLine,
    act_bounds,
    is_due,
    next_due,
    reason_for,
    rounded_budgets,
)
from services.optimizer.pools.reallocation import status_of
from shared.connectors import CampaignState, Change
from shared.contracts.limits import AmountLimits, SafetyLimits
from shared.contracts.pools import PoolCreate, PoolThresholds, pool_problems

AS_OF = datetime(2026, 11, 3, 14, tzinfo=UTC)


def test_next_due_follows_the_frequency_on_the_platform_clock() -> None:
    assert next_due("hourly", AS_OF) == AS_OF + timedelta(hours=1)
    assert next_due("daily", AS_OF) == datetime(2026, 11, 4, tzinfo=UTC)
    assert next_due("weekly", AS_OF) == AS_OF + timedelta(days=7)
    assert is_due(None, AS_OF)
    assert is_due(AS_OF, AS_OF)
    assert not is_due(AS_OF + timedelta(hours=1), AS_OF)


def test_bounds_are_the_tightest_limit_each_way() -> None:
    limits = AmountLimits(floor=50.0, ceiling=130.0, max_step_share=0.2, max_daily_share=0.5)
    bounds = act_bounds(100.0, limits, day_start=100.0)
    assert (bounds.floor, bounds.floor_by) == (80.0, "step")
    assert (bounds.cap, bounds.cap_by) == (120.0, "step")
    # Earlier changes today used most of the day's room upwards.
    bounds = act_bounds(100.0, limits, day_start=70.0)
    assert (bounds.cap, bounds.cap_by) == (105.0, "daily_cap")
    assert (bounds.floor, bounds.floor_by) == (80.0, "step")
    bounds = act_bounds(125.0, limits, day_start=125.0)
    assert (bounds.cap, bounds.cap_by) == (130.0, "ceiling")


def test_a_budget_outside_the_limits_is_never_pushed_further_out() -> None:
    bounds = act_bounds(40.0, AmountLimits(floor=50.0, max_step_share=0.2), day_start=40.0)
    assert bounds.floor == 40.0 and bounds.cap == 48.0


def test_frozen_campaigns_keep_their_budget() -> None:
    bounds = act_bounds(100.0, AmountLimits(max_step_share=0.2), 100.0, frozen="cooldown")
    assert bounds.frozen and bounds.floor == bounds.cap == 100.0
    assert bounds.floor_by == bounds.cap_by == "cooldown"


@pytest.mark.parametrize("current", [100.0, 333.33, 1234.57, 7.01])
def test_a_budget_within_the_bounds_passes_clamp_untouched(current: float) -> None:
    limits = SafetyLimits(budget=AmountLimits(max_step_share=0.2, max_daily_share=0.5))
    bounds = act_bounds(current, limits.budget, day_start=current)
    state = CampaignState(uuid4(), "c", "active", current, 1.0, 1.0, ())
    for target in (bounds.floor, bounds.cap):
        verdict = clamp(Change("budget", target), state, [], None, 100.0, limits, AS_OF)
        assert verdict.as_dict()["verdict"] == "apply"
        assert verdict.as_dict()["after"] == pytest.approx(target)
        assert verdict.as_dict()["clamps"] == []


def test_rounding_to_cents_stays_within_bounds_and_ignores_sub_cent_moves() -> None:
    lines = [
        CampaignLine(uuid4(), "a", 100.0, act_bounds(100.0, AmountLimits(max_step_share=0.1), 100)),
        CampaignLine(uuid4(), "b", 50.0, act_bounds(50.0, AmountLimits(), 50.0)),
    ]
    assert rounded_budgets(np.array([110.004999, 50.004]), lines) == [110.0, 50.0]


def test_the_reason_names_the_numbers_and_the_binding_limit() -> None:
    bounds = act_bounds(100.0, AmountLimits(max_step_share=0.2), 100.0)
    text = reason_for(100.0, 120.0, 4.2, 3.1, "limit", bounds, 3.0)
    assert text.startswith("raised from 100.00 to 120.00")
    assert "4.20" in text and "3.10" in text and "largest step per change" in text
    assert reason_for(100.0, 100.0, 3.0, 3.0, "none", bounds, None).startswith("kept at 100.00")
    assert "max_step" in reason_for(100.0, 90.0, 2.0, 2.2, "step", bounds, 2.2)


def test_status_of_a_run() -> None:
    assert status_of("act", [{"outcome": "unchanged"}]) == "no_change"
    assert status_of("observe", [{"outcome": "observe"}]) == "observed"
    assert status_of("act", [{"outcome": "applied"}, {"outcome": "unchanged"}]) == "applied"
    assert status_of("recommend", [{"outcome": "recommend"}]) == "recommended"
    assert status_of("act", [{"outcome": "applied"}, {"outcome": "failed"}]) == "partial"


def test_pool_shares_must_fit_the_number_of_campaigns() -> None:
    assert pool_problems(5, PoolThresholds(min_share=0.2, max_share=0.2)) == []
    fields = [p["field"] for p in pool_problems(5, PoolThresholds(min_share=0.3))]
    assert fields == ["performance_thresholds.min_share"]
    fields = [p["field"] for p in pool_problems(5, PoolThresholds(max_share=0.1))]
    assert fields == ["performance_thresholds.max_share"]
    fields = [p["field"] for p in pool_problems(2, PoolThresholds(min_share=0.5, max_share=0.4))]
    assert "performance_thresholds.min_share" in fields


def test_a_pool_names_each_campaign_once() -> None:
    campaign = uuid4()
    with pytest.raises(ValidationError) as info:
        PoolCreate(budget_pool_name="p", total_budget=10.0, campaign_ids=[campaign, campaign])
    assert info.value.errors()[0]["loc"] == ("campaign_ids",)
