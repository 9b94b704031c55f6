"""The hot reads of campaign_metrics keep their plans on the partitioned table: only the
month partitions a query's window touches are read, and those by an index.

The queries are the services' own, run by the services' own functions as the service's
role in a tenant's transaction (row-level security included); a connection wrapper asks
PostgreSQL for each one's plan (EXPLAIN, not ANALYZE) before it runs. The table is a
schema of the test's own, built by the decision service's migrations, with generated
rows in five months (June to 10 October 2026) and the empty months the migration and
housekeeping make ahead.

A fast test cannot write the hundred million rows of a large platform, so it writes a few
hundred thousand, ANALYZEs them, and then tells the planner the truth about the large
table rather than about the sample: each month partition holds 36 million rows (2,000
tenants with 25 campaigns each, an hour a row), by UPDATE of pg_class.reltuples (which
needs the superuser these tests connect as), and the tenants and campaigns are as many
as on such a platform, by the columns' n_distinct. The pages stay the sample's: the
planner reads a table's size from its files. Without the adjustments the plans are the
same (the test is not written around them), with smaller estimates.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from adpilot.registry import migration_folders
from services.alerts.findings import lookback
from services.decision.cycles import _gather
from services.optimizer.forecasts.store import make_forecasts
from shared.config import Settings
from shared.db import create_pool, scoped
from shared.metrics_store import load_history, newest_hour
from tests.partitions import INDEXED, Explaining, admin, nodes, partitions, probe_schema, scans

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)
FIRST = datetime(2026, 6, 1, tzinfo=UTC)
NEWEST = datetime(2026, 10, 10, 23, tzinfo=UTC)
DATA_MONTHS = {f"campaign_metrics_y2026m{m:02}" for m in range(6, 11)}
TENANTS, CAMPAIGNS = 40, 2
# What the planner is told of the large table (see the module's docstring).
ROWS_PER_MONTH = 36_000_000
DISTINCT_TENANTS, DISTINCT_CAMPAIGNS = 2_000, 50_000


@dataclass
class Metrics:
    schema: str
    pool: asyncpg.Pool  # as the schema's service role
    tenant: uuid.UUID
    campaigns: list[uuid.UUID]
    # campaign_metrics' partitions, with their bounds [start, end) (None: the default one)
    months: dict[str, tuple[datetime | None, datetime | None]]
    plans: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @asynccontextmanager
    async def tenant_tx(self, tenant: uuid.UUID) -> AsyncIterator[Explaining]:
        """The runtime's tenant transaction, explaining the metric queries run in it."""
        async with scoped(self.pool, tenant) as conn:
            yield Explaining(conn, self.plans)

    def from_month_of(self, moment: datetime) -> set[str]:
        """The partitions a window open to the future from ``moment`` reads: the month of
        ``moment``, those after it, and the default partition."""
        return {name for name, (_start, end) in self.months.items() if end is None or end > moment}


