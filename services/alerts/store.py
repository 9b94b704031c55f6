"""Alerts and risks in PostgreSQL: one row per incident, one open risk per kind.

What happens to an incident is decided by :mod:`services.alerts.incidents` (which kinds
belong together, which open incident a group continues) and
:mod:`services.alerts.alert_lifecycle` (open, escalate, resolve); this module reads the
state they need, under locks, and writes the outcome.

An incident's ``alert_key`` is its primary kind when it opened, and stays: the primary may
become more specific later (``evidence.primary`` and the events' ``kind`` say what it is
now). A new incident opens only when no open one of its campaign shares a kind with it,
so no open incident holds its primary: the key is unique among a campaign's open alerts,
as a partial unique index keeps it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg

from services.alerts.alert_lifecycle import AlertState, QuietHour, Transition, advance
from services.alerts.incidents import Incident, OpenIncident, fold
from services.alerts.risk import RiskAssessment
from shared.contracts.alerts import ALERTS, RISKS, incident_kinds
from shared.contracts.enums import Severity

# ``updated_at`` is stamped with clock_timestamp(), not now(): copies elsewhere keep the
# newest version of an alert by it, and now() is when a (possibly long) transaction began.

# Incidents the detector raised and nobody has closed.
_OPEN = "status IN ('active', 'acknowledged') AND alert_key IS NOT NULL"
_STATE = """id, severity, coalesce(first_seen_hour, created_at) AS first_seen_hour,
            coalesce(last_seen_hour, created_at) AS last_seen_hour, occurrences"""
# Which open incident a group continues depends on all of the campaign's open incidents,
# and a new one is a row that does not exist yet: groups of one campaign take turns
# under this advisory lock (second key: tenant and campaign), held to the commit.
INCIDENT_LOCK = 0x41494E43


class Raised(NamedTuple):
    """What a group of findings did: the incident it opened or updated, and any incident
    it closed."""

    alert: dict[str, Any]
    created: bool
    # Open incidents already past their quiet period, resolved first.
    resolved: list[dict[str, Any]]


def _state(row: asyncpg.Record) -> AlertState:
    return AlertState(
        severity=Severity(row["severity"]),
        first_seen_hour=row["first_seen_hour"],
        last_seen_hour=row["last_seen_hour"],
        occurrences=row["occurrences"],
    )


def event_payload(alert: dict[str, Any], campaign_id: UUID) -> dict[str, Any]:
    """An incident row as its events carry it: with its primary kind, metric and symptoms."""
    primary, symptoms = incident_kinds(alert.get("evidence"))
    evidence = alert.get("evidence") or {}
    return {
        **alert,
        "campaign_id": campaign_id,
        "kind": primary or alert.get("alert_key"),
        "symptoms": symptoms,
        "metric": evidence.get("metric") if isinstance(evidence, dict) else None,
    }


async def raise_or_update(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    campaign_id: UUID,
    found: Incident,
    hour: datetime,
) -> Raised:
    """Persist what :func:`incidents.fold` makes of ``found``, one cause's findings in
    ``hour``: the open incident sharing a kind with it goes on (perhaps worse, perhaps
    under a more specific primary), or a new one opens. Every outcome refreshes the
    evidence, and the text when the primary was seen."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        INCIDENT_LOCK,
        f"{tenant_id}:{campaign_id}",
    )
    rows = await conn.fetch(
        f"""SELECT {_STATE}, evidence, title, description, alert_key FROM ai_smart_alerts
            WHERE tenant_id = $1 AND affected_entity_id = $2 AND {_OPEN}
            ORDER BY id FOR UPDATE""",
        tenant_id,
        campaign_id,
    )
    open_incidents = [
        OpenIncident(
            r["id"],
            _state(r),
            Incident.stored(r["evidence"] or {}, r["title"], r["description"], r["alert_key"]),
        )
        for r in rows
    ]
    folded = fold(open_incidents, found, hour)
    step, incident = folded.step, folded.incident
    assert step.state is not None
    resolved = await _resolve(conn, tenant_id, [o.ref for o in folded.resolved])
    content = incident.content
    if step.transition is Transition.OPEN:
        assert content is not None
        row = await conn.fetchrow(
            f"""INSERT INTO ai_smart_alerts (
                    tenant_id, alert_type, severity, title, description, affected_entity_type,
                    affected_entity_id, recommended_actions, alert_key, evidence,
                    first_seen_hour, last_seen_hour, occurrences)
                VALUES ($1, $2, $3, $4, $5, 'campaign', $6, $7, $8, $9, $10, $11, $12)
                RETURNING {ALERTS.select_list}""",
            tenant_id,
            content.alert_type,
            step.state.severity,
            incident.primary.title[:200],
            incident.primary.description,
            campaign_id,
            content.recommended_actions,
            incident.kind,
            incident.evidence(),
            step.state.first_seen_hour,
            step.state.last_seen_hour,
            step.state.occurrences,
        )
        assert row is not None
        return Raised(dict(row), True, resolved)
    assert folded.continued is not None
    # Without the primary's finding this hour, its type and next steps stay as stored.
    row = await conn.fetchrow(
        f"""UPDATE ai_smart_alerts SET severity = $2, title = $3, description = $4,
                   alert_type = coalesce($5, alert_type),
                   recommended_actions = coalesce($6, recommended_actions), evidence = $7,
                   occurrences = $8, last_seen_hour = $9, updated_at = clock_timestamp()
            WHERE id = $1
            RETURNING {ALERTS.select_list}""",
        folded.continued.ref,
        step.state.severity,
        incident.primary.title[:200],
        incident.primary.description,
        content.alert_type if content is not None else None,
        content.recommended_actions if content is not None else None,
        incident.evidence(),
        step.state.occurrences,
        step.state.last_seen_hour,
    )
    assert row is not None
    return Raised(dict(row), False, resolved)


