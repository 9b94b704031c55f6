"""Alerts and risks in PostgreSQL: the alert rule's decisions persisted, one open risk per kind.

What happens to an alert is decided by :mod:`services.alerts.alert_lifecycle`; this module
reads the state it needs, under row locks, and writes the outcome.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg

from services.alerts.alert_lifecycle import AlertState, QuietHour, Sighting, Transition, advance
from services.alerts.findings import Finding
from services.alerts.risk import RiskAssessment
from shared.contracts.alerts import ALERTS, RISKS
from shared.contracts.enums import Severity

# ``updated_at`` is stamped with clock_timestamp(), not now(): copies elsewhere keep the
# newest version of an alert by it, and now() is when a (possibly long) transaction began.

# Alerts the detector raised and nobody has closed: at most one per campaign and kind
# (a partial unique index holds it).
_OPEN = "status IN ('active', 'acknowledged') AND alert_key IS NOT NULL"
_STATE = """id, severity, coalesce(first_seen_hour, created_at) AS first_seen_hour,
            coalesce(last_seen_hour, created_at) AS last_seen_hour, occurrences"""
# Another transaction opening the same alert between our read and our insert sends us
# round again, to fold into theirs; a third round would mean something else is wrong.
_ATTEMPTS = 3


class Raised(NamedTuple):
    """What a finding did: the alert it opened or updated, and any alert it closed."""

    alert: dict[str, Any]
    created: bool
    # An open alert already past its quiet period, resolved before the new one opened.
    resolved: dict[str, Any] | None


def _state(row: asyncpg.Record) -> AlertState:
    return AlertState(
        severity=Severity(row["severity"]),
        first_seen_hour=row["first_seen_hour"],
        last_seen_hour=row["last_seen_hour"],
        occurrences=row["occurrences"],
    )


async def raise_or_update(
    conn: asyncpg.Connection, tenant_id: UUID, campaign_id: UUID, finding: Finding, hour: datetime
) -> Raised:
    """Persist what :func:`alert_lifecycle.advance` makes of ``finding`` seen in ``hour``.

    The open alert of the finding's kind is read under a row lock, so concurrent findings
    for it take turns; every outcome refreshes the text and evidence.
    """
    content = finding.content
    sighting = Sighting(hour, Severity(content.severity))
    resolved: dict[str, Any] | None = None
    for _ in range(_ATTEMPTS):
        current = await conn.fetchrow(
            f"""SELECT {_STATE} FROM ai_smart_alerts
                WHERE tenant_id = $1 AND affected_entity_id = $2 AND alert_key = $3 AND {_OPEN}
                FOR UPDATE""",
            tenant_id,
            campaign_id,
            finding.key,
        )
        step = advance(_state(current) if current is not None else None, sighting)
        if step.resolved is not None and current is not None:
            (resolved,) = await _resolve(conn, tenant_id, [current["id"]])
        assert step.state is not None
        if step.transition is Transition.OPEN:
            row = await conn.fetchrow(
                f"""INSERT INTO ai_smart_alerts (
                        tenant_id, alert_type, severity, title, description, affected_entity_type,
                        affected_entity_id, recommended_actions, alert_key, evidence,
                        first_seen_hour, last_seen_hour, occurrences)
                    VALUES ($1, $2, $3, $4, $5, 'campaign', $6, $7, $8, $9, $10, $11, $12)
                    ON CONFLICT (tenant_id, affected_entity_id, alert_key) WHERE {_OPEN}
                    DO NOTHING
                    RETURNING {ALERTS.select_list}""",
                tenant_id,
                content.alert_type,
                step.state.severity,
                content.title[:200],
                content.description,
                campaign_id,
                content.recommended_actions,
                finding.key,
                finding.evidence,
                step.state.first_seen_hour,
                step.state.last_seen_hour,
                step.state.occurrences,
            )
            if row is None:
                continue
            return Raised(dict(row), True, resolved)
        assert current is not None
        row = await conn.fetchrow(
            f"""UPDATE ai_smart_alerts SET severity = $2, title = $3, description = $4,
                       recommended_actions = $5, evidence = $6, occurrences = $7,
                       last_seen_hour = $8, updated_at = clock_timestamp()
                WHERE id = $1
                RETURNING {ALERTS.select_list}""",
            current["id"],
            step.state.severity,
            content.title[:200],
            content.description,
            content.recommended_actions,
            finding.evidence,
            step.state.occurrences,
            step.state.last_seen_hour,
        )
        assert row is not None
        return Raised(dict(row), False, resolved)
    raise RuntimeError(f"alert {finding.key} on campaign {campaign_id} kept changing underneath")


async def resolve_quiet(
    conn: asyncpg.Connection, tenant_id: UUID, campaign_id: UUID, hour: datetime
) -> list[dict[str, Any]]:
    """Resolve the detector's alerts that ``hour``, the newest hour of data, leaves quiet long
    enough: the campaign recovered."""
    rows = await conn.fetch(
        f"""SELECT {_STATE} FROM ai_smart_alerts
            WHERE tenant_id = $1 AND affected_entity_id = $2 AND {_OPEN}
            FOR UPDATE""",
        tenant_id,
        campaign_id,
    )
    quiet = QuietHour(hour)
    due = [r["id"] for r in rows if advance(_state(r), quiet).transition is Transition.RESOLVE]
    return await _resolve(conn, tenant_id, due)


async def _resolve(
    conn: asyncpg.Connection, tenant_id: UUID, alert_ids: list[UUID]
) -> list[dict[str, Any]]:
    if not alert_ids:
        return []
    rows = await conn.fetch(
        f"""UPDATE ai_smart_alerts SET status = 'resolved', resolved_at = now(),
                   updated_at = clock_timestamp(),
                   evidence = coalesce(evidence, '{{}}'::jsonb) || '{{"auto_resolved": true}}'
            WHERE tenant_id = $1 AND id = ANY($2::uuid[]) AND {_OPEN}
            RETURNING {ALERTS.select_list}""",
        tenant_id,
        alert_ids,
    )
    return [dict(r) for r in rows]


async def open_alert_keys(
    conn: asyncpg.Connection, tenant_id: UUID, campaign_id: UUID
) -> list[str]:
    return [
        r["alert_key"]
        for r in await conn.fetch(
            f"""SELECT alert_key FROM ai_smart_alerts
                WHERE tenant_id = $1 AND affected_entity_id = $2 AND {_OPEN}""",
            tenant_id,
            campaign_id,
        )
    ]


ELEVATED = tuple(level for level in Severity if level.rank > Severity.LOW.rank)


async def record_risk(
    conn: asyncpg.Connection, tenant_id: UUID, risk: RiskAssessment, hour: datetime
) -> dict[str, Any] | None:
    """Keep one active row per campaign and risk type while the risk is elevated.

    Returns the row written (or resolved), or None when nothing was open and the risk is low.
    """
    if risk.risk_level in ELEVATED:
        row = await conn.fetchrow(
            f"""INSERT INTO ai_risk_management AS r (
                    tenant_id, risk_type, risk_level, affected_entity_type, affected_entity_id,
                    risk_indicators, probability_score, impact_assessment, mitigation_actions,
                    assessed_hour)
                VALUES ($1, $2, $3, 'campaign', $4, $5, $6, $7, $8, $9)
                ON CONFLICT (tenant_id, affected_entity_id, risk_type) WHERE status = 'active'
                DO UPDATE SET risk_level = EXCLUDED.risk_level,
                    risk_indicators = EXCLUDED.risk_indicators,
                    probability_score = EXCLUDED.probability_score,
                    impact_assessment = EXCLUDED.impact_assessment,
                    mitigation_actions = EXCLUDED.mitigation_actions,
                    assessed_hour = EXCLUDED.assessed_hour, updated_at = clock_timestamp()
                RETURNING {RISKS.select_list}""",
            tenant_id,
            risk.risk_type,
            risk.risk_level,
            risk.campaign_id,
            risk.risk_indicators,
            risk.probability_score,
            risk.impact_assessment,
            risk.mitigation_actions,
            hour,
        )
    else:
        row = await conn.fetchrow(
            f"""UPDATE ai_risk_management SET status = 'resolved', risk_level = $4,
                       probability_score = $5, risk_indicators = $6, assessed_hour = $7,
                       updated_at = clock_timestamp()
                WHERE tenant_id = $1 AND affected_entity_id = $2 AND risk_type = $3
                  AND status = 'active'
                RETURNING {RISKS.select_list}""",
            tenant_id,
            risk.campaign_id,
            risk.risk_type,
            risk.risk_level,
            risk.probability_score,
            risk.risk_indicators,
            hour,
        )
    return dict(row) if row is not None else None
