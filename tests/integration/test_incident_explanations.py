"""Incidents explained on real PostgreSQL (and, for redelivery, RabbitMQ): competitor
events and our own changes linked to the incidents they may explain, in the alert rows'
evidence, once however often they arrive; and the decision that follows naming them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from sandbox.driver import to_body
from sandbox.simulator import CampaignSimulator, InjectedAnomaly
from services.alerts import explaining, watch
from services.decision import views
from services.decision.app import SPEC as DECISION
from services.decision.cycles import CycleRunner, request_cycle
from shared.bus import Bus, queue_name
from shared.config import Settings
from shared.consumer import Consumer
from shared.contracts import SERVICES, competition, optimizer
from shared.contracts.gateway import METRICS_RECORDED
from shared.db import scoped
from shared.events import Envelope
from shared.metrics import HourlyMetrics
from shared.service import ServiceRuntime
from tests.conftest import schema_pool
from tests.helpers import deliver, eventually

pytestmark = pytest.mark.integration

START = datetime(2026, 9, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
# The faults begin here: 22:00 on 8 September.
FAULT = START + 190 * HOUR
LABEL = "co-occurring, not shown to be causal"
REVENUE_SHARE = 0.2


@pytest.fixture(scope="module")
async def alerts_db(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await schema_pool(settings, "alerts")
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
async def decision_db(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await schema_pool(settings, "decision")
    yield pool
    await pool.close()


def simulation(seed: int = 11) -> tuple[CampaignSimulator, uuid.UUID, uuid.UUID]:
    """Two campaigns: dearer clicks on the first, a conversion collapse on the second,
    both from ``FAULT``."""
    probe = CampaignSimulator(2, seed=seed, start=START)
    dearer, collapsed = probe.campaign_ids
    faults = [
        InjectedAnomaly(dearer, "cpc_jump", FAULT, FAULT + 10 * HOUR, 2.5),
        InjectedAnomaly(collapsed, "conversion_drop", FAULT, FAULT + 10 * HOUR, 0.1),
    ]
    return CampaignSimulator(2, seed=seed, start=START, anomalies=faults), dearer, collapsed


def hours_of(sim: CampaignSimulator, hours: range) -> list[HourlyMetrics]:
    """The simulated hours, with revenue cut to a fifth: the simulated campaigns return
    far above the policy's target, where dearer clicks are left alone."""
    return [
        replace(r, revenue=round(r.revenue * REVENUE_SHARE, 2))
        for i in hours
        for r in sim.simulate_hour(START + i * HOUR)
    ]


async def record(
    pool: asyncpg.Pool, tenant: uuid.UUID, sim: CampaignSimulator, hours: range
) -> None:
    rows = hours_of(sim, hours)
    event = METRICS_RECORDED.envelope(to_body(rows), tenant_id=tenant, source="gateway")
    async with scoped(pool, tenant) as conn:
        await deliver(conn, watch.subscriptions, event)


def competitor_event(
    tenant: uuid.UUID,
    campaign: uuid.UUID,
    competitor: str,
    started_on: date,
    *,
    kind: str = "aggressive",
    score: float = 6.0,
    event_id: uuid.UUID | None = None,
) -> Envelope:
    payload = {
        "id": event_id or uuid.uuid4(),
        "campaign_id": campaign,
        "competitor": competitor,
        "kind": kind,
        "started_on": started_on,
        "size": 14.0,
        "score": score,
        "confidence": 0.75,
        "evidence": {"baseline_share": 0.1},
        "data_source": "sandbox",
        "created_at": datetime.now(UTC),
    }
    return competition.COMPETITOR_EVENT_DETECTED.envelope(
        payload, tenant_id=tenant, source="optimizer"
    )


def bid_raise(tenant: uuid.UUID, campaign: uuid.UUID, effective: datetime) -> Envelope:
    change_id = uuid.uuid4()
    payload = {
        "id": change_id,
        "target_entity_type": "campaign",
        "target_entity_id": campaign,
        "optimization_type": "bid_change",
        "status": "applied",
        "setting": "bid",
        "value_before": 1.0,
        "value_after": 1.3,
        "before_state": {},
        "after_state": {},
        "expected_improvement": None,
        "actual_improvement": None,
        "success_metrics": None,
        "rollback_data": None,
        "change_id": uuid.uuid4(),
        "connector": "sandbox",
        "cause_type": "decision",
        "cause_id": None,
        "decision_id": None,
        "rule_id": None,
        "recommendation_id": None,
        "rollback_of": None,
        "rolled_back_by": None,
        "clamps": None,
        "failure_code": None,
        "failure_reason": None,
        "planned_for": None,
        "effective_from": effective,
        "applied_at": effective,
        "correlation_id": None,
        "created_at": effective,
        "updated_at": effective,
    }
    return optimizer.OPTIMIZATION_APPLIED.envelope(payload, tenant_id=tenant, source="optimizer")


