"""Scheduled master cycles with several decision replicas: one cycle per tenant and period,
whoever's clock strikes first, and a period whose cycle was cut short is done by another."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from sandbox.simulator import CampaignSimulator
from services.decision.app import SPEC as DECISION
from services.decision.cycles import INTERRUPTED, CycleRunner
from shared.config import Settings
from shared.db import scoped
from shared.metrics_store import upsert_metrics
from shared.service import ServiceRuntime
from tests.conftest import schema_pool

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def replicas(settings: Settings) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    """Two decision replicas' pools: each schedules on connections of its own."""
    first, second = await schema_pool(settings, "decision"), await schema_pool(settings, "decision")
    yield first, second
    await first.close()
    await second.close()


def _runner(settings: Settings, pool: asyncpg.Pool, interval: float) -> CycleRunner:
    every = settings.model_copy(update={"cycle_interval_seconds": interval})
    return CycleRunner(ServiceRuntime(spec=DECISION, settings=every, pool=pool))


async def _tenant_with_metrics(pool: asyncpg.Pool) -> uuid.UUID:
    """A tenant whose metrics arrived just now: the schedule covers it."""
    tenant = uuid.uuid4()
    sim = CampaignSimulator(1, seed=3, start=datetime(2026, 9, 1, tzinfo=UTC))
    async with scoped(pool, tenant) as conn:
        await upsert_metrics(conn, tenant, sim.simulate_hour(datetime(2026, 9, 1, tzinfo=UTC)))
    return tenant


async def _periods(pool: asyncpg.Pool, tenant: uuid.UUID) -> list[asyncpg.Record]:
    async with scoped(pool, tenant) as conn:
        return await conn.fetch(
            """SELECT s.period_start, s.cycle_id, c.status, c.error_message
               FROM cycle_schedule s JOIN master_ai_cycles c ON c.id = s.cycle_id
               WHERE s.tenant_id = $1 ORDER BY s.period_start""",
            tenant,
        )


async def _cycles(pool: asyncpg.Pool, tenant: uuid.UUID) -> list[asyncpg.Record]:
    async with scoped(pool, tenant) as conn:
        return await conn.fetch(
            "SELECT id, status, error_message FROM master_ai_cycles WHERE tenant_id = $1 "
            "ORDER BY created_at",
            tenant,
        )


async def test_replicas_striking_together_queue_one_cycle(
    settings: Settings, replicas: tuple[asyncpg.Pool, asyncpg.Pool]
) -> None:
    a, b = (_runner(settings, pool, 3600.0) for pool in replicas)
    tenant = await _tenant_with_metrics(replicas[0])
    hour_before = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for _ in range(3):
        await asyncio.gather(a.schedule(), b.schedule())
    hour_after = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    periods = await _periods(replicas[0], tenant)
    # One row per period (an hour, here), whichever replica wrote it.
    assert len(periods) == (1 if hour_after == hour_before else 2), periods
    cycles = await _cycles(replicas[0], tenant)
    assert [c["status"] for c in cycles] == ["pending"]
    assert {p["cycle_id"] for p in periods} == {cycles[0]["id"]}


async def test_every_period_is_scheduled_once_by_two_replicas(
    settings: Settings, replicas: tuple[asyncpg.Pool, asyncpg.Pool]
) -> None:
    interval = 0.4
    tenant = await _tenant_with_metrics(replicas[0])

    async def replica(pool: asyncpg.Pool, until: float) -> None:
        # As run_cycles does: schedule, then sleep until the next period starts.
        runner = _runner(settings, pool, interval)
        while True:
            pause = await runner.schedule()
            if pause > until - time.monotonic():
                return
            await asyncio.sleep(pause)

    until = time.monotonic() + 3.0
    await asyncio.gather(*(replica(pool, until) for pool in replicas))
    periods = [p["period_start"] for p in await _periods(replicas[0], tenant)]
    assert len(periods) >= 5, periods
    # No period twice (the key says so) and none skipped between the first and the last.
    steps = {
        round((b - a) / timedelta(seconds=interval), 6) for a, b in itertools.pairwise(periods)
    }
    assert steps == {1.0}, periods


