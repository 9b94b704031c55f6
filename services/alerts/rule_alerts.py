"""Alerts raised by automation rules' ``notify`` actions: one open alert per rule and
campaign, however many hours the rule keeps firing."""

from __future__ import annotations

import asyncpg

from shared.consumer import Subscriptions
from shared.contracts import alerts, optimizer
from shared.contracts.enums import AlertType
from shared.events import Envelope
from shared.outbox import enqueue

subscriptions = Subscriptions("alerts")


@subscriptions.subscriber(optimizer.RULE_NOTIFIED)
async def on_rule_notified(
    conn: asyncpg.Connection, event: Envelope, notice: optimizer.RuleNotification
) -> None:
    row = await conn.fetchrow(
        f"""INSERT INTO ai_smart_alerts (
                tenant_id, alert_type, severity, title, description, affected_entity_type,
                affected_entity_id, alert_key, evidence, first_seen_hour, last_seen_hour)
            VALUES ($1, $2, $3, $4, $5, 'campaign', $6, $7, $8, $9, $9)
            ON CONFLICT (tenant_id, affected_entity_id, alert_key)
                WHERE status IN ('active', 'acknowledged') AND alert_key IS NOT NULL
            DO NOTHING
            RETURNING {alerts.ALERTS.select_list}""",
        event.tenant_id,
        str(AlertType.RISK),
        notice.severity,
        f"Rule '{notice.rule_name}' fired"[:200],
        notice.message,
        notice.campaign_id,
        f"rule:{notice.rule_id}",
        {"rule_id": str(notice.rule_id), "evaluation": notice.evaluation},
        notice.as_of,
    )
    if row is not None:
        payload = {**dict(row), "campaign_id": notice.campaign_id, "kind": None, "symptoms": []}
        await enqueue(conn, alerts.ALERT_RAISED.caused_by(event, payload, source="alerts"))