async def incidents(pool: asyncpg.Pool, tenant: uuid.UUID) -> dict[uuid.UUID, dict[str, Any]]:
    """Each campaign's first incident, by campaign."""
    async with scoped(pool, tenant) as conn:
        rows = await conn.fetch(
            """SELECT id, affected_entity_id, alert_key, first_seen_hour, evidence
               FROM ai_smart_alerts WHERE tenant_id = $1 ORDER BY created_at, id""",
            tenant,
        )
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for row in rows:
        found.setdefault(row["affected_entity_id"], dict(row))
    return found


def competitors_of(alert: dict[str, Any]) -> list[dict[str, Any]]:
    explanation = alert["evidence"].get("explanation") or {}
    return [c for c in explanation.get("candidates", []) if c["source"] == "competitor"]


async def updates_published(
    pool: asyncpg.Pool, tenant: uuid.UUID, alert_id: uuid.UUID, cause: uuid.UUID
) -> int:
    async with scoped(pool, tenant) as conn:
        return int(
            await conn.fetchval(
                """SELECT count(*) FROM outbox
                   WHERE tenant_id = $1 AND routing_key = 'alert.updated'
                     AND body -> 'payload' ->> 'id' = $2 AND body ->> 'causation_id' = $3""",
                tenant,
                str(alert_id),
                str(cause),
            )
        )


async def test_a_competitor_event_links_to_the_cpc_incident_in_its_window_only(
    alerts_db: asyncpg.Pool,
) -> None:
    tenant = uuid.uuid4()
    sim, dearer, collapsed = simulation()
    await record(alerts_db, tenant, sim, range(190))
    await record(alerts_db, tenant, sim, range(190, 194))
    before = await incidents(alerts_db, tenant)
    assert set(before) == {dearer, collapsed}
    cpc = before[dearer]
    assert cpc["evidence"]["primary"] == "cpc_up", cpc["evidence"]
    assert before[collapsed]["evidence"]["primary"] != "cpc_up"
    # Nothing to link yet: the explanation is there, and empty.
    assert cpc["evidence"]["explanation"]["candidates"] == []
    opened_on = cpc["first_seen_hour"].date()

    rival = competitor_event(tenant, dearer, "rival.example", opened_on)
    # On the other campaign, the same day: its incident is on conversions, not CPC.
    elsewhere = competitor_event(tenant, collapsed, "rival.example", opened_on)
    # On the right campaign, but three days before: outside the window.
    stale = competitor_event(tenant, dearer, "old.example", opened_on - timedelta(days=3))
    async with scoped(alerts_db, tenant) as conn:
        for event in (rival, elsewhere, stale):
            await deliver(conn, explaining.subscriptions, event)

    after = await incidents(alerts_db, tenant)
    (link,) = competitors_of(after[dearer])
    assert link == {
        "source": "competitor",
        "label": LABEL,
        "event_id": str(rival.payload["id"]),
        "competitor": "rival.example",
        "kind": "aggressive",
        "started_on": opened_on.isoformat(),
        "size": 14.0,
        "score": 6.0,
        "confidence": 0.75,
    }
    assert competitors_of(after[collapsed]) == []
    assert await updates_published(alerts_db, tenant, cpc["id"], rival.event_id) == 1
    assert (
        await updates_published(alerts_db, tenant, before[collapsed]["id"], elsewhere.event_id) == 0
    )

    # The same event again, and the same competitor event in a new envelope: linked once,
    # and nothing more published.
    again = competitor_event(
        tenant, dearer, "rival.example", opened_on, event_id=rival.payload["id"]
    )
    async with scoped(alerts_db, tenant) as conn:
        await deliver(conn, explaining.subscriptions, rival)
        await deliver(conn, explaining.subscriptions, again)
        copies = await conn.fetchval(
            "SELECT count(*) FROM competitor_event_view WHERE tenant_id = $1", tenant
        )
    assert copies == 3
    assert len(competitors_of((await incidents(alerts_db, tenant))[dearer])) == 1
    assert await updates_published(alerts_db, tenant, cpc["id"], rival.event_id) == 1
    assert await updates_published(alerts_db, tenant, cpc["id"], again.event_id) == 0

    # The incident goes on: the next hours keep the link.
    await record(alerts_db, tenant, sim, range(194, 196))
    assert len(competitors_of((await incidents(alerts_db, tenant))[dearer])) == 1


async def test_an_incident_opening_after_our_change_and_a_competitor_event_lists_ours_first(
    alerts_db: asyncpg.Pool,
) -> None:
    tenant = uuid.uuid4()
    sim, dearer, _ = simulation()
    await record(alerts_db, tenant, sim, range(190))
    async with scoped(alerts_db, tenant) as conn:
        await deliver(conn, explaining.subscriptions, bid_raise(tenant, dearer, FAULT - 3 * HOUR))
        await deliver(
            conn,
            explaining.subscriptions,
            competitor_event(tenant, dearer, "rival.example", FAULT.date(), score=9.0),
        )
    await record(alerts_db, tenant, sim, range(190, 194))
    async with scoped(alerts_db, tenant) as conn:
        raised = await conn.fetch(
            """SELECT body -> 'payload' -> 'evidence' -> 'explanation' AS explanation
               FROM outbox WHERE tenant_id = $1 AND routing_key = 'alert.raised'
                 AND (body -> 'payload' ->> 'campaign_id')::uuid = $2""",
            tenant,
            dearer,
        )
    # The event that announced the incident already carried its explanation.
    (explanation,) = [r["explanation"] for r in raised]
    assert explanation["lead"] == "own_change"
    assert [c["source"] for c in explanation["candidates"]] == ["own_change", "competitor"]
    assert explanation["candidates"][0]["setting"] == "bid"
    assert explanation["candidates"][1]["competitor"] == "rival.example"


