"""RabbitMQ topology and publishing: the one place where exchanges and queues are declared.

Topology for exchange ``X`` (``adpilot.events`` unless a test run picks its own):

- ``X``: durable topic exchange; routing key = event type.
- ``X.{service}``: one quorum queue per consuming service, shared by its replicas
  (competing consumers), with a delivery limit and dead-lettering as a safety net.
- ``X.dlx`` (direct) → ``X.{service}.dlq``: messages that kept failing, with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractQueue,
    AbstractRobustConnection,
)

from shared.contracts import topology
from shared.db import DependencyUnavailable, redact
from shared.events import Envelope

log = logging.getLogger(__name__)

# Dead letters sit in a quorum queue (replicated over a cluster) that nothing leaves on its
# own: looking at a letter counts as a delivery there, so the limit is far out of reach.
_DEAD_LETTER_QUEUE: dict[str, Any] = {"x-queue-type": "quorum", "x-delivery-limit": 1_000_000}


class BrokerUnavailable(DependencyUnavailable):
    """RabbitMQ is not reachable. The message is one line a person can act on."""


BROKER_DELIVERY_LIMIT = 20
# How long a look into a queue (its depth, its head) may take before it counts as no answer.
PEEK_SECONDS = 2.0


def queue_name(exchange: str, service: str) -> str:
    return f"{exchange}.{service}"


def dead_letter_queue_name(exchange: str, service: str) -> str:
    return f"{exchange}.{service}.dlq"


def original_routing_key(headers: dict[str, Any], fallback: str | None) -> str | None:
    """Where a dead letter was first sent: our own header, else the broker's x-death."""
    if headers.get("x-original-routing-key"):
        return str(headers["x-original-routing-key"])
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        keys = deaths[0].get("routing-keys") or []
        if keys:
            return str(keys[0])
    return fallback


def dead_lettered_at(headers: dict[str, Any], timestamp: datetime | None) -> datetime | None:
    """When a message reached its dead-letter queue: the broker's x-death time for what it
    dead-lettered itself, else the timestamp our consumer set when it did."""
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        when = deaths[0].get("time")
        if isinstance(when, datetime):
            return when if when.tzinfo else when.replace(tzinfo=UTC)
    if timestamp is None:
        return None
    return timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)


def envelope_message(envelope: Envelope) -> aio_pika.Message:
    return aio_pika.Message(
        envelope.to_bytes(),
        message_id=str(envelope.event_id),
        type=envelope.type,
        correlation_id=str(envelope.correlation_id),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        timestamp=envelope.occurred_at,
        headers={"tenant_id": str(envelope.tenant_id), "version": envelope.version},
    )


