"""Keeping the messaging tables small: what is done with is removed on a schedule."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

# Published outbox rows are kept a day for inspection. Inbox rows must outlive any
# redelivery of their event (a week is far beyond the broker's retries), or a late
# duplicate would be applied twice.
OUTBOX_RETENTION = timedelta(days=1)
INBOX_RETENTION = timedelta(days=7)
EVERY_SECONDS = 3600.0


async def sweep(conn: asyncpg.Connection) -> tuple[int, int]:
    """Remove expired outbox and inbox rows. Returns how many of each went."""
    outbox = await conn.execute(
        "DELETE FROM outbox WHERE published_at < now() - $1::interval", OUTBOX_RETENTION
    )
    inbox = await conn.execute(
        "DELETE FROM inbox WHERE processed_at < now() - $1::interval", INBOX_RETENTION
    )
    return int(outbox.split()[-1]), int(inbox.split()[-1])


async def housekeeping(runtime: ServiceRuntime) -> None:
    while True:
        async with runtime.system_tx() as conn:
            outbox, inbox = await sweep(conn)
        if outbox or inbox:
            log.info("swept messaging tables", extra={"outbox": outbox, "inbox": inbox})
        await asyncio.sleep(EVERY_SECONDS)
