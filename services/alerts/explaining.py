"""Explanations of incidents, kept in their evidence (``evidence.explanation``).

The alerts service keeps its own copies of what may explain an incident: the changes we
made (``optimization.applied``) and the competitor events the optimizer detected
(``competitor.event_detected``); seasonality it reads from its own ``campaign_metrics``.
:func:`explained` works out an incident's explanation (:mod:`services.alerts.explain`)
and stores it when it changed. The detector calls it for every incident it opens or
updates; a competitor event or a change of ours that arrives later re-explains the
incidents of its campaign it may concern, and publishes ``alert.updated`` for each whose
explanation changed. The same event delivered again changes nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.alerts import explain
from services.alerts.store import INCIDENT_LOCK, event_payload
from shared.consumer import Subscriptions
from shared.contracts import alerts as c
from shared.contracts import competition, optimizer
from shared.contracts.alerts import ALERTS, incident_kinds
from shared.events import Envelope
from shared.metrics_store import load_history
from shared.outbox import enqueue

SOURCE = "alerts"
# A resolved incident is still re-explained when news about its time arrives this long
# after it was resolved.
RECENTLY_RESOLVED = timedelta(days=7)

subscriptions = Subscriptions(SOURCE)


# --- one incident ----------------------------------------------------------------------


def facts_of(alert: dict[str, Any]) -> explain.IncidentFacts | None:
    """An incident row's facts; None for an alert that is no incident (a person raised
    it: no kind, or no campaign, or no first hour)."""
    evidence = alert.get("evidence")
    evidence = evidence if isinstance(evidence, dict) else {}
    primary, _ = incident_kinds(evidence)
    kind = primary or alert.get("alert_key")
    campaign = alert.get("affected_entity_id")
    opened = alert.get("first_seen_hour")
    if not kind or campaign is None or opened is None:
        return None
    return explain.incident_facts(campaign, kind, evidence, opened, alert.get("last_seen_hour"))


async def explanation_of(
    conn: asyncpg.Connection, tenant_id: UUID, facts: explain.IncidentFacts
) -> explain.Explanation:
    """Read what :func:`explain.explain` needs for ``facts`` and call it."""
    start, end = explain.own_change_window(facts)
    changes = await conn.fetch(
        """SELECT change_id, campaign_id, setting, value_before, value_after, effective_at
           FROM own_change_view
           WHERE tenant_id = $1 AND campaign_id = $2 AND effective_at >= $3
             AND effective_at < $4""",
        tenant_id,
        facts.campaign_id,
        start,
        end,
    )
    first, last = explain.competitor_days(facts)
    events = await conn.fetch(
        """SELECT event_id, campaign_id, competitor, kind, started_on, size, score, confidence
           FROM competitor_event_view
           WHERE tenant_id = $1 AND campaign_id = $2 AND started_on BETWEEN $3 AND $4""",
        tenant_id,
        facts.campaign_id,
        first,
        last,
    )
    return explain.explain(
        facts,
        [
            explain.OwnChange(
                r["change_id"],
                r["campaign_id"],
                r["setting"],
                r["value_before"],
                r["value_after"],
                r["effective_at"],
            )
            for r in changes
        ],
        await _seasonality(conn, tenant_id, facts),
        [explain.CompetitorEventFacts(*r.values()) for r in events],
    )


async def _seasonality(
    conn: asyncpg.Connection, tenant_id: UUID, facts: explain.IncidentFacts
) -> explain.SeasonalCheck | None:
    if facts.metric is None or facts.direction is None:
        return None
    weeks = explain.SEASON_WEEKS * explain.WEEK
    rows = await load_history(
        conn,
        tenant_id,
        [facts.campaign_id],
        facts.opened_hour - weeks - explain.SEASON_REFERENCE_HOURS * explain.HOUR,
        facts.opened_hour - explain.WEEK,
    )
    return explain.seasonal_check(
        rows, facts.metric, facts.direction, facts.opened_hour, facts.change
    )


async def explained(
    conn: asyncpg.Connection, tenant_id: UUID, alert: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """``alert`` with its explanation in ``evidence.explanation``, and whether that
    changed (then the row was written). An alert that is no incident comes back as it is."""
    facts = facts_of(alert)
    if facts is None:
        return alert, False
    explanation = (await explanation_of(conn, tenant_id, facts)).as_dict()
    evidence = alert.get("evidence")
    if isinstance(evidence, dict) and evidence.get("explanation") == explanation:
        return alert, False
    row = await conn.fetchrow(
        f"""UPDATE ai_smart_alerts
            SET evidence = jsonb_set(coalesce(evidence, '{{}}'::jsonb), '{{explanation}}', $2),
                updated_at = clock_timestamp()
            WHERE id = $1
            RETURNING {ALERTS.select_list}""",
        alert["id"],
        explanation,
    )
    assert row is not None
    return dict(row), True


async def _reexplain(
    conn: asyncpg.Connection,
    event: Envelope,
    campaign_id: UUID,
    opened_from: datetime,
    opened_until: datetime,
) -> None:
    """Re-explain the incidents of ``campaign_id`` (open, or resolved recently) that
    opened in ``[opened_from, opened_until)``; publish ``alert.updated`` for each whose
    explanation changed."""
    tenant = event.tenant_id
    # The detector updates a campaign's incidents under this lock: take turns with it.
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        INCIDENT_LOCK,
        f"{tenant}:{campaign_id}",
    )
    rows = await conn.fetch(
        f"""SELECT {ALERTS.select_list} FROM ai_smart_alerts
            WHERE tenant_id = $1 AND affected_entity_id = $2 AND alert_key IS NOT NULL
              AND first_seen_hour >= $3 AND first_seen_hour < $4
              AND (status IN ('active', 'acknowledged')
                   OR (status = 'resolved' AND resolved_at > now() - $5::interval))
            ORDER BY first_seen_hour, id""",
        tenant,
        campaign_id,
        opened_from,
        opened_until,
        RECENTLY_RESOLVED,
    )
    for alert in rows:
        row, changed = await explained(conn, tenant, dict(alert))
        if changed:
            payload = event_payload(row, campaign_id)
            await enqueue(conn, c.ALERT_UPDATED.caused_by(event, payload, source=SOURCE))


# --- the copies ------------------------------------------------------------------------


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


@subscriptions.subscriber(competition.COMPETITOR_EVENT_DETECTED)
async def on_competitor_event(
    conn: asyncpg.Connection, event: Envelope, found: competition.CompetitorEventDetected
) -> None:
    await conn.execute(
        """INSERT INTO competitor_event_view (tenant_id, event_id, campaign_id, competitor, kind,
                                              started_on, size, score, confidence)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (tenant_id, event_id) DO UPDATE SET competitor = EXCLUDED.competitor,
               kind = EXCLUDED.kind, started_on = EXCLUDED.started_on, size = EXCLUDED.size,
               score = EXCLUDED.score, confidence = EXCLUDED.confidence""",
        event.tenant_id,
        found.id,
        found.campaign_id,
        found.competitor,
        found.kind,
        found.started_on,
        found.size,
        found.score,
        found.confidence,
    )
    # The incidents whose competitor window holds its start: opened from the day before
    # it to the day after.
    start = _midnight(found.started_on) - explain.COMPETITOR_DAYS_AFTER * explain.DAY
    end = _midnight(found.started_on) + (explain.COMPETITOR_DAYS_BEFORE + 1) * explain.DAY
    await _reexplain(conn, event, found.campaign_id, start, end)


@subscriptions.subscriber(optimizer.OPTIMIZATION_APPLIED)
async def on_optimization_applied(
    conn: asyncpg.Connection, event: Envelope, applied: optimizer.OptimizationEvent
) -> None:
    campaign = applied.target_entity_id
    if applied.target_entity_type != "campaign" or campaign is None or applied.setting is None:
        return
    effective = applied.effective_from or applied.applied_at or applied.created_at
    await conn.execute(
        """INSERT INTO own_change_view (tenant_id, change_id, campaign_id, setting,
                                        value_before, value_after, effective_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (tenant_id, change_id) DO UPDATE SET setting = EXCLUDED.setting,
               value_before = EXCLUDED.value_before, value_after = EXCLUDED.value_after,
               effective_at = EXCLUDED.effective_at""",
        event.tenant_id,
        applied.id,
        campaign,
        applied.setting,
        applied.value_before,
        applied.value_after,
        effective,
    )
    # Incidents already open whose window holds it: it arrived after they were explained.
    hour = effective.replace(minute=0, second=0, microsecond=0)
    await _reexplain(conn, event, campaign, hour, hour + explain.OWN_CHANGE_WINDOW + explain.HOUR)
