"""campaign_metrics partitioned by month, on real PostgreSQL: the upgrade of a table with
rows, partitions made ahead by housekeeping, rows caught by the default partition moved
out, and retention dropping whole months only."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from services.alerts.app import SPEC as ALERTS
from shared import metrics_store
from shared.config import Settings
from shared.db import MigrationSet, create_pool, migrate_schema, scoped
from shared.housekeeping import housekeeping, metric_partitions
from shared.metrics import HourlyMetrics
from shared.metrics_store import (
    drop_partitions_before,
    load_history,
    prepare_partitions,
    upsert_metrics,
)
from shared.service import ServiceRuntime
from tests.helpers import eventually
from tests.partitions import admin, month_partition, months_after, partitions, probe_schema

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)
ROWS = "SELECT * FROM campaign_metrics ORDER BY tenant_id, campaign_id, hour"


def hours(campaign: uuid.UUID, first: datetime, count: int, clicks: int = 5) -> list[HourlyMetrics]:
    return [
        HourlyMetrics(
            campaign_id=campaign,
            hour=first + i * HOUR,
            impressions=100 + i,
            clicks=clicks,
            conversions=1,
            spend=2.5,
            revenue=7.0,
            budget=50.0,
        )
        for i in range(count)
    ]


UPGRADE = "002_monthly_partitions"


def before_the_upgrade(folder: Path) -> list[MigrationSet]:
    """The campaign_metrics set as it was before the partitions: the files before it."""
    folder.mkdir()
    for path in sorted(metrics_store.MIGRATIONS.folder.glob("*.sql")):
        if path.stem < UPGRADE:
            shutil.copy(path, folder)
    return [MigrationSet(metrics_store.MIGRATIONS.prefix, folder)]


async def test_the_upgrade_keeps_every_row_and_keeps_tenants_apart(
    settings: Settings, tmp_path: Path
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    campaign_a, campaign_b = uuid.uuid4(), uuid.uuid4()
    # Across three months, the first and last only a few hours of.
    first = datetime(2025, 1, 31, 20, tzinfo=UTC)
    old_sets = before_the_upgrade(tmp_path / "campaign_metrics")
    async with probe_schema(settings, old_sets, "probe_upgrade") as schema:
        async with admin(settings, schema) as conn:
            kind = await conn.fetchval(
                "SELECT relkind FROM pg_class WHERE oid = 'campaign_metrics'::regclass"
            )
            assert kind == b"r"
            await upsert_metrics(conn, a, hours(campaign_a, first, 700))
            await upsert_metrics(conn, b, hours(campaign_b, first, 10))
            before = await conn.fetch(ROWS)
            applied = await migrate_schema(conn, schema, [metrics_store.MIGRATIONS])
            assert applied[0] == f"campaign_metrics/{UPGRADE}"
            assert await conn.fetch(ROWS) == before
            assert (
                await conn.fetchval("SELECT to_regclass('campaign_metrics_unpartitioned')") is None
            )
            parent = await conn.fetchrow(
                """SELECT relkind, relrowsecurity, relforcerowsecurity,
                          pg_get_partkeydef(oid) AS partition_key,
                          EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = c.oid) AS policy
                   FROM pg_class c WHERE oid = 'campaign_metrics'::regclass"""
            )
            assert dict(parent) == {
                "relkind": b"p",
                "relrowsecurity": True,
                "relforcerowsecurity": True,
                "partition_key": "RANGE (hour)",
                "policy": True,
            }
            # The same keys, tenant first, with the partition key in the primary one.
            indexes = dict(
                await conn.fetch(
                    """SELECT indexname, indexdef FROM pg_indexes
                       WHERE tablename = 'campaign_metrics' AND schemaname = $1""",
                    schema,
                )
            )
            assert set(indexes) == {"campaign_metrics_pkey", "campaign_metrics_recent"}
            assert indexes["campaign_metrics_pkey"].endswith("(tenant_id, campaign_id, hour)")
            assert indexes["campaign_metrics_recent"].endswith("(tenant_id, hour DESC)")
            # Each row in its month's partition; nothing left in the default one.
            placed = dict(
                await conn.fetch(
                    "SELECT tableoid::regclass::text, count(*) FROM campaign_metrics GROUP BY 1"
                )
            )
            assert placed == {
                "campaign_metrics_y2025m01": 4 + 4,
                "campaign_metrics_y2025m02": 28 * 24 + 6,
                "campaign_metrics_y2025m03": 700 - 4 - 28 * 24,
            }
            assert "campaign_metrics_default" in await partitions(conn, schema)
        await _tenants_stay_apart(settings, schema, (a, campaign_a), (b, campaign_b), first)


async def _tenants_stay_apart(
    settings: Settings,
    schema: str,
    own: tuple[uuid.UUID, uuid.UUID],
    other: tuple[uuid.UUID, uuid.UUID],
    first: datetime,
) -> None:
    """Through the service's role, on the partitioned table."""
    pool = await create_pool(settings.database_url, schema, max_size=2)
    try:
        tenant, campaign = own
        async with scoped(pool, tenant) as conn:
            assert await conn.fetchval("SELECT count(*) FROM campaign_metrics") == 700
            # Asking for the other tenant's rows by name: the policy answers none.
            assert await load_history(conn, other[0], [other[1]], first, first + 10 * HOUR) == []
            # A resent hour still replaces the figures (ON CONFLICT on the partitioned key).
            await upsert_metrics(conn, tenant, hours(campaign, first, 1, clicks=99))
            (row,) = await load_history(conn, tenant, [campaign], first, first)
            assert row.clicks == 99
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with scoped(pool, tenant) as conn:
                await upsert_metrics(conn, other[0], hours(other[1], first, 1))
        async with pool.acquire() as conn:
            # No tenant: nothing, in the parent or in a partition read directly.
            assert await conn.fetchval("SELECT count(*) FROM campaign_metrics") == 0
            assert await conn.fetchval("SELECT count(*) FROM campaign_metrics_y2025m02") == 0
    finally:
        await pool.close()


