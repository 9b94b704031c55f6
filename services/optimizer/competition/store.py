"""Auction Insights rows and competitor events in the optimizer's tables.

A row is keyed by tenant, campaign, competitor, day, source and kind, so storing a report
again updates its rows in place; rows whose figures did not change are left alone and
counted as unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from services.optimizer.competition.sources import InsightRow
from shared.contracts.competition import OWN_DOMAIN, InsightSource
from shared.pagination import encode_cursor
from shared.resources import ListQuery, Resource

AUCTION_INSIGHTS = "auction_insights"


@dataclass(frozen=True)
class Stored:
    """What storing a set of rows did."""

    inserted: int
    updated: int
    unchanged: int


async def upsert_insights(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    source: InsightSource,
    rows: Sequence[InsightRow],
) -> Stored:
    """Insert or update ``rows`` (each with its campaign) in one statement."""
    if any(r.campaign_id is None for r in rows):
        raise ValueError("every row needs its campaign")
    returned = await conn.fetch(
        """
        INSERT INTO ai_competitive_intelligence
            (tenant_id, campaign_id, competitor_identifier, day, data_source,
             intelligence_type, intelligence_data)
        SELECT $1, r.campaign_id, r.domain, r.day, $2, $3, r.data
        FROM unnest($4::uuid[], $5::text[], $6::date[], $7::jsonb[])
            AS r (campaign_id, domain, day, data)
        ON CONFLICT (tenant_id, campaign_id, competitor_identifier, day, data_source,
                     intelligence_type)
        DO UPDATE SET intelligence_data = EXCLUDED.intelligence_data,
                      updated_at = clock_timestamp()
        WHERE ai_competitive_intelligence.intelligence_data
              IS DISTINCT FROM EXCLUDED.intelligence_data
        RETURNING (xmax = 0) AS inserted
        """,
        tenant_id,
        source,
        AUCTION_INSIGHTS,
        [r.campaign_id for r in rows],
        [r.domain for r in rows],
        [r.day for r in rows],
        [r.data() for r in rows],
    )
    inserted = sum(1 for r in returned if r["inserted"])
    updated = len(returned) - inserted
    return Stored(inserted, updated, len(rows) - len(returned))


async def campaign_names(conn: asyncpg.Connection, tenant_id: UUID) -> dict[str, list[UUID]]:
    """The tenant's campaigns as the platform last named them: name, lower-cased -> ids."""
    names: dict[str, list[UUID]] = {}
    for row in await conn.fetch(
        "SELECT id, name FROM ad_campaigns WHERE tenant_id = $1 ORDER BY id", tenant_id
    ):
        names.setdefault(row["name"].lower(), []).append(row["id"])
    return names


def summary(rows: Sequence[InsightRow]) -> dict[str, Any]:
    """The campaigns, days and competitors ``rows`` cover."""
    days = sorted({r.day for r in rows if r.day is not None})
    return {
        "rows": len(rows),
        "campaign_ids": sorted({r.campaign_id for r in rows if r.campaign_id is not None}),
        "day_from": days[0] if days else None,
        "day_to": days[-1] if days else None,
        "days": len(days),
        "competitors": sorted({r.domain for r in rows if r.domain != OWN_DOMAIN}),
    }


# --- lists ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Between:
    """A range filter on a date column, both ends included; the query names of its ends."""

    column: str
    start: str
    end: str


INSIGHT_DAYS = Between("day", "day_from", "day_to")
EVENT_DAYS = Between("started_on", "started_from", "started_to")


@dataclass(frozen=True)
class RangedQuery:
    base: ListQuery
    lower: date | None
    upper: date | None


async def list_ranged(
    conn: asyncpg.Connection,
    resource: Resource,
    between: Between,
    tenant_id: UUID,
    query: RangedQuery,
) -> dict[str, Any]:
    """A page of ``resource``, newest first, within the date range."""
    clauses = ["tenant_id = $1"]
    args: list[Any] = [tenant_id]

    def where(sql: str, *values: Any) -> None:
        placeholders = []
        for value in values:
            args.append(value)
            placeholders.append(f"${len(args)}")
        clauses.append(sql.format(*placeholders))

    for column, value in query.base.equals.items():
        where(f"{column} = {{}}", value)
    if query.lower is not None:
        where(f"{between.column} >= {{}}", query.lower)
    if query.upper is not None:
        where(f"{between.column} <= {{}}", query.upper)
    if query.base.after is not None:
        where("(created_at, id) < ({}, {})", *query.base.after)
    args.append(query.base.limit + 1)
    rows = await conn.fetch(
        f"SELECT {resource.select_list} FROM {resource.table} WHERE {' AND '.join(clauses)} "
        f"ORDER BY created_at DESC, id DESC LIMIT ${len(args)}",
        *args,
    )
    items = [dict(r) for r in rows[: query.base.limit]]
    next_cursor = None
    if len(rows) > query.base.limit:
        next_cursor = encode_cursor(items[-1]["created_at"], items[-1]["id"])
    return {"items": items, "next_cursor": next_cursor}
