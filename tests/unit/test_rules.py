"""Automation rules: parsing with error paths, evaluation on hand-made series, actions."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from services.optimizer.rules.rule import (
    MAX_COMPARISONS,
    MAX_DEPTH,
    MAX_ITEMS,
    Comparison,
    NoAction,
    Notification,
    Rule,
    desired_change,
    evaluate,
)
from shared.connectors.base import CampaignState, Change
from shared.contracts.enums import Severity
from shared.metrics import HourlyMetrics

A = UUID(int=0xA)
B = UUID(int=0xB)
HOUR = timedelta(hours=1)
AS_OF = datetime(2025, 3, 12, 15, tzinfo=UTC)
TARGET_CPA = 50.0


def settings(
    campaign_id: UUID = A, budget: float = 2400.0, bid: float = 1.0, status: str = "active"
) -> CampaignState:
    return CampaignState(campaign_id, "c", status, budget, bid, 1.0)  # type: ignore[arg-type]


def row(
    hour: datetime,
    *,
    campaign_id: UUID = A,
    impressions: int = 1000,
    clicks: int = 20,
    conversions: int = 1,
    spend: float = 100.0,
    revenue: float = 200.0,
    budget: float = 2400.0,
) -> HourlyMetrics:
    return HourlyMetrics(
        campaign_id, hour, impressions, clicks, conversions, spend, revenue, budget
    )


def cmp(metric: str, timeframe: Any, op: str, right: dict[str, Any]) -> dict[str, Any]:
    left: dict[str, Any] = {"metric": metric}
    if timeframe is not None:
        left["timeframe"] = timeframe
    return {"left": left, "op": op, "right": right}


def value(v: float) -> dict[str, Any]:
    return {"value": v}


def conditions(data: dict[str, Any]) -> Any:
    return Rule.model_validate({"conditions": data, "actions": [{"type": "notify"}]}).conditions


def read_left(data: dict[str, Any], rows: list[HourlyMetrics], **kw: Any) -> float | None:
    """The left side's value of a single comparison."""
    result = evaluate(
        conditions(data), rows, kw.pop("state", settings()), kw.pop("as_of", AS_OF), **kw
    )
    return result.comparisons[0].left.value


def stop_loss(target_cpa: float) -> dict[str, Any]:
    """Pause when CPA is over 3x target over the last 6 hours, or when those hours spent
    3x target with no conversion at all (CPA undefined)."""
    limit = value(3 * target_cpa)
    return {
        "conditions": {
            "any": [
                cmp("cpa", {"last_hours": 6}, ">", limit),
                {
                    "all": [
                        cmp("conversions", {"last_hours": 6}, "==", value(0)),
                        cmp("spend", {"last_hours": 6}, ">", limit),
                    ]
                },
            ]
        },
        "actions": [
            {"type": "pause"},
            {"type": "notify", "severity": "high", "message": "stop-loss: CPA over 3x target"},
        ],
        "safety_limits": {"cooldown_hours": 12, "min_confidence": 0},
    }


# --- parsing -------------------------------------------------------------------------


def test_a_full_rule_parses_and_survives_a_round_trip_through_json() -> None:
    data = stop_loss(TARGET_CPA)
    data["actions"].append({"type": "change", "setting": "bid", "by_percent": -15})
    data["safety_limits"]["bid"] = {"floor": 0.5, "max_step_share": 0.15}
    rule = Rule.model_validate(data)
    again = Rule.model_validate(rule.model_dump(mode="json", exclude_none=True))
    assert again == rule
    assert len(rule.actions) == 3
    assert rule.safety_limits is not None and rule.safety_limits.bid.floor == 0.5


def test_metric_against_metric_with_a_factor_parses() -> None:
    rule = conditions(cmp("spend", {"last_days": 7}, ">", {"metric": "daily_budget", "factor": 2}))
    assert isinstance(rule, Comparison)
    assert rule.right.factor == 2  # type: ignore[union-attr]


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = cmp("spend", "today", ">", value(1))
    for level in range(depth):
        node = {"all" if level % 2 == 0 else "any": [node]}
    return node