@dataclass(frozen=True)
class Probe:
    schema: str
    pool: asyncpg.Pool  # as the schema's service role


@pytest.fixture
async def fresh(settings: Settings) -> AsyncIterator[Probe]:
    """A schema with nothing but the messaging tables and campaign_metrics, as migrated."""
    async with probe_schema(settings, [metrics_store.MIGRATIONS], "probe_parts") as schema:
        pool = await create_pool(settings.database_url, schema, max_size=3)
        try:
            yield Probe(schema, pool)
        finally:
            await pool.close()


async def test_housekeeping_makes_the_months_ahead_and_moves_caught_rows_into_theirs(
    settings: Settings, fresh: Probe
) -> None:
    schema, pool = fresh.schema, fresh.pool
    tenant, campaign = uuid.uuid4(), uuid.uuid4()
    late = datetime(2024, 2, 10, 5, tzinfo=UTC)  # a backfill from long before the upgrade
    async with scoped(pool, tenant) as conn:
        await upsert_metrics(conn, tenant, hours(campaign, late, 3))
        where = await conn.fetch(
            "SELECT DISTINCT tableoid::regclass::text AS name FROM campaign_metrics"
        )
        assert [r["name"] for r in where] == ["campaign_metrics_default"]
    runtime = ServiceRuntime(
        spec=ALERTS,
        settings=settings.model_copy(update={"metrics_partitions_ahead": 5}),
        pool=pool,
    )
    now = datetime.now(UTC)
    wanted = {month_partition(months_after(now, n)) for n in range(6)} | {month_partition(late)}
    async with admin(settings, schema) as conn:
        assert not wanted <= set(await partitions(conn, schema))
        # The service's own hourly job, with what the alerts service gives it to keep.
        job = asyncio.create_task(housekeeping(runtime))
        try:

            async def made() -> bool:
                return wanted <= set(await partitions(conn, schema))

            await eventually(made, 10)
        finally:
            job.cancel()
            await asyncio.gather(job, return_exceptions=True)
        placed = await conn.fetch(
            "SELECT tableoid::regclass::text AS name, count(*) FROM campaign_metrics GROUP BY 1"
        )
        assert [tuple(r) for r in placed] == [(month_partition(late), 3)]
        bounds = (await partitions(conn, schema))[month_partition(late)]
        assert bounds == (datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC))
    async with scoped(pool, tenant) as conn:
        assert len(await load_history(conn, tenant, [campaign], late, late + 2 * HOUR)) == 3
    # A partition made after the migration is read through its parent (and its policy)
    # only: the service's role has no grant on it.
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with scoped(pool, tenant) as conn:
            await conn.fetch(f"SELECT * FROM {month_partition(late)}")
    async with scoped(pool, system=True) as conn:
        # Made once: a second round (another replica, the next hour) finds them there.
        assert await prepare_partitions(conn, 5) == []
    # Moving rows between partitions is the platform's work, never a tenant's.
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="system scope"):
        async with scoped(pool, tenant) as conn:
            await prepare_partitions(conn, 5)


