"""The alerts service's reaction to new metrics: store, detect, group into incidents, alert,
assess risk."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.alerts import explaining, store
from services.alerts.alert_lifecycle import QUIET_HOURS
from services.alerts.findings import findings_at, lookback
from services.alerts.incidents import group
from services.alerts.risk import assess
from shared.consumer import Subscriptions
from shared.contracts import alerts as c
from shared.contracts.gateway import METRICS_RECORDED, MetricsRecorded
from shared.contracts.spec import EventType
from shared.events import Envelope
from shared.metrics import HourlyMetrics
from shared.metrics_input import hourly
from shared.metrics_store import load_history, newest_hour, upsert_metrics
from shared.outbox import enqueue

SOURCE = "alerts"
HOUR = timedelta(hours=1)
RISK_WINDOW = timedelta(days=8)
WATCH_LOCK = 0x41444157


subscriptions = Subscriptions(SOURCE)


async def _emit(
    conn: asyncpg.Connection,
    cause: Envelope,
    event_type: EventType[Any],
    payload: dict[str, Any],
) -> None:
    await enqueue(conn, event_type.caused_by(cause, payload, source=SOURCE))


@subscriptions.subscriber(METRICS_RECORDED)
async def on_metrics_recorded(
    conn: asyncpg.Connection, event: Envelope, recorded: MetricsRecorded
) -> None:
    tenant = event.tenant_id
    # Replicas take turns per tenant: detection reads the hours stored before each new one.
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", WATCH_LOCK, str(tenant))
    rows = hourly(recorded.metrics)
    await upsert_metrics(conn, tenant, rows)
    hours_by_campaign: dict[UUID, set[datetime]] = defaultdict(set)
    for row in rows:
        hours_by_campaign[row.campaign_id].add(row.hour)
    for campaign_id in sorted(hours_by_campaign, key=str):
        await _watch_campaign(conn, event, campaign_id, sorted(hours_by_campaign[campaign_id]))


async def _watch_campaign(
    conn: asyncpg.Connection, event: Envelope, campaign_id: UUID, hours: list[datetime]
) -> None:
    tenant = event.tenant_id
    newest = await newest_hour(conn, tenant, campaign_id)
    # The batch just stored hours of this campaign.
    assert newest is not None
    # Alerts are about the present: hours older than the quiet period behind the newest
    # stored hour (a backfill, a late correction) update history but raise nothing.
    present = [h for h in hours if h > newest - QUIET_HOURS * HOUR]
    if not present:
        return
    history = await load_history(conn, tenant, [campaign_id], present[0] - lookback(), newest)
    for hour in present:
        # One incident per cause: the findings one cause raised, primary and symptoms.
        for incident in group(findings_at(history, hour)):
            raised = await store.raise_or_update(conn, tenant, campaign_id, incident, hour)
            for resolved in raised.resolved:
                await _emit_resolved(conn, event, campaign_id, resolved)
            # What may explain it: our own changes, seasonality, competitors' moves.
            alert, _ = await explaining.explained(conn, tenant, raised.alert)
            await _emit(
                conn,
                event,
                c.ALERT_RAISED if raised.created else c.ALERT_UPDATED,
                store.event_payload(alert, campaign_id),
            )
    # Only a batch that reaches the newest stored hour speaks for how things are now.
    if hours[-1] < newest:
        return
    for alert in await store.resolve_quiet(conn, tenant, campaign_id, newest):
        await _emit_resolved(conn, event, campaign_id, alert)
    await _assess_risks(conn, event, campaign_id, history, newest)


async def _emit_resolved(
    conn: asyncpg.Connection, cause: Envelope, campaign_id: UUID, alert: dict[str, Any]
) -> None:
    payload = {**store.event_payload(alert, campaign_id), "resolution": "auto"}
    await _emit(conn, cause, c.ALERT_RESOLVED, payload)


async def _assess_risks(
    conn: asyncpg.Connection,
    event: Envelope,
    campaign_id: UUID,
    history: list[HourlyMetrics],
    hour: datetime,
) -> None:
    tenant = event.tenant_id
    recent = [r for r in history if r.hour > hour - RISK_WINDOW]
    open_kinds = await store.open_alert_kinds(conn, tenant, campaign_id)
    assessments = assess(campaign_id, recent, hour + HOUR, open_kinds)
    risks = []
    for risk in assessments:
        row = await store.record_risk(conn, tenant, risk, hour)
        risks.append(
            {
                **risk.as_dict(),
                "id": row["id"] if row else None,
                "status": row["status"] if row else "none",
            }
        )
    await _emit(
        conn,
        event,
        c.RISK_ASSESSED,
        {"campaign_id": campaign_id, "hour": hour, "risks": risks},
    )
