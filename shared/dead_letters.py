"""Operating on a service's dead-letter queue: look, replay, purge.

A dead letter is an event a service's consumer gave up on, kept with the reason in
``X.{service}.dlq`` (see :mod:`shared.bus`). Looking takes the messages without
acknowledging them and puts them back, so a look changes nothing. Replaying publishes each
one straight to its own service's queue (not to the exchange, which would hand it to every
subscriber again) and then removes it; the consumer skips an event it had already applied.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from shared.bus import dead_letter_queue_name, original_routing_key, queue_name

# Headers that describe a death, not the event: a replayed message starts without them.
DEATH_HEADERS = frozenset(
    {
        "x-error",
        "x-original-routing-key",
        "x-service",
        "x-deliveries",
        "x-dead-lettered-at",
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
        "x-delivery-count",
    }
)


@dataclass(frozen=True)
class DeadLetter:
    service: str
    message_id: str | None
    routing_key: str | None
    reason: str
    dead_lettered_at: datetime | None

    def age(self, now: datetime) -> timedelta | None:
        return None if self.dead_lettered_at is None else now - self.dead_lettered_at


@dataclass(frozen=True)
class Queue:
    """One service's dead-letter queue: how many it holds and the first ``limit`` of them,
    oldest first."""

    service: str
    count: int
    letters: list[DeadLetter] = field(default_factory=list)

    @property
    def oldest(self) -> datetime | None:
        return self.letters[0].dead_lettered_at if self.letters else None


def dead_lettered_at(headers: dict[str, Any]) -> datetime | None:
    """When a message was dead-lettered: our consumer's header, else the broker's x-death."""
    stamp: Any = headers.get("x-dead-lettered-at")
    if stamp is None:
        deaths = headers.get("x-death")
        if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
            stamp = deaths[0].get("time")
    if isinstance(stamp, bytes):
        stamp = stamp.decode(errors="replace")
    if isinstance(stamp, str):
        try:
            stamp = datetime.fromisoformat(stamp)
        except ValueError:
            return None
    if not isinstance(stamp, datetime):
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def as_letter(service: str, message: AbstractIncomingMessage) -> DeadLetter:
    headers = dict(message.headers or {})
    return DeadLetter(
        service=service,
        message_id=message.message_id,
        # Events are routed by their type; a message without one by what it was sent with.
        routing_key=message.type or original_routing_key(headers, message.routing_key),
        reason=str(headers.get("x-error", "delivery limit reached")),
        dead_lettered_at=dead_lettered_at(headers),
    )


@contextlib.asynccontextmanager
async def _dead_letter_queue(
    connection: AbstractRobustConnection, exchange: str, service: str
) -> AsyncIterator[tuple[AbstractChannel, AbstractQueue] | None]:
    """A confirming channel and ``service``'s dead-letter queue, or None if it does not
    exist yet (a queue is declared when a service first connects)."""
    channel = await connection.channel(publisher_confirms=True)
    try:
        try:
            queue = await channel.declare_queue(
                dead_letter_queue_name(exchange, service), passive=True
            )
        except aio_pika.exceptions.ChannelNotFoundEntity:
            yield None
            return
        yield channel, queue
    finally:
        if not channel.is_closed:
            await channel.close()


async def _taken(queue: AbstractQueue, at_most: int) -> AsyncIterator[AbstractIncomingMessage]:
    """Up to ``at_most`` messages from the head of ``queue``, unacknowledged; whatever the
    caller neither acks nor nacks goes back to the queue when the channel closes."""
    for _ in range(at_most):
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            return
        yield message


def _depth(queue: AbstractQueue) -> int:
    return int(queue.declaration_result.message_count or 0)


async def inspect(
    connection: AbstractRobustConnection, exchange: str, service: str, limit: int | None = None
) -> Queue | None:
    """``service``'s dead letters: the count, and the first ``limit`` (all if None) in
    order of arrival; None if it has no dead-letter queue."""
    async with _dead_letter_queue(connection, exchange, service) as found:
        if found is None:
            return None
        _channel, queue = found
        count = _depth(queue)
        held = [m async for m in _taken(queue, count if limit is None else min(limit, count))]
        letters = [as_letter(service, m) for m in held]
        # Looked at, not taken: back in the queue, in their places.
        for message in reversed(held):
            await message.nack(requeue=True)
        return Queue(service, count, letters)


async def replay(
    connection: AbstractRobustConnection,
    exchange: str,
    service: str,
    ids: Collection[str] | None = None,
    on_replayed: Callable[[DeadLetter], None] | None = None,
) -> list[DeadLetter]:
    """Publish ``service``'s dead letters (only those with a message id in ``ids``, if
    given) to its queue again and remove them. Only what was there when it began: a letter
    that dies again meanwhile waits for the next replay. ``on_replayed`` hears of each one
    as it leaves the dead-letter queue."""
    async with _dead_letter_queue(connection, exchange, service) as found:
        if found is None:
            return []
        channel, queue = found
        target = queue_name(exchange, service)
        replayed: list[DeadLetter] = []
        skipped = []
        async for message in _taken(queue, _depth(queue)):
            if ids is not None and message.message_id not in ids:
                skipped.append(message)
                continue
            headers = {k: v for k, v in (message.headers or {}).items() if k not in DEATH_HEADERS}
            await channel.default_exchange.publish(
                aio_pika.Message(
                    message.body,
                    headers=headers,
                    message_id=message.message_id,
                    type=message.type,
                    correlation_id=message.correlation_id,
                    content_type=message.content_type,
                    timestamp=message.timestamp,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=target,
            )
            # Confirmed by the broker: only now does it leave the dead-letter queue.
            await message.ack()
            replayed.append(as_letter(service, message))
            if on_replayed is not None:
                on_replayed(replayed[-1])
        for message in reversed(skipped):
            await message.nack(requeue=True)
        return replayed


async def purge(
    connection: AbstractRobustConnection,
    exchange: str,
    service: str,
    ids: Collection[str] | None = None,
) -> int:
    """Delete ``service``'s dead letters (only those with a message id in ``ids``, if
    given). Returns how many were deleted."""
    async with _dead_letter_queue(connection, exchange, service) as found:
        if found is None:
            return 0
        _channel, queue = found
        if ids is None:
            result = await queue.purge()
            return int(result.message_count or 0)
        deleted = 0
        kept = []
        async for message in _taken(queue, _depth(queue)):
            if message.message_id in ids:
                await message.ack()
                deleted += 1
            else:
                kept.append(message)
        for message in reversed(kept):
            await message.nack(requeue=True)
        return deleted
