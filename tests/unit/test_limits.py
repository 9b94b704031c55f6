"""Safety limits: what clamp lets through of a desired change, and why it refuses."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from services.optimizer.core.limits import (
    DEFAULT_LIMITS,
    AmountLimits,
    AppliedChange,
    Apply,
    Clamp,
    Refusal,
    SafetyLimits,
    clamp,
    merge_limits,
)
from shared.connectors.base import CampaignState, Change, PlatformRules
from shared.contracts.enums import Bound, RefusalReason

A = UUID(int=0xA)
B = UUID(int=0xB)
NOW = datetime(2025, 3, 12, 15, tzinfo=UTC)
HOUR = timedelta(hours=1)


def state(
    budget: float = 100.0, bid: float = 1.0, status: str = "active", campaign_id: UUID = A
) -> CampaignState:
    return CampaignState(campaign_id, "c", status, budget, bid, 1.0)  # type: ignore[arg-type]


def limits(
    *,
    budget: AmountLimits | None = None,
    bid: AmountLimits | None = None,
    cooldown_hours: float = 0.0,
    min_confidence: float = 0.0,
) -> SafetyLimits:
    return SafetyLimits(
        budget=budget or AmountLimits(),
        bid=bid or AmountLimits(),
        cooldown_hours=cooldown_hours,
        min_confidence=min_confidence,
    )


def check(
    desired: Change,
    current: CampaignState | None = None,
    *,
    history: list[AppliedChange] | None = None,
    last_change_at: datetime | None = None,
    confidence: float = 100.0,
    with_limits: SafetyLimits | None = None,
    now: datetime = NOW,
) -> Apply | Refusal:
    return clamp(
        desired,
        current or state(),
        history or [],
        last_change_at,
        confidence,
        with_limits or limits(),
        now,
    )


def applied(verdict: Apply | Refusal) -> Apply:
    assert isinstance(verdict, Apply), verdict
    return verdict


def refused(verdict: Apply | Refusal) -> Refusal:
    assert isinstance(verdict, Refusal), verdict
    return verdict


# --- amounts ------------------------------------------------------------------------------


def test_without_limits_the_desired_change_goes_through_unchanged() -> None:
    verdict = applied(check(Change("budget", 173.0)))
    assert verdict.change == Change("budget", 173.0)
    assert verdict.before == 100.0 and verdict.clamps == ()


def test_a_rise_stops_at_the_ceiling() -> None:
    verdict = applied(
        check(Change("budget", 150.0), with_limits=limits(budget=AmountLimits(ceiling=130)))
    )
    assert verdict.change == Change("budget", 130.0)
    assert verdict.requested == 150.0
    assert verdict.clamps == (Clamp(Bound.CEILING, 130.0),)


def test_a_cut_stops_at_the_floor() -> None:
    verdict = applied(
        check(Change("budget", 50.0), with_limits=limits(budget=AmountLimits(floor=80)))
    )
    assert verdict.change == Change("budget", 80.0)
    assert verdict.clamps == (Clamp(Bound.FLOOR, 80.0),)


@pytest.mark.parametrize(
    ("desired", "expected"),
    [(150.0, 100.0 * (1 + 0.2)), (50.0, 100.0 * (1 - 0.2)), (110.0, 110.0)],
    ids=["rise", "cut", "within"],
)
def test_one_step_moves_at_most_its_share_of_the_current_value(
    desired: float, expected: float
) -> None:
    step = limits(budget=AmountLimits(max_step_share=0.2))
    verdict = applied(check(Change("budget", desired), with_limits=step))
    assert verdict.change.value == pytest.approx(expected)
    assert (Bound.STEP in {c.bound for c in verdict.clamps}) == (desired != expected)


def test_the_tightest_limit_holds_the_value_and_only_it_is_named() -> None:
    both = limits(budget=AmountLimits(ceiling=130, max_step_share=0.2))
    verdict = applied(check(Change("budget", 150.0), with_limits=both))
    assert verdict.change.value == pytest.approx(120.0)
    assert [(c.bound, c.limit) for c in verdict.clamps] == [(Bound.STEP, pytest.approx(120.0))]
    looser_step = limits(budget=AmountLimits(ceiling=130, max_step_share=0.4))
    verdict = applied(check(Change("budget", 150.0), with_limits=looser_step))
    assert verdict.clamps == (Clamp(Bound.CEILING, 130.0),)


def test_limits_that_agree_are_all_named() -> None:
    agree = limits(budget=AmountLimits(ceiling=120, max_step_share=0.2))
    verdict = applied(check(Change("budget", 150.0), with_limits=agree))
    assert {c.bound for c in verdict.clamps} == {Bound.CEILING, Bound.STEP}


def test_a_limit_never_turns_a_cut_into_a_rise() -> None:
    # someone set the budget to 60 by hand, under the floor of 80; a cut to 50 must not
    # become a rise to the floor
    verdict = refused(
        check(
            Change("budget", 50.0),
            state(budget=60.0),
            with_limits=limits(budget=AmountLimits(floor=80)),
        )
    )
    assert verdict.reason is RefusalReason.AT_LIMIT
    assert verdict.clamps == (Clamp(Bound.FLOOR, 80.0),)


def test_a_value_outside_the_range_may_move_back_towards_it() -> None:
    # 200 is over the ceiling of 150; a cut is welcome, still one step at a time
    lim = limits(budget=AmountLimits(ceiling=150, max_step_share=0.2))
    verdict = applied(check(Change("budget", 120.0), state(budget=200.0), with_limits=lim))
    assert verdict.change.value == pytest.approx(200.0 * 0.8)
    rise = refused(check(Change("budget", 220.0), state(budget=200.0), with_limits=lim))
    assert rise.reason is RefusalReason.AT_LIMIT


def test_rounding_never_takes_a_value_past_a_limit() -> None:
    # 33.33 x 1.1 = 36.663: a budget is kept in cents, rounded back to 36.66, not up to 36.67
    step = limits(budget=AmountLimits(max_step_share=0.1))
    verdict = applied(check(Change("budget", 100.0), state(budget=33.33), with_limits=step))
    assert verdict.change.value == 36.66
    down = applied(check(Change("budget", 1.0), state(budget=33.33), with_limits=step))
    assert down.change.value == 30.0  # 29.997 rounded up, back towards 33.33


def test_from_a_zero_budget_a_step_has_no_room() -> None:
    step = limits(budget=AmountLimits(max_step_share=0.2))
    verdict = refused(check(Change("budget", 50.0), state(budget=0.0), with_limits=step))
    assert verdict.reason is RefusalReason.AT_LIMIT
    assert verdict.clamps == (Clamp(Bound.STEP, 0.0),)


def test_bids_have_their_own_limits() -> None:
    lim = limits(
        budget=AmountLimits(max_step_share=0.5), bid=AmountLimits(max_step_share=0.1, ceiling=1.05)
    )
    verdict = applied(check(Change("bid", 2.0), state(bid=1.0), with_limits=lim))
    assert verdict.change == Change("bid", 1.05)
    assert verdict.clamps == (Clamp(Bound.CEILING, 1.05),)


# --- the daily cap ---------------------------------------------------------------------------


def _record(verdict: Apply, at: datetime, campaign_id: UUID = A) -> AppliedChange:
    return AppliedChange(
        uuid4(), campaign_id, verdict.change.kind, verdict.before, verdict.change.value, at
    )


def test_the_daily_cap_holds_across_several_steps_in_one_day() -> None:
    # start at 100; 20% a step, 50% a day: 120, 144, then 150 (not 172.80), then nothing
    lim = limits(budget=AmountLimits(max_step_share=0.2, max_daily_share=0.5))
    current, history = state(budget=100.0), list[AppliedChange]()
    expected = [100.0 * 1.2, 100.0 * 1.2 * 1.2, 100.0 * 1.5]
    got = []
    for i in range(len(expected)):
        at = NOW + i * HOUR
        verdict = applied(
            check(
                Change("budget", current.daily_budget * 1.5),
                current,
                history=history,
                with_limits=lim,
                now=at,
            )
        )
        got.append(verdict)
        history.append(_record(verdict, at))
        current = current.with_change(verdict.change)
    assert [v.change.value for v in got] == pytest.approx(expected)
    assert [c.bound for v in got[:2] for c in v.clamps] == [Bound.STEP, Bound.STEP]
    assert got[2].clamps == (Clamp(Bound.DAILY_CAP, 150.0),)

    spent = refused(
        check(
            Change("budget", 200.0), current, history=history, with_limits=lim, now=NOW + 3 * HOUR
        )
    )
    assert spent.reason is RefusalReason.DAILY_CAP_REACHED
    assert spent.clamps == (Clamp(Bound.DAILY_CAP, 150.0),)


def test_the_daily_cap_is_measured_from_the_days_first_value() -> None:
    # the day's first change moved 100 to 140; the cap of 50% is of 100, not of 140
    lim = limits(budget=AmountLimits(max_daily_share=0.5))
    history = [
        AppliedChange(uuid4(), A, "budget", 140.0, 145.0, NOW - HOUR),
        AppliedChange(uuid4(), A, "budget", 100.0, 140.0, NOW - 2 * HOUR),
    ]
    verdict = applied(
        check(Change("budget", 300.0), state(budget=145.0), history=history, with_limits=lim)
    )
    assert verdict.change.value == pytest.approx(100.0 * 1.5)


def test_a_move_back_towards_the_days_start_is_not_blocked_by_the_cap() -> None:
    lim = limits(budget=AmountLimits(max_daily_share=0.5))
    history = [AppliedChange(uuid4(), A, "budget", 100.0, 150.0, NOW - HOUR)]
    verdict = applied(
        check(Change("budget", 110.0), state(budget=150.0), history=history, with_limits=lim)
    )
    assert verdict.change.value == 110.0 and verdict.clamps == ()


def test_the_daily_cap_counts_only_this_campaign_and_this_setting() -> None:
    lim = limits(budget=AmountLimits(max_daily_share=0.5))
    others = [
        AppliedChange(uuid4(), B, "budget", 10.0, 15.0, NOW - HOUR),  # another campaign
        AppliedChange(uuid4(), A, "bid", 0.5, 1.0, NOW - HOUR),  # another setting
    ]
    verdict = applied(
        check(Change("budget", 140.0), state(budget=100.0), history=others, with_limits=lim)
    )
    assert verdict.change.value == 140.0  # within 50% of 100, the campaign's own start


# --- cooldown and confidence -------------------------------------------------------------------


def test_a_change_inside_the_cooldown_is_refused() -> None:
    lim = limits(cooldown_hours=6)
    verdict = refused(
        check(Change("budget", 110.0), last_change_at=NOW - 2 * HOUR, with_limits=lim)
    )
    assert verdict.reason is RefusalReason.COOLDOWN
    assert (NOW + 4 * HOUR).isoformat() in verdict.detail


def test_the_cooldown_ends_after_its_hours() -> None:
    lim = limits(cooldown_hours=6)
    assert isinstance(
        check(Change("budget", 110.0), last_change_at=NOW - 6 * HOUR, with_limits=lim), Apply
    )


def test_a_last_change_in_the_future_keeps_the_cooldown_on() -> None:
    lim = limits(cooldown_hours=6)
    verdict = refused(check(Change("budget", 110.0), last_change_at=NOW + HOUR, with_limits=lim))
    assert verdict.reason is RefusalReason.COOLDOWN


def test_low_confidence_needs_approval_of_the_already_clamped_change() -> None:
    lim = limits(budget=AmountLimits(max_step_share=0.2), min_confidence=70)
    verdict = refused(check(Change("budget", 150.0), confidence=69.9, with_limits=lim))
    assert verdict.reason is RefusalReason.NEEDS_APPROVAL
    assert verdict.proposed is not None
    assert verdict.proposed.change.value == pytest.approx(120.0)
    assert [(c.bound, c.limit) for c in verdict.proposed.clamps] == [
        (Bound.STEP, pytest.approx(120.0))
    ]
    assert isinstance(check(Change("budget", 150.0), confidence=70, with_limits=lim), Apply)


def test_an_impossible_change_is_not_sent_for_approval() -> None:
    lim = limits(budget=AmountLimits(ceiling=100), min_confidence=70)
    verdict = refused(check(Change("budget", 150.0), confidence=10, with_limits=lim))
    assert verdict.reason is RefusalReason.AT_LIMIT


# --- pause and resume --------------------------------------------------------------------------

AMOUNTS = limits(
    budget=AmountLimits(floor=500, ceiling=600, max_step_share=0.01, max_daily_share=0.01)
)


def test_pause_is_not_clamped_by_amount_limits() -> None:
    verdict = applied(check(Change("status", "paused"), with_limits=AMOUNTS))
    assert verdict.change == Change("status", "paused") and verdict.before == "active"


def test_pause_under_cooldown_is_refused() -> None:
    lim = limits(cooldown_hours=6)
    verdict = refused(check(Change("status", "paused"), last_change_at=NOW - HOUR, with_limits=lim))
    assert verdict.reason is RefusalReason.COOLDOWN


def test_resume_with_low_confidence_needs_approval() -> None:
    lim = limits(min_confidence=70)
    verdict = refused(
        check(Change("status", "active"), state(status="paused"), confidence=50, with_limits=lim)
    )
    assert verdict.reason is RefusalReason.NEEDS_APPROVAL
    assert verdict.proposed is not None and verdict.proposed.change == Change("status", "active")


def test_asking_for_what_already_holds_is_no_change() -> None:
    paused = refused(check(Change("status", "paused"), state(status="paused")))
    same = refused(check(Change("budget", 100.004), state(budget=100.0)))
    assert paused.reason is RefusalReason.NO_CHANGE
    assert same.reason is RefusalReason.NO_CHANGE


# --- odd input ----------------------------------------------------------------------------------


def _odd(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "desired": Change("budget", 120.0),
        "current": state(),
        "history_today": [],
        "last_change_at": None,
        "confidence": 90.0,
        "limits": limits(),
        "now": NOW,
    }
    return {**args, **overrides}


ODD_INPUTS = {
    "desired is no Change": _odd(desired={"kind": "budget", "value": 120}),
    "current is no state": _odd(current={"daily_budget": 100}),
    "limits are no SafetyLimits": _odd(limits={"cooldown_hours": 1}),
    "now has no time zone": _odd(now=NOW.replace(tzinfo=None)),
    "last change has no time zone": _odd(last_change_at=NOW.replace(tzinfo=None)),
    "confidence is NaN": _odd(confidence=math.nan),
    "confidence over 100": _odd(confidence=150),
    "confidence is a bool": _odd(confidence=True),
    "confidence is text": _odd(confidence="high"),
    "current budget is NaN": _odd(current=state(budget=math.nan)),
    "current budget is negative": _odd(current=state(budget=-5.0)),
    "floor above ceiling, built unchecked": _odd(
        limits=SafetyLimits.model_construct(
            budget=AmountLimits.model_construct(floor=200.0, ceiling=100.0),
            bid=AmountLimits(),
            audience=AmountLimits(),
            cooldown_hours=0.0,
            min_confidence=0.0,
        )
    ),
    "negative cooldown, built unchecked": _odd(
        limits=SafetyLimits.model_construct(
            budget=AmountLimits(),
            bid=AmountLimits(),
            audience=AmountLimits(),
            cooldown_hours=-1.0,
            min_confidence=0.0,
        )
    ),
    "history is no sequence": _odd(history_today=42),
    "history holds something else": _odd(history_today=[{"before": 1}]),
    "history has a naive time": _odd(
        history_today=[AppliedChange(uuid4(), A, "budget", 90.0, 100.0, NOW.replace(tzinfo=None))]
    ),
    "history has a text budget": _odd(
        history_today=[AppliedChange(uuid4(), A, "budget", "ninety", 100.0, NOW)]
    ),
}


@pytest.mark.parametrize("args", ODD_INPUTS.values(), ids=ODD_INPUTS.keys())
def test_odd_input_is_refused_with_a_reason_never_raised(args: dict[str, Any]) -> None:
    verdict = refused(clamp(**args))
    assert verdict.reason is RefusalReason.INVALID_INPUT
    assert verdict.detail


def test_the_odd_input_cases_differ_from_a_valid_call_in_one_argument_only() -> None:
    assert isinstance(clamp(**_odd()), Apply)


# --- merging -------------------------------------------------------------------------------


def test_a_rules_limits_override_the_tenants_field_by_field() -> None:
    rule = SafetyLimits.model_validate({"budget": {"ceiling": 900}, "cooldown_hours": 2})
    merged = merge_limits(DEFAULT_LIMITS, rule)
    assert merged.budget.ceiling == 900
    assert merged.cooldown_hours == 2
    # what the rule did not give is the tenant's
    assert merged.budget.max_step_share == DEFAULT_LIMITS.budget.max_step_share
    assert merged.bid == DEFAULT_LIMITS.bid
    assert merged.min_confidence == DEFAULT_LIMITS.min_confidence


def test_a_null_in_a_rule_removes_no_tenant_limit() -> None:
    tenant = limits(budget=AmountLimits(ceiling=500, max_step_share=0.2))
    rule = SafetyLimits.model_validate({"budget": {"ceiling": None}})
    assert merge_limits(tenant, rule).budget.ceiling == 500


def test_no_rule_limits_leaves_the_tenants() -> None:
    assert merge_limits(DEFAULT_LIMITS, None) == DEFAULT_LIMITS


def test_a_rule_contradicting_the_tenant_is_refused_when_merged() -> None:
    tenant = limits(budget=AmountLimits(ceiling=500))
    rule = SafetyLimits.model_validate({"budget": {"floor": 600}})
    with pytest.raises(ValidationError, match="floor 600 is above ceiling 500"):
        merge_limits(tenant, rule)


def test_verdicts_serialise_for_the_record() -> None:
    lim = limits(budget=AmountLimits(ceiling=130), min_confidence=70)
    verdict = refused(check(Change("budget", 150.0), confidence=10, with_limits=lim))
    data = verdict.as_dict()
    assert data["reason"] == "needs_approval"
    assert data["proposed"]["after"] == 130.0
    assert data["proposed"]["clamps"] == [{"bound": "ceiling", "limit": 130.0}]


# --- the platform's own rules --------------------------------------------------------

META = PlatformRules("Meta", budget_changes_per_hour=4)


def budget_changes(*minutes_ago: int, campaign: UUID = A) -> list[AppliedChange]:
    return [
        AppliedChange(uuid4(), campaign, "budget", 100.0, 101.0, NOW - timedelta(minutes=m))
        for m in minutes_ago
    ]


def on_meta(desired: Change, last_hour: list[AppliedChange]) -> Apply | Refusal:
    return clamp(desired, state(), [], None, 100.0, limits(), NOW, META, last_hour)


def test_a_fifth_budget_change_within_the_hour_waits_for_the_platform() -> None:
    verdict = on_meta(Change("budget", 110.0), budget_changes(5, 20, 40, 55))
    assert isinstance(verdict, Refusal)
    assert verdict.reason == RefusalReason.PLATFORM_LIMIT
    # the window reopens an hour after the oldest of the four
    assert (NOW - timedelta(minutes=55) + HOUR).isoformat() in verdict.detail
    assert "Meta allows 4" in verdict.detail


def test_the_platform_rule_counts_only_the_last_hour_this_campaign_and_budgets() -> None:
    older = budget_changes(61, 90)
    other_campaign = budget_changes(1, 2, campaign=B)
    bids = [AppliedChange(uuid4(), A, "bid", 1.0, 1.1, NOW - timedelta(minutes=3))]
    three = budget_changes(5, 20, 40)
    verdict = on_meta(Change("budget", 110.0), [*older, *other_campaign, *bids, *three])
    assert isinstance(verdict, Apply)
    # other settings are not held by the budget rule
    assert isinstance(on_meta(Change("bid", 1.1), budget_changes(1, 2, 3, 4)), Apply)


def test_without_the_rule_or_with_nothing_to_change_nothing_is_held() -> None:
    four = budget_changes(1, 2, 3, 4)
    assert isinstance(
        clamp(Change("budget", 110.0), state(), [], None, 100.0, limits(), NOW, None, four),
        Apply,
    )
    unchanged = on_meta(Change("budget", 100.0), four)
    assert isinstance(unchanged, Refusal) and unchanged.reason == RefusalReason.NO_CHANGE
