"""Computing the benchmarks that come from the platform's own data, and loading the
shipped seed set.

**Own history** (per tenant, in the tenant's rows): each campaign's metrics over the 90
days up to the tenant's newest hour of metrics (ratios of totals, see
:mod:`.percentiles`); the percentiles are taken across the tenant's campaigns that have a
value of the metric, where at least ``MIN_OWN_CAMPAIGNS`` do. Refreshed when the tenant's
metrics arrive (the shared per-tenant job) and whenever a campaign's tiers are asked for.

**Peer pool** (shared rows in the system tenant): each tenant of an industry contributes
one value per metric, its whole account's ratio of totals over its own 90 days; the
percentiles are taken across those values, and stored only where at least
``MIN_PEER_TENANTS`` tenants contribute a value of the metric. No tenant's own value, no
minimum or maximum is stored: the five percentiles and the number of tenants. Row-level
security confines each read to one tenant, so the job reads tenant by tenant; it runs
every ``POOL_SECONDS``, on one replica at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.optimizer.benchmarks.percentiles import (
    Totals,
    by_metric,
    metric_values,
    percentiles,
    pooled_percentiles,
)
from services.optimizer.benchmarks.store import (
    campaign_totals,
    load_seed,
    replace_kind,
    seed_rows,
)
from services.optimizer.core.jobs import TenantJob, run_per_tenant
from services.optimizer.core.tenants import tenant_industry
from shared.contracts.benchmarks import HISTORY_DAYS, MIN_OWN_CAMPAIGNS, MIN_PEER_TENANTS
from shared.metrics_store import tenants_recorded_within
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

SWEEP_SECONDS = 3600.0
POOL_SECONDS = 3600.0
_OWN_LOCK = 0x42454E43
_POOL_LOCK = 0x42504F4C
_REFRESH_LOCK = 0x42524652


def _percentile_columns(values: list[float], pooled: bool = False) -> dict[str, float]:
    found = pooled_percentiles(values) if pooled else percentiles(values)
    return {f"p{p}": v for p, v in found.items()}


def own_history_rows(
    totals: Mapping[UUID, Totals], industry: str | None, as_of: datetime
) -> list[dict[str, Any]]:
    """The tenant's own-history rows: per metric, percentiles across its campaigns."""
    values = by_metric(metric_values(t) for t in totals.values())
    return [
        {
            "source": "own campaigns",
            "period_start": (as_of - timedelta(days=HISTORY_DAYS)).date(),
            "period_end": as_of.date(),
            "industry": industry or "all",
            "platform": "all",
            "metric": metric,
            **_percentile_columns(found, pooled=True),
            "sample_size": len(found),
            "currency": None,
            "metadata": {"sample_unit": "campaigns", "window_days": HISTORY_DAYS},
        }
        for metric, found in sorted(values.items())
        if len(found) >= MIN_OWN_CAMPAIGNS
    ]


async def refresh_own_history(
    conn: asyncpg.Connection, tenant: UUID
) -> tuple[datetime | None, dict[UUID, Totals], list[dict[str, Any]]]:
    """Recompute the tenant's own-history rows in its transaction; answers the newest hour,
    the campaigns' totals and the rows stored."""
    # One refresh of a tenant at a time (the job and requests alike): two replacing the
    # rows at once would each insert a set.
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _REFRESH_LOCK, str(tenant))
    as_of, totals = await campaign_totals(conn, tenant)
    if as_of is None:
        return None, {}, await replace_kind(conn, tenant, "own_history", None, [])
    industry = await tenant_industry(conn, tenant)
    rows = own_history_rows(totals, industry, as_of)
    return as_of, totals, await replace_kind(conn, tenant, "own_history", None, rows)


async def _own_history_job(runtime: ServiceRuntime, tenant: UUID) -> None:
    async with runtime.tenant_tx(tenant) as conn:
        await refresh_own_history(conn, tenant)


