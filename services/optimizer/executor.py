"""The worker that carries pending changes out: woken at once by the planner's
notification, and sweeping every few seconds, whatever else happens, for changes a crash,
a lost notification or an unanswered platform left pending. Replicas share the work: a
pending row is leased by one of them at a time."""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

from services.optimizer.execution import PENDING_CHANNEL, carry_out, pending_rows
from shared.db import listening
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

# A change planned this recently is about to be taken up by the worker it notified.
FRESH_SECONDS = 5.0
SWEEP_SECONDS = 2.0


async def run_executor(runtime: ServiceRuntime) -> None:
    woken: asyncio.Queue[tuple[UUID, UUID]] = asyncio.Queue()

    def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        tenant, _, optimization = payload.partition(":")
        try:
            woken.put_nowait((UUID(tenant), UUID(optimization)))
        except ValueError:
            log.warning("ignoring a malformed %s notification: %r", PENDING_CHANNEL, payload)

    loop = asyncio.get_running_loop()
    async with listening(runtime.db, PENDING_CHANNEL, on_notify):
        next_sweep = loop.time() + SWEEP_SECONDS
        while True:
            try:
                item = await asyncio.wait_for(woken.get(), max(0.0, next_sweep - loop.time()))
            except TimeoutError:
                next_sweep = loop.time() + SWEEP_SECONDS
                async with runtime.system_tx() as conn:
                    due = await pending_rows(conn, FRESH_SECONDS)
                for tenant, optimization in due:
                    await _carry_out(runtime, tenant, optimization)
            else:
                await _carry_out(runtime, *item)


async def _carry_out(runtime: ServiceRuntime, tenant: UUID, optimization: UUID) -> None:
    try:
        await carry_out(runtime, tenant, optimization, wait=False)
    except asyncio.CancelledError:
        raise
    except Exception:
        # The row stays pending; its lease runs out and a sweep tries again.
        log.exception("carrying out optimization %s failed; it stays pending", optimization)
