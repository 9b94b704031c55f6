"""The alerts and decision handlers against real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from sandbox.driver import to_body
from sandbox.simulator import CampaignSimulator, InjectedAnomaly
from services.alerts import watch
from services.decision.app import SPEC as DECISION
from services.decision.cycles import CYCLE_LOCK_CLASS, CycleRunner, request_cycle
from shared.config import Settings
from shared.contracts import alerts
from shared.contracts.gateway import METRICS_RECORDED
from shared.contracts.spec import EventType
from shared.db import scoped
from shared.events import Envelope
from shared.service import ServiceRuntime
from tests.conftest import schema_pool
from tests.helpers import deliver

pytestmark = pytest.mark.integration

START = datetime(2026, 9, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


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


async def _record(pool: asyncpg.Pool, tenant: uuid.UUID, rows: list) -> None:
    event = METRICS_RECORDED.envelope(to_body(rows), tenant_id=tenant, source="gateway")
    async with scoped(pool, tenant) as conn:
        await deliver(conn, watch.subscriptions, event)


async def test_a_resent_hour_replaces_the_old_figures(alerts_db: asyncpg.Pool) -> None:
    tenant = uuid.uuid4()
    sim = CampaignSimulator(1, seed=1, start=START)
    (row,) = sim.simulate_hour(START)
    await _record(alerts_db, tenant, [row])
    corrected = replace(row, clicks=row.clicks + 7)
    await _record(alerts_db, tenant, [corrected])
    async with scoped(alerts_db, tenant) as conn:
        stored = await conn.fetch(
            "SELECT clicks FROM campaign_metrics WHERE tenant_id = $1", tenant
        )
    assert [r["clicks"] for r in stored] == [row.clicks + 7]


async def test_a_conversion_drop_is_one_incident_open_until_it_passes(
    alerts_db: asyncpg.Pool,
) -> None:
    tenant = uuid.uuid4()
    probe = CampaignSimulator(2, seed=5, start=START)
    target = probe.campaign_ids[0]
    drop = InjectedAnomaly(target, "conversion_drop", START + 190 * HOUR, START + 198 * HOUR, 0.15)
    sim = CampaignSimulator(2, seed=5, start=START, anomalies=[drop])
    await _record(
        alerts_db, tenant, [r for i in range(190) for r in sim.simulate_hour(START + i * HOUR)]
    )
    for i in range(190, 197):
        await _record(alerts_db, tenant, sim.simulate_hour(START + i * HOUR))
    # The same hour again must not count as another occurrence.
    await _record(alerts_db, tenant, sim.simulate_hour(START + 196 * HOUR))
    async with scoped(alerts_db, tenant) as conn:
        alerts = await conn.fetch(
            """SELECT affected_entity_id, alert_key, status, occurrences, first_seen_hour,
                      last_seen_hour, evidence FROM ai_smart_alerts WHERE tenant_id = $1""",
            tenant,
        )
        risks = await conn.fetch(
            "SELECT risk_type, status FROM ai_risk_management WHERE tenant_id = $1", tenant
        )
    assert alerts, "the drop raised no alert"
    assert {a["affected_entity_id"] for a in alerts} == {target}
    # One cause, one incident: the drop's kinds are its primary and symptoms.
    assert len(alerts) == 1, [(a["alert_key"], a["evidence"]) for a in alerts]
    evidence = alerts[0]["evidence"]
    covered = {evidence["primary"], *(s["kind"] for s in evidence["symptoms"])}
    assert covered & {"tracking_outage", "cvr_down", "conversions_down", "roas_down"}, covered
    for alert in alerts:
        assert alert["status"] == "active"
        span = (alert["last_seen_hour"] - alert["first_seen_hour"]) // HOUR + 1
        assert 1 <= alert["occurrences"] <= span
    assert risks and all(r["status"] == "active" for r in risks)
    # Hours later, with the campaign recovered (the tail of the drop may still be seen for
    # an hour or two), the incident resolves itself after six quiet hours.
    for i in range(197, 210):
        await _record(alerts_db, tenant, sim.simulate_hour(START + i * HOUR))
    async with scoped(alerts_db, tenant) as conn:
        statuses = await conn.fetch(
            "SELECT status, evidence FROM ai_smart_alerts WHERE tenant_id = $1", tenant
        )
    assert {s["status"] for s in statuses} == {"resolved"}, [
        (s["status"], s["evidence"].get("primary"), s["evidence"].get("hour")) for s in statuses
    ]
    assert all(s["evidence"]["auto_resolved"] for s in statuses)


def _runtime(settings: Settings, pool: asyncpg.Pool) -> ServiceRuntime:
    return ServiceRuntime(spec=DECISION, settings=settings, pool=pool)


async def test_triggers_join_the_pending_cycle(decision_db: asyncpg.Pool) -> None:
    tenant = uuid.uuid4()
    async with scoped(decision_db, tenant) as conn:
        first, created = await request_cycle(conn, tenant, "alert.raised:a")
        second, joined_created = await request_cycle(conn, tenant, "alert.raised:b")
    assert created and not joined_created
    assert first["id"] == second["id"]
    assert second["metadata"]["triggers"] == ["alert.raised:a", "alert.raised:b"]


async def test_one_cycle_per_tenant_at_a_time(
    settings: Settings, decision_db: asyncpg.Pool
) -> None:
    tenant = uuid.uuid4()
    async with scoped(decision_db, tenant) as conn:
        cycle, _ = await request_cycle(conn, tenant, "test")
    runner = CycleRunner(_runtime(settings, decision_db))
    # Another replica is running a cycle for this tenant: it holds the tenant's lock.
    other = await decision_db.acquire()
    try:
        await other.execute(
            "SELECT pg_advisory_lock($1, hashtext($2))", CYCLE_LOCK_CLASS, str(tenant)
        )
        while await runner.claim_and_run():
            pass  # other tenants' pending cycles may run; ours must not
        async with scoped(decision_db, tenant) as conn:
            assert (
                await conn.fetchval(
                    "SELECT status FROM master_ai_cycles WHERE id = $1", cycle["id"]
                )
                == "pending"
            )
        await other.execute(
            "SELECT pg_advisory_unlock($1, hashtext($2))", CYCLE_LOCK_CLASS, str(tenant)
        )
    finally:
        await decision_db.release(other)
    assert await runner.claim_and_run()
    async with scoped(decision_db, tenant) as conn:
        done = await conn.fetchrow(
            "SELECT status, duration_seconds, error_message FROM master_ai_cycles WHERE id = $1",
            cycle["id"],
        )
        steps = await conn.fetch(
            "SELECT step_name, status FROM ai_workflow_states "
            "WHERE workflow_id = $1 ORDER BY step_order",
            cycle["id"],
        )
    assert done["status"] == "completed" and done["error_message"] is None
    assert [(s["step_name"], s["status"]) for s in steps] == [
        ("gather", "completed"),
        ("analyse", "completed"),
        ("decide", "completed"),
        ("publish", "completed"),
    ]


async def test_a_failed_cycle_says_why(
    settings: Settings, decision_db: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = uuid.uuid4()
    async with scoped(decision_db, tenant) as conn:
        cycle, _ = await request_cycle(conn, tenant, "test")
        # Some metrics, so the cycle gets past gathering to the step that will fail.
        await conn.execute(
            """INSERT INTO campaign_metrics VALUES ($1, $2, $3, 10, 1, 0, 1, 0, 10)""",
            tenant,
            uuid.uuid4(),
            START,
        )
    runner = CycleRunner(_runtime(settings, decision_db))

    def broken(_state: dict) -> list:
        raise ZeroDivisionError("analysis blew up")

    monkeypatch.setattr("services.decision.cycles.build_views", broken)
    while await runner.claim_and_run():
        pass
    async with scoped(decision_db, tenant) as conn:
        done = await conn.fetchrow(
            "SELECT status, error_message FROM master_ai_cycles WHERE id = $1", cycle["id"]
        )
        step = await conn.fetchrow(
            "SELECT status, error_message FROM ai_workflow_states "
            "WHERE workflow_id = $1 AND step_name = 'analyse'",
            cycle["id"],
        )
    assert done["status"] == "failed"
    assert "ZeroDivisionError: analysis blew up" in done["error_message"]
    assert step["status"] == "failed" and "analysis blew up" in step["error_message"]


async def test_late_or_resent_old_hours_change_nothing_about_the_present(
    alerts_db: asyncpg.Pool,
) -> None:
    tenant = uuid.uuid4()
    probe = CampaignSimulator(1, seed=5, start=START)
    target = probe.campaign_ids[0]
    drop = InjectedAnomaly(target, "conversion_drop", START + 190 * HOUR, START + 198 * HOUR, 0.15)
    sim = CampaignSimulator(1, seed=5, start=START, anomalies=[drop])
    await _record(
        alerts_db, tenant, [r for i in range(190) for r in sim.simulate_hour(START + i * HOUR)]
    )
    for i in range(190, 196):
        await _record(alerts_db, tenant, sim.simulate_hour(START + i * HOUR))

    async def state() -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        async with scoped(alerts_db, tenant) as conn:
            alerts = await conn.fetch(
                "SELECT id, status, occurrences, last_seen_hour FROM ai_smart_alerts "
                "WHERE tenant_id = $1 ORDER BY id",
                tenant,
            )
            risks = await conn.fetch(
                "SELECT id, status, assessed_hour FROM ai_risk_management "
                "WHERE tenant_id = $1 ORDER BY id",
                tenant,
            )
        return [tuple(a) for a in alerts], [tuple(r) for r in risks]

    before = await state()
    assert before[0], "the drop raised no alert"
    # A correction for a day long past, and a re-send of an hour inside the drop.
    await _record(alerts_db, tenant, sim.simulate_hour(START + 100 * HOUR))
    await _record(alerts_db, tenant, sim.simulate_hour(START + 192 * HOUR))
    assert await state() == before


async def test_copies_of_alerts_and_risks_only_move_forward(decision_db: asyncpg.Pool) -> None:
    from services.decision import views

    tenant, campaign, alert_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    t0 = datetime(2026, 9, 1, 12, tzinfo=UTC)

    def alert_event(event_type: EventType[Any], status: str, updated: datetime) -> Envelope:
        payload = {
            "id": alert_id,
            "alert_type": "performance_anomaly",
            "severity": "high",
            "title": "CVR down",
            "description": None,
            "affected_entity_type": "campaign",
            "affected_entity_id": campaign,
            "recommended_actions": None,
            "auto_action_taken": False,
            "status": status,
            "alert_key": "cvr_down",
            "occurrences": 1,
            "evidence": {},
            "first_seen_hour": t0,
            "last_seen_hour": t0,
            "created_at": t0,
            "updated_at": updated,
            "acknowledged_at": None,
            "resolved_at": None,
            "campaign_id": campaign,
        }
        return event_type.envelope(payload, tenant_id=tenant, source="alerts")

    async def apply(event: Envelope) -> None:
        async with scoped(decision_db, tenant) as conn:
            await deliver(conn, views.subscriptions, event)

    # The resolution overtakes the raise on the way (a retry, a slow consumer).
    await apply(alert_event(alerts.ALERT_RESOLVED, "resolved", t0 + HOUR))
    await apply(alert_event(alerts.ALERT_RAISED, "active", t0))
    await apply(alert_event(alerts.ALERT_UPDATED, "active", t0 + 2 * HOUR))

    def risk_event(level: str, hour: datetime) -> Envelope:
        payload = {
            "campaign_id": str(campaign),
            "hour": hour.isoformat(),
            "risks": [
                {
                    "campaign_id": str(campaign),
                    "risk_type": "tracking_loss",
                    "risk_level": level,
                    "probability_score": 9.0 if level == "high" else 1.0,
                    "risk_indicators": {},
                    "impact_assessment": {},
                    "mitigation_actions": [],
                    "status": "active",
                }
            ],
        }
        return alerts.RISK_ASSESSED.envelope(payload, tenant_id=tenant, source="alerts")

    await apply(risk_event("low", t0 + 5 * HOUR))
    await apply(risk_event("high", t0 + 4 * HOUR))
    async with scoped(decision_db, tenant) as conn:
        status = await conn.fetchval("SELECT status FROM alert_view WHERE alert_id = $1", alert_id)
        level = await conn.fetchval(
            "SELECT risk_level FROM risk_view WHERE tenant_id = $1 AND campaign_id = $2",
            tenant,
            campaign,
        )
    assert status == "resolved"
    assert level == "low"


async def test_cycles_left_running_by_a_stopped_process_are_failed(
    settings: Settings, decision_db: asyncpg.Pool
) -> None:
    tenant = uuid.uuid4()
    async with scoped(decision_db, tenant) as conn:
        orphan = await conn.fetchval(
            """INSERT INTO master_ai_cycles (tenant_id, cycle_name, cycle_type, status)
               VALUES ($1, 'orphan', 'decision', 'running') RETURNING id""",
            tenant,
        )
    runner = CycleRunner(_runtime(settings, decision_db))
    assert await runner.reap_abandoned() >= 1
    async with scoped(decision_db, tenant) as conn:
        row = await conn.fetchrow(
            "SELECT status, error_message FROM master_ai_cycles WHERE id = $1", orphan
        )
    assert row["status"] == "failed" and "abandoned" in row["error_message"]
