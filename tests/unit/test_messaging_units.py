import uuid
from datetime import UTC, datetime

import pytest

from shared.consumer import topic_matches
from shared.contracts.decision import DECISION_MADE
from shared.contracts.optimizer import RECOMMENDATION_CREATED
from shared.events import Envelope, to_payload


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("#", "decision.made", True),
        ("#", "a", True),
        ("decision.*", "decision.made", True),
        ("decision.*", "decision.made.v2", False),
        ("decision.#", "decision", True),
        ("decision.#", "decision.made.v2", True),
        ("*.made", "decision.made", True),
        ("*.made", "made", False),
        ("alert.raised", "alert.resolved", False),
        ("#.raised", "alert.raised", True),
    ],
)
def test_topic_matching_follows_amqp_rules(pattern: str, key: str, expected: bool) -> None:
    assert topic_matches(pattern, key) is expected


def test_envelope_round_trips_and_ignores_unknown_fields() -> None:
    event = Envelope(type="decision.made", tenant_id=uuid.uuid4(), payload={"x": 1})
    raw = event.to_bytes().replace(b'"payload"', b'"future_field":42,"payload"')
    back = Envelope.from_bytes(raw)
    assert back == event


def test_caused_event_keeps_conversation() -> None:
    first = DECISION_MADE.envelope(decision_row(), tenant_id=uuid.uuid4(), source="decision")
    second = RECOMMENDATION_CREATED.caused_by(first, recommendation_row(), source="optimizer")
    assert second.correlation_id == first.correlation_id
    assert second.causation_id == first.event_id
    assert second.tenant_id == first.tenant_id
    assert second.event_id != first.event_id
    assert (second.type, second.version) == ("recommendation.created", 1)


def test_to_payload_makes_rows_json_safe() -> None:
    from decimal import Decimal

    row = {
        "id": uuid.UUID(int=5),
        "at": datetime(2026, 1, 1, tzinfo=UTC),
        "score": Decimal("72.50"),
    }
    payload = to_payload(row)
    assert payload == {
        "id": str(uuid.UUID(int=5)),
        "at": "2026-01-01T00:00:00+00:00",
        "score": 72.5,
    }


def test_every_subscription_in_the_contracts_has_a_handler() -> None:
    """An event bound to a service's queue but handled by nobody would be acked unread."""
    from adpilot.registry import spec_of
    from shared.contracts import SERVICES, bindings

    for name in SERVICES:
        subscriptions = spec_of(name).subscriptions
        assert subscriptions is not None, name
        assert set(subscriptions.routing_keys) == set(bindings(name)), name


def test_lost_connections_are_recognised_through_the_exception_chain() -> None:
    import asyncpg

    from shared.db import database_unavailable

    assert database_unavailable(ConnectionRefusedError())
    assert database_unavailable(asyncpg.AdminShutdownError("terminating connection"))
    try:
        try:
            raise asyncpg.ConnectionDoesNotExistError("connection was closed")
        except asyncpg.ConnectionDoesNotExistError as inner:
            raise asyncpg.InterfaceError(
                "cannot rollback; the underlying connection is closed"
            ) from inner
    except asyncpg.InterfaceError as outer:
        assert database_unavailable(outer)
    assert not database_unavailable(ValueError("bad payload"))
    assert not database_unavailable(asyncpg.UniqueViolationError("duplicate key"))


def decision_row() -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "cycle_id": None,
        "decision_type": "budget_adjustment",
        "context_data": {},
        "decision_rationale": "spend ran ahead of budget",
        "confidence_score": 80.0,
        "action_taken": "reduce_budget",
        "impact_prediction": None,
        "actual_impact": None,
        "validation_status": "pending",
        "created_at": datetime(2026, 11, 1, tzinfo=UTC),
    }


def recommendation_row() -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "recommendation_type": "budget_optimization",
        "target_entity_type": "campaign",
        "target_entity_id": None,
        "current_state": None,
        "recommended_changes": {"action": "reduce_budget"},
        "expected_impact": None,
        "confidence_level": 8.0,
        "priority_score": 8,
        "implementation_complexity": "low",
        "status": "pending",
        "source_decision_id": None,
        "created_at": datetime(2026, 11, 1, tzinfo=UTC),
        "updated_at": datetime(2026, 11, 1, tzinfo=UTC),
        "decided_at": None,
        "implemented_at": None,
    }


def test_enum_keys_are_written_as_their_text() -> None:
    """Cycle summaries count decisions by type; the type is an enum member."""
    from shared.contracts.enums import DecisionType

    assert to_payload({"by_type": {DecisionType.KEYWORD_BID: 2}}) == {"by_type": {"keyword_bid": 2}}
