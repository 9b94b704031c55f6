"""Outbox, idempotent consumer and dead letters on real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import asyncpg
import pytest

from shared.bus import Bus, dead_letter_queue_name, queue_name
from shared.config import Settings
from shared.consumer import Consumer, Handler, Subscriptions
from shared.contracts.spec import EventPayload, EventType
from shared.db import connect, migrate_schema, scoped
from shared.events import Envelope
from shared.outbox import OutboxRelay, backlog, enqueue, enqueue_many
from shared.retry import Backoff
from shared.telemetry import Telemetry
from tests.conftest import schema_pool
from tests.helpers import eventually

pytestmark = pytest.mark.integration

TENANT = uuid.UUID("00000000-0000-0000-0000-0000000000aa")


@pytest.fixture(scope="module")
async def probe_pool(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[asyncpg.Pool]:
    folder: Path = tmp_path_factory.mktemp("probe_migrations")
    (folder / "001_effects.sql").write_text(
        "CREATE TABLE effects (event_id uuid NOT NULL, note text NOT NULL);"
    )
    conn = await connect(settings.database_url)
    try:
        await migrate_schema(conn, "probe", folder)
    finally:
        await conn.close()
    pool = await schema_pool(settings, "probe")
    yield pool
    await pool.close()


@contextlib.asynccontextmanager
async def tap(
    bus: Bus, pattern: str = "probe.#"
) -> AsyncIterator[asyncio.Queue[aio_pika.abc.AbstractIncomingMessage]]:
    """A throwaway queue that sees every event matching ``pattern``."""
    channel = await bus.connection.channel()
    exchange = await channel.get_exchange(bus.exchange_name)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key=pattern)
    received: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        await message.ack()
        await received.put(message)

    await queue.consume(on_message)
    try:
        yield received
    finally:
        await channel.close()


class Note(EventPayload):
    note: str


# An event of the test's own, that only the test's "probe" consumer subscribes to.
PROBE_NOTED = EventType("probe.noted", Note, ("probe",), subscribers=("probe",))


def probe_event(note: str = "hello") -> Envelope:
    return PROBE_NOTED.envelope({"note": note}, tenant_id=TENANT, source="probe")


def handling(handler: Handler) -> Subscriptions:
    subscriptions = Subscriptions("probe")
    subscriptions.subscriber(PROBE_NOTED)(handler)
    return subscriptions


async def test_outbox_relay_publishes_committed_events_only(
    settings: Settings, bus: Bus, probe_pool: asyncpg.Pool
) -> None:
    relay = OutboxRelay(probe_pool, bus, "probe", poll_seconds=5)
    committed, rolled_back = probe_event("kept"), probe_event("dropped")
    async with tap(bus) as received:
        task = asyncio.create_task(relay.run())
        try:
            await asyncio.sleep(0.2)  # let the relay LISTEN before we write
            with contextlib.suppress(RuntimeError):
                async with scoped(probe_pool, TENANT) as conn:
                    await enqueue(conn, rolled_back)
                    raise RuntimeError("abort")
            async with scoped(probe_pool, TENANT) as conn:
                await enqueue(conn, committed)
            # Well under the 5 s poll: NOTIFY woke the relay.
            message = await asyncio.wait_for(received.get(), 2)

            async def drained() -> bool:
                async with scoped(probe_pool, system=True) as conn:
                    return await backlog(conn) == 0

            await eventually(drained, 2)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    got = Envelope.from_bytes(message.body)
    assert got.event_id == committed.event_id
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert received.empty()
    async with scoped(probe_pool, TENANT) as conn:
        published = await conn.fetchval(
            "SELECT published_at IS NOT NULL FROM outbox WHERE event_id = $1", committed.event_id
        )
        assert published is True
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE event_id = $1", rolled_back.event_id
            )
            == 0
        )


async def test_outbox_keeps_rows_while_broker_refuses(
    settings: Settings, probe_pool: asyncpg.Pool
) -> None:
    closed = Bus(settings.amqp_url, settings.exchange)  # never connected: publishing fails
    relay = OutboxRelay(probe_pool, closed, "probe")
    event = probe_event()
    async with scoped(probe_pool, TENANT) as conn:
        await enqueue(conn, event)
    with pytest.raises(Exception, match="not connected"):
        await relay.publish_pending()
    async with scoped(probe_pool, TENANT) as conn:
        assert await conn.fetchval(
            "SELECT published_at IS NULL FROM outbox WHERE event_id = $1", event.event_id
        )
        await conn.execute("DELETE FROM outbox WHERE event_id = $1", event.event_id)


async def test_consumer_applies_each_event_once_and_dead_letters_poison(
    settings: Settings, bus: Bus, probe_pool: asyncpg.Pool
) -> None:
    attempts: dict[str, int] = {}

    async def handler(conn: asyncpg.Connection, event: Envelope, _note: Note) -> None:
        note = event.payload["note"]
        attempts[note] = attempts.get(note, 0) + 1
        await conn.execute(
            "INSERT INTO effects (event_id, note) VALUES ($1, $2)", event.event_id, note
        )
        if note == "poison":
            raise ValueError("cannot digest this")

    consumer = Consumer(bus, probe_pool, "probe", handling(handler), max_deliveries=3)
    await consumer.start()
    try:
        good = probe_event("good")
        poison = probe_event("poison")
        await bus.publish(good)
        await bus.publish(good)  # a redelivery of the same event
        await bus.publish(poison)
        after = probe_event("after")
        await bus.publish(after)
        await bus.publish_raw("probe.noted", b"not an envelope")
        # A well-formed envelope whose payload lacks what the contract requires.
        await bus.publish(Envelope(type="probe.noted", tenant_id=TENANT, payload={"x": 1}))

        async def settled() -> bool:
            depth = await bus.queue_depth(dead_letter_queue_name(settings.exchange, "probe"))
            return depth == 3 and attempts.get("after") == 1

        await eventually(settled, 15)
        async with scoped(probe_pool, TENANT) as conn:
            notes = [r["note"] for r in await conn.fetch("SELECT note FROM effects ORDER BY note")]
            inbox = await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'probe'")
        # The duplicate was skipped; the poison's writes rolled back every time.
        assert notes == ["after", "good"]
        assert inbox == 2
        assert attempts["poison"] == 3
        assert consumer.dead_lettered == 3
    finally:
        await consumer.stop()

    channel = await bus.connection.channel()
    dlq = await channel.declare_queue(
        dead_letter_queue_name(settings.exchange, "probe"), passive=True
    )
    reasons = []
    for _ in range(3):
        message = await dlq.get(timeout=5)
        assert message is not None
        reasons.append(str(message.headers["x-error"]))
        await message.ack()
    await channel.close()
    assert any("ValueError: cannot digest this" in r for r in reasons)
    assert any("invalid envelope" in r for r in reasons)
    # The validation error is the reason, and the field it names.
    assert any("invalid probe.noted v1 payload" in r and "note" in r for r in reasons)


async def test_a_database_outage_holds_events_instead_of_dead_lettering_them(
    settings: Settings, bus: Bus, probe_pool: asyncpg.Pool
) -> None:
    outage = {"left": 5}  # more refusals than max_deliveries (3) allows failures

    async def handler(conn: asyncpg.Connection, event: Envelope, _note: Note) -> None:
        if outage["left"]:
            outage["left"] -= 1
            raise ConnectionRefusedError("database restarting")
        await conn.execute(
            "INSERT INTO effects (event_id, note) VALUES ($1, $2)", event.event_id, "survived"
        )

    consumer = Consumer(
        bus,
        probe_pool,
        "probe",
        handling(handler),
        max_deliveries=3,
        outage_backoff=Backoff(0.05, 0.2),
    )
    dlq = dead_letter_queue_name(settings.exchange, "probe")
    before = await bus.queue_depth(dlq)
    await consumer.start()
    try:
        event = probe_event("outage")
        await bus.publish(event)

        async def applied() -> bool:
            async with scoped(probe_pool, TENANT) as conn:
                return bool(
                    await conn.fetchval("SELECT 1 FROM effects WHERE event_id = $1", event.event_id)
                )

        await eventually(applied, 30)
    finally:
        await consumer.stop()
    assert outage["left"] == 0
    assert consumer.dead_lettered == 0
    assert await bus.queue_depth(dlq) == before


async def test_dead_letters_can_be_listed_and_replayed(
    settings: Settings, bus: Bus, probe_pool: asyncpg.Pool
) -> None:
    fixed = {"yet": False}

    async def handler(conn: asyncpg.Connection, event: Envelope, _note: Note) -> None:
        if not fixed["yet"]:
            raise ValueError("bug in the handler")
        await conn.execute(
            "INSERT INTO effects (event_id, note) VALUES ($1, 'replayed')", event.event_id
        )

    consumer = Consumer(bus, probe_pool, "probe", handling(handler), max_deliveries=2)
    await consumer.start()
    try:
        event = probe_event("later")
        await bus.publish(event)

        async def dead() -> list[dict[str, object]]:
            found = await bus.dead_letters("probe")
            return [f for f in found if f["message_id"] == str(event.event_id)]

        (letter,), _ = await eventually(dead, 15)
        assert letter["routing_key"] == event.type
        assert "ValueError: bug in the handler" in str(letter["error"])
        # Listing leaves it where it is.
        assert await dead()
        fixed["yet"] = True
        replayed = await bus.dead_letters("probe", replay=True)
        assert str(event.event_id) in {r["message_id"] for r in replayed}

        async def applied() -> bool:
            async with scoped(probe_pool, TENANT) as conn:
                return bool(
                    await conn.fetchval("SELECT 1 FROM effects WHERE event_id = $1", event.event_id)
                )

        await eventually(applied, 10)
        assert await dead() == []
    finally:
        await consumer.stop()


async def test_events_wait_for_consumers_that_have_not_started_yet(
    settings: Settings, bus: Bus
) -> None:
    from shared.bus import queue_name

    # Connecting declared every service's queue, so nothing is unroutable.
    name = queue_name(settings.exchange, "optimizer")
    before = await bus.queue_depth(name)
    assert before is not None
    await bus.publish(Envelope(type="decision.made", tenant_id=TENANT, payload={"id": "x"}))

    async def queued() -> bool:
        return await bus.queue_depth(name) == before + 1

    await eventually(queued, 5)


async def test_an_invalid_outbox_row_is_parked_and_the_rest_flow(
    bus: Bus, probe_pool: asyncpg.Pool
) -> None:
    relay = OutboxRelay(probe_pool, bus, "probe")
    good = probe_event("behind the bad one")
    async with scoped(probe_pool, TENANT) as conn:
        bad_id = await conn.fetchval(
            """INSERT INTO outbox (event_id, tenant_id, routing_key, body)
               VALUES ($1, $2, 'probe.bad', '{"type": ""}') RETURNING id""",
            uuid.uuid4(),
            TENANT,
        )
        await enqueue(conn, good)
    async with tap(bus) as received:
        assert await relay.publish_pending() >= 2
        message = await asyncio.wait_for(received.get(), 2)
    assert Envelope.from_bytes(message.body).event_id == good.event_id
    async with scoped(probe_pool, TENANT) as conn:
        bad = await conn.fetchrow(
            "SELECT published_at, attempts, last_error FROM outbox WHERE id = $1", bad_id
        )
        assert bad["published_at"] is None and bad["attempts"] == 10
        assert "invalid envelope" in bad["last_error"]
        await conn.execute("DELETE FROM outbox WHERE id = $1", bad_id)


async def test_a_connection_lost_mid_transaction_is_waited_out(
    settings: Settings, bus: Bus, probe_pool: asyncpg.Pool
) -> None:
    calls = {"n": 0}

    async def handler(conn: asyncpg.Connection, event: Envelope, _note: Note) -> None:
        calls["n"] += 1
        await conn.execute(
            "INSERT INTO effects (event_id, note) VALUES ($1, 'half')", event.event_id
        )
        if calls["n"] == 1:
            # The server drops this very session, as a restart or failover would.
            await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    consumer = Consumer(
        bus,
        probe_pool,
        "probe",
        handling(handler),
        max_deliveries=1,
        outage_backoff=Backoff(0.05, 0.2),
    )
    await consumer.start()
    try:
        event = probe_event("terminated")
        await bus.publish(event)

        async def applied() -> int:
            async with scoped(probe_pool, TENANT) as conn:
                return int(
                    await conn.fetchval(
                        "SELECT count(*) FROM effects WHERE event_id = $1", event.event_id
                    )
                )

        count, _ = await eventually(applied, 15)
    finally:
        await consumer.stop()
    # Applied once, after the lost attempt(s) rolled back; never dead-lettered, though one
    # delivery was all it was allowed. (The pool may need a second try to hand out a live
    # connection, so the handler can run more than twice.)
    assert count == 1 and calls["n"] >= 2
    assert consumer.dead_lettered == 0


async def test_housekeeping_removes_only_what_is_done_with(probe_pool: asyncpg.Pool) -> None:
    from shared.housekeeping import sweep

    old_out, new_out, pending = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    old_in, new_in = uuid.uuid4(), uuid.uuid4()
    async with scoped(probe_pool, system=True) as conn:
        for event_id, published in (
            (old_out, "now() - interval '2 days'"),
            (new_out, "now()"),
            (pending, "NULL"),
        ):
            await conn.execute(
                f"""INSERT INTO outbox (event_id, tenant_id, routing_key, body, created_at,
                        published_at)
                    VALUES ($1, $2, 'probe.x', '{{}}', now() - interval '3 days', {published})""",
                event_id,
                TENANT,
            )
        for event_id, processed in ((old_in, "now() - interval '8 days'"), (new_in, "now()")):
            await conn.execute(
                f"""INSERT INTO inbox (event_id, consumer, event_type, tenant_id, processed_at)
                    VALUES ($1, 'probe', 'probe.x', $2, {processed})""",
                event_id,
                TENANT,
            )
        for key, made in (("old-key", "now() - interval '25 hours'"), ("new-key", "now()")):
            await conn.execute(
                f"""INSERT INTO request_keys (tenant_id, key, status, body, created_at)
                    VALUES ($1, $2, 201, '{{}}', {made})""",
                TENANT,
                key,
            )
        swept = await sweep(conn)
        assert swept.outbox >= 1 and swept.inbox >= 1 and swept.request_keys >= 1
        left_keys = {r["key"] for r in await conn.fetch("SELECT key FROM request_keys")}
        await conn.execute("DELETE FROM request_keys WHERE key = 'new-key'")
        left_out = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM outbox")}
        left_in = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM inbox")}
        await conn.execute(
            "DELETE FROM outbox WHERE event_id = ANY($1::uuid[])", [new_out, pending]
        )
    # Unpublished rows stay whatever their age; recent ones stay too.
    assert old_out not in left_out and {new_out, pending} <= left_out
    assert old_in not in left_in and new_in in left_in
    assert "old-key" not in left_keys and "new-key" in left_keys


async def test_a_stopping_consumer_finishes_what_it_holds_and_takes_nothing_new(
    bus: Bus, probe_pool: asyncpg.Pool, settings: Settings
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def handler(conn: asyncpg.Connection, event: Envelope, _note: Note) -> None:
        if event.payload["note"] == "in hand":
            started.set()
            await release.wait()
        await conn.execute(
            "INSERT INTO effects (event_id, note) VALUES ($1, $2)",
            event.event_id,
            event.payload["note"],
        )

    consumer = Consumer(bus, probe_pool, "probe", handling(handler))
    in_hand, later = probe_event("in hand"), probe_event("later")
    await consumer.start()
    await bus.publish(in_hand)
    await asyncio.wait_for(started.wait(), 10)
    stopping = asyncio.create_task(consumer.stop(grace=10))
    await asyncio.sleep(0.2)  # the consumer is cancelled at the broker by now
    await bus.publish(later)
    assert not stopping.done(), "stop() must wait for the message in hand"
    release.set()
    await asyncio.wait_for(stopping, 10)

    async def applied(event: Envelope) -> bool:
        async with scoped(probe_pool, TENANT) as conn:
            return bool(
                await conn.fetchval(
                    "SELECT count(*) FROM effects WHERE event_id = $1", event.event_id
                )
            )

    assert await applied(in_hand)
    assert not await applied(later)
    # What it did not take waits in the queue for the next consumer.
    assert await bus.queue_depth(queue_name(settings.exchange, "probe")) == 1
    successor = Consumer(bus, probe_pool, "probe", handling(handler))
    await successor.start()
    try:
        await eventually(lambda: applied(later), 10)
    finally:
        await successor.stop()


async def test_a_stopped_relay_lets_go_of_its_listener_and_flushes_what_is_left(
    bus: Bus, probe_pool: asyncpg.Pool, recwarn: pytest.WarningsRecorder
) -> None:
    relay = OutboxRelay(probe_pool, bus, "probe", poll_seconds=30)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0.2)
    relay.stop()
    # It returns by itself, well before its next poll, and not by being cancelled.
    await asyncio.wait_for(task, 2)
    # asyncpg warns when a connection goes back to the pool still listening.
    assert not [w for w in recwarn if "listener" in str(w.message)]

    left = [probe_event("left behind") for _ in range(3)]
    async with tap(bus) as received:
        async with scoped(probe_pool, TENANT) as conn:
            for event in left:
                await enqueue(conn, event)
        assert await relay.flush() >= 3
        got = set()
        while not {e.event_id for e in left} <= got:
            message = await asyncio.wait_for(received.get(), 2)
            got.add(Envelope.from_bytes(message.body).event_id)


async def test_events_dead_lettered_for_a_bad_envelope_are_counted(
    settings: Settings, bus: Bus, probe_pool: asyncpg.Pool
) -> None:
    telemetry = Telemetry("probe")

    async def handler(_conn: asyncpg.Connection, _event: Envelope, _note: Note) -> None:
        raise AssertionError("no bad envelope reaches a handler")

    consumer = Consumer(bus, probe_pool, "probe", handling(handler), on_outcome=telemetry.event)
    dlq = dead_letter_queue_name(settings.exchange, "probe")
    await consumer.start()
    try:
        await bus.publish_raw("probe.noted", b"{not json")
        await bus.publish_raw("probe.noted", b'{"type": "probe.noted"}')  # no tenant

        async def both() -> bool:
            return consumer.dead_lettered == 2

        await eventually(both, 10)
    finally:
        await consumer.stop()
    counted = sum(
        sample.value
        for metric in telemetry.registry.collect()
        if metric.name == "adpilot_events"
        for sample in metric.samples
        if sample.name == "adpilot_events_total" and sample.labels["outcome"] == "dead_lettered"
    )
    assert counted == 2
    # The oldest dead letter's age is read from the head of the queue, which stays there.
    depth = await bus.queue_depth(dlq)
    age = await bus.oldest_age(dlq)
    assert age is not None and 0 <= age < 60
    assert await bus.queue_depth(dlq) == depth
    channel = await bus.connection.channel()
    try:
        queue = await channel.declare_queue(dlq, passive=True)
        await queue.purge()
    finally:
        await channel.close()


async def _applied(pool: asyncpg.Pool, event: Envelope) -> bool:
    async with scoped(pool, event.tenant_id) as conn:
        return bool(
            await conn.fetchval("SELECT count(*) FROM effects WHERE event_id = $1", event.event_id)
        )


async def test_ordered_events_wait_for_their_own_tenant_only(
    bus: Bus, probe_pool: asyncpg.Pool
) -> None:
    release = asyncio.Event()
    started: list[str] = []
    ours = {"first of a", "second of a", "only of b"}

    async def handler(conn: asyncpg.Connection, event: Envelope, note: Note) -> None:
        if note.note in ours:  # the queue may still hold other tests' events
            started.append(note.note)
        if note.note == "first of a":
            await release.wait()
        await conn.execute(
            "INSERT INTO effects (event_id, note) VALUES ($1, $2)", event.event_id, note.note
        )

    other = uuid.UUID("00000000-0000-0000-0000-0000000000bb")
    first, second = probe_event("first of a"), probe_event("second of a")
    elsewhere = PROBE_NOTED.envelope({"note": "only of b"}, tenant_id=other, source="probe")
    consumer = Consumer(
        bus, probe_pool, "probe", handling(handler), ordered=frozenset({PROBE_NOTED.name})
    )
    await consumer.start()
    try:
        for event in (first, second, elsewhere):
            await bus.publish(event)
        # The other tenant's event goes through while the first tenant's is held...
        await eventually(lambda: _applied(probe_pool, elsewhere), 10)
        # ...and the first tenant's second event waits for its first.
        assert sorted(started) == ["first of a", "only of b"]
        assert not await _applied(probe_pool, second)
        release.set()
        await eventually(lambda: _applied(probe_pool, second), 10)
        assert started[-1] == "second of a" and len(started) == 3
        assert consumer._order_locks == {}, "the locks go with the last message that used them"
    finally:
        release.set()
        await consumer.stop()


async def test_enqueued_together_events_are_published_in_the_order_given(
    bus: Bus, probe_pool: asyncpg.Pool
) -> None:
    events = [probe_event(f"batch {i}") for i in range(5)]
    relay = OutboxRelay(probe_pool, bus, "probe")
    async with tap(bus) as received:
        async with scoped(probe_pool, TENANT) as conn:
            await enqueue_many(conn, events)
            await enqueue_many(conn, [])  # nothing to write is no error
        await relay.flush()
        ours = {e.event_id for e in events}
        got: list[Envelope] = []
        while len(got) < len(events):  # other tests' rows may go out with ours
            message = await asyncio.wait_for(received.get(), 5)
            if (envelope := Envelope.from_bytes(message.body)).event_id in ours:
                got.append(envelope)
    assert [e.event_id for e in got] == [e.event_id for e in events]
    assert [e.payload for e in got] == [e.payload for e in events]
    async with scoped(probe_pool, system=True) as conn:
        rows = await conn.fetch(
            "SELECT event_id, routing_key, tenant_id FROM outbox "
            "WHERE event_id = ANY($1::uuid[]) ORDER BY id",
            [e.event_id for e in events],
        )
    assert [r["event_id"] for r in rows] == [e.event_id for e in events]
    assert {(r["routing_key"], r["tenant_id"]) for r in rows} == {(PROBE_NOTED.name, TENANT)}