async def _recent_tenants(conn: asyncpg.Connection) -> list[UUID]:
    return list(await tenants_recorded_within(conn, timedelta(days=1)))


async def run_own_history(runtime: ServiceRuntime) -> None:
    """Background job: each tenant's own history when its metrics arrive, and hourly."""
    job = TenantJob("own benchmarks", _own_history_job, _recent_tenants, SWEEP_SECONDS, _OWN_LOCK)
    await run_per_tenant(runtime, job)


def account_values(totals: Mapping[UUID, Totals]) -> dict[str, float | None]:
    """A tenant's contribution to its peer pool: its whole account's metrics."""
    whole = Totals(
        sum(t.impressions for t in totals.values()),
        sum(t.clicks for t in totals.values()),
        sum(t.conversions for t in totals.values()),
        sum(t.spend for t in totals.values()),
    )
    return metric_values(whole)


def peer_rows(industry: str, contributions: list[dict[str, float | None]]) -> list[dict[str, Any]]:
    """An industry's pooled rows: per metric with at least ``MIN_PEER_TENANTS`` tenants'
    values, their percentiles and how many tenants."""
    values = by_metric(contributions)
    return [
        {
            "source": "adpilot peer pool",
            "industry": industry,
            "platform": "all",
            "metric": metric,
            **_percentile_columns(found, pooled=True),
            "sample_size": len(found),
            "shared": True,
            "metadata": {"sample_unit": "tenants", "window_days": HISTORY_DAYS},
        }
        for metric, found in sorted(values.items())
        if len(found) >= MIN_PEER_TENANTS
    ]


async def pool_peers(runtime: ServiceRuntime) -> dict[str, int]:
    """Recompute every industry's peer pool; answers the number of tenants per industry
    (pools of industries under ``MIN_PEER_TENANTS`` are removed, not stored)."""
    async with runtime.system_tx() as conn:
        # Which tenant is of which industry: the listing a sweep does, nothing of theirs.
        listed = await conn.fetch(
            "SELECT tenant_id, industry FROM optimizer_tenant_settings WHERE industry IS NOT NULL"
        )
    members: dict[str, list[UUID]] = {}
    for row in listed:
        members.setdefault(row["industry"], []).append(row["tenant_id"])
    pooled: dict[str, list[dict[str, Any]]] = {}
    for industry, tenants in sorted(members.items()):
        if len(tenants) < MIN_PEER_TENANTS:
            continue
        contributions = []
        for tenant in tenants:
            async with runtime.tenant_tx(tenant) as conn:
                _as_of, totals = await campaign_totals(conn, tenant)
            if totals:
                contributions.append(account_values(totals))
        pooled[industry] = peer_rows(industry, contributions)
    system = runtime.settings.default_tenant
    async with runtime.tenant_tx(system) as conn:
        await replace_kind(
            conn, system, "peer_pool", None, [r for rows in pooled.values() for r in rows]
        )
    return {industry: len(tenants) for industry, tenants in members.items()}


async def run_peer_pools(runtime: ServiceRuntime) -> None:
    """Background job: the peer pools every ``POOL_SECONDS``, by one replica at a time."""
    while True:
        try:
            async with runtime.db.acquire() as lock:
                if await lock.fetchval("SELECT pg_try_advisory_lock($1)", _POOL_LOCK):
                    try:
                        await pool_peers(runtime)
                    finally:
                        await lock.execute("SELECT pg_advisory_unlock($1)", _POOL_LOCK)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pooling peer benchmarks failed; next try in %.0f s", POOL_SECONDS)
        await asyncio.sleep(POOL_SECONDS)


@asynccontextmanager
async def seed_benchmarks(runtime: ServiceRuntime) -> AsyncIterator[None]:
    """Load the shipped published figures into the system tenant, where every tenant
    reads them."""
    system = runtime.settings.default_tenant
    async with runtime.tenant_tx(system) as conn:
        shipped = await load_seed(conn, system, seed_rows())
    log.info("benchmark seed loaded", extra={"rows": shipped})
    yield
