"""Keeping tables small: what is done with is removed on a schedule, and the metric
partitions of the services that keep campaign_metrics are made ahead and retired."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

import asyncpg

from shared import once
from shared.metrics_store import drop_partitions_before, prepare_partitions

if TYPE_CHECKING:
    from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

# Published outbox rows are kept a day for inspection. Inbox rows must outlive any
# redelivery of their event (a week is far beyond the broker's retries), or a late
# duplicate would be applied twice.
OUTBOX_RETENTION = timedelta(days=1)
INBOX_RETENTION = timedelta(days=7)
EVERY_SECONDS = 3600.0
# Adding or dropping a partition locks campaign_metrics for an instant; behind a long
# query it waits at most this long (holding up the queries queued behind it) before it
# gives up until the next round.
PARTITION_LOCK_TIMEOUT = "5s"


class Swept(NamedTuple):
    outbox: int
    inbox: int
    request_keys: int


async def sweep(conn: asyncpg.Connection) -> Swept:
    """Remove expired outbox, inbox and request-key rows. Returns how many of each went."""
    outbox = await conn.execute(
        "DELETE FROM outbox WHERE published_at < now() - $1::interval", OUTBOX_RETENTION
    )
    inbox = await conn.execute(
        "DELETE FROM inbox WHERE processed_at < now() - $1::interval", INBOX_RETENTION
    )
    keys = await conn.execute(
        "DELETE FROM request_keys WHERE created_at < now() - $1::interval", once.RETENTION
    )
    return Swept(*(int(status.split()[-1]) for status in (outbox, inbox, keys)))


async def metric_partitions(runtime: ServiceRuntime) -> None:
    """The upkeep of a service that keeps campaign_metrics: partitions for this month and
    ``metrics_partitions_ahead`` after it (and for the rows the default partition caught),
    and, with a retention, none that ended ``metrics_retention_days`` or more ago. Each in
    a transaction of its own: a busy table postpones the one, not the other."""
    settings = runtime.settings
    now = datetime.now(UTC)
    made: list[str] = []
    dropped: list[str] = []
    try:
        async with runtime.system_tx() as conn:
            await conn.execute(f"SET LOCAL lock_timeout = '{PARTITION_LOCK_TIMEOUT}'")
            made = await prepare_partitions(conn, settings.metrics_partitions_ahead, now)
        if settings.metrics_retention is not None:
            async with runtime.system_tx() as conn:
                await conn.execute(f"SET LOCAL lock_timeout = '{PARTITION_LOCK_TIMEOUT}'")
                dropped = await drop_partitions_before(conn, now - settings.metrics_retention)
    except asyncpg.LockNotAvailableError:
        log.warning("campaign_metrics was busy: its partitions are kept at the next round")
    if made or dropped:
        log.info("kept metric partitions", extra={"made": made, "dropped": dropped})


async def housekeeping(runtime: ServiceRuntime) -> None:
    while True:
        async with runtime.system_tx() as conn:
            swept = await sweep(conn)
        if any(swept):
            log.info("swept messaging tables", extra=swept._asdict())
        for upkeep in runtime.spec.upkeep:
            await upkeep(runtime)
        await asyncio.sleep(EVERY_SECONDS)