@pytest.fixture(scope="module")
async def metrics(settings: Settings) -> AsyncIterator[Metrics]:
    async with probe_schema(settings, migration_folders()["decision"], "probe_plans") as schema:
        tenants = [uuid.uuid4() for _ in range(TENANTS)]
        keys = [(t, uuid.uuid4()) for t in tenants for _ in range(CAMPAIGNS)]
        async with admin(settings, schema) as conn:
            await conn.execute("SELECT set_config('adpilot.scope', 'system', false)")
            # The months first, as housekeeping would have made them, then the rows.
            await conn.execute("SELECT campaign_metrics_prepare(4, $1)", FIRST)
            await conn.execute(
                """INSERT INTO campaign_metrics (tenant_id, campaign_id, hour, impressions,
                       clicks, conversions, spend, revenue, budget)
                   SELECT k.tenant, k.campaign, h, 1000, 20, 2, 10, 30, 500
                   FROM unnest($1::uuid[], $2::uuid[]) AS k(tenant, campaign)
                   CROSS JOIN generate_series($3::timestamptz, $4, interval '1 hour') AS h""",
                [t for t, _ in keys],
                [c for _, c in keys],
                FIRST,
                NEWEST,
            )
            await conn.execute("ANALYZE campaign_metrics")
            for name in DATA_MONTHS:
                await conn.execute(
                    f"ALTER TABLE {name}"
                    f" ALTER COLUMN tenant_id SET (n_distinct = {DISTINCT_TENANTS}),"
                    f" ALTER COLUMN campaign_id SET (n_distinct = {DISTINCT_CAMPAIGNS})"
                )
                await conn.execute(f"ANALYZE {name}")
                # As superuser: the planner's count of the partition's rows, see above.
                await conn.execute(
                    "UPDATE pg_class SET reltuples = $2 WHERE oid = $1::regclass",
                    name,
                    ROWS_PER_MONTH,
                )
            months = await partitions(conn, schema)
        assert DATA_MONTHS < set(months)
        pool = await create_pool(settings.database_url, schema, max_size=2)
        try:
            yield Metrics(schema, pool, tenants[0], [c for t, c in keys if t == tenants[0]], months)
        finally:
            await pool.close()


@pytest.fixture
def fresh_plans(metrics: Metrics) -> Metrics:
    metrics.plans.clear()
    return metrics


def assert_reads(plan: dict[str, Any], expected: set[str]) -> None:
    """``plan`` reads exactly the partitions ``expected``, the ones with rows by an index."""
    read = scans(plan)
    assert set(read) == expected, f"reads {sorted(read)}"
    for name, how in read.items():
        if name in DATA_MONTHS:
            assert how in INDEXED, f"{name}: {how}"


def by_query(metrics: Metrics) -> dict[str, dict[str, Any]]:
    """The plans kept, by the words of QUERIES that start their query."""
    named: dict[str, dict[str, Any]] = {}
    for sql, plan in metrics.plans:
        words = " ".join(sql.split())
        key = next(k for k in QUERIES if k in words)
        named.setdefault(key, plan)
    return named


# The first words that tell the metric queries apart.
QUERIES = (
    "SELECT max(hour)",
    "SELECT DISTINCT campaign_id FROM campaign_metrics WHERE tenant_id = $1 AND hour >",
    "SELECT DISTINCT campaign_id FROM campaign_metrics WHERE tenant_id = $1 AND campaign_id",
    "SELECT campaign_id, hour, impressions",
    "sum(spend)",
)


async def test_the_alert_watchers_window_reads_its_months_by_index(fresh_plans: Metrics) -> None:
    metrics = fresh_plans
    campaign = metrics.campaigns[0]
    # What the watcher reads for a campaign's new hour (services/alerts/watch.py).
    async with metrics.tenant_tx(metrics.tenant) as conn:
        newest = await newest_hour(conn, metrics.tenant, campaign)
        assert newest == NEWEST
        history = await load_history(conn, metrics.tenant, [campaign], newest - lookback(), newest)
    assert len(history) == lookback() // HOUR + 1
    plans = by_query(metrics)
    # Its 15 days reach back into September: two months of five.
    assert_reads(
        plans["SELECT campaign_id, hour, impressions"],
        {"campaign_metrics_y2026m09", "campaign_metrics_y2026m10"},
    )
    # The newest hour names no time, so no month can be left out: each is read by its
    # index for its newest row, as the unpartitioned table was.
    assert_reads(plans["SELECT max(hour)"], set(metrics.months))


