"""The fault suite's own servers and platform: a PostgreSQL cluster and a RabbitMQ node
started for the session on ports of their own, so the tests may stop, kill and restart
them; the four services and the sandbox as processes pointed at them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from adpilot.registry import migration_folders
from shared.bus import queue_name
from shared.config import Settings
from shared.contracts import SERVICES
from shared.db import migrate_all
from tests.e2e.platform import Platform
from tests.e2e.test_act import Account, open_account
from tests.faults.servers import PrivatePostgres, RabbitCluster, _alive, missing_servers
from tests.infra import private_settings, run_id

# Tests that only the fault run (`pytest -m faults`) takes: they start servers of their
# own at length (a three-node cluster) or hold faults for long.
FULL_ONLY = "faults_full"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    asked = (
        "faults" in (config.getoption("markexpr") or "")
        or os.environ.get("ADPILOT_FAULTS") == "all"
    )
    for item in items:
        if here not in item.path.parents:
            continue
        item.add_marker(pytest.mark.faults)
        if item.get_closest_marker(FULL_ONLY) and not asked:
            item.add_marker(
                pytest.mark.skip(reason="long fault scenario: run with `pytest -m faults`")
            )


def fault_settings(database_server: str, amqp_url: str, **overrides: object) -> Settings:
    return private_settings(
        database_server,
        amqp_url,
        f"faults.{run_id()}",
        outbox_poll_seconds=0.5,
        max_deliveries=3,
        heartbeat_seconds=1.0,
        rate_limit_per_minute=60_000,
        rate_limit_burst=5_000,
        # The engine's own cycles would only add recommendations the ledger ignores.
        cycle_interval_seconds=600.0,
        **overrides,
    )


@pytest.fixture(scope="session")
def postgres() -> Iterator[PrivatePostgres]:
    if reason := missing_servers():
        pytest.skip(reason)
    server = PrivatePostgres().create()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def broker() -> Iterator[RabbitCluster]:
    if reason := missing_servers():
        pytest.skip(reason)
    cluster = RabbitCluster(1).start()
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
async def private(postgres: PrivatePostgres, broker: RabbitCluster) -> Settings:
    settings = fault_settings(postgres.url, broker.first.url)
    await migrate_all(settings.database_url, migration_folders())
    return settings


def log_dir(request: pytest.FixtureRequest, label: str) -> Iterator[Path]:
    """Where the services log: kept, and named, when a test of the session failed."""
    path = Path(tempfile.mkdtemp(prefix=f"adpilot-{label}-logs-"))
    yield path
    if request.session.testsfailed:
        print(f"\nservice logs kept in {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def fault_logs(request: pytest.FixtureRequest) -> Iterator[Path]:
    yield from log_dir(request, "faults")


@pytest.fixture(scope="session")
async def running(private: Settings, fault_logs: Path) -> AsyncIterator[Platform]:
    platform = Platform(private, fault_logs)
    try:
        await platform.start_all()
        yield platform
    finally:
        await platform.stop_all()


async def heal(platform: Platform, postgres: PrivatePostgres, broker: RabbitCluster) -> None:
    """Whatever an earlier test left broken runs again: servers first, then processes."""
    if not postgres.accepts():
        postgres.start()
    for node in broker.nodes:
        pid = node.pid()
        if pid is None or not _alive(pid):
            node.start()
    for name in [*SERVICES, "sandbox"]:
        proc = platform.processes.get(name)
        if proc is None or proc.returncode is not None:
            platform.processes.pop(name, None)
            if name == "sandbox":
                await platform.start_sandbox()
            else:
                await platform.start(name)
    for name in SERVICES:
        try:
            await platform.wait_ready(name, within=30)
        except TimeoutError:
            # Running but stuck on what an earlier, failed test left in its queue: the next
            # test starts from a fresh process and an empty queue, so that its result is
            # its own.
            await platform.stop(name)
            await asyncio.to_thread(
                broker.first.ctl, "purge_queue", queue_name(platform.settings.exchange, name)
            )
            await platform.start(name)
    async with aiohttp.ClientSession() as sandbox:  # no fault left planned
        async with sandbox.delete(f"{platform.sandbox}/v1/_faults") as r:
            assert r.status == 200, await r.text()


@pytest.fixture
async def platform(
    running: Platform, postgres: PrivatePostgres, broker: RabbitCluster
) -> AsyncIterator[Platform]:
    await heal(running, postgres, broker)
    yield running
    # A failing test prints what the services logged.
    with contextlib.suppress(OSError):
        for name in SERVICES:
            tail = running.log_of(name)[-1500:]
            if "Traceback" in tail:
                print(f"--- {name} log tail ---\n{tail}")


@pytest.fixture
async def account(platform: Platform, private: Settings) -> AsyncIterator[Account]:
    """A tenant with a sandbox account whose budget changes the optimizer applies at once:
    autonomy ``act`` for certain decisions, no cooldown, limits the stream stays inside."""
    async for opened in open_account(platform, private, seed=int(run_id()[:6], 16), campaigns=6):
        await opened.act_on_certain(
            {"cooldown_hours": 0, "budget": {"max_step_share": 0.5, "max_daily_share": 1.0}}
        )
        yield opened
