"""Event handlers that keep the decision service's own copy of others' facts."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.decision.cycles import request_cycle
from shared.events import Envelope, optional_uuid
from shared.metrics_input import from_wire
from shared.metrics_store import upsert_metrics


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


async def on_metrics_recorded(conn: asyncpg.Connection, event: Envelope) -> None:
    await upsert_metrics(conn, event.tenant_id, from_wire(event.payload.get("metrics", [])))


SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def _observed_and_baseline(evidence: dict[str, Any]) -> tuple[float | None, float | None]:
    """What the alert saw against what was expected. Pacing alerts speak in spend to date
    against the spend the day's curve allowed by now."""
    if "spend_to_date" in evidence:
        expected = evidence.get("daily_budget", 0) * evidence.get("expected_fraction", 0)
        return evidence["spend_to_date"], expected
    return evidence.get("observed"), evidence.get("baseline")


async def _store_alert(conn: asyncpg.Connection, event: Envelope) -> str | None:
    """Upsert the alert; returns the severity it had before (None if new to us)."""
    p = event.payload
    evidence = p.get("evidence") or {}
    before = await conn.fetchval(
        "SELECT severity FROM alert_view WHERE alert_id = $1", UUID(p["id"])
    )
    await conn.execute(
        """INSERT INTO alert_view (tenant_id, alert_id, campaign_id, kind, metric, severity,
                                   observed, baseline, status, source_updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (alert_id) DO UPDATE SET severity = EXCLUDED.severity,
               observed = EXCLUDED.observed, baseline = EXCLUDED.baseline,
               status = EXCLUDED.status, kind = EXCLUDED.kind, metric = EXCLUDED.metric,
               source_updated_at = EXCLUDED.source_updated_at, updated_at = now()
           -- Resolved and dismissed are final, and an older picture never replaces a newer.
           WHERE alert_view.status NOT IN ('resolved', 'dismissed')
             AND (alert_view.source_updated_at IS NULL OR EXCLUDED.source_updated_at IS NULL
                  OR EXCLUDED.source_updated_at >= alert_view.source_updated_at)""",
        event.tenant_id,
        UUID(p["id"]),
        optional_uuid(p.get("campaign_id") or p.get("affected_entity_id")),
        p.get("kind") or p.get("alert_key") or p.get("alert_type"),
        p.get("metric") or evidence.get("metric"),
        p.get("severity", "medium"),
        *_observed_and_baseline(evidence),
        p.get("status", "active"),
        _timestamp(p.get("updated_at")),
    )
    return before


async def on_alert_raised(conn: asyncpg.Connection, event: Envelope) -> None:
    await _store_alert(conn, event)
    await request_cycle(conn, event.tenant_id, f"alert.raised:{event.payload['id']}")


async def on_alert_updated(conn: asyncpg.Connection, event: Envelope) -> None:
    before = await _store_alert(conn, event)
    after = event.payload.get("severity", "medium")
    # A problem that got worse deserves a fresh look before the next scheduled cycle.
    if before is not None and SEVERITY_RANK.get(after, 0) > SEVERITY_RANK.get(before, 0):
        await request_cycle(conn, event.tenant_id, f"alert.escalated:{event.payload['id']}")


async def on_alert_changed(conn: asyncpg.Connection, event: Envelope) -> None:
    await _store_alert(conn, event)


async def on_risk_assessed(conn: asyncpg.Connection, event: Envelope) -> None:
    p = event.payload
    for risk in p.get("risks", []):
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
            UUID(p["campaign_id"]),
            risk["risk_type"],
            risk["risk_level"],
            float(risk["probability_score"]),
            _timestamp(p.get("hour")),
        )


async def on_model_registered(conn: asyncpg.Connection, event: Envelope) -> None:
    p = event.payload
    await conn.execute(
        """INSERT INTO ai_model_versions (tenant_id, model_name, version, model_type,
               parameters, deployment_status, deployed_at, performance_metrics)
           VALUES ($1, $2, $3, $4, $5, 'production', now(), $6)
           ON CONFLICT (tenant_id, model_name, version) DO UPDATE SET
               parameters = EXCLUDED.parameters, model_type = EXCLUDED.model_type""",
        event.tenant_id,
        p["model_name"],
        p["version"],
        p["model_type"],
        p.get("parameters", {}),
        {"service": p.get("service")},
    )
