"""Transactional outbox: write the event with the row, publish after commit, lose nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

import asyncpg
from pydantic import ValidationError

from shared.bus import Bus
from shared.db import scoped, unlisten
from shared.events import Envelope
from shared.retry import retry

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


async def enqueue_many(conn: asyncpg.Connection, envelopes: Sequence[Envelope]) -> None:
    """:func:`enqueue` for several envelopes in one statement; the relay publishes them in
    the order given."""
    if not envelopes:
        return
    await conn.execute(
        """INSERT INTO outbox (event_id, tenant_id, routing_key, body)
           SELECT event_id, tenant_id, routing_key, body
           FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[])
                WITH ORDINALITY AS e(event_id, tenant_id, routing_key, body, position)
           ORDER BY position""",
        [e.event_id for e in envelopes],
        [e.tenant_id for e in envelopes],
        [e.type for e in envelopes],
        [e.model_dump(mode="json") for e in envelopes],
    )


async def backlog(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


async def backlog_age(conn: asyncpg.Connection) -> tuple[int, float | None]:
    """Rows not yet published, and seconds since the oldest of them was written (None when
    there is none)."""
    row = await conn.fetchrow(
        """SELECT count(*) AS n,
                  extract(epoch FROM clock_timestamp() - min(created_at))::float8 AS age
           FROM outbox WHERE published_at IS NULL"""
    )
    assert row is not None
    age = row["age"]
    return int(row["n"]), (max(0.0, round(age, 3)) if age is not None else None)


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
        self._stopping = asyncio.Event()
        self._listener: asyncpg.Connection | None = None

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
        """Relay until ``stop``, surviving database and broker outages.

        Each round retries by itself, so the backoff starts afresh after every success."""
        try:
            while not self._stopping.is_set():
                await retry(self._round, what="outbox relay", log=log)
        finally:
            await self._unlisten()

    def stop(self) -> None:
        """Finish the current round and return from ``run``."""
        self._stopping.set()
        self._wake.set()

    async def flush(self) -> int:
        """Publish what is already committed, batch by batch. Returns how many rows went.

        Bound it from outside (e.g. ``asyncio.timeout``): it publishes until none is left."""
        total = 0
        while published := await self.publish_pending():
            total += published
        return total

    async def _round(self) -> None:
        try:
            if self._listener is None:
                self._listener = await self.pool.acquire()
                await self._listener.add_listener(self.channel, self._notified)
            self._wake.clear()
            if await self.publish_pending() < self.batch_size and not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        except BaseException:
            # The connection may be what failed: the next round listens on a fresh one.
            await self._unlisten()
            raise

    async def _unlisten(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        try:
            # Shielded: a connection must not go back to the pool still listening, even
            # when the relay is cancelled on the way out.
            await asyncio.shield(unlisten(self.pool, listener, self.channel, self._notified))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("outbox listener not released cleanly", extra={"error": repr(exc)})
