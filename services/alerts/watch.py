"""The alerts service's reaction to new metrics: store, detect, group into incidents, alert,
assess risk."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
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
from shared.metrics_store import load_history, newest_hours, upsert_metrics
from shared.outbox import enqueue_many

SOURCE = "alerts"
HOUR = timedelta(hours=1)
RISK_WINDOW = timedelta(days=8)
WATCH_LOCK = 0x41444157


subscriptions = Subscriptions(SOURCE)


@dataclass
class _Batch:
    """What one batch of metrics needs, read for all its campaigns at once: each campaign's
    newest stored hour and history, which have open incidents and active risks; and the
    events it raises, written to the outbox together (in the order raised) at the end."""

    conn: asyncpg.Connection
    cause: Envelope
    newest: dict[UUID, datetime]
    history: dict[UUID, list[HourlyMetrics]]
    # Read when the batch starts: a campaign outside these sets has no open incident or
    # active risk, so nothing about it needs reading or resolving. Risks and detected
    # incidents open only under WATCH_LOCK, which this batch holds; a rule's alert that
    # opens meanwhile (rule_alerts.py) is left to the next batch, as if it came a moment later.
    open_incidents: set[UUID]
    active_risks: set[tuple[UUID, str]]
    events: list[Envelope] = field(default_factory=list)

    @property
    def tenant(self) -> UUID:
        return self.cause.tenant_id

    def emit(self, event_type: EventType[Any], payload: dict[str, Any]) -> None:
        self.events.append(event_type.caused_by(self.cause, payload, source=SOURCE))


def _present(hours: list[datetime], newest: datetime) -> list[datetime]:
    """The hours alerts speak about: those within the quiet period behind the newest stored
    hour. Older ones (a backfill, a late correction) update history but raise nothing."""
    return [h for h in hours if h > newest - QUIET_HOURS * HOUR]


async def _read_batch(
    conn: asyncpg.Connection, event: Envelope, hours_by_campaign: dict[UUID, list[datetime]]
) -> _Batch:
    tenant = event.tenant_id
    campaigns = sorted(hours_by_campaign, key=str)
    newest = await newest_hours(conn, tenant, campaigns)
    # From the first present hour's lookback of each campaign to its newest hour.
    since = {
        campaign_id: present[0] - lookback()
        for campaign_id in campaigns
        if (present := _present(hours_by_campaign[campaign_id], newest[campaign_id]))
    }
    history: dict[UUID, list[HourlyMetrics]] = defaultdict(list)
    if since:
        rows = await load_history(
            conn, tenant, list(since), min(since.values()), max(newest[c] for c in since)
        )
        for row in rows:
            if since[row.campaign_id] <= row.hour <= newest[row.campaign_id]:
                history[row.campaign_id].append(row)
    return _Batch(
        conn,
        event,
        newest,
        history,
        await store.campaigns_with_open_incidents(conn, tenant, campaigns),
        await store.active_risks(conn, tenant, campaigns),
    )


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
    ordered = {campaign_id: sorted(hours) for campaign_id, hours in hours_by_campaign.items()}
    batch = await _read_batch(conn, event, ordered)
    for campaign_id in sorted(ordered, key=str):
        await _watch_campaign(batch, campaign_id, ordered[campaign_id])
    await enqueue_many(conn, batch.events)


async def _watch_campaign(batch: _Batch, campaign_id: UUID, hours: list[datetime]) -> None:
    conn, tenant = batch.conn, batch.tenant
    # The batch just stored hours of this campaign.
    newest = batch.newest[campaign_id]
    present = _present(hours, newest)
    if not present:
        return
    history = batch.history[campaign_id]
    for hour in present:
        # One incident per cause: the findings one cause raised, primary and symptoms.
        for incident in group(findings_at(history, hour)):
            raised = await store.raise_or_update(conn, tenant, campaign_id, incident, hour)
            batch.open_incidents.add(campaign_id)
            for resolved in raised.resolved:
                _emit_resolved(batch, campaign_id, resolved)
            # What may explain it: our own changes, seasonality, competitors' moves.
            alert, _ = await explaining.explained(conn, tenant, raised.alert)
            batch.emit(
                c.ALERT_RAISED if raised.created else c.ALERT_UPDATED,
                store.event_payload(alert, campaign_id),
            )
    # Only a batch that reaches the newest stored hour speaks for how things are now.
    if hours[-1] < newest:
        return
    if campaign_id in batch.open_incidents:
        for alert in await store.resolve_quiet(conn, tenant, campaign_id, newest):
            _emit_resolved(batch, campaign_id, alert)
    await _assess_risks(batch, campaign_id, history, newest)


def _emit_resolved(batch: _Batch, campaign_id: UUID, alert: dict[str, Any]) -> None:
    payload = {**store.event_payload(alert, campaign_id), "resolution": "auto"}
    batch.emit(c.ALERT_RESOLVED, payload)


async def _assess_risks(
    batch: _Batch, campaign_id: UUID, history: list[HourlyMetrics], hour: datetime
) -> None:
    conn, tenant = batch.conn, batch.tenant
    recent = [r for r in history if r.hour > hour - RISK_WINDOW]
    open_kinds = (
        await store.open_alert_kinds(conn, tenant, campaign_id)
        if campaign_id in batch.open_incidents
        else []
    )
    assessments = assess(campaign_id, recent, hour + HOUR, open_kinds)
    risks = []
    for risk in assessments:
        key = (campaign_id, risk.risk_type)
        elevated = risk.risk_level in store.ELEVATED
        # A low risk only resolves an active row: without one there is nothing to write.
        row = (
            await store.record_risk(conn, tenant, risk, hour)
            if elevated or key in batch.active_risks
            else None
        )
        if elevated:
            batch.active_risks.add(key)
        else:
            batch.active_risks.discard(key)
        risks.append(
            {
                **risk.as_dict(),
                "id": row["id"] if row else None,
                "status": row["status"] if row else "none",
            }
        )
    batch.emit(c.RISK_ASSESSED, {"campaign_id": campaign_id, "hour": hour, "risks": risks})