async def resolve_quiet(
    conn: asyncpg.Connection, tenant_id: UUID, campaign_id: UUID, hour: datetime
) -> list[dict[str, Any]]:
    """Resolve the incidents that ``hour``, the newest hour of data, leaves quiet long
    enough (none of their kinds seen): the campaign recovered."""
    rows = await conn.fetch(
        f"""SELECT {_STATE} FROM ai_smart_alerts
            WHERE tenant_id = $1 AND affected_entity_id = $2 AND {_OPEN}
            ORDER BY id FOR UPDATE""",
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


async def campaigns_with_open_incidents(
    conn: asyncpg.Connection, tenant_id: UUID, campaign_ids: list[UUID]
) -> set[UUID]:
    """Those of the campaigns that have an open incident."""
    rows = await conn.fetch(
        f"""SELECT DISTINCT affected_entity_id FROM ai_smart_alerts
            WHERE tenant_id = $1 AND affected_entity_id = ANY($2::uuid[]) AND {_OPEN}""",
        tenant_id,
        campaign_ids,
    )
    return {r["affected_entity_id"] for r in rows}


async def active_risks(
    conn: asyncpg.Connection, tenant_id: UUID, campaign_ids: list[UUID]
) -> set[tuple[UUID, str]]:
    """(campaign, risk type) of the campaigns' active risks."""
    rows = await conn.fetch(
        """SELECT affected_entity_id, risk_type FROM ai_risk_management
           WHERE tenant_id = $1 AND affected_entity_id = ANY($2::uuid[]) AND status = 'active'""",
        tenant_id,
        campaign_ids,
    )
    return {(r["affected_entity_id"], r["risk_type"]) for r in rows}


async def open_alert_kinds(
    conn: asyncpg.Connection, tenant_id: UUID, campaign_id: UUID
) -> list[str]:
    """Every kind the campaign's open incidents cover, primaries and symptoms."""
    kinds: list[str] = []
    for r in await conn.fetch(
        f"""SELECT alert_key, evidence FROM ai_smart_alerts
            WHERE tenant_id = $1 AND affected_entity_id = $2 AND {_OPEN}""",
        tenant_id,
        campaign_id,
    ):
        primary, symptoms = incident_kinds(r["evidence"])
        kinds.extend([primary or r["alert_key"], *symptoms])
    return sorted(set(kinds))


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