async def test_a_decision_cycle_gathers_its_windows_and_curves_by_index(
    fresh_plans: Metrics,
) -> None:
    metrics = fresh_plans
    async with metrics.tenant_tx(metrics.tenant) as conn:
        gathered = await _gather(conn, metrics.tenant)  # type: ignore[arg-type]
    assert sorted(gathered["campaigns"]) == sorted(metrics.campaigns)
    assert gathered["daily"], "whole days for the curves"
    plans = by_query(metrics)
    # The live campaigns (the last 48 hours, open to the future): October, the months
    # made ahead, and the default partition; nothing before October.
    live = plans[
        "SELECT DISTINCT campaign_id FROM campaign_metrics WHERE tenant_id = $1 AND hour >"
    ]
    assert_reads(live, metrics.from_month_of(NEWEST - timedelta(hours=48)))
    # Eight days of history: October alone.
    assert_reads(plans["SELECT campaign_id, hour, impressions"], {"campaign_metrics_y2026m10"})
    # The budget curves' 29 days summed in the database: September and October.
    assert_reads(plans["sum(spend)"], {"campaign_metrics_y2026m09", "campaign_metrics_y2026m10"})


async def test_a_forecast_reads_its_window_by_index(fresh_plans: Metrics) -> None:
    metrics = fresh_plans
    # A campaign of a few hours: the forecast reads everything it would read for any
    # campaign, then finds too little history to fit a model (which this test is not about).
    newcomer = uuid.uuid4()
    async with scoped(metrics.pool, metrics.tenant) as conn:
        await conn.execute(
            """INSERT INTO campaign_metrics (tenant_id, campaign_id, hour, impressions, clicks,
                   conversions, spend, revenue, budget)
               SELECT $1, $2, h, 10, 1, 0, 1, 0, 10
               FROM generate_series($3::timestamptz - interval '2 hours', $3, '1 hour') AS h""",
            metrics.tenant,
            newcomer,
            NEWEST,
        )
    try:
        origin, stored, skipped = await make_forecasts(
            metrics,
            metrics.tenant,
            [newcomer],
            [24],
            "request",  # type: ignore[arg-type]
        )
    finally:
        async with scoped(metrics.pool, metrics.tenant) as conn:
            await conn.execute("DELETE FROM campaign_metrics WHERE campaign_id = $1", newcomer)
    assert origin == NEWEST + HOUR and stored == [] and [c for c, _ in skipped] == [newcomer]
    plans = by_query(metrics)
    # The 21 days before the origin: September and October.
    assert_reads(
        plans["SELECT campaign_id, hour, impressions"],
        {"campaign_metrics_y2026m09", "campaign_metrics_y2026m10"},
    )
    # Whether the campaigns asked for have metrics at all names no time: every month is
    # looked up by its primary key, none read through.
    known = plans[
        "SELECT DISTINCT campaign_id FROM campaign_metrics WHERE tenant_id = $1 AND campaign_id"
    ]
    assert_reads(known, set(metrics.months))


async def test_a_generic_plan_leaves_the_other_months_out_when_it_starts(
    fresh_plans: Metrics,
) -> None:
    """A statement prepared once and run many times (asyncpg keeps them) may get a plan
    made without its arguments; the months are then left out as it starts, from the
    arguments it is given."""
    metrics = fresh_plans
    campaign = metrics.campaigns[0]
    async with metrics.tenant_tx(metrics.tenant) as conn:
        await load_history(conn, metrics.tenant, [campaign], NEWEST - lookback(), NEWEST)
        ((sql, _custom),) = metrics.plans
        await conn.execute(f"PREPARE history AS {sql}")
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        # EXECUTE takes no bound parameters: the arguments go as literals.
        values = (
            str(metrics.tenant),
            "{" + str(campaign) + "}",
            (NEWEST - lookback()).isoformat(),
            NEWEST.isoformat(),
        )
        literals = [await conn.fetchval("SELECT quote_literal($1::text)", v) for v in values]
        arguments = ", ".join(literals)
        (explained,) = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE history({arguments})")
        await conn.execute("DEALLOCATE history")
    plan = explained["Plan"]
    assert_reads(plan, {"campaign_metrics_y2026m09", "campaign_metrics_y2026m10"})
    removed = [n["Subplans Removed"] for n in nodes(plan) if "Subplans Removed" in n]
    assert removed == [len(metrics.months) - 2]
