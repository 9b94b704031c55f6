"""Idempotent consumers: inbox in the same transaction, ack after commit, bounded retries."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue, ConsumerTag
from pydantic import BaseModel, ValidationError

from shared.bus import Bus
from shared.contracts import PATTERN_SUBSCRIPTIONS
from shared.contracts.spec import EventType
from shared.db import database_unavailable, scoped
from shared.events import Envelope
from shared.logs import correlation_id_var
from shared.retry import Backoff, retry

log = logging.getLogger(__name__)

P = TypeVar("P", bound=BaseModel)

# A handler runs inside the transaction that also records the event in the inbox, so its
# writes (and any outbox events it enqueues) commit exactly once with it. It receives the
# payload as its event's model; a pattern handler receives the envelope's payload as is.
Handler = Callable[[asyncpg.Connection, Envelope, Any], Awaitable[None]]


class NotSubscribed(ValueError):
    """A service registered a handler for an event its contract does not subscribe it to."""


class Undeliverable(ValueError):
    """An event no handler can take: a version nobody reads, or a payload that does not
    match its contract. Retrying cannot help, so it is dead-lettered at once."""


@dataclass(frozen=True)
class Subscription:
    handler: Callable[..., Awaitable[None]]
    event: EventType[Any] | None
    # The handler takes the running service first: it runs once bound to one.
    takes_service: bool = False

    def bound(self, service: Any) -> Subscription:
        if not self.takes_service:
            return self
        return Subscription(partial(self.handler, service), self.event)


class Subscriptions:
    """A service's table of event handlers, filled by decorating them.

    ``@subscriptions.subscriber(ALERT_RAISED)`` registers the handler for that event and
    version; the queue is bound to every event the contracts subscribe the service to, so a
    handler for an event the contract does not name is refused when it is declared.
    A handler that needs the running service is registered with
    :meth:`service_subscriber` and gets it from :meth:`bind`, as routes get theirs: no
    handler looks for a service in a global.
    """

    def __init__(self, service: str) -> None:
        self.service = service
        self._by_version: dict[tuple[str, int], Subscription] = {}
        self._patterns: dict[str, Subscription] = {}

    def subscriber(
        self, *events: EventType[Any]
    ) -> Callable[[Callable[[asyncpg.Connection, Envelope, P], Awaitable[None]]], Any]:
        def register(handler: Callable[[asyncpg.Connection, Envelope, P], Awaitable[None]]) -> Any:
            self._register(events, Subscription(handler, None))
            return handler

        self._check(events)
        return register

    def service_subscriber(
        self, *events: EventType[Any]
    ) -> Callable[[Callable[[Any, asyncpg.Connection, Envelope, P], Awaitable[None]]], Any]:
        """Like :meth:`subscriber`, for a handler that takes the running service first."""

        def register(
            handler: Callable[[Any, asyncpg.Connection, Envelope, P], Awaitable[None]],
        ) -> Any:
            self._register(events, Subscription(handler, None, takes_service=True))
            return handler

        self._check(events)
        return register

    def _check(self, events: tuple[EventType[Any], ...]) -> None:
        for event in events:
            if self.service not in event.subscribers:
                raise NotSubscribed(
                    f"{self.service} is not a subscriber of {event.name} in its contract"
                )

    def _register(self, events: tuple[EventType[Any], ...], subscription: Subscription) -> None:
        for event in events:
            if event.key in self._by_version:
                raise ValueError(f"{event.name} v{event.version} already has a handler")
            self._by_version[event.key] = dataclasses.replace(subscription, event=event)

    def pattern(self, pattern: str) -> Callable[[Handler], Handler]:
        """A handler for every event matching ``pattern`` (``#``, ``alert.*``)."""
        if pattern not in PATTERN_SUBSCRIPTIONS.get(self.service, ()):
            raise NotSubscribed(f"{self.service} does not subscribe to {pattern!r}")

        def register(handler: Handler) -> Handler:
            self._patterns[pattern] = Subscription(handler, None)
            return handler

        return register

    def include(self, *others: Subscriptions) -> Subscriptions:
        """Take in the handlers of ``others`` (each module of a service keeps its own)."""
        for other in others:
            if other.service != self.service:
                raise ValueError(f"{other.service}'s handlers cannot serve {self.service}")
            for key, subscription in other._by_version.items():
                if key in self._by_version:
                    raise ValueError(f"{key[0]} v{key[1]} already has a handler")
                self._by_version[key] = subscription
            self._patterns.update(other._patterns)
        return self

    def bind(self, service: Any) -> Subscriptions:
        """These subscriptions with ``service`` given to the handlers that take it."""
        bound = Subscriptions(self.service)
        bound._by_version = {k: s.bound(service) for k, s in self._by_version.items()}
        bound._patterns = {k: s.bound(service) for k, s in self._patterns.items()}
        return bound

    @property
    def routing_keys(self) -> tuple[str, ...]:
        return (*self._patterns, *sorted({name for name, _version in self._by_version}))

    def __bool__(self) -> bool:
        return bool(self._by_version or self._patterns)

    def resolve(self, envelope: Envelope) -> tuple[Handler, Any] | None:
        """The handler for ``envelope`` and the payload it takes; None if nobody here
        handles the type. Raises ``Undeliverable`` when no handler can ever take it."""
        exact = self._by_version.get((envelope.type, envelope.version))
        if exact is not None and exact.takes_service:
            raise RuntimeError(f"the handler of {envelope.type} needs the service: bind() first")
        if exact is not None and exact.event is not None:
            try:
                return exact.handler, exact.event.parse(envelope)
            except ValidationError as exc:
                raise Undeliverable(
                    f"invalid {envelope.type} v{envelope.version} payload: {exc.errors()[:5]}"
                ) from exc
        for pattern, subscription in self._patterns.items():
            if topic_matches(pattern, envelope.type):
                return subscription.handler, envelope.payload
        versions = sorted(v for name, v in self._by_version if name == envelope.type)
        if versions:
            raise Undeliverable(
                f"{envelope.type} v{envelope.version} has no handler here "
                f"(handled versions: {versions})"
            )
        return None


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: ``*`` is one word, ``#`` zero or more."""
    return _match(pattern.split("."), key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])


