"""`adpilot dead-letters list|replay|purge` against real RabbitMQ, with a real consumer
dead-lettering poison messages."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
import pytest

from shared.bus import Bus, dead_letter_queue_name, envelope_message, queue_name
from shared.config import Settings
from shared.consumer import Consumer, Subscriptions
from shared.contracts import SERVICES
from shared.contracts.gateway import METRICS_RECORDED
from shared.events import Envelope
from tests.conftest import schema_pool
from tests.e2e.platform import service_env
from tests.helpers import eventually

pytestmark = pytest.mark.integration

TENANT = uuid.UUID("00000000-0000-0000-0000-0000000000dd")


@pytest.fixture(scope="module")
async def own(settings: Settings) -> AsyncIterator[Settings]:
    """An exchange of its own: nothing else publishes to these queues or consumes them."""
    own = settings.model_copy(update={"exchange": f"{settings.exchange}.dl"})
    yield own
    bus = Bus(own.amqp_url, own.exchange)
    await bus.connect()
    try:
        await bus.delete_topology(SERVICES)
    finally:
        await bus.close()


@pytest.fixture
async def dl_bus(own: Settings) -> AsyncIterator[Bus]:
    bus = Bus(own.amqp_url, own.exchange)
    await bus.connect()
    channel = await bus.connection.channel()
    for name in (
        queue_name(own.exchange, "alerts"),
        dead_letter_queue_name(own.exchange, "alerts"),
    ):
        await (await channel.declare_queue(name, passive=True)).purge()
    await channel.close()
    yield bus
    await bus.close()


@pytest.fixture
async def alerts_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await schema_pool(settings, "alerts")
    yield pool
    await pool.close()


def alerts_consumer(bus: Bus, pool: asyncpg.Pool) -> Consumer:
    """The alerts service's consumer as far as poison goes: an event it cannot read is
    dead-lettered at once, with the reason."""
    subscriptions = Subscriptions("alerts")

    @subscriptions.subscriber(METRICS_RECORDED)
    async def never_called(*_: object) -> None:
        raise AssertionError("poison reached the handler")

    return Consumer(bus, pool, "alerts", subscriptions, max_deliveries=1)


async def send_to_alerts(bus: Bus, message: aio_pika.Message) -> None:
    """Straight into the alerts queue, as the exchange would route it there."""
    channel = await bus.connection.channel(publisher_confirms=True)
    try:
        await channel.default_exchange.publish(
            message, routing_key=queue_name(bus.exchange_name, "alerts")
        )
    finally:
        await channel.close()


def poison() -> Envelope:
    """A well-formed envelope whose payload breaks the contract of metrics.recorded."""
    return Envelope(type="metrics.recorded", tenant_id=TENANT, payload={"x": 1})


async def depth(bus: Bus, name: str) -> int | None:
    return await bus.queue_depth(name)


def adpilot(own: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as an operator runs it, with no terminal on stdin."""
    return subprocess.run(
        [sys.executable, "-m", "adpilot.cli", "dead-letters", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env=service_env(own),
    )


async def dead_lettered(bus: Bus, pool: asyncpg.Pool, *messages: aio_pika.Message) -> None:
    consumer = alerts_consumer(bus, pool)
    await consumer.start()
    try:
        dlq = dead_letter_queue_name(bus.exchange_name, "alerts")
        before = await depth(bus, dlq) or 0
        for message in messages:
            await send_to_alerts(bus, message)

        async def arrived() -> bool:
            return await depth(bus, dlq) == before + len(messages)

        await eventually(arrived, 15)
    finally:
        await consumer.stop()


async def test_list_shows_each_dead_letter_with_its_reason_and_counts_them_all(
    own: Settings, dl_bus: Bus, alerts_pool: asyncpg.Pool
) -> None:
    bad = poison()
    await dead_lettered(
        dl_bus, alerts_pool, envelope_message(bad), aio_pika.Message(b"not an envelope")
    )
    out = adpilot(own, "list", "--service", "alerts")
    assert out.returncode == 0, out.stderr
    (row,) = [line for line in out.stdout.splitlines() if str(bad.event_id) in line]
    assert row.startswith("alerts")
    assert "metrics.recorded" in row and "invalid metrics.recorded v1 payload" in row
    assert re.search(r"^alerts\s+\d+s\s", row), row  # its age, in seconds
    assert any("invalid envelope" in line for line in out.stdout.splitlines())
    assert re.search(r"^alerts: 2 dead letter\(s\), oldest \d+s$", out.stdout, re.M), out.stdout
    assert "2 dead letter(s) in all" in out.stdout
    # Listing takes nothing away.
    assert await depth(dl_bus, dead_letter_queue_name(own.exchange, "alerts")) == 2

    # Beyond --limit they are still counted.
    out = adpilot(own, "list", "--limit", "1")
    assert out.returncode == 0, out.stderr
    assert "alerts: 2 dead letter(s), oldest" in out.stdout and "(1 not shown" in out.stdout
    assert "2 dead letter(s) in all" in out.stdout
    assert await depth(dl_bus, dead_letter_queue_name(own.exchange, "alerts")) == 2


async def test_replay_sends_a_dead_letter_back_to_its_service(
    own: Settings, dl_bus: Bus, alerts_pool: asyncpg.Pool
) -> None:
    bad = poison()
    await dead_lettered(
        dl_bus, alerts_pool, envelope_message(bad), aio_pika.Message(b"not an envelope")
    )
    dlq = dead_letter_queue_name(own.exchange, "alerts")
    queue = queue_name(own.exchange, "alerts")

    out = adpilot(own, "replay", "--service", "alerts", "--id", str(bad.event_id))
    assert out.returncode == 0, out.stderr
    assert f"alerts    replayed metrics.recorded {bad.event_id}" in out.stdout
    assert "1 dead letter(s) replayed" in out.stdout
    # Back in the alerts queue (its consumer is stopped), the other one left where it was.
    assert await depth(dl_bus, queue) == 1
    assert await depth(dl_bus, dlq) == 1

    # Still poison: the service dead-letters it again, with the reason again.
    consumer = alerts_consumer(dl_bus, alerts_pool)
    await consumer.start()
    try:

        async def died_again() -> bool:
            return await depth(dl_bus, dlq) == 2 and await depth(dl_bus, queue) == 0

        await eventually(died_again, 15)
    finally:
        await consumer.stop()
    out = adpilot(own, "list", "--service", "alerts")
    (row,) = [line for line in out.stdout.splitlines() if str(bad.event_id) in line]
    assert "invalid metrics.recorded v1 payload" in row


async def test_purge_asks_first_and_refuses_without_a_terminal(
    own: Settings, dl_bus: Bus, alerts_pool: asyncpg.Pool
) -> None:
    await dead_lettered(dl_bus, alerts_pool, envelope_message(poison()))
    dlq = dead_letter_queue_name(own.exchange, "alerts")

    out = adpilot(own, "purge")
    assert out.returncode == 2
    assert "not purging 1 dead letter(s) (alerts 1) without confirmation" in out.stderr
    assert "Traceback" not in out.stderr
    assert await depth(dl_bus, dlq) == 1

    out = adpilot(own, "purge", "--yes")
    assert out.returncode == 0, out.stderr
    assert "1 dead letter(s) purged" in out.stdout
    assert await depth(dl_bus, dlq) == 0


async def test_purge_by_id_keeps_the_others(
    own: Settings, dl_bus: Bus, alerts_pool: asyncpg.Pool
) -> None:
    doomed, kept = poison(), poison()
    await dead_lettered(dl_bus, alerts_pool, envelope_message(doomed), envelope_message(kept))
    out = adpilot(own, "purge", "--yes", "--service", "alerts", "--id", str(doomed.event_id))
    assert out.returncode == 0, out.stderr
    assert "1 dead letter(s) purged" in out.stdout
    out = adpilot(own, "list")
    assert str(kept.event_id) in out.stdout and str(doomed.event_id) not in out.stdout
    assert "1 dead letter(s) in all" in out.stdout
