"""Event handlers that keep the decision service's own copy of others' facts."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.decision.cycles import request_cycle
from shared.consumer import Subscriptions
from shared.contracts import alerts, gateway, platform
from shared.contracts.enums import severity_rank
from shared.events import Envelope
from shared.metrics_input import hourly
from shared.metrics_store import upsert_metrics

subscriptions = Subscriptions("decision")


@subscriptions.subscriber(gateway.METRICS_RECORDED)
async def on_metrics_recorded(
    conn: asyncpg.Connection, event: Envelope, payload: gateway.MetricsRecorded
) -> None:
    await upsert_metrics(conn, event.tenant_id, hourly(payload.metrics))


def _observed_and_baseline(evidence: dict[str, Any]) -> tuple[float | None, float | None]:
    """What the alert saw against what was expected. Pacing alerts speak in spend to date
    against the spend the day's curve allowed by now."""
    if "spend_to_date" in evidence:
        expected = evidence.get("daily_budget", 0) * evidence.get("expected_fraction", 0)
        return evidence["spend_to_date"], expected
    return evidence.get("observed"), evidence.get("baseline")


def _competitor_candidates(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    """The competitor events the alerts service linked to the incident
    (``evidence.explanation``), highest score first."""
    explanation = evidence.get("explanation")
    candidates = explanation.get("candidates") if isinstance(explanation, dict) else None
    return [c for c in candidates or () if isinstance(c, dict) and c.get("source") == "competitor"]


async def _store_alert(conn: asyncpg.Connection, event: Envelope, alert: Any) -> str | None:
    """Upsert the alert (an incident: its primary kind and its symptoms' kinds); returns
    the severity it had before (None if new to us)."""
    evidence = alert.evidence if isinstance(alert.evidence, dict) else {}
    before: str | None = await conn.fetchval(
        "SELECT severity FROM alert_view WHERE alert_id = $1", alert.id
    )
    await conn.execute(
        """INSERT INTO alert_view (tenant_id, alert_id, campaign_id, kind, metric, severity,
                                   observed, baseline, status, source_updated_at, symptoms,
                                   competitors)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (alert_id) DO UPDATE SET severity = EXCLUDED.severity,
               observed = EXCLUDED.observed, baseline = EXCLUDED.baseline,
               status = EXCLUDED.status, kind = EXCLUDED.kind, metric = EXCLUDED.metric,
               symptoms = EXCLUDED.symptoms, competitors = EXCLUDED.competitors,
               source_updated_at = EXCLUDED.source_updated_at, updated_at = now()
           -- Resolved and dismissed are final, and an older picture never replaces a newer.
           WHERE alert_view.status NOT IN ('resolved', 'dismissed')
             AND (alert_view.source_updated_at IS NULL OR EXCLUDED.source_updated_at IS NULL
                  OR EXCLUDED.source_updated_at >= alert_view.source_updated_at)""",
        event.tenant_id,
        alert.id,
        alert.campaign_id or alert.affected_entity_id,
        alert.kind or alert.alert_key or alert.alert_type,
        alert.metric or evidence.get("metric"),
        alert.severity,
        *_observed_and_baseline(evidence),
        alert.status or "active",
        alert.updated_at,
        alert.symptoms,
        _competitor_candidates(evidence),
    )
    return before


@subscriptions.subscriber(alerts.ALERT_RAISED)
async def on_alert_raised(
    conn: asyncpg.Connection, event: Envelope, alert: alerts.AlertEvent
) -> None:
    await _store_alert(conn, event, alert)
    await request_cycle(conn, event.tenant_id, f"alert.raised:{alert.id}")


@subscriptions.subscriber(alerts.ALERT_UPDATED)
async def on_alert_updated(
    conn: asyncpg.Connection, event: Envelope, alert: alerts.AlertEvent
) -> None:
    before = await _store_alert(conn, event, alert)
    # A problem that got worse deserves a fresh look before the next scheduled cycle.
    if before is not None and severity_rank(alert.severity) > severity_rank(before):
        await request_cycle(conn, event.tenant_id, f"alert.escalated:{alert.id}")


@subscriptions.subscriber(alerts.ALERT_ACKNOWLEDGED, alerts.ALERT_RESOLVED, alerts.ALERT_DISMISSED)
async def on_alert_changed(
    conn: asyncpg.Connection, event: Envelope, alert: alerts.AlertEvent
) -> None:
    await _store_alert(conn, event, alert)


@subscriptions.subscriber(alerts.RISK_ASSESSED)
async def on_risk_assessed(
    conn: asyncpg.Connection, event: Envelope, assessed: alerts.RiskAssessed
) -> None:
    for risk in assessed.risks:
        await conn.execute(
            """INSERT INTO risk_view (tenant_id, campaign_id, risk_type, risk_level,
                                      probability_score, assessed_hour)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (tenant_id, campaign_id, risk_type) DO UPDATE SET
                   risk_level = EXCLUDED.risk_level,
                   probability_score = EXCLUDED.probability_score,
                   assessed_hour = EXCLUDED.assessed_hour, updated_at = now()
               WHERE risk_view.assessed_hour IS NULL OR EXCLUDED.assessed_hour IS NULL
                  OR EXCLUDED.assessed_hour >= risk_view.assessed_hour""",
            event.tenant_id,
            assessed.campaign_id,
            risk.risk_type,
            risk.risk_level,
            risk.probability_score,
            assessed.hour,
        )


@subscriptions.subscriber(platform.MODEL_REGISTERED)
async def on_model_registered(
    conn: asyncpg.Connection, event: Envelope, model: platform.ModelRegistered
) -> None:
    await conn.execute(
        """INSERT INTO ai_model_versions (tenant_id, model_name, version, model_type,
               parameters, deployment_status, deployed_at, performance_metrics)
           VALUES ($1, $2, $3, $4, $5, 'production', now(), $6)
           ON CONFLICT (tenant_id, model_name, version) DO UPDATE SET
               parameters = EXCLUDED.parameters, model_type = EXCLUDED.model_type""",
        event.tenant_id,
        model.model_name,
        model.version,
        model.model_type,
        model.parameters,
        {"service": model.service},
    )