# --- through RabbitMQ --------------------------------------------------------------------


@pytest.fixture(scope="module")
async def own_exchange(settings: Settings) -> AsyncIterator[Settings]:
    """An exchange of its own: nothing else consumes its alerts queue."""
    own = settings.model_copy(update={"exchange": f"{settings.exchange}.explain"})
    yield own
    bus = Bus(own.amqp_url, own.exchange)
    await bus.connect()
    try:
        await bus.delete_topology(SERVICES)
    finally:
        await bus.close()


async def test_a_redelivered_competitor_event_links_once(
    own_exchange: Settings, alerts_db: asyncpg.Pool
) -> None:
    tenant = uuid.uuid4()
    sim, dearer, _ = simulation()
    await record(alerts_db, tenant, sim, range(194))
    cpc = (await incidents(alerts_db, tenant))[dearer]
    rival = competitor_event(tenant, dearer, "rival.example", cpc["first_seen_hour"].date())
    bus = Bus(own_exchange.amqp_url, own_exchange.exchange)
    await bus.connect()
    consumer = Consumer(bus, alerts_db, "alerts", explaining.subscriptions, max_deliveries=3)
    await consumer.start()
    try:
        await bus.publish(rival)
        await bus.publish(rival)  # the broker hands it over again

        async def handled() -> bool:
            async with scoped(alerts_db, tenant) as conn:
                done = await conn.fetchval(
                    "SELECT count(*) FROM inbox WHERE consumer = 'alerts' AND event_id = $1",
                    rival.event_id,
                )
            return done == 1 and await bus.queue_depth(queue_name(bus.exchange_name, "alerts")) == 0

        await eventually(handled, 15)
    finally:
        await consumer.stop()
        await bus.close()
    assert len(competitors_of((await incidents(alerts_db, tenant))[dearer])) == 1
    assert await updates_published(alerts_db, tenant, cpc["id"], rival.event_id) == 1


# --- the decision that follows -----------------------------------------------------------


async def test_the_decision_on_a_linked_incident_names_the_competitor_event(
    settings: Settings, alerts_db: asyncpg.Pool, decision_db: asyncpg.Pool
) -> None:
    tenant = uuid.uuid4()
    sim, dearer, collapsed = simulation()
    await record(alerts_db, tenant, sim, range(194))
    cpc = (await incidents(alerts_db, tenant))[dearer]
    rival = competitor_event(tenant, dearer, "rival.example", cpc["first_seen_hour"].date())
    async with scoped(alerts_db, tenant) as conn:
        await deliver(conn, explaining.subscriptions, rival)
        # What alerts published, as the decision service receives it.
        published = await conn.fetch(
            """SELECT body FROM outbox WHERE tenant_id = $1
               AND routing_key IN ('alert.raised', 'alert.updated') ORDER BY id""",
            tenant,
        )
    rows = hours_of(sim, range(194))
    async with scoped(decision_db, tenant) as conn:
        await deliver(
            conn,
            views.subscriptions,
            METRICS_RECORDED.envelope(to_body(rows), tenant_id=tenant, source="gateway"),
        )
        for row in published:
            await deliver(conn, views.subscriptions, Envelope.model_validate(row["body"]))
        stored = await conn.fetchval(
            "SELECT competitors FROM alert_view WHERE alert_id = $1", cpc["id"]
        )
        await request_cycle(conn, tenant, "test")
    assert [c["competitor"] for c in stored] == ["rival.example"]
    runner = CycleRunner(ServiceRuntime(spec=DECISION, settings=settings, pool=decision_db))
    while await runner.claim_and_run():
        pass
    async with scoped(decision_db, tenant) as conn:
        decisions = await conn.fetch(
            """SELECT context_data ->> 'campaign_id' AS campaign, decision_rationale
               FROM ai_decision_logs WHERE tenant_id = $1""",
            tenant,
        )
    by_campaign = {uuid.UUID(d["campaign"]): d["decision_rationale"] for d in decisions}
    assert dearer in by_campaign, decisions
    rationale = by_campaign[dearer]
    started = cpc["first_seen_hour"].date().isoformat()
    assert f"rival.example aggressive from {started}" in rationale
    assert "impression share +14.0 points" in rationale
    assert LABEL in rationale
    # The other campaign's incident is linked to nothing: its decision names no competitor.
    if collapsed in by_campaign:
        assert "rival.example" not in by_campaign[collapsed]
