"""Reading and writing benchmark rows and the campaign totals they are computed from.

Rows are read and written through the shared CRUD layer (:mod:`shared.resources`); this
module holds what it does not: the seed file's upsert, replacing a kind's computed rows,
and the 90-day totals from ``campaign_metrics``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from services.optimizer.benchmarks.percentiles import Totals
from shared.contracts.benchmarks import BENCHMARKS, HISTORY_DAYS
from shared.resources import insert

SEED_FILE = Path(__file__).with_name("seed.json")
_SEED_COLUMNS = (
    "source",
    "url",
    "edition",
    "period_start",
    "period_end",
    "industry",
    "platform",
    "objective",
    "country",
    "currency",
    "metric",
    "p50",
    "sample_size",
    "metadata",
)


def seed_rows(path: Path = SEED_FILE) -> list[dict[str, Any]]:
    """The shipped published figures, as the file holds them."""
    rows: list[dict[str, Any]] = json.loads(path.read_text())["rows"]
    return rows


async def load_seed(
    conn: asyncpg.Connection, tenant: UUID, rows: Iterable[Mapping[str, Any]]
) -> int:
    """Write the shipped rows into ``tenant`` (the system tenant): new ones added, changed
    ones updated in place by their key, ones no longer shipped removed. Safe to run again
    and from several replicas at once. Answers how many rows are shipped."""
    keys: list[str] = []
    for row in rows:
        values = [
            datetime.fromisoformat(row[c]).date() if c.startswith("period_") and row[c] else row[c]
            for c in _SEED_COLUMNS
        ]
        names = ", ".join(_SEED_COLUMNS)
        slots = ", ".join(f"${i}" for i in range(3, len(_SEED_COLUMNS) + 3))
        changes = ", ".join(f"{c} = EXCLUDED.{c}" for c in _SEED_COLUMNS)
        await conn.execute(
            f"""INSERT INTO ai_performance_benchmarks
                       (tenant_id, seed_key, source_kind, shared, {names})
                VALUES ($1, $2, 'published', true, {slots})
                ON CONFLICT (tenant_id, seed_key) WHERE seed_key IS NOT NULL DO UPDATE
                   SET {changes}, updated_at = clock_timestamp()
                 WHERE ({", ".join(f"ai_performance_benchmarks.{c}" for c in _SEED_COLUMNS)})
                       IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in _SEED_COLUMNS)})""",
            tenant,
            row["key"],
            *values,
        )
        keys.append(row["key"])
    await conn.execute(
        """DELETE FROM ai_performance_benchmarks
           WHERE tenant_id = $1 AND seed_key IS NOT NULL AND NOT seed_key = ANY($2::text[])""",
        tenant,
        keys,
    )
    return len(keys)


async def replace_kind(
    conn: asyncpg.Connection,
    tenant: UUID,
    kind: str,
    industries: Iterable[str] | None,
    rows: Iterable[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Replace ``tenant``'s computed rows of ``kind`` (of ``industries``; None: all of
    them) with ``rows``, and answer them as stored."""
    if industries is None:
        await conn.execute(
            "DELETE FROM ai_performance_benchmarks WHERE tenant_id = $1 AND source_kind = $2",
            tenant,
            kind,
        )
    else:
        await conn.execute(
            """DELETE FROM ai_performance_benchmarks
               WHERE tenant_id = $1 AND source_kind = $2 AND industry = ANY($3::text[])""",
            tenant,
            kind,
            list(industries),
        )
    return [await insert(conn, BENCHMARKS, tenant, {**row, "source_kind": kind}) for row in rows]


async def rows_of(
    conn: asyncpg.Connection,
    tenant: UUID,
    *,
    kinds: Iterable[str],
    industries: Iterable[str],
    shared_only: bool = False,
) -> list[dict[str, Any]]:
    """``tenant``'s rows of these kinds and industries (only the shared ones if asked)."""
    rows = await conn.fetch(
        f"""SELECT {BENCHMARKS.select_list} FROM {BENCHMARKS.table}
            WHERE tenant_id = $1 AND source_kind = ANY($2::text[])
              AND industry = ANY($3::text[]) AND (shared OR NOT $4)
            ORDER BY created_at DESC, id DESC""",
        tenant,
        list(kinds),
        list(industries),
        shared_only,
    )
    return [dict(r) for r in rows]


async def campaign_known(conn: asyncpg.Connection, tenant: UUID, campaign: UUID) -> bool:
    known: bool = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM campaign_metrics WHERE tenant_id = $1 AND campaign_id = $2)
                  OR EXISTS (SELECT 1 FROM ad_campaigns WHERE tenant_id = $1 AND id = $2)""",
        tenant,
        campaign,
    )
    return known


async def campaign_totals(
    conn: asyncpg.Connection, tenant: UUID, days: int = HISTORY_DAYS
) -> tuple[datetime | None, dict[UUID, Totals]]:
    """Each campaign's totals over the ``days`` up to the tenant's newest hour of metrics
    (the hours after ``as_of - days``, up to and with ``as_of``), and ``as_of``."""
    as_of: datetime | None = await conn.fetchval(
        "SELECT max(hour) FROM campaign_metrics WHERE tenant_id = $1", tenant
    )
    if as_of is None:
        return None, {}
    rows = await conn.fetch(
        """SELECT campaign_id, sum(impressions)::float8 AS impressions,
                  sum(clicks)::float8 AS clicks, sum(conversions)::float8 AS conversions,
                  sum(spend) AS spend
           FROM campaign_metrics
           WHERE tenant_id = $1 AND hour > $2 AND hour <= $3
           GROUP BY campaign_id""",
        tenant,
        as_of - timedelta(days=days),
        as_of,
    )
    totals = {
        r["campaign_id"]: Totals(r["impressions"], r["clicks"], r["conversions"], r["spend"])
        for r in rows
    }
    return as_of, totals
