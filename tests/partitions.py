"""Helpers for the tests of campaign_metrics' month partitions: a schema of one's own,
the partitions a schema has, and plans of the queries the services run."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from shared.config import Settings
from shared.db import MigrationSet, connect, migrate_schema, service_role


@asynccontextmanager
async def probe_schema(
    settings: Settings, sets: Sequence[MigrationSet], prefix: str
) -> AsyncIterator[str]:
    """A schema of the test's own, migrated from ``sets`` with its own service role;
    dropped (role included) afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    conn = await connect(settings.database_url)
    try:
        await migrate_schema(conn, schema, sets)
        yield schema
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.execute(f'DROP ROLE IF EXISTS "{service_role(schema)}"')
        await conn.close()


@asynccontextmanager
async def admin(settings: Settings, schema: str) -> AsyncIterator[asyncpg.Connection]:
    """The migrating user (a superuser here) on ``schema``."""
    conn = await connect(settings.database_url, server_settings={"search_path": schema})
    try:
        yield conn
    finally:
        await conn.close()


async def partitions(
    conn: asyncpg.Connection, schema: str
) -> dict[str, tuple[datetime | None, datetime | None]]:
    """campaign_metrics' partitions in ``schema`` with their bounds ``[start, end)``
    (None for the default partition's)."""
    rows = await conn.fetch(
        r"""SELECT c.relname AS name,
                   substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \(''([^'']+)''\)')
                       ::timestamptz AS start,
                   substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')
                       ::timestamptz AS end
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = format('%I.campaign_metrics', $1::text)::regclass""",
        schema,
    )
    return {r["name"]: (r["start"], r["end"]) for r in rows}


def month_partition(moment: datetime) -> str:
    return f"campaign_metrics_y{moment:%Y}m{moment:%m}"


def months_after(start: datetime, months: int) -> datetime:
    """The first instant of the month ``months`` after ``start``'s."""
    index = start.year * 12 + start.month - 1 + months
    return start.replace(
        year=index // 12, month=index % 12 + 1, day=1, hour=0, minute=0, second=0, microsecond=0
    )


# --- plans ---------------------------------------------------------------------------


class Explaining:
    """A connection that, before it runs a query reading campaign_metrics, asks PostgreSQL
    for the plan of that query with the same arguments (EXPLAIN, not ANALYZE: planned, not
    run) and keeps it in ``plans`` with the SQL. Everything else passes straight through:
    the service code runs exactly as it does in production."""

    def __init__(self, conn: asyncpg.Connection, plans: list[tuple[str, dict[str, Any]]]):
        self._conn = conn
        self.plans = plans

    async def _explain(self, sql: str, args: Sequence[Any]) -> None:
        if "campaign_metrics" in sql and sql.lstrip().upper().startswith("SELECT"):
            explained = await self._conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
            self.plans.append((sql, explained[0]["Plan"]))

    async def fetch(self, sql: str, *args: Any, **kwargs: Any) -> list[asyncpg.Record]:
        await self._explain(sql, args)
        return await self._conn.fetch(sql, *args, **kwargs)

    async def fetchrow(self, sql: str, *args: Any, **kwargs: Any) -> asyncpg.Record | None:
        await self._explain(sql, args)
        return await self._conn.fetchrow(sql, *args, **kwargs)

    async def fetchval(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        await self._explain(sql, args)
        return await self._conn.fetchval(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def scans(plan: dict[str, Any]) -> dict[str, str]:
    """The tables a plan reads, each with how (Seq Scan, Index Scan, Bitmap Heap Scan...)."""
    return {n["Relation Name"]: n["Node Type"] for n in nodes(plan) if "Relation Name" in n}


INDEXED = {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}
