"""The worker that carries pending changes out: woken at once by the planner's
notification, and sweeping now and then for changes a crash or a lost notification left
pending. Replicas share the work: each pending row is taken by one of them at a time."""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

from services.optimizer.execution import PENDING_CHANNEL, carry_out, pending_rows
from shared.db import listening
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

# A change pending this long was not taken up when it was planned.
STALE_SECONDS = 5.0
SWEEP_SECONDS = 5.0


async def run_executor(runtime: ServiceRuntime) -> None:
    woken: asyncio.Queue[tuple[UUID, UUID]] = asyncio.Queue()

    def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        tenant, _, optimization = payload.partition(":")
        try:
            woken.put_nowait((UUID(tenant), UUID(optimization)))
        except ValueError:
            log.warning("ignoring a malformed %s notification: %r", PENDING_CHANNEL, payload)

    async with listening(runtime.db, PENDING_CHANNEL, on_notify):
        while True:
            try:
                batch = [await asyncio.wait_for(woken.get(), timeout=SWEEP_SECONDS)]
            except TimeoutError:
                async with runtime.system_tx() as conn:
                    batch = await pending_rows(conn, STALE_SECONDS)
            for tenant, optimization in batch:
                await _carry_out(runtime, tenant, optimization)


async def _carry_out(runtime: ServiceRuntime, tenant: UUID, optimization: UUID) -> None:
    try:
        await carry_out(runtime, tenant, optimization, wait=False)
    except asyncio.CancelledError:
        raise
    except Exception:
        # The row stays pending and the next sweep tries again with the same change id.
        log.exception("carrying out optimization %s failed; it stays pending", optimization)