class Bus:
    """A robust connection with one confirming channel for publishing and declaring."""

    def __init__(self, url: str, exchange: str) -> None:
        self.url = url
        self.exchange_name = exchange
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._dlx: AbstractExchange | None = None
        # Whether the connection is up right now. A robust connection reports "not closed"
        # all the while it is reconnecting, so its own flag cannot tell; its callbacks can.
        self._up = False

    def _lost(self, *_: object) -> None:
        if self._up:
            log.warning("lost the connection to RabbitMQ; reconnecting")
        self._up = False

    def _restored(self, *_: object) -> None:
        if not self._up:
            log.info("reconnected to RabbitMQ")
        self._up = True

    async def connect(self) -> None:
        try:
            self._connection = await aio_pika.connect_robust(self.url, timeout=5)
        except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as exc:
            raise BrokerUnavailable(
                f"cannot reach RabbitMQ at {redact(self.url)} ({exc.__class__.__name__}: {exc}); "
                "start it (e.g. `rabbitmq-server -detached`) or set ADPILOT_AMQP_URL"
            ) from exc
        # Lost: the connection closed, or a reconnect failed before its channels came back.
        # Restored: reconnected with every channel (and so every consumer) restored.
        self._connection.close_callbacks.add(self._lost)
        self._connection.reconnect_callbacks.add(self._restored)
        self._up = True
        self._channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await self._channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        self._dlx = await self._channel.declare_exchange(
            f"{self.exchange_name}.dlx", aio_pika.ExchangeType.DIRECT, durable=True
        )
        try:
            for service, keys in topology().items():
                await self.declare_service_queues(self._channel, service, keys)
        except aio_pika.exceptions.ChannelPreconditionFailed as exc:
            # An older declaration of one of our queues, with other arguments.
            raise BrokerUnavailable(
                f"RabbitMQ refused our queues: {exc}; delete the old queue "
                "(e.g. `rabbitmqctl delete_queue <name>`) and start again"
            ) from exc

    async def close(self) -> None:
        self._up = False
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    @property
    def connected(self) -> bool:
        """Up now: false from the moment the connection drops until it is fully restored."""
        return self._up and self._connection is not None and not self._connection.is_closed

    @property
    def connection(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise BrokerUnavailable("bus is not connected")
        return self._connection

    async def publish(self, envelope: Envelope) -> None:
        """Publish and wait for the broker's confirm."""
        if self._exchange is None:
            raise BrokerUnavailable("bus is not connected")
        await self._exchange.publish(envelope_message(envelope), routing_key=envelope.type)

    async def publish_raw(self, routing_key: str, body: bytes, **properties: Any) -> None:
        if self._exchange is None:
            raise BrokerUnavailable("bus is not connected")
        message = aio_pika.Message(
            body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, **properties
        )
        await self._exchange.publish(message, routing_key=routing_key)

    async def dead_letter(
        self, service: str, body: bytes, headers: dict[str, Any], **properties: Any
    ) -> None:
        if self._dlx is None:
            raise BrokerUnavailable("bus is not connected")
        died = datetime.now(UTC)
        message = aio_pika.Message(
            body,
            # When it died: `adpilot dead-letters` and the status read its age from here.
            headers={"x-dead-lettered-at": died.isoformat(), **headers},
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            timestamp=died,
            **properties,
        )
        await self._dlx.publish(
            message, routing_key=dead_letter_queue_name(self.exchange_name, service)
        )

    async def _declare_dead_letter_queue(
        self, channel: AbstractChannel, name: str
    ) -> AbstractQueue:
        """A quorum queue, so dead letters survive the loss of a cluster node. A look at a
        letter (get and requeue) counts as a delivery on a quorum queue, so the limit is set
        far out of reach: the queue is a holding pen, and nothing leaves it on its own.

        A queue an earlier version declared as a classic queue cannot change type in place;
        it is kept (no letter is lost), with a warning on how to move it."""
        probe = await self.connection.channel()
        try:
            await probe.declare_queue(name, durable=True, arguments=_DEAD_LETTER_QUEUE)
        except aio_pika.exceptions.ChannelPreconditionFailed:
            log.warning(
                "dead-letter queue %s was declared by an earlier version as a classic queue "
                "and is not replicated; replay or purge it (`adpilot dead-letters`), delete "
                "it, and restart the service to have it declared as a quorum queue",
                name,
            )
            return await channel.declare_queue(name, passive=True)
        finally:
            with contextlib.suppress(Exception):
                await probe.close()
        return await channel.declare_queue(name, durable=True, arguments=_DEAD_LETTER_QUEUE)

    async def declare_service_queues(
        self, channel: AbstractChannel, service: str, bindings: Iterable[str]
    ) -> AbstractQueue:
        """Declare the service's work queue and dead-letter queue, and bind the events."""
        dlq_name = dead_letter_queue_name(self.exchange_name, service)
        dlx = await channel.declare_exchange(
            f"{self.exchange_name}.dlx", aio_pika.ExchangeType.DIRECT, durable=True
        )
        dlq = await self._declare_dead_letter_queue(channel, dlq_name)
        await dlq.bind(dlx, routing_key=dlq_name)
        queue = await channel.declare_queue(
            queue_name(self.exchange_name, service),
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                # Our consumer dead-letters with the reason first; the broker's limit is
                # the backstop for a message that crashes the process before it can. It is
                # a constant because every service declares every queue, and RabbitMQ
                # refuses a second declaration with different arguments.
                "x-delivery-limit": BROKER_DELIVERY_LIMIT,
                "x-dead-letter-exchange": f"{self.exchange_name}.dlx",
                "x-dead-letter-routing-key": dlq_name,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            },
        )
        exchange = await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        for key in bindings:
            await queue.bind(exchange, routing_key=key)
        return queue

    async def queue_depth(self, name: str) -> int | None:
        """Messages ready in a queue, or None if it does not exist or the broker is away."""
        if not self.connected:
            return None
        try:
            async with asyncio.timeout(PEEK_SECONDS), self._peek_channel() as channel:
                queue = await channel.declare_queue(name, passive=True)
                return int(queue.declaration_result.message_count or 0)
        except Exception:  # a missing queue closes the channel: that is an answer too
            return None

    async def oldest_age(self, name: str) -> float | None:
        """Seconds since the message at the head of a dead-letter queue was dead-lettered;
        None if the queue is empty, missing, or the broker is away.

        The head is taken and handed straight back: in a classic queue it keeps its place.
        """
        if not self.connected:
            return None
        try:
            async with asyncio.timeout(PEEK_SECONDS), self._peek_channel() as channel:
                queue = await channel.declare_queue(name, passive=True)
                message = await queue.get(no_ack=False, fail=False)
                if message is None:
                    return None
                await message.nack(requeue=True)
        except Exception:
            return None
        since = dead_lettered_at(message.headers or {}, message.timestamp)
        if since is None:
            return None
        return max(0.0, (datetime.now(UTC) - since).total_seconds())

    @contextlib.asynccontextmanager
    async def _peek_channel(self) -> AsyncIterator[AbstractChannel]:
        # A plain (not robust) channel of its own: a failed look closes only it.
        channel = await self.connection.channel(publisher_confirms=False)
        try:
            yield channel
        finally:
            if not channel.is_closed:
                await channel.close()

    async def dead_letters(
        self, service: str, *, replay: bool = False, limit: int = 100
    ) -> list[dict[str, Any]]:
        """What sits in ``service``'s dead-letter queue: up to ``limit`` messages, with why.

        With ``replay`` each one is published again to the service's queue and removed;
        consumers that had already applied it skip it by its event id. See
        :mod:`shared.dead_letters` for more.
        """
        from shared import dead_letters

        if replay:
            letters = await dead_letters.replay(self.connection, self.exchange_name, service)
        else:
            found = await dead_letters.inspect(self.connection, self.exchange_name, service, limit)
            letters = [] if found is None else found.letters
        return [
            {"message_id": x.message_id, "routing_key": x.routing_key, "error": x.reason}
            for x in letters[:limit]
        ]

    async def delete_topology(self, services: Iterable[str]) -> None:
        """Remove a run's exchanges and queues (test runs clean up after themselves)."""
        names = [
            name
            for service in services
            for name in (
                queue_name(self.exchange_name, service),
                dead_letter_queue_name(self.exchange_name, service),
            )
        ]
        for name in names:
            # A failed operation closes its channel: one channel per deletion.
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                channel = await self.connection.channel()
                await channel.queue_delete(name, if_unused=False, if_empty=False)
                await channel.close()
        for exchange in (self.exchange_name, f"{self.exchange_name}.dlx"):
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                channel = await self.connection.channel()
                await channel.exchange_delete(exchange)
                await channel.close()
