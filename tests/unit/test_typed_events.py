"""Typed events: what a publisher may send and what a consumer makes of what it gets."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from shared.consumer import NotSubscribed, Subscriptions, Undeliverable
from shared.contracts.decision import DECISION_MADE
from shared.contracts.spec import EventPayload, EventType, UndeclaredFields
from shared.events import Envelope

TENANT = uuid.uuid4()


class PriceV1(EventPayload):
    sku: str
    price: float


class PriceV2(EventPayload):
    sku: str
    amount_minor: int
    currency: str


PRICE_V1 = EventType("price.changed", PriceV1, ("decision",), subscribers=("optimizer",))
PRICE_V2 = EventType("price.changed", PriceV2, ("decision",), subscribers=("optimizer",), version=2)


def envelope(version: int, payload: dict[str, Any]) -> Envelope:
    return Envelope(type="price.changed", version=version, tenant_id=TENANT, payload=payload)


def test_publishing_checks_the_payload_against_the_contract() -> None:
    made = PRICE_V1.envelope({"sku": "a", "price": 2}, tenant_id=TENANT, source="decision")
    assert (made.type, made.version, made.payload) == (
        "price.changed",
        1,
        {"sku": "a", "price": 2.0},
    )
    with pytest.raises(ValidationError):
        PRICE_V1.envelope({"sku": "a"}, tenant_id=TENANT, source="decision")
    with pytest.raises(UndeclaredFields, match="colour"):
        PRICE_V1.envelope(
            {"sku": "a", "price": 2, "colour": "red"}, tenant_id=TENANT, source="decision"
        )


def test_a_handler_gets_its_versions_model_and_both_versions_live_side_by_side() -> None:
    subs = Subscriptions("optimizer")

    @subs.subscriber(PRICE_V1)
    async def v1(_conn: Any, _event: Envelope, _payload: PriceV1) -> None: ...

    @subs.subscriber(PRICE_V2)
    async def v2(_conn: Any, _event: Envelope, _payload: PriceV2) -> None: ...

    first = subs.resolve(envelope(1, {"sku": "a", "price": 1.5}))
    second = subs.resolve(envelope(2, {"sku": "a", "amount_minor": 150, "currency": "EUR"}))
    assert first is not None and second is not None
    assert first[0] is v1 and first[1] == PriceV1(sku="a", price=1.5)
    assert second[0] is v2 and second[1] == PriceV2(sku="a", amount_minor=150, currency="EUR")
    assert subs.routing_keys == ("price.changed",)


def test_a_consumer_ignores_fields_it_does_not_know() -> None:
    subs = Subscriptions("optimizer")
    subs.subscriber(PRICE_V1)(_noop)
    resolved = subs.resolve(envelope(1, {"sku": "a", "price": 1.0, "added_later": [1, 2]}))
    assert resolved is not None and resolved[1] == PriceV1(sku="a", price=1.0)


def test_a_payload_missing_a_required_field_cannot_be_delivered() -> None:
    subs = Subscriptions("optimizer")
    subs.subscriber(PRICE_V1)(_noop)
    with pytest.raises(Undeliverable, match="price"):
        subs.resolve(envelope(1, {"sku": "a"}))


def test_a_version_nobody_here_reads_cannot_be_delivered() -> None:
    subs = Subscriptions("optimizer")
    subs.subscriber(PRICE_V1)(_noop)
    with pytest.raises(Undeliverable, match="v3"):
        subs.resolve(envelope(3, {"sku": "a", "price": 1.0}))


def test_events_of_no_interest_resolve_to_nothing() -> None:
    subs = Subscriptions("optimizer")
    subs.subscriber(PRICE_V1)(_noop)
    other = Envelope(type="cycle.completed", tenant_id=TENANT, payload={})
    assert subs.resolve(other) is None


def test_a_service_may_only_handle_what_its_contract_subscribes_it_to() -> None:
    with pytest.raises(NotSubscribed):
        Subscriptions("alerts").subscriber(DECISION_MADE)
    with pytest.raises(NotSubscribed):
        Subscriptions("decision").pattern("#")


async def _noop(_conn: Any, _event: Envelope, _payload: Any) -> None:
    return None


async def test_a_handler_that_needs_the_service_gets_it_when_bound() -> None:
    """Such a handler is given the running service as routes are, never found in a global;
    unbound, it refuses to run rather than run without it."""
    subs = Subscriptions("optimizer")
    seen: list[object] = []

    @subs.service_subscriber(PRICE_V1)
    async def priced(service: object, _conn: Any, _event: Envelope, payload: PriceV1) -> None:
        seen.append((service, payload.sku))

    event = envelope(1, {"sku": "a", "price": 1.0})
    with pytest.raises(RuntimeError, match="bind"):
        subs.resolve(event)
    service = object()
    resolved = subs.bind(service).resolve(event)
    assert resolved is not None
    handler, payload = resolved
    await handler(None, event, payload)
    assert seen == [(service, "a")]
    assert subs.bind(service).routing_keys == subs.routing_keys
    with pytest.raises(NotSubscribed):
        Subscriptions("alerts").service_subscriber(DECISION_MADE)


def test_a_consumer_takes_the_hours_the_gateway_accepted_whatever_its_own_clock() -> None:
    """The future-hour check is the gateway's, at the door; a consumer with a clock behind
    it must not dead-letter a batch that was accepted."""
    from datetime import UTC, datetime, timedelta

    from shared.contracts.gateway import METRICS_RECORDED
    from shared.metrics_input import MetricRow

    ahead = (datetime.now(UTC) + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    row = {
        "campaign_id": str(uuid.uuid4()),
        "hour": ahead.isoformat(),
        "impressions": 100,
        "clicks": 5,
        "conversions": 1,
        "spend": 2.0,
        "revenue": 8.0,
        "budget": 50.0,
    }
    with pytest.raises(ValidationError, match="future"):
        MetricRow.model_validate(row)
    event = Envelope(type="metrics.recorded", tenant_id=TENANT, payload={"metrics": [row]})
    assert METRICS_RECORDED.parse(event).metrics[0].hour == ahead
