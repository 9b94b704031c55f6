"""A service's own copy of campaign metrics: upsert by (campaign, hour), read history.

The table is defined once, in ``migrations/campaign_metrics``; a service that keeps a copy
lists that folder among its migrations (adpilot/registry.py) and reads and writes the
copy only through this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID

import asyncpg

from shared.db import MigrationSet
from shared.metrics import HourlyMetrics

MIGRATIONS = MigrationSet(
    "campaign_metrics", Path(__file__).parent / "migrations" / "campaign_metrics"
)
COLUMNS = "campaign_id, hour, impressions, clicks, conversions, spend, revenue, budget"


async def upsert_metrics(
    conn: asyncpg.Connection, tenant_id: UUID, rows: Sequence[HourlyMetrics]
) -> None:
    """Store ``rows``; a hour sent again replaces the earlier figures, never adds to them."""
    if not rows:
        return
    await conn.execute(
        f"""INSERT INTO campaign_metrics (tenant_id, {COLUMNS})
            SELECT $1, * FROM unnest($2::uuid[], $3::timestamptz[], $4::bigint[], $5::bigint[],
                                     $6::bigint[], $7::float8[], $8::float8[], $9::float8[])
            ON CONFLICT (tenant_id, campaign_id, hour) DO UPDATE SET
                impressions = EXCLUDED.impressions, clicks = EXCLUDED.clicks,
                conversions = EXCLUDED.conversions, spend = EXCLUDED.spend,
                revenue = EXCLUDED.revenue, budget = EXCLUDED.budget, recorded_at = now()""",
        tenant_id,
        [r.campaign_id for r in rows],
        [r.hour for r in rows],
        [r.impressions for r in rows],
        [r.clicks for r in rows],
        [r.conversions for r in rows],
        [r.spend for r in rows],
        [r.revenue for r in rows],
        [r.budget for r in rows],
    )


async def load_history(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    campaign_ids: Sequence[UUID],
    since: datetime,
    until: datetime,
) -> list[HourlyMetrics]:
    """Rows with ``since <= hour <= until`` for the campaigns, oldest first."""
    records = await conn.fetch(
        f"""SELECT {COLUMNS} FROM campaign_metrics
            WHERE tenant_id = $1 AND campaign_id = ANY($2::uuid[]) AND hour BETWEEN $3 AND $4
            ORDER BY campaign_id, hour""",
        tenant_id,
        list(campaign_ids),
        since,
        until,
    )
    # COLUMNS lists the fields in HourlyMetrics' order: a record fills one positionally.
    return [HourlyMetrics(*r) for r in records]


async def newest_hour(
    conn: asyncpg.Connection, tenant_id: UUID, campaign_id: UUID | None = None
) -> datetime | None:
    """The newest stored hour of the tenant, or of one of its campaigns; None before any."""
    hour: datetime | None = await conn.fetchval(
        """SELECT max(hour) FROM campaign_metrics
           WHERE tenant_id = $1 AND ($2::uuid IS NULL OR campaign_id = $2)""",
        tenant_id,
        campaign_id,
    )
    return hour


async def newest_hours(
    conn: asyncpg.Connection, tenant_id: UUID, campaign_ids: Sequence[UUID]
) -> dict[UUID, datetime]:
    """The newest stored hour of each of the campaigns (those with none are left out)."""
    rows = await conn.fetch(
        """SELECT campaign_id, max(hour) AS hour FROM campaign_metrics
           WHERE tenant_id = $1 AND campaign_id = ANY($2::uuid[]) GROUP BY campaign_id""",
        tenant_id,
        list(campaign_ids),
    )
    return {r["campaign_id"]: r["hour"] for r in rows}


async def campaigns_since(conn: asyncpg.Connection, tenant_id: UUID, after: datetime) -> list[UUID]:
    """The tenant's campaigns with an hour later than ``after``, in id order."""
    rows = await conn.fetch(
        """SELECT DISTINCT campaign_id FROM campaign_metrics
           WHERE tenant_id = $1 AND hour > $2 ORDER BY campaign_id""",
        tenant_id,
        after,
    )
    return [r["campaign_id"] for r in rows]


async def tenants_recorded_within(conn: asyncpg.Connection, within: timedelta) -> list[UUID]:
    """Tenants whose metrics arrived within ``within`` of now (a system-scoped connection)."""
    rows = await conn.fetch(
        "SELECT DISTINCT tenant_id FROM campaign_metrics WHERE recorded_at > now() - $1::interval",
        within,
    )
    return [r["tenant_id"] for r in rows]


# --- partitions ----------------------------------------------------------------------
# campaign_metrics is partitioned by month of `hour` (migrations/campaign_metrics/002);
# the functions that add and drop partitions run as the table's owner, in the system scope.


async def prepare_partitions(
    conn: asyncpg.Connection, months_ahead: int, now: datetime | None = None
) -> list[str]:
    """Make the partitions of the month of ``now`` (default: the database's) and of
    ``months_ahead`` months after it, and of every month the default partition caught rows
    of (they move into it); answers the partitions made."""
    rows = await conn.fetch(
        "SELECT campaign_metrics_prepare($1, coalesce($2, now())) AS name",
        months_ahead,
        now,
    )
    return [r["name"] for r in rows]


async def drop_partitions_before(conn: asyncpg.Connection, cutoff: datetime) -> list[str]:
    """Drop the month partitions that end at or before ``cutoff``, whole (a month the
    cutoff falls inside stays, and so does the default partition); answers their names."""
    rows = await conn.fetch("SELECT campaign_metrics_drop_before($1) AS name", cutoff)
    return [r["name"] for r in rows]
