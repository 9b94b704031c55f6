"""The pools' schedule: when a tenant's metrics arrive, and every ``SWEEP_SECONDS``
anyway, refit its campaigns' curves once a new day is complete and run its pools that are
due on its clock."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

import asyncpg

from services.optimizer.core.jobs import TenantJob, run_per_tenant
from services.optimizer.pools.curves import last_complete_day, refresh_curves
from services.optimizer.pools.pool import is_due
from services.optimizer.pools.reallocation import HOUR, reallocate
from shared.metrics_store import campaigns_since, newest_hour
from shared.service import ServiceRuntime

SWEEP_SECONDS = 30.0


async def run_pools(runtime: ServiceRuntime) -> None:
    """Background task: refit and reallocate each tenant woken by its metrics or by the
    sweep."""
    fitted_through: dict[UUID, date] = {}

    async def run(runtime: ServiceRuntime, tenant: UUID) -> None:
        await refit_tenant(runtime, tenant, fitted_through)
        await run_tenant(runtime, tenant)

    await run_per_tenant(
        runtime, TenantJob("reallocating the pools", run, _pool_tenants, SWEEP_SECONDS)
    )


async def _pool_tenants(conn: asyncpg.Connection) -> list[UUID]:
    rows = await conn.fetch("SELECT DISTINCT tenant_id FROM ai_budget_management WHERE is_active")
    return [r["tenant_id"] for r in rows]


async def refit_tenant(
    runtime: ServiceRuntime, tenant: UUID, fitted_through: dict[UUID, date]
) -> None:
    """Refit the curves of the tenant's live campaigns when a new complete day has landed
    since this replica last looked (another replica's fit of the same day is kept)."""
    async with runtime.tenant_tx(tenant) as conn:
        newest = await newest_hour(conn, tenant)
        if newest is None:
            return
        day = last_complete_day(newest)
        if fitted_through.get(tenant) == day:
            return
        campaigns = await campaigns_since(conn, tenant, newest - timedelta(days=2))
    await refresh_curves(runtime, tenant, campaigns)
    fitted_through[tenant] = day


async def run_tenant(runtime: ServiceRuntime, tenant: UUID) -> int:
    """Run the tenant's pools due at the hour after its newest metrics; answers how many
    ran here (a pool another replica claimed is left to it)."""
    async with runtime.tenant_tx(tenant) as conn:
        newest = await newest_hour(conn, tenant)
        if newest is None:
            return 0
        as_of = newest + HOUR
        rows = await conn.fetch(
            """SELECT id, next_reallocation_at FROM ai_budget_management
               WHERE tenant_id = $1 AND is_active ORDER BY created_at, id""",
            tenant,
        )
    ran = 0
    for row in rows:
        if not is_due(row["next_reallocation_at"], as_of):
            continue
        done = await reallocate(
            runtime, tenant, row["id"], trigger="scheduled", scheduled_for=as_of
        )
        ran += done is not None
    return ran