def delivery_count(message: AbstractIncomingMessage) -> int:
    """How many times this message was delivered before (quorum queues count it)."""
    raw = (message.headers or {}).get("x-delivery-count", 0)
    try:
        return int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


# While the database is away, an event is tried again at growing intervals up to 15 s.
OUTAGE_BACKOFF = Backoff(0.5, 15.0)
# A failed event waits a moment before going back, so a poison message cannot spin the
# queue; the broker then redelivers it, up to the consumer's ``max_deliveries``.
NACK_BACKOFF = Backoff(0.2, 3.0)


class Consumer:
    def __init__(
        self,
        bus: Bus,
        pool: asyncpg.Pool,
        service: str,
        subscriptions: Subscriptions,
        *,
        prefetch_count: int = 32,
        max_deliveries: int = 5,
        ordered: Collection[str] = (),
        on_outcome: Callable[[str, str], None] = lambda _type, _outcome: None,
        outage_backoff: Backoff = OUTAGE_BACKOFF,
        nack_backoff: Backoff = NACK_BACKOFF,
    ) -> None:
        self.bus = bus
        self.pool = pool
        self.service = service
        self.subscriptions = subscriptions
        self.prefetch_count = prefetch_count
        self.max_deliveries = max_deliveries
        # Event types applied one at a time per tenant, in delivery order (messages are
        # otherwise handled concurrently up to the prefetch count): one tenant's events wait
        # for each other, another tenant's go on meanwhile.
        self.ordered = frozenset(ordered)
        self.on_outcome = on_outcome
        self.outage_backoff = outage_backoff
        self.nack_backoff = nack_backoff
        # Per (event type, tenant): its lock and how many messages hold or wait for it, so
        # that the lock goes away with the last of them.
        self._order_locks: dict[tuple[str, UUID], tuple[asyncio.Lock, int]] = {}
        self.dead_lettered = 0
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: ConsumerTag | None = None
        self._stopping = False
        self._in_flight: set[asyncio.Task[object]] = set()

    async def start(self) -> None:
        self._channel = await self.bus.connection.channel(publisher_confirms=True)
        await self._channel.set_qos(prefetch_count=self.prefetch_count)
        queue = await self.bus.declare_service_queues(
            self._channel, self.service, self.subscriptions.routing_keys
        )
        self._queue = queue
        self._tag = await queue.consume(self._on_message)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking messages, finish those in hand (up to ``grace`` s), then close.

        A message not finished by then is left unacked: the broker hands it out again when
        the channel closes, and the inbox makes the second run harmless."""
        self._stopping = True
        if self._queue is not None and self._tag is not None and not self._channel_closed:
            try:
                await self._queue.cancel(self._tag, timeout=min(grace, 1.0))
            except Exception as exc:
                log.warning("could not cancel the consumer", extra={"error": repr(exc)})
        self._tag = None
        if self._in_flight:
            _done, late = await asyncio.wait(set(self._in_flight), timeout=grace)
            if late:
                log.warning("messages still in hand at shutdown", extra={"count": len(late)})
                for task in late:
                    task.cancel()
                await asyncio.wait(late)
        if not self._channel_closed:
            assert self._channel is not None
            await self._channel.close()

    @property
    def _channel_closed(self) -> bool:
        return self._channel is None or self._channel.is_closed

    async def _dead_letter(
        self, message: AbstractIncomingMessage, reason: str, event_type: str | None = None
    ) -> None:
        """Move ``message`` to the dead-letter queue and count it, whatever the reason: the
        count follows the broker's confirm, so a lost ack cannot lose it (the redelivery is
        then skipped by the inbox or dead-lettered, and counted, again)."""
        await self.bus.dead_letter(
            self.service,
            message.body,
            {
                "x-error": reason[:1000],
                "x-original-routing-key": message.routing_key or "",
                "x-service": self.service,
                "x-deliveries": delivery_count(message) + 1,
            },
            message_id=message.message_id,
            type=message.type,
            content_type=message.content_type,
        )
        self.dead_lettered += 1
        self.on_outcome(event_type or message.routing_key or "unknown", "dead_lettered")
        await message.ack()
        log.error(
            "dead-lettered event",
            extra={"routing_key": message.routing_key, "reason": reason[:300]},
        )

    async def process(self, envelope: Envelope) -> bool:
        """Apply one event exactly once. Returns False when it had already been applied."""
        resolved = self.subscriptions.resolve(envelope)
        # Events carry their tenant; the handler acts within it and nowhere else.
        async with scoped(self.pool, envelope.tenant_id) as conn:
            first = await conn.fetchval(
                """INSERT INTO inbox (event_id, consumer, event_type, tenant_id)
                   VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true""",
                envelope.event_id,
                self.service,
                envelope.type,
                envelope.tenant_id,
            )
            if not first:
                return False
            if resolved is not None:
                handler, payload = resolved
                await handler(conn, envelope, payload)
        return True

    async def _process_patiently(self, envelope: Envelope) -> bool:
        """Apply the event, waiting out database outages.

        An outage is no fault of the event: counting it as a failed attempt would
        dead-letter everything in flight during a restart. The message stays unacked
        meanwhile, so a crash still hands it back to the broker.
        """

        def waiting(_exc: BaseException) -> None:
            self.on_outcome(envelope.type, "waiting")

        return await retry(
            lambda: self.process(envelope),
            what=f"applying {envelope.type} (database unavailable)",
            log=log,
            policy=self.outage_backoff,
            when=database_unavailable,
            on_retry=waiting,
        )

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        if self._stopping:
            return  # left unacked: the broker gives it to another consumer, or to us later
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            await self._handle(message)
        finally:
            self._in_flight.discard(task)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = Envelope.from_bytes(message.body)
        except ValidationError as exc:
            await self._dead_letter(message, f"invalid envelope: {exc.errors()[:3]}")
            return
        token = correlation_id_var.set(str(envelope.correlation_id))
        try:
            if envelope.type in self.ordered:
                # asyncio.Lock wakes waiters first-in, first-out, and a message reaches it
                # without awaiting anything before: each tenant's delivery order is kept.
                async with self._in_order((envelope.type, envelope.tenant_id)):
                    if self._stopping:
                        return  # not started yet: left unacked for the next consumer
                    applied = await self._process_patiently(envelope)
            else:
                applied = await self._process_patiently(envelope)
        except Undeliverable as exc:
            await self._dead_letter(message, str(exc), envelope.type)
        except Exception as exc:
            attempt = delivery_count(message) + 1
            if attempt >= self.max_deliveries:
                await self._dead_letter(message, f"{exc.__class__.__name__}: {exc}", envelope.type)
                return
            self.on_outcome(envelope.type, "retried")
            log.warning(
                "event handler failed; will retry",
                extra={"type": envelope.type, "attempt": attempt, "error": repr(exc)},
            )
            await asyncio.sleep(self.nack_backoff.delay(attempt))
            await message.nack(requeue=True)
        else:
            await self._ack_applied(message, envelope, applied)
        finally:
            correlation_id_var.reset(token)

    @contextlib.asynccontextmanager
    async def _in_order(self, key: tuple[str, UUID]) -> AsyncIterator[None]:
        lock, users = self._order_locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._order_locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._order_locks[key]
            if users == 1:
                del self._order_locks[key]
            else:
                self._order_locks[key] = (lock, users - 1)

    async def _ack_applied(
        self, message: AbstractIncomingMessage, envelope: Envelope, applied: bool
    ) -> None:
        """Ack what has committed. An ack lost with the channel is no failure of the event:
        the broker delivers it again and the inbox skips it."""
        try:
            await message.ack()
        except Exception as exc:
            log.warning(
                "could not ack a committed event; it will be redelivered and skipped",
                extra={"type": envelope.type, "error": repr(exc)},
            )
            return
        self.on_outcome(envelope.type, "applied" if applied else "duplicate")


async def events_consumed(conn: asyncpg.Connection, consumer: str) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", consumer))
