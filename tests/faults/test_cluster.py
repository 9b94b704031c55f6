"""A three-node RabbitMQ cluster on this machine: the services' quorum queues are
replicated on every node, and when one node dies mid-stream nothing is lost and the
services carry on with the two left.

The services reach the cluster as they would in production, through one address in front
of it (a load balancer, or a managed broker's endpoint): here a small TCP forwarder that
sends each new connection to the next node that accepts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from adpilot.registry import migration_folders
from shared.bus import queue_name
from shared.config import Settings
from shared.contracts import SERVICES, topology
from shared.db import migrate_all
from tests.e2e.platform import Platform
from tests.e2e.test_act import Account, open_account
from tests.faults.conftest import FULL_ONLY, fault_settings, log_dir
from tests.faults.ledger import Ledger, Stream, settled_audit
from tests.faults.servers import PrivatePostgres, RabbitCluster, missing_servers
from tests.infra import free_port

pytestmark = [pytest.mark.faults, getattr(pytest.mark, FULL_ONLY)]


class Forwarder:
    """One TCP address for the cluster: each connection goes to the next node that
    answers, so a client that reconnects after losing its node lands on another."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.port = free_port()
        self._turn = itertools.cycle(range(len(ports)))
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in self.ports:
            port = self.ports[next(self._turn)]
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            for pipe in (self._pipe(reader, up_writer), self._pipe(up_reader, writer)):
                task = asyncio.create_task(pipe)
                self._pipes.add(task)
                task.add_done_callback(self._pipes.discard)
            return
        writer.close()

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                sink.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RabbitCluster]:
    if reason := missing_servers():
        pytest.skip(reason)
    nodes = RabbitCluster(3).start()
    try:
        yield nodes
    finally:
        nodes.remove()


@pytest.fixture(scope="module")
async def forwarder(cluster: RabbitCluster) -> AsyncIterator[Forwarder]:
    front = Forwarder([node.port for node in cluster.nodes])
    await front.start()
    yield front
    await front.close()


@pytest.fixture(scope="module")
def cluster_logs(request: pytest.FixtureRequest) -> Iterator[Path]:
    yield from log_dir(request, "cluster")


@pytest.fixture(scope="module")
async def clustered(
    postgres: PrivatePostgres, forwarder: Forwarder, cluster_logs: Path
) -> AsyncIterator[Platform]:
    settings = fault_settings(postgres.url, f"amqp://guest:guest@127.0.0.1:{forwarder.port}/")
    await migrate_all(settings.database_url, migration_folders())
    platform = Platform(settings, cluster_logs)
    try:
        await platform.start_all()
        yield platform
    finally:
        await platform.stop_all()


@pytest.fixture
async def cluster_account(clustered: Platform) -> AsyncIterator[Account]:
    settings: Settings = clustered.settings
    async for opened in open_account(clustered, settings, seed=4242, campaigns=6):
        await opened.act_on_certain(
            {"cooldown_hours": 0, "budget": {"max_step_share": 0.5, "max_daily_share": 1.0}}
        )
        yield opened


def members(cluster: RabbitCluster, exchange: str) -> dict[str, list[str]]:
    """Each service's work queue, and the nodes holding a replica of it."""
    alive = next(n for n in cluster.nodes if n.node in cluster.running_nodes())
    listed = json.loads(alive.ctl("list_queues", "name", "type", "members", "--formatter", "json"))
    wanted = {queue_name(exchange, s) for s in topology()}
    return {
        q["name"]: sorted(q.get("members") or [])
        for q in listed
        if q["name"] in wanted and q["type"] == "quorum"
    }


async def test_quorum_queues_replicate_on_every_node(
    cluster: RabbitCluster, clustered: Platform
) -> None:
    replicas = members(cluster, clustered.settings.exchange)
    assert set(replicas) == {queue_name(clustered.settings.exchange, s) for s in topology()}
    every = sorted(node.node for node in cluster.nodes)
    assert {name: every for name in replicas} == replicas


async def test_one_node_killed_mid_stream(
    cluster: RabbitCluster, clustered: Platform, cluster_account: Account
) -> None:
    ledger = Ledger()
    stream = Stream(clustered.gateway, cluster_account, ledger)
    await stream.start()
    victim = cluster.nodes[0]  # where the queues were first declared
    try:
        await stream.accepted(10)
        await asyncio.to_thread(victim.kill)
        assert victim.node not in cluster.running_nodes()
        # The node stays down: the rest of the stream runs on the two left.
        await stream.accepted(len(ledger.accepted_decisions) + 20, within=120)
    finally:
        await stream.stop()
    report = await settled_audit(ledger, clustered.settings.database_url, cluster_account)
    print(f"{report.summary()}; answers {dict(ledger.answers())}")
    assert report.problems() == {}, report.summary()
    for name in SERVICES:
        assert clustered.processes[name].returncode is None, clustered.log_of(name)[-2000:]
    await asyncio.to_thread(victim.start)
