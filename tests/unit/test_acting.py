"""The pure parts of acting: what a decision's or recommendation's action asks for, and
when a rule is due, how far back it reads and where its errors point."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from pydantic import ValidationError

from services.optimizer.core.execution import _holds, change_id_for
from services.optimizer.core.limits import NoAction
from services.optimizer.core.recommend import UnusableAction, desire_from_action
from services.optimizer.rules.routes import _rule_errors
from services.optimizer.rules.runner import actions_of, actions_path, due, lookback, parse_rule
from shared.connectors import CampaignState, Change

STATE = CampaignState(uuid4(), "c", "active", 200.0, 1.2, 1.0, ("in-market",))
HOUR = timedelta(hours=1)
AS_OF = datetime(2026, 3, 4, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ({"kind": "budget", "to": 150.0}, Change("budget", 150.0)),
        ({"kind": "status", "to": "paused"}, Change("status", "paused")),
        # Relative actions scale the setting as it stands on the platform.
        ({"kind": "bid", "multiplier": 0.85}, Change("bid", 1.02)),
        ({"kind": "audience", "factor": 1.2}, Change("audience", 1.2)),
    ],
)
def test_an_action_asks_for_one_change(action: dict[str, object], expected: Change) -> None:
    assert desire_from_action(action)(STATE) == expected


@pytest.mark.parametrize(
    "action",
    [
        {"kind": "creative", "to": 1},
        {"kind": "budget"},
        {"kind": "budget", "to": -5},
        {"kind": "status", "to": "deleted"},
        {"kind": "bid", "multiplier": 0},
        {"kind": "bid", "multiplier": True},
        {"kind": "status", "multiplier": 2},
    ],
)
def test_an_action_naming_no_possible_change_is_unusable(action: dict[str, object]) -> None:
    with pytest.raises(UnusableAction):
        desire_from_action(action)


def test_a_relative_change_that_leaves_no_valid_value_is_no_action() -> None:
    tiny = CampaignState(uuid4(), "c", "active", 200.0, 0.0001, 1.0)
    assert isinstance(desire_from_action({"kind": "bid", "multiplier": 0.1})(tiny), NoAction)


def test_change_ids_follow_what_asked_and_the_tenant() -> None:
    tenant, other = uuid4(), uuid4()
    assert change_id_for(tenant, "decision:1") == change_id_for(tenant, "decision:1")
    assert change_id_for(tenant, "decision:1") != change_id_for(tenant, "decision:2")
    assert change_id_for(tenant, "decision:1") != change_id_for(other, "decision:1")


@pytest.mark.parametrize(
    ("frequency", "evaluated_for", "as_of", "expected"),
    [
        ("hourly", None, AS_OF, True),
        ("hourly", AS_OF, AS_OF, False),
        ("hourly", AS_OF - HOUR, AS_OF, True),
        ("continuous", AS_OF, AS_OF, True),
        ("continuous", AS_OF + HOUR, AS_OF, False),
        ("daily", AS_OF - 3 * HOUR, AS_OF, False),
        ("daily", AS_OF - 11 * HOUR, AS_OF, True),
    ],
)
def test_rules_are_due_by_their_frequency(
    frequency: str, evaluated_for: datetime | None, as_of: datetime, expected: bool
) -> None:
    assert due(frequency, evaluated_for, as_of) is expected


def _comparison(metric: str, timeframe: object) -> dict[str, object]:
    return {"left": {"metric": metric, "timeframe": timeframe}, "op": ">", "right": {"value": 1}}


def test_lookback_is_the_longest_timeframe() -> None:
    conditions = {
        "all": [
            _comparison("cpa", {"last_hours": 6}),
            {"any": [_comparison("spend", {"last_days": 3}), _comparison("ctr", "yesterday")]},
        ]
    }
    rule, _ = parse_rule(conditions, [{"type": "pause"}], None)
    assert lookback(rule) == timedelta(days=3)
    setting_only = {"left": {"metric": "daily_budget"}, "op": ">", "right": {"value": 1}}
    assert lookback(parse_rule(setting_only, [{"type": "pause"}], None)[0]) == HOUR


def test_actions_may_be_a_list_an_object_with_actions_or_one_action() -> None:
    assert actions_of([{"type": "pause"}]) == [{"type": "pause"}]
    assert actions_of({"actions": [{"type": "pause"}]}) == [{"type": "pause"}]
    assert actions_of({"type": "pause"}) == [{"type": "pause"}]


@pytest.mark.parametrize(
    ("actions", "prefix"),
    [
        ([{"type": "change", "setting": "budget"}], "action_parameters.0"),
        ({"actions": [{"type": "change", "setting": "budget"}]}, "action_parameters.actions.0"),
    ],
)
def test_rule_errors_point_into_the_request_body(actions: object, prefix: str) -> None:
    conditions = {"any": [_comparison("cpx", "today")]}
    with pytest.raises(ValidationError) as caught:
        parse_rule(conditions, actions, None)
    fields = [f["field"] for f in _rule_errors(caught.value, actions_path(actions))]
    assert any(f.startswith("trigger_conditions.any.0.left.metric") for f in fields), fields
    assert any(f.startswith(prefix) for f in fields), fields


def test_a_campaign_read_back_holds_a_change_to_the_cent() -> None:
    state = CampaignState(
        campaign_id=uuid4(),
        name="c",
        status="paused",
        daily_budget=120.0,
        bid_multiplier=1.1,
        audience_factor=1.0,
    )
    assert _holds(state, "budget", 120.004)  # the platform keeps cents
    assert not _holds(state, "budget", 120.01)
    assert _holds(state, "bid", 1.1) and not _holds(state, "bid", 1.11)
    assert _holds(state, "status", "paused") and not _holds(state, "status", "active")