def test_the_largest_allowed_rule_parses() -> None:
    conditions(_nested(MAX_DEPTH))
    conditions({"any": [cmp("spend", "today", ">", value(i)) for i in range(MAX_ITEMS)]})
    # five full groups of twenty: exactly the comparison budget
    groups = MAX_COMPARISONS // MAX_ITEMS
    conditions({"any": [{"all": [cmp("clicks", "today", ">", value(1))] * MAX_ITEMS}] * groups})


BASE = cmp("cpa", {"last_hours": 6}, ">", value(150))


def _with(path: list[Any], new: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    rule = copy.deepcopy(base or {"conditions": BASE, "actions": [{"type": "pause"}]})
    node = rule
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return rule


def _pair(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    return {"conditions": BASE, "actions": [first, second]}


BAD_RULES = {
    "unknown metric deep in a group": (
        {
            "conditions": {"any": [BASE, cmp("cpm", "today", ">", value(1))]},
            "actions": [{"type": "pause"}],
        },
        "conditions.any.1.left.metric",
        "enum",
    ),
    "unknown operator": (_with(["conditions", "op"], "=>"), "conditions.op", "enum"),
    "timeframe of an unknown shape": (
        _with(["conditions", "left", "timeframe"], {"last_weeks": 1}),
        "conditions.left.timeframe",
        "invalid_timeframe",
    ),
    "unknown named day": (
        _with(["conditions", "left", "timeframe"], "tomorrow"),
        "conditions.left.timeframe",
        "literal_error",
    ),
    "zero hours": (
        _with(["conditions", "left", "timeframe"], {"last_hours": 0}),
        "conditions.left.timeframe.last_hours",
        "greater_than_equal",
    ),
    "more days than kept": (
        _with(["conditions", "left", "timeframe"], {"last_days": 91}),
        "conditions.left.timeframe.last_days",
        "less_than_equal",
    ),
    "performance metric without a timeframe": (
        _with(["conditions", "left"], {"metric": "spend"}),
        "conditions.left.timeframe",
        "timeframe_required",
    ),
    "setting with a timeframe": (
        _with(["conditions", "right"], {"metric": "daily_budget", "timeframe": "today"}),
        "conditions.right.timeframe",
        "timeframe_not_allowed",
    ),
    "zero factor": (
        _with(["conditions", "right"], {"metric": "daily_budget", "factor": 0}),
        "conditions.right.factor",
        "greater_than",
    ),
    "operand that is neither metric nor value": (
        _with(["conditions", "right"], {"number": 3}),
        "conditions.right",
        "invalid_operand",
    ),
    "a boolean as a value": (
        _with(["conditions", "right"], {"value": True}),
        "conditions.right.value",
        "float_type",
    ),
    "an infinite value": (
        _with(["conditions", "right"], {"value": float("inf")}),
        "conditions.right.value",
        "finite_number",
    ),
    "an unknown key on a comparison": (
        _with(["conditions", "for_hours"], 6),
        "conditions.for_hours",
        "extra_forbidden",
    ),
    "something that is no condition": (
        {"conditions": {"all": [{"metric": "spend"}]}, "actions": [{"type": "pause"}]},
        "conditions.all.0",
        "invalid_condition",
    ),
    "an empty group": (
        {"conditions": {"all": []}, "actions": [{"type": "pause"}]},
        "conditions.all",
        "too_short",
    ),
    "a group too long": (
        {"conditions": {"any": [BASE] * (MAX_ITEMS + 1)}, "actions": [{"type": "pause"}]},
        "conditions.any",
        "too_long",
    ),
    "groups nested too deep": (
        {"conditions": _nested(MAX_DEPTH + 1), "actions": [{"type": "pause"}]},
        # the outermost group is level 1; the error names the sixth
        "conditions" + ".any.0.all.0" * (MAX_DEPTH // 2) + ".any.0",
        "too_deep",
    ),
    "too many comparisons in all": (
        {
            "conditions": {
                "any": [{"all": [BASE] * MAX_ITEMS}] * (MAX_COMPARISONS // MAX_ITEMS + 1)
            },
            "actions": [{"type": "pause"}],
        },
        "conditions",
        "too_many",
    ),
    "no actions": (_with(["actions"], []), "actions", "too_short"),
    "an unknown action": (_with(["actions"], [{"type": "boost"}]), "actions.0", "invalid_action"),
    "a change given two ways": (
        _with(["actions"], [{"type": "change", "setting": "budget", "by_percent": 10, "to": 5}]),
        "actions.0",
        "value_error",
    ),
    "a change of nothing": (
        _with(["actions"], [{"type": "change", "setting": "budget", "by_amount": 0}]),
        "actions.0",
        "value_error",
    ),
    "a budget cut of a hundred percent": (
        _with(["actions"], [{"type": "change", "setting": "budget", "by_percent": -100}]),
        "actions.0.by_percent",
        "greater_than",
    ),
    "a setting rules cannot change": (
        _with(["actions"], [{"type": "change", "setting": "audience", "to": 2}]),
        "actions.0.setting",
        "literal_error",
    ),
    "two budget changes": (
        _pair(
            {"type": "change", "setting": "budget", "to": 5},
            {"type": "change", "setting": "budget", "by_amount": 5},
        ),
        "actions.1",
        "conflicting_action",
    ),
    "pause and resume together": (
        _pair({"type": "pause"}, {"type": "resume"}),
        "actions.1",
        "conflicting_action",
    ),
    "an unknown severity": (
        _with(["actions"], [{"type": "notify", "severity": "urgent"}]),
        "actions.0.severity",
        "enum",
    ),
    "a floor above the ceiling": (
        _with(["safety_limits"], {"budget": {"floor": 500, "ceiling": 100}}),
        "safety_limits.budget",
        "value_error",
    ),
    "an unknown limit": (
        _with(["safety_limits"], {"max_budget": 100}),
        "safety_limits.max_budget",
        "extra_forbidden",
    ),
    "a confidence over 100": (
        _with(["safety_limits"], {"min_confidence": 101}),
        "safety_limits.min_confidence",
        "less_than_equal",
    ),
    "a negative step": (
        _with(["safety_limits"], {"bid": {"max_step_share": -0.1}}),
        "safety_limits.bid.max_step_share",
        "greater_than",
    ),
}


@pytest.mark.parametrize(("data", "path", "kind"), BAD_RULES.values(), ids=BAD_RULES.keys())
def test_an_invalid_rule_names_the_path_of_its_one_wrong_part(
    data: dict[str, Any], path: str, kind: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Rule.model_validate(data)
    found = [(".".join(str(p) for p in e["loc"]), e["type"]) for e in caught.value.errors()]
    assert found == [(path, kind)]


def test_the_unmodified_base_of_the_bad_rules_is_valid() -> None:
    # Otherwise each bad rule above could fail for the base's fault, not its own.
    Rule.model_validate({"conditions": BASE, "actions": [{"type": "pause"}]})
    Rule.model_validate(_pair({"type": "pause"}, {"type": "notify"}))


# --- evaluation: timeframes ----------------------------------------------------------------

# Three days of hourly rows: 1.0 spent each hour on 10 March, 10.0 on the 11th and 100.0 on
# the 12th, including the hours after AS_OF (15:00 on the 12th) that no timeframe may read.
DAY_10 = datetime(2025, 3, 10, tzinfo=UTC)
SPEND_BY_DAY = {0: 1.0, 1: 10.0, 2: 100.0}
THREE_DAYS = [row(DAY_10 + h * HOUR, spend=SPEND_BY_DAY[h // 24]) for h in range(72)]


@pytest.mark.parametrize(
    ("timeframe", "expected"),
    [
        ({"last_hours": 1}, 100.0),  # 14:00 on the 12th
        ({"last_hours": 3}, 3 * 100.0),  # 12:00-14:00
        ("today", 15 * 100.0),  # 00:00-14:00 on the 12th
        ("yesterday", 24 * 10.0),  # all of the 11th
        ({"last_days": 1}, 9 * 10.0 + 15 * 100.0),  # from 15:00 on the 11th
        ({"last_days": 2}, 9 * 1.0 + 24 * 10.0 + 15 * 100.0),  # from 15:00 on the 10th
    ],
    ids=["last_hour", "last_3_hours", "today", "yesterday", "last_day", "last_2_days"],
)
def test_each_timeframe_sums_exactly_its_whole_hours_before_as_of(
    timeframe: Any, expected: float
) -> None:
    assert read_left(cmp("spend", timeframe, ">", value(0)), THREE_DAYS) == expected


def test_as_of_within_an_hour_reads_up_to_the_start_of_that_hour() -> None:
    spend_3h = cmp("spend", {"last_hours": 3}, ">", value(0))
    assert read_left(spend_3h, THREE_DAYS, as_of=AS_OF + timedelta(minutes=40)) == 3 * 100.0


def test_today_and_yesterday_start_at_midnight_in_the_accounts_time_zone() -> None:
    # 15:00 UTC is 11:00 at UTC-4: today started at 04:00 UTC on the 12th
    eastern = timezone(timedelta(hours=-4))
    today = read_left(cmp("spend", "today", ">", value(0)), THREE_DAYS, tz=eastern)
    yesterday = read_left(cmp("spend", "yesterday", ">", value(0)), THREE_DAYS, tz=eastern)
    assert today == 11 * 100.0
    # 04:00 UTC on the 11th to 04:00 UTC on the 12th
    assert yesterday == 20 * 10.0 + 4 * 100.0


def test_today_is_empty_at_midnight_and_so_undefined() -> None:
    midnight = datetime(2025, 3, 12, tzinfo=UTC)
    result = evaluate(
        conditions(cmp("spend", "today", "<", value(1))), THREE_DAYS, settings(), midnight
    )
    (only,) = result.comparisons
    assert only.left.value is None and only.left.undefined == "no metrics today"
    assert not result.matched


# --- evaluation: metrics ---------------------------------------------------------------------

# Two hours with different CPAs: 10 (10 spent, 1 conversion) and 30 (90 spent, 3).
TWO_HOURS = [
    row(AS_OF - 2 * HOUR, impressions=400, clicks=10, conversions=1, spend=10.0, revenue=30.0),
    row(AS_OF - HOUR, impressions=600, clicks=40, conversions=3, spend=90.0, revenue=170.0),
]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("impressions", 400 + 600),
        ("clicks", 10 + 40),
        ("conversions", 1 + 3),
        ("spend", 10.0 + 90.0),
        ("revenue", 30.0 + 170.0),
        ("ctr", 50 / 1000),
        ("cvr", 4 / 50),
        ("cpc", 100.0 / 50),
        # the ratio of the sums, 25, not the mean of the hourly CPAs, 20
        ("cpa", 100.0 / 4),
        ("roas", 200.0 / 100.0),
    ],
)
def test_a_metric_over_a_window_is_its_sum_or_the_ratio_of_its_sums(
    metric: str, expected: float
) -> None:
    got = read_left(cmp(metric, {"last_hours": 2}, ">", value(0)), TWO_HOURS)
    assert got == pytest.approx(expected, rel=1e-12)


def test_budget_utilisation_divides_by_the_budget_of_the_timeframes_days() -> None:
    state = settings(budget=2000.0)
    today = read_left(cmp("budget_utilisation", "today", ">", value(0)), THREE_DAYS, state=state)
    six_hours = read_left(
        cmp("budget_utilisation", {"last_hours": 6}, ">", value(0)), THREE_DAYS, state=state
    )
    two_days = read_left(
        cmp("budget_utilisation", {"last_days": 2}, ">", value(0)), THREE_DAYS, state=state
    )
    assert today == pytest.approx(15 * 100.0 / 2000.0)
    assert six_hours == pytest.approx(6 * 100.0 / (2000.0 * 6 / 24))
    assert two_days == pytest.approx((9 * 1.0 + 24 * 10.0 + 15 * 100.0) / (2000.0 * 2))


def test_settings_are_read_as_they_stand() -> None:
    state = settings(budget=321.0, bid=1.25)
    assert read_left(cmp("daily_budget", None, ">", value(0)), [], state=state) == 321.0
    assert read_left(cmp("bid", None, ">", value(0)), [], state=state) == 1.25


def test_metric_against_another_metric_times_a_factor() -> None:
    # spend over the last 7 days > 2 x daily budget; THREE_DAYS spent 1749 by AS_OF
    spent = 24 * 1.0 + 24 * 10.0 + 15 * 100.0
    rule = conditions(cmp("spend", {"last_days": 7}, ">", {"metric": "daily_budget", "factor": 2}))
    low_budget = settings(budget=spent / 2 - 1)  # 2 x budget is just under what was spent
    high_budget = settings(budget=spent / 2 + 1)
    over = evaluate(rule, THREE_DAYS, low_budget, AS_OF)
    under = evaluate(rule, THREE_DAYS, high_budget, AS_OF)
    assert over.matched and not under.matched
    (reading,) = over.comparisons
    assert reading.left.value == pytest.approx(spent)
    assert reading.right.value == pytest.approx(2 * (spent / 2 - 1))
    assert reading.right.label == "2 x daily_budget"


def test_a_factor_on_a_metric_over_a_timeframe_scales_it() -> None:
    # today's CPA against twice yesterday's: 100/1 against 2 x 10/1
    rule = conditions(
        cmp("cpa", "today", ">", {"metric": "cpa", "timeframe": "yesterday", "factor": 2})
    )
    result = evaluate(rule, THREE_DAYS, settings(), AS_OF)
    (reading,) = result.comparisons
    assert reading.left.value == pytest.approx(15 * 100.0 / 15)
    assert reading.right.value == pytest.approx(2 * (24 * 10.0 / 24))
    assert result.matched


@pytest.mark.parametrize("op", [">", ">=", "<", "<=", "==", "!="])
def test_an_undefined_ratio_makes_its_comparison_false_and_says_why(op: str) -> None:
    no_conversions = [row(AS_OF - HOUR * i, conversions=0) for i in (1, 2)]
    result = evaluate(
        conditions(cmp("cpa", {"last_hours": 2}, op, value(50))), no_conversions, settings(), AS_OF
    )
    (reading,) = result.comparisons
    assert not result.matched and not reading.matched
    assert reading.left.value is None
    assert reading.left.undefined == "cpa is undefined over the last 2 hours: no conversions"


def test_an_undefined_right_side_makes_the_comparison_false() -> None:
    no_clicks = [row(AS_OF - HOUR, clicks=0, conversions=0)]
    rule = conditions(
        cmp("spend", {"last_hours": 1}, ">", {"metric": "cpc", "timeframe": {"last_hours": 1}})
    )
    (reading,) = evaluate(rule, no_clicks, settings(), AS_OF).comparisons
    assert reading.left.value == 100.0
    assert reading.right.value is None and reading.right.undefined is not None
    assert not reading.matched


def test_a_window_without_metrics_is_undefined_not_zero() -> None:
    # "spend under 1 in the last 6 hours" must not fire because the data stopped coming
    rule = conditions(cmp("spend", {"last_hours": 6}, "<", value(1)))
    old = [row(AS_OF - 10 * HOUR, spend=0.0)]
    result = evaluate(rule, old, settings(), AS_OF)
    assert not result.matched
    assert result.comparisons[0].left.undefined == "no metrics over the last 6 hours"


def test_utilisation_without_a_daily_budget_is_undefined() -> None:
    rule = conditions(cmp("budget_utilisation", "today", ">", value(0.5)))
    result = evaluate(rule, THREE_DAYS, settings(budget=0.0), AS_OF)
    assert not result.matched
    assert result.comparisons[0].left.undefined == "the campaign has no daily budget"


def test_equality_allows_for_float_rounding() -> None:
    # 0.1 + 0.2 is 0.30000000000000004 in floats
    rows = [row(AS_OF - HOUR, spend=0.1), row(AS_OF - 2 * HOUR, spend=0.2)]
    spend = {"last_hours": 2}
    assert evaluate(
        conditions(cmp("spend", spend, "==", value(0.3))), rows, settings(), AS_OF
    ).matched
    assert evaluate(
        conditions(cmp("spend", spend, "<=", value(0.3))), rows, settings(), AS_OF
    ).matched
    assert not evaluate(
        conditions(cmp("spend", spend, ">", value(0.3))), rows, settings(), AS_OF
    ).matched
    assert not evaluate(
        conditions(cmp("spend", spend, "!=", value(0.3))), rows, settings(), AS_OF
    ).matched


def test_groups_combine_and_every_comparison_is_reported_with_its_path() -> None:
    true = cmp("spend", {"last_hours": 2}, ">", value(99))  # 100 spent
    false = cmp("spend", {"last_hours": 2}, ">", value(101))
    rule = conditions({"all": [true, {"any": [false, true]}, false]})
    result = evaluate(rule, TWO_HOURS, settings(), AS_OF)
    assert not result.matched  # the last item of the "all" is false
    assert [(c.path, c.matched) for c in result.comparisons] == [
        ("conditions.all.0", True),
        ("conditions.all.1.any.0", False),
        ("conditions.all.1.any.1", True),
        ("conditions.all.2", False),
    ]
    assert evaluate(conditions({"any": [false, true]}), TWO_HOURS, settings(), AS_OF).matched
    assert not evaluate(conditions({"any": [false, false]}), TWO_HOURS, settings(), AS_OF).matched


def test_an_evaluation_serialises_for_a_preview() -> None:
    result = evaluate(
        conditions(cmp("cpa", {"last_hours": 2}, ">", value(20))), TWO_HOURS, settings(), AS_OF
    )
    data = result.as_dict()
    assert data["matched"] is True
    assert data["comparisons"][0]["left"]["label"] == "cpa over the last 2 hours"
    assert data["comparisons"][0]["left"]["value"] == pytest.approx(25.0)
    assert data["comparisons"][0]["right"]["value"] == 20.0


def test_rows_of_another_campaign_are_refused() -> None:
    with pytest.raises(ValueError, match="campaign"):
        evaluate(conditions(BASE), [row(AS_OF - HOUR, campaign_id=B)], settings(A), AS_OF)


def test_a_naive_as_of_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        evaluate(conditions(BASE), [], settings(), AS_OF.replace(tzinfo=None))


# --- the stop-loss ------------------------------------------------------------------------------


def _last_hours(
    campaign_id: UUID, conversions: list[int], spend: float = 100.0
) -> list[HourlyMetrics]:
    """One row per hour ending at AS_OF, oldest first."""
    n = len(conversions)
    return [
        row(AS_OF - (n - i) * HOUR, campaign_id=campaign_id, conversions=c, spend=spend)
        for i, c in enumerate(conversions)
    ]


def test_the_stop_loss_fires_on_a_campaign_over_three_times_its_target_cpa() -> None:
    rule = Rule.model_validate(stop_loss(TARGET_CPA))
    # 600 spent on 3 conversions in the last 6 hours: CPA 200 > 150
    bad = _last_hours(A, [1, 0, 1, 0, 1, 0])
    # 600 spent on 6 conversions: CPA 100
    good = _last_hours(B, [1, 1, 1, 1, 1, 1])
    fired = evaluate(rule.conditions, bad, settings(A), AS_OF)
    held = evaluate(rule.conditions, good, settings(B), AS_OF)
    assert fired.matched and not held.matched
    assert fired.comparisons[0].left.value == pytest.approx(600.0 / 3)
    assert held.comparisons[0].left.value == pytest.approx(600.0 / 6)
    assert fired.comparisons[0].right.value == 3 * TARGET_CPA
    assert desired_change(rule.actions[0], settings(A)) == Change("status", "paused")


def test_the_stop_loss_fires_on_spend_without_any_conversion() -> None:
    rule = Rule.model_validate(stop_loss(TARGET_CPA))
    result = evaluate(rule.conditions, _last_hours(A, [0] * 6), settings(A), AS_OF)
    assert result.matched
    cpa, no_conversions, spend = result.comparisons
    assert not cpa.matched and cpa.left.undefined is not None
    assert no_conversions.matched and spend.matched
    assert spend.left.value == 6 * 100.0


def test_the_stop_loss_looks_only_at_the_last_six_hours() -> None:
    rule = Rule.model_validate(stop_loss(TARGET_CPA))
    # dreadful hours 7-12 back (600 on 1 conversion), then six good ones
    rows = _last_hours(A, [1, 0, 0, 0, 0, 0] + [1] * 6)
    assert not evaluate(rule.conditions, rows, settings(A), AS_OF).matched
    # and the same twelve hours reversed do fire
    assert evaluate(
        rule.conditions, _last_hours(A, [1] * 6 + [1, 0, 0, 0, 0, 0]), settings(A), AS_OF
    ).matched


# --- actions ------------------------------------------------------------------------------------


def action(**fields: Any) -> Any:
    return Rule.model_validate({"conditions": BASE, "actions": [fields]}).actions[0]


def test_pause_and_resume_ask_for_a_status() -> None:
    assert desired_change(action(type="pause"), settings()) == Change("status", "paused")
    assert desired_change(action(type="resume"), settings(status="paused")) == Change(
        "status", "active"
    )


@pytest.mark.parametrize(
    ("fields", "state", "expected"),
    [
        (
            {"setting": "budget", "by_percent": -20},
            settings(budget=250.0),
            Change("budget", 250.0 * 0.8),
        ),
        ({"setting": "budget", "by_percent": 15}, settings(budget=100.0), Change("budget", 115.0)),
        ({"setting": "budget", "by_amount": -50}, settings(budget=250.0), Change("budget", 200.0)),
        ({"setting": "budget", "to": 90}, settings(budget=250.0), Change("budget", 90.0)),
        ({"setting": "bid", "by_amount": 0.1}, settings(bid=1.2), Change("bid", 1.3)),
        ({"setting": "bid", "by_percent": -10}, settings(bid=1.5), Change("bid", 1.35)),
        ({"setting": "bid", "to": 0.8}, settings(bid=1.5), Change("bid", 0.8)),
    ],
)
def test_a_change_action_asks_for_the_value_it_describes(
    fields: dict[str, Any], state: CampaignState, expected: Change
) -> None:
    got = desired_change(action(type="change", **fields), state)
    assert isinstance(got, Change)
    assert got.kind == expected.kind
    assert got.value == pytest.approx(expected.value)


def test_a_change_past_zero_is_no_action() -> None:
    below = desired_change(
        action(type="change", setting="budget", by_amount=-50), settings(budget=30.0)
    )
    zero_bid = desired_change(action(type="change", setting="bid", to=0), settings(bid=1.0))
    assert isinstance(below, NoAction) and "-20" in below.reason
    assert isinstance(zero_bid, NoAction)


def test_notify_asks_for_an_alert() -> None:
    got = desired_change(action(type="notify", severity="high", message="look"), settings())
    assert got == Notification(Severity.HIGH, "look")
    plain = desired_change(action(type="notify"), settings())
    assert isinstance(plain, Notification) and plain.severity is Severity.MEDIUM