async def test_periods_that_began_while_every_replica_was_busy_are_queued_late(
    settings: Settings, replicas: tuple[asyncpg.Pool, asyncpg.Pool]
) -> None:
    interval = 0.3
    runner = _runner(settings, replicas[0], interval)
    tenant = await _tenant_with_metrics(replicas[0])
    await runner.schedule()
    await asyncio.sleep(4 * interval)  # a long cycle, say: nobody looked at the clock
    await runner.schedule()
    periods = await _periods(replicas[0], tenant)
    starts = [p["period_start"] for p in periods]
    assert len(starts) >= 4, starts
    assert {b - a for a, b in itertools.pairwise(starts)} == {timedelta(seconds=interval)}
    # The late periods and the current one: one cycle, waiting to run.
    assert len({p["cycle_id"] for p in periods[1:]}) == 1


async def test_a_scheduled_cycle_its_replica_left_is_queued_again(
    settings: Settings, replicas: tuple[asyncpg.Pool, asyncpg.Pool]
) -> None:
    pool = replicas[0]
    runner = _runner(settings, pool, 3600.0)
    tenant = await _tenant_with_metrics(pool)
    await runner.schedule()
    [period] = await _periods(pool, tenant)
    # Claimed by a replica that died mid-cycle: running, its tenant's lock free.
    async with scoped(pool, tenant) as conn:
        await conn.execute(
            "UPDATE master_ai_cycles SET status = 'running' WHERE id = $1", period["cycle_id"]
        )
    assert await runner.reap_abandoned() >= 1
    [again] = await _periods(pool, tenant)
    assert again["period_start"] == period["period_start"]
    assert again["cycle_id"] != period["cycle_id"] and again["status"] == "pending"
    cycles = {c["id"]: c for c in await _cycles(pool, tenant)}
    assert cycles[period["cycle_id"]]["status"] == "failed"
    assert "abandoned" in cycles[period["cycle_id"]]["error_message"]


async def test_a_scheduled_cycle_interrupted_by_a_stop_is_queued_again(
    settings: Settings, replicas: tuple[asyncpg.Pool, asyncpg.Pool]
) -> None:
    pool = replicas[0]
    runner = _runner(settings, pool, 3600.0)
    tenant = await _tenant_with_metrics(pool)
    await runner.schedule()
    [period] = await _periods(pool, tenant)
    async with scoped(pool, tenant) as conn:
        claimed = await conn.fetchrow(
            "UPDATE master_ai_cycles SET status = 'running' WHERE id = $1 RETURNING id, tenant_id",
            period["cycle_id"],
        )
    # What run() records when the service stops in the middle of the cycle.
    await runner._finish(dict(claimed), time.monotonic(), {}, INTERRUPTED)
    [again] = await _periods(pool, tenant)
    assert again["cycle_id"] != period["cycle_id"] and again["status"] == "pending"
    # The new one runs like any other and completes the period's work.
    while await runner.claim_and_run():
        pass
    [done] = await _periods(pool, tenant)
    assert done["status"] == "completed", done


async def test_a_cycle_someone_asked_for_is_not_queued_again(
    settings: Settings, replicas: tuple[asyncpg.Pool, asyncpg.Pool]
) -> None:
    pool = replicas[0]
    tenant = uuid.uuid4()
    async with scoped(pool, tenant) as conn:
        orphan = await conn.fetchval(
            """INSERT INTO master_ai_cycles (tenant_id, cycle_name, cycle_type, status)
               VALUES ($1, 'asked for', 'decision', 'running') RETURNING id""",
            tenant,
        )
    await _runner(settings, pool, 3600.0).reap_abandoned()
    assert [(c["id"], c["status"]) for c in await _cycles(pool, tenant)] == [(orphan, "failed")]
