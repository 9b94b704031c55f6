"""Forecasting on schedule: when a tenant's metrics arrive, and every ``SWEEP_SECONDS``
for every tenant with recent metrics, score the forecasts whose period has passed and, once
the tenant's clock has moved ``REFRESH_HOURS`` on, forecast its campaigns again. One
replica at a time per tenant (a session advisory lock, held while the run lasts)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from services.optimizer.core.jobs import TenantJob, run_per_tenant
from services.optimizer.forecasts.store import HOUR, REFRESH_HOURS, make_forecasts, score_due
from shared.metrics_store import newest_hour, tenants_recorded_within
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60.0
FORECAST_LOCK = 0x46434153


async def refresh_due(conn: asyncpg.Connection, tenant: UUID) -> bool:
    """True when the tenant's clock has moved ``REFRESH_HOURS`` past its last scheduled
    forecasts (or it has none)."""
    newest = await newest_hour(conn, tenant)
    if newest is None:
        return False
    last: datetime | None = await conn.fetchval(
        """SELECT max(period_start) FROM ai_campaign_forecasts
           WHERE tenant_id = $1 AND trigger = 'schedule'""",
        tenant,
    )
    return last is None or newest + HOUR >= last + REFRESH_HOURS * HOUR


async def run_tenant(runtime: ServiceRuntime, tenant: UUID) -> None:
    """Score what is due and refresh if due."""
    await score_due(runtime, tenant)
    async with runtime.tenant_tx(tenant) as conn:
        due = await refresh_due(conn, tenant)
    if due:
        _origin, stored, skipped = await make_forecasts(
            runtime, tenant, None, (24, 168), "schedule"
        )
        log.info(
            "forecasts refreshed",
            extra={"tenant": str(tenant), "forecasts": len(stored), "skipped": len(skipped)},
        )


async def run_forecasts(runtime: ServiceRuntime) -> None:
    """Background job: woken when a tenant's metrics arrive, and sweeping every tenant with
    recent metrics now and then."""
    job = TenantJob("forecasting", run_tenant, _recent_tenants, SWEEP_SECONDS, lock=FORECAST_LOCK)
    await run_per_tenant(runtime, job)


async def _recent_tenants(conn: asyncpg.Connection) -> list[UUID]:
    return list(await tenants_recorded_within(conn, timedelta(days=1)))
