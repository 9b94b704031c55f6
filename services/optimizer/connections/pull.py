"""Metrics pulled from linked ad accounts: every few minutes, each tenant whose connection
is to a real platform (not the sandbox, which pushes its own hours) has its finished hours
read through its connector and published as ``metrics.recorded``, as if they had been
posted to ``POST /api/ai/metrics``.

The last ``REPULL_HOURS`` are read again each time: platforms revise recent hours (Meta's
insights settle over a few hours), and consumers keep the newest row of each hour. A
replica claims a tenant's pull in the database first, so two replicas do not pull it at
once.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime, timedelta
from uuid import UUID

from services.optimizer.core.platform import connector_for
from shared.connectors import ConnectorError
from shared.contracts.gateway import METRICS_RECORDED
from shared.metrics_input import MetricRow, latest_per_hour
from shared.outbox import enqueue
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

PULL_SECONDS_ENV = "ADPILOT_METRICS_PULL_SECONDS"
DEFAULT_PULL_SECONDS = 300.0
FIRST_PULL_HOURS_ENV = "ADPILOT_METRICS_FIRST_PULL_HOURS"
DEFAULT_FIRST_PULL_HOURS = 48
REPULL_HOURS = 3
HOUR = timedelta(hours=1)


def pull_seconds() -> float:
    return float(os.environ.get(PULL_SECONDS_ENV) or DEFAULT_PULL_SECONDS)


async def run_metric_pulls(runtime: ServiceRuntime) -> None:
    """Pull every connected tenant's metrics, forever."""
    while True:
        every = pull_seconds()
        try:
            async with runtime.system_tx() as conn:
                tenants = [
                    r["tenant_id"]
                    for r in await conn.fetch(
                        """SELECT tenant_id FROM ad_connections
                           WHERE platform <> 'sandbox' AND status <> 'disabled'"""
                    )
                ]
            for tenant in tenants:
                await pull_tenant(runtime, tenant, every)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("metric pulls failed; trying again later")
        await asyncio.sleep(every)


async def _claim(runtime: ServiceRuntime, tenant: UUID, every: float) -> datetime | None:
    """The hour to pull from, if this replica may pull the tenant now."""
    async with runtime.tenant_tx(tenant) as conn:
        row = await conn.fetchrow(
            """UPDATE ad_connections SET metrics_pull_claimed_at = now()
               WHERE tenant_id = $1 AND platform <> 'sandbox' AND status <> 'disabled'
                 AND (metrics_pull_claimed_at IS NULL
                      OR metrics_pull_claimed_at < now() - make_interval(secs => $2))
               RETURNING metrics_pulled_until""",
            tenant,
            every * 0.9,
        )
    if row is None:
        return None
    now = _hour(datetime.now(UTC))
    until = row["metrics_pulled_until"]
    if until is None:
        first = int(os.environ.get(FIRST_PULL_HOURS_ENV) or DEFAULT_FIRST_PULL_HOURS)
        return now - first * HOUR
    return until - REPULL_HOURS * HOUR


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


async def pull_tenant(runtime: ServiceRuntime, tenant: UUID, every: float = 0.0) -> int:
    """Pull the tenant's finished hours and publish them; answers how many rows went out."""
    start = await _claim(runtime, tenant, every)
    if start is None:
        return 0
    end = _hour(datetime.now(UTC))
    connector = await connector_for(runtime, tenant)
    try:
        found = await connector.hourly_report(tenant, start, end)
    except ConnectorError as exc:
        log.warning("tenant %s: no metrics from its ad account: %s", tenant, exc)
        return 0
    rows = latest_per_hour(
        MetricRow(
            campaign_id=m.campaign_id,
            hour=m.hour,
            impressions=m.impressions,
            clicks=m.clicks,
            conversions=m.conversions,
            spend=m.spend,
            revenue=m.revenue,
            budget=m.budget,
        )
        for m in found
    )
    async with runtime.tenant_tx(tenant) as conn:
        if rows:
            payload = {"metrics": [r.model_dump() for r in rows]}
            await enqueue(
                conn, METRICS_RECORDED.envelope(payload, tenant_id=tenant, source="optimizer")
            )
        pulled = max((r.hour for r in rows), default=None)
        if pulled is not None:
            await conn.execute(
                """UPDATE ad_connections SET metrics_pulled_until = $2
                   WHERE tenant_id = $1""",
                tenant,
                pulled + HOUR,
            )
    return len(rows)
