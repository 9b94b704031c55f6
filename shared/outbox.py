"""Transactional outbox: write the event with the row, publish after commit, lose nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg
from pydantic import ValidationError

from shared.bus import Bus
from shared.db import scoped
from shared.events import Envelope

log = logging.getLogger(__name__)

# A row this many attempts in is no longer tried; it stays in the backlog for a person.
PARKED = 10


async def enqueue(conn: asyncpg.Connection, envelope: Envelope) -> None:
    """Record ``envelope`` for publishing. Call inside the transaction that made the change."""
    await conn.execute(
        "INSERT INTO outbox (event_id, tenant_id, routing_key, body) VALUES ($1, $2, $3, $4)",
        envelope.event_id,
        envelope.tenant_id,
        envelope.type,
        envelope.model_dump(mode="json"),
    )


async def backlog(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


class OutboxRelay:
    """Publishes outbox rows with publisher confirms, woken by LISTEN/NOTIFY.

    Several replicas may relay one outbox: ``FOR UPDATE SKIP LOCKED`` hands each row to one
    of them, and consumers are idempotent for the rare row published twice after a crash
    between the broker's confirm and our commit.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        bus: Bus,
        schema: str,
        *,
        poll_seconds: float = 2.0,
        batch_size: int = 200,
        on_published: Callable[[int], None] = lambda _n: None,
    ) -> None:
        self.pool = pool
        self.bus = bus
        self.channel = f"{schema}_outbox"
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.on_published = on_published
        self._wake = asyncio.Event()

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish one batch. Returns how many rows were published."""
        async with scoped(self.pool, system=True) as conn:
            rows = await conn.fetch(
                """SELECT id, body FROM outbox WHERE published_at IS NULL AND attempts < $2
                   ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED""",
                self.batch_size,
                PARKED,
            )
            if not rows:
                return 0
            good: list[tuple[int, Envelope]] = []
            for row in rows:
                try:
                    good.append((row["id"], Envelope.model_validate(row["body"])))
                except ValidationError as exc:
                    # One bad row must not hold up every event behind it: park it, visibly.
                    await conn.execute(
                        "UPDATE outbox SET attempts = $2, last_error = $3 WHERE id = $1",
                        row["id"],
                        PARKED,
                        f"invalid envelope: {exc.errors()[:3]}"[:1000],
                    )
                    log.error("parked an invalid outbox row", extra={"outbox_id": row["id"]})
            # Confirms are awaited together: one round trip per batch, not per message.
            await asyncio.gather(*(self.bus.publish(e) for _, e in good))
            await conn.execute(
                "UPDATE outbox SET published_at = now(), attempts = attempts + 1 "
                "WHERE id = ANY($1::bigint[])",
                [row_id for row_id, _ in good],
            )
        self.on_published(len(good))
        return len(rows)

    async def run(self) -> None:
        """Relay until cancelled, surviving database and broker outages."""
        backoff = 0.5
        while True:
            listener: asyncpg.Connection | None = None
            try:
                listener = await self.pool.acquire()
                await listener.add_listener(self.channel, self._notified)
                while True:
                    self._wake.clear()
                    if await self.publish_pending() == self.batch_size:
                        continue
                    backoff = 0.5
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "outbox relay failed; retrying", extra={"error": repr(exc), "in": backoff}
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                if listener is not None:
                    with contextlib.suppress(Exception):
                        await listener.remove_listener(self.channel, self._notified)
                    with contextlib.suppress(Exception):
                        await self.pool.release(listener)
