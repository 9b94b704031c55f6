"""SQL for alerts and risks: raise-or-update, auto-resolve, and one open risk per kind."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.alerts.findings import Finding
from services.alerts.risk import RiskAssessment
from shared.contracts.alerts import ALERTS, RISKS

SEVERITY_ORDER = "ARRAY['low', 'medium', 'high', 'critical']"
# ``updated_at`` is stamped with clock_timestamp(), not now(): copies elsewhere keep the
# newest version of an alert by it, and now() is when a (possibly long) transaction began.


async def raise_or_update(
    conn: asyncpg.Connection, tenant_id: UUID, campaign_id: UUID, finding: Finding, hour: datetime
) -> tuple[dict[str, Any], bool]:
    """Open an alert for ``finding``, or fold it into the open one. True when newly opened.

    A repeat keeps the worst severity seen, refreshes the text and evidence, and counts
    distinct hours, so re-sent metrics for the same hour never inflate ``occurrences``.
    """
    content = finding.content
    row = await conn.fetchrow(
        f"""INSERT INTO ai_smart_alerts AS a (
                tenant_id, alert_type, severity, title, description, affected_entity_type,
                affected_entity_id, recommended_actions, alert_key, evidence,
                first_seen_hour, last_seen_hour)
            VALUES ($1, $2, $3, $4, $5, 'campaign', $6, $7, $8, $9, $10, $10)
            ON CONFLICT (tenant_id, affected_entity_id, alert_key)
                WHERE status IN ('active', 'acknowledged') AND alert_key IS NOT NULL
            DO UPDATE SET
                severity = CASE WHEN array_position({SEVERITY_ORDER}, EXCLUDED.severity)
                                     > array_position({SEVERITY_ORDER}, a.severity)
                                THEN EXCLUDED.severity ELSE a.severity END,
                title = EXCLUDED.title,
                description = EXCLUDED.description,
                recommended_actions = EXCLUDED.recommended_actions,
                evidence = EXCLUDED.evidence,
                occurrences = a.occurrences
                    + CASE WHEN EXCLUDED.last_seen_hour > a.last_seen_hour THEN 1 ELSE 0 END,
                last_seen_hour = GREATEST(a.last_seen_hour, EXCLUDED.last_seen_hour),
                updated_at = clock_timestamp()
            RETURNING {ALERTS.select_list}, (xmax = 0) AS created""",
        tenant_id,
        content.alert_type,
        content.severity,
        content.title[:200],
        content.description,
        campaign_id,
        content.recommended_actions,
        finding.key,
        finding.evidence,
        hour,
    )
    assert row is not None
    data = dict(row)
    return data, bool(data.pop("created"))


async def resolve_quiet(
    conn: asyncpg.Connection, tenant_id: UUID, campaign_id: UUID, before: datetime
) -> list[dict[str, Any]]:
    """Resolve detector-raised alerts not seen since ``before``: the campaign recovered."""
    rows = await conn.fetch(
        f"""UPDATE ai_smart_alerts SET status = 'resolved', resolved_at = now(),
                   updated_at = clock_timestamp(),
                   evidence = coalesce(evidence, '{{}}'::jsonb) || '{{"auto_resolved": true}}'
            WHERE tenant_id = $1 AND affected_entity_id = $2 AND alert_key IS NOT NULL
              AND status IN ('active', 'acknowledged') AND last_seen_hour < $3
            RETURNING {ALERTS.select_list}""",
        tenant_id,
        campaign_id,
        before,
    )
    return [dict(r) for r in rows]


async def open_alert_keys(
    conn: asyncpg.Connection, tenant_id: UUID, campaign_id: UUID
) -> list[str]:
    return [
        r["alert_key"]
        for r in await conn.fetch(
            """SELECT alert_key FROM ai_smart_alerts
               WHERE tenant_id = $1 AND affected_entity_id = $2
                 AND status IN ('active', 'acknowledged') AND alert_key IS NOT NULL""",
            tenant_id,
            campaign_id,
        )
    ]


ELEVATED = ("medium", "high", "critical")


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