async def test_retention_drops_whole_months_that_ended_before_the_cutoff(
    settings: Settings, fresh: Probe
) -> None:
    schema, pool = fresh.schema, fresh.pool
    tenant, campaign = uuid.uuid4(), uuid.uuid4()
    async with scoped(pool, system=True) as conn:
        made = await prepare_partitions(conn, 3, datetime(2024, 1, 15, tzinfo=UTC))
        assert made == [f"campaign_metrics_y2024m0{m}" for m in (1, 2, 3, 4)]
    async with scoped(pool, tenant) as conn:
        for hour in ("2024-01-10", "2024-02-29T23:00", "2024-03-05", "2024-04-02", "2023-06-01"):
            await upsert_metrics(
                conn, tenant, hours(campaign, datetime.fromisoformat(hour).replace(tzinfo=UTC), 1)
            )

    async def stored() -> list[str]:
        async with scoped(pool, tenant) as conn:
            rows = await conn.fetch("SELECT hour FROM campaign_metrics ORDER BY hour")
        return [f"{r['hour']:%Y-%m-%d}" for r in rows]

    async with scoped(pool, system=True) as conn:
        # The cutoff falls inside March: January and February end before it and go;
        # March stays whole, its hour before the cutoff included.
        cutoff = datetime(2024, 3, 15, tzinfo=UTC)
        dropped = await drop_partitions_before(conn, cutoff)
        assert dropped == ["campaign_metrics_y2024m01", "campaign_metrics_y2024m02"]
        assert await drop_partitions_before(conn, cutoff) == []
        # A month that ends at the cutoff is past it.
        assert await drop_partitions_before(conn, datetime(2024, 4, 1, tzinfo=UTC)) == [
            "campaign_metrics_y2024m03"
        ]
    # The default partition is never dropped: the 2023 hour it caught is still there.
    assert await stored() == ["2023-06-01", "2024-04-02"]

    # The same through the service's housekeeping with a retention set: the default
    # partition's 2023 hour first gets its month, which is then past the retention too.
    runtime = ServiceRuntime(
        spec=ALERTS,
        settings=settings.model_copy(update={"metrics_retention_days": 400}),
        pool=pool,
    )
    await metric_partitions(runtime)
    assert await stored() == []
    async with admin(settings, schema) as conn:
        left = await partitions(conn, schema)
    cutoff = datetime.now(UTC) - timedelta(days=400)
    assert all(end is None or end > cutoff for _start, end in left.values())
    assert month_partition(datetime.now(UTC)) in left and "campaign_metrics_default" in left


async def test_writes_during_upkeep_are_neither_refused_nor_lost(fresh: Probe) -> None:
    """Tenants backfilling months that have no partition yet while the upkeep makes them:
    every write lands, in its month's partition once there is one."""
    pool = fresh.pool
    tenant = uuid.uuid4()
    written: list[datetime] = []
    stop = asyncio.Event()

    async def backfill(month: int) -> None:
        campaign, hour = uuid.uuid4(), datetime(2023, month, 1, tzinfo=UTC)
        while not stop.is_set():
            async with scoped(pool, tenant) as conn:
                await upsert_metrics(conn, tenant, hours(campaign, hour, 1))
            written.append(hour)
            hour += HOUR

    writers = [asyncio.create_task(backfill(month)) for month in (1, 2)]
    try:
        await asyncio.sleep(0.2)
        async with scoped(pool, system=True) as conn:
            made = await prepare_partitions(conn, 0)
        await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.gather(*writers)
    assert {"campaign_metrics_y2023m01", "campaign_metrics_y2023m02"} <= set(made)
    async with scoped(pool, tenant) as conn:
        placed = await conn.fetch(
            "SELECT tableoid::regclass::text AS name, count(*) FROM campaign_metrics GROUP BY 1"
        )
    assert sum(r["count"] for r in placed) == len(written) > 0
    assert {r["name"] for r in placed} == {"campaign_metrics_y2023m01", "campaign_metrics_y2023m02"}
