"""Pulling the results of experiments the ad platform runs, and concluding them.

When a tenant's metrics arrive (the platform finished hours) and every minute besides,
each experiment running on the platform has its cumulative results read from the
platform; a reading for a platform hour not yet recorded becomes a row of the results
history (``source: platform``) with its analysis, and the rule in
:mod:`services.optimizer.experiments.plan` may conclude the experiment and apply its winner.
One replica handles an experiment at a time (a transaction-level advisory lock), and the
platform hour keys the row, so a reading is recorded once.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import asyncpg

from services.optimizer.core.execution import carry_out
from services.optimizer.core.jobs import TenantJob, run_per_tenant
from services.optimizer.core.platform import connector_for
from services.optimizer.experiments import plan
from services.optimizer.experiments.stats import VariantData
from services.optimizer.experiments.store import conclude, lock_experiment, record_results
from shared.connectors import ConnectorError, PlatformExperiment
from shared.contracts.experiments import COLLECTING
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60.0


async def run_experiments(runtime: ServiceRuntime) -> None:
    """Background task: pull platform results when a tenant's hours arrive, and sweep."""
    job = TenantJob("pulling the experiments", pull_tenant, _collecting_tenants, SWEEP_SECONDS)
    await run_per_tenant(runtime, job)


async def _collecting_tenants(conn: asyncpg.Connection) -> list[UUID]:
    rows = await conn.fetch(
        """SELECT DISTINCT tenant_id FROM ai_testing_experiments
           WHERE on_platform AND status IN ('running', 'analyzing')"""
    )
    return [r["tenant_id"] for r in rows]


async def pull_tenant(runtime: ServiceRuntime, tenant: UUID) -> int:
    """Pull every platform experiment of the tenant that is collecting; answers how many
    new readings were recorded."""
    async with runtime.tenant_tx(tenant) as conn:
        rows = await conn.fetch(
            """SELECT id, campaign_id FROM ai_testing_experiments
               WHERE tenant_id = $1 AND on_platform AND status IN ('running', 'analyzing')""",
            tenant,
        )
    recorded = 0
    for row in rows:
        try:
            reading = await (await connector_for(runtime, tenant)).experiment_results(
                tenant, row["campaign_id"], row["id"]
            )
        except ConnectorError as exc:
            # The next hour of metrics, or the sweep, tries again.
            log.warning("experiment %s: no results from the platform: %s", row["id"], exc)
            continue
        recorded += await record_reading(runtime, tenant, row["id"], reading)
    return recorded


async def record_reading(
    runtime: ServiceRuntime, tenant: UUID, experiment_id: UUID, reading: PlatformExperiment
) -> int:
    """Record the platform's reading if it is new, then conclude by the rule if it says so."""
    pending: UUID | None = None
    async with runtime.tenant_tx(tenant) as conn:
        got = await conn.fetchval(
            "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))",
            f"experiment:{experiment_id}",
        )
        if not got:
            return 0  # another replica is on it
        experiment = await lock_experiment(conn, tenant, experiment_id)
        if experiment["status"] not in COLLECTING:
            return 0
        seen = await conn.fetchval(
            """SELECT max(platform_as_of) FROM experiment_results
               WHERE tenant_id = $1 AND experiment_id = $2 AND source = 'platform'""",
            tenant,
            experiment_id,
        )
        if seen is not None and reading.as_of <= seen:
            return 0
        data = _data(experiment, reading)
        if data is None or all(v.users == 0 for v in data):
            return 0
        results = await record_results(
            conn, tenant, experiment, data, source="platform", platform_as_of=reading.as_of
        )
        config: dict[str, Any] = (
            experiment["test_configuration"]
            if isinstance(experiment["test_configuration"], dict)
            else {}
        )
        if config.get("auto_conclude", True):
            analysis = results["analysis"] or {}
            verdict = plan.auto_conclusion(
                analysis,
                sample_in=bool(analysis.get("planned_sample_reached")),
                platform_ended=reading.status == "ended",
            )
            if verdict is not None:
                done = await conclude(
                    conn,
                    runtime,
                    tenant,
                    experiment,
                    winner=verdict.winner,
                    chosen_by="rule",
                    rule=verdict.rule,
                    detail=verdict.detail,
                    apply=bool(config.get("auto_apply", True)),
                    correlation_id=None,
                )
                pending = done.pending_optimization
    if pending is not None:
        await carry_out(runtime, tenant, pending, wait=False)
    return 1


def _data(experiment: dict[str, Any], reading: PlatformExperiment) -> list[VariantData] | None:
    names = plan.variant_names(experiment["variant_configs"])
    by_name = {arm.name: arm for arm in reading.variants}
    if set(by_name) != set(names):
        log.warning(
            "experiment %s: the platform reports variants %s, not %s",
            experiment["id"],
            sorted(by_name),
            names,
        )
        return None
    return [
        VariantData(name, by_name[name].users, conversions=by_name[name].conversions)
        for name in names
    ]
