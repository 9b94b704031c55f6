"""``ai_system_health``: heartbeats from every service, and the latest view per component."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from shared.consumer import Subscriptions
from shared.contracts.alerts import SYSTEM_HEALTH
from shared.contracts.platform import HEALTH_REPORTED, HealthReported
from shared.events import Envelope

subscriptions = Subscriptions("alerts")

WINDOW = timedelta(hours=24)
# A component silent for this many heartbeat intervals is shown offline.
MISSED_BEATS = 3


UP = frozenset({"healthy", "warning"})


def uptime_percentage(
    up_beats: int, first_beat: datetime | None, now: datetime, interval_seconds: float
) -> float:
    """Share of the expected heartbeats in the window (up to 24 h) that came in up."""
    if first_beat is None:
        return 100.0 if up_beats else 0.0
    span = min(max((now - first_beat).total_seconds(), 0.0), WINDOW.total_seconds())
    expected = span / interval_seconds + 1
    return round(min(100.0, 100.0 * up_beats / expected), 2)


@subscriptions.subscriber(HEALTH_REPORTED)
async def on_health_reported(
    conn: asyncpg.Connection, event: Envelope, beat: HealthReported
) -> None:
    component, status = beat.component_name, beat.health_status
    interval = beat.heartbeat_seconds or 15.0
    stats = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE health_status IN ('healthy', 'warning')) AS up,
                  min(last_heartbeat) AS first
           FROM ai_system_health
           WHERE tenant_id = $1 AND component_name = $2
             AND last_heartbeat > $3::timestamptz - $4::interval""",
        event.tenant_id,
        component,
        event.occurred_at,
        WINDOW,
    )
    assert stats is not None
    # A warning is a service that is up with something to look at; only critical is down.
    up = stats["up"] + (1 if status in UP else 0)
    first = stats["first"] or event.occurred_at
    await conn.execute(
        """INSERT INTO ai_system_health (tenant_id, component_name, health_status,
               performance_metrics, error_logs, last_heartbeat, uptime_percentage)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        event.tenant_id,
        component,
        status,
        {**beat.readings, "heartbeat_seconds": interval, "service": event.source},
        beat.errors,
        event.occurred_at,
        uptime_percentage(up, first, event.occurred_at, interval),
    )
    # Heartbeats are only worth a week.
    await conn.execute(
        "DELETE FROM ai_system_health WHERE tenant_id = $1 AND component_name = $2 "
        "AND last_heartbeat < $3::timestamptz - interval '7 days'",
        event.tenant_id,
        component,
        event.occurred_at,
    )


def with_liveness(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A component whose heartbeats stopped is offline, whatever it last said."""
    interval = float((row.get("performance_metrics") or {}).get("heartbeat_seconds") or 15.0)
    beat = row.get("last_heartbeat")
    if beat is not None and now - beat > timedelta(seconds=interval * MISSED_BEATS):
        return {**row, "health_status": "offline"}
    return row


async def latest_per_component(
    conn: asyncpg.Connection, tenant_id: Any, component: str | None = None
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""SELECT DISTINCT ON (component_name) {SYSTEM_HEALTH.select_list}
            FROM ai_system_health WHERE tenant_id = $1 AND ($2::text IS NULL OR component_name = $2)
            ORDER BY component_name, created_at DESC, id DESC""",
        tenant_id,
        component,
    )
    now = datetime.now(UTC)
    return [with_liveness(dict(r), now) for r in rows]
