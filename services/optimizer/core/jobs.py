"""The optimizer's background work, in two shapes.

:func:`run_per_tenant` runs a job per tenant: woken when a tenant's metrics arrive
(``METRICS_CHANNEL``) and sweeping now and then for tenants the job has work for, one
replica at a time per tenant where the job asks for a lock, and backing off from a tenant
whose run failed. The rule runner, the pools, the experiment puller and the forecaster are
such jobs.

:func:`run_executor` is the worker that carries pending changes out: woken at once by the
planner's notification, and sweeping every few seconds, whatever else happens, for changes
a crash, a lost notification or an unanswered platform left pending. Replicas share the
work: a pending row is leased by one of them at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg

from services.optimizer.core.execution import PENDING_CHANNEL, carry_out, pending_rows
from shared.db import listening
from shared.retry import DEFAULT, Backoff
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

# Notified with the tenant's id when its metrics arrive: every per-tenant job wakes.
METRICS_CHANNEL = "optimizer_metrics"

# A change planned this recently is about to be taken up by the worker it notified.
FRESH_SECONDS = 5.0
SWEEP_SECONDS = 2.0


# Tenants whose changes are carried out side by side; each takes a pooled connection.
EXECUTOR_LANES = 4


async def run_executor(runtime: ServiceRuntime) -> None:
    woken: asyncio.Queue[tuple[UUID, UUID]] = asyncio.Queue()

    def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        tenant, _, optimization = payload.partition(":")
        try:
            woken.put_nowait((UUID(tenant), UUID(optimization)))
        except ValueError:
            log.warning("ignoring a malformed %s notification: %r", PENDING_CHANNEL, payload)

    loop = asyncio.get_running_loop()
    async with listening(runtime.db, PENDING_CHANNEL, on_notify), asyncio.TaskGroup() as tasks:
        lanes = _Lanes(runtime, tasks, EXECUTOR_LANES)
        next_sweep = loop.time() + SWEEP_SECONDS
        while True:
            try:
                item = await asyncio.wait_for(woken.get(), max(0.0, next_sweep - loop.time()))
            except TimeoutError:
                next_sweep = loop.time() + SWEEP_SECONDS
                async with runtime.system_tx() as conn:
                    due = await pending_rows(conn, FRESH_SECONDS)
                for tenant, optimization in due:
                    lanes.submit(tenant, optimization)
            else:
                lanes.submit(*item)


class _Lanes:
    """One lane per tenant: a tenant's changes are carried out one after another, in the
    order they came (two changes to one campaign must reach the platform in order), while
    up to ``width`` tenants are served at once, so one slow account holds up no other."""

    def __init__(self, runtime: ServiceRuntime, tasks: asyncio.TaskGroup, width: int) -> None:
        self.runtime = runtime
        self.tasks = tasks
        self.slots = asyncio.Semaphore(width)
        self.waiting: dict[UUID, deque[UUID]] = {}

    def submit(self, tenant: UUID, optimization: UUID) -> None:
        queue = self.waiting.get(tenant)
        if queue is None:
            self.waiting[tenant] = deque([optimization])
            self.tasks.create_task(self._drain(tenant))
        elif optimization not in queue:  # a sweep may name one its notification named
            queue.append(optimization)

    async def _drain(self, tenant: UUID) -> None:
        queue = self.waiting[tenant]
        try:
            async with self.slots:
                while queue:
                    await _carry_out(self.runtime, tenant, queue[0])
                    queue.popleft()
        finally:
            # Nothing awaits between the last look at the queue and this: a change
            # submitted meanwhile found the queue and is done, or starts a new lane.
            del self.waiting[tenant]


async def _carry_out(runtime: ServiceRuntime, tenant: UUID, optimization: UUID) -> None:
    try:
        await carry_out(runtime, tenant, optimization, wait=False)
    except asyncio.CancelledError:
        raise
    except Exception:
        # The row stays pending; its lease runs out and a sweep tries again.
        log.exception("carrying out optimization %s failed; it stays pending", optimization)


# --- per-tenant jobs ---------------------------------------------------------------------


@dataclass(frozen=True)
class TenantJob:
    """A job run for one tenant at a time.

    ``run`` does the tenant's work; ``sweep`` names the tenants to look at when no metrics
    woke them for ``sweep_seconds`` (the clock makes work due too). With ``lock`` (a
    namespace for ``pg_try_advisory_lock``), a replica that finds another one running the
    tenant leaves it to that one.
    """

    what: str
    run: Callable[[ServiceRuntime, UUID], Awaitable[object]]
    sweep: Callable[[asyncpg.Connection], Awaitable[Iterable[UUID]]]
    sweep_seconds: float
    lock: int | None = None
    backoff: Backoff = field(default=DEFAULT)


async def run_per_tenant(runtime: ServiceRuntime, job: TenantJob) -> None:
    """Run ``job`` for each tenant woken by its metrics or named by the sweep, forever."""
    dirty: set[UUID] = set()
    wake = asyncio.Event()
    failures: dict[UUID, int] = {}
    not_before: dict[UUID, float] = {}
    loop = asyncio.get_running_loop()

    def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            dirty.add(UUID(payload))
            wake.set()

    async with listening(runtime.db, METRICS_CHANNEL, on_notify):
        # The sweep runs once no tenant was woken for ``sweep_seconds``.
        quiet_since = loop.time()
        while True:
            sweep_at = quiet_since + job.sweep_seconds
            # A tenant backing off waits for its turn, not for the next sweep.
            deadline = min([sweep_at, *(not_before.get(t, 0.0) for t in dirty)])
            worked = True
            try:
                await asyncio.wait_for(wake.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                worked = loop.time() >= sweep_at
                if worked:
                    async with runtime.system_tx() as conn:
                        dirty.update(await job.sweep(conn))
            wake.clear()
            now = loop.time()
            ready = sorted((t for t in dirty if not_before.get(t, 0.0) <= now), key=str)
            dirty.difference_update(ready)
            for tenant in ready:
                try:
                    await _run_tenant(runtime, job, tenant)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    failures[tenant] = failures.get(tenant, 0) + 1
                    delay = job.backoff.delay(failures[tenant])
                    not_before[tenant] = loop.time() + delay
                    log.exception(
                        "%s of tenant %s failed (%d in a row); next try in %.1f s",
                        job.what,
                        tenant,
                        failures[tenant],
                        delay,
                    )
                else:
                    failures.pop(tenant, None)
                    not_before.pop(tenant, None)
            if worked:
                # Quiet is counted from the end of the work, not from the wake-up.
                quiet_since = loop.time()


async def _run_tenant(runtime: ServiceRuntime, job: TenantJob, tenant: UUID) -> None:
    if job.lock is None:
        await job.run(runtime, tenant)
        return
    # A session lock on a connection of its own: the run holds transactions of its own,
    # none of them long, while the lock must last the whole run.
    async with runtime.db.acquire() as lock:
        if not await lock.fetchval(
            "SELECT pg_try_advisory_lock($1, hashtext($2))", job.lock, str(tenant)
        ):
            return
        try:
            await job.run(runtime, tenant)
        finally:
            await lock.execute("SELECT pg_advisory_unlock($1, hashtext($2))", job.lock, str(tenant))
