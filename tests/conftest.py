"""Session fixtures: this run's own database and exchange on real servers.

Sandbox accounts build their history on a fixed simulated clock, not the wall clock, so no
test depends on the date it runs: ``ADPILOT_TEST_CLOCK=2025-08-19T13:00 make test`` moves
it (see tests/clock.py); the header of every run says where it stands."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from adpilot.registry import migration_folders
from shared.bus import Bus
from shared.config import Settings
from shared.contracts import SERVICES
from shared.db import connect, create_pool, migrate_all
from tests.clock import ENV as CLOCK_ENV
from tests.clock import simulated_now
from tests.infra import Servers, private_settings, run_id, servers, with_database

# Bearer tokens in the tests are signed with this; nothing outside the test run trusts it.
JWT_SECRET = secrets.token_hex(32)


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Servers]:
    with servers() as found:
        yield found


@pytest.fixture(scope="session")
async def settings(infrastructure: Servers) -> AsyncIterator[Settings]:
    configured = private_settings(
        infrastructure.database_server_url,
        infrastructure.amqp_url,
        f"test.{run_id()}",
        outbox_poll_seconds=0.5,
        max_deliveries=3,
        heartbeat_seconds=1.0,
        jwt_secret=JWT_SECRET,
        cors_origins="https://app.example.com",
        # The suites send many requests from one key in a few seconds.
        rate_limit_per_minute=60_000,
        rate_limit_burst=5_000,
        cycle_interval_seconds=3.0,
        # Several platforms run at once in a session (a replica, a second gateway, `adpilot
        # up`): smaller pools keep them within PostgreSQL's default 100 connections.
        db_pool_max=6,
        # An unanswered platform is tried again soon, and given up after three tries.
        change_attempts=3,
        change_retry_seconds=0.2,
    )
    database = configured.database_url.rsplit("/", 1)[1]
    await migrate_all(configured.database_url, migration_folders())
    yield configured
    bus = Bus(configured.amqp_url, configured.exchange)
    try:
        await bus.connect()
        await bus.delete_topology([*SERVICES, "probe"])
    finally:
        await bus.close()
    admin = await connect(with_database(infrastructure.database_server_url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def bus(settings: Settings) -> AsyncIterator[Bus]:
    connected = Bus(settings.amqp_url, settings.exchange)
    await connected.connect()
    yield connected
    await connected.close()


async def schema_pool(settings: Settings, schema: str) -> asyncpg.Pool:
    return await create_pool(settings.database_url, schema, min_size=1, max_size=4)


def pytest_report_header() -> str:
    return f"simulated clock: {simulated_now():%Y-%m-%dT%H:%M}Z (set {CLOCK_ENV} to move it)"


_ORDER = {"unit": 0, "integration": 1, "e2e": 2}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fast tests first; the end-to-end platform (whose services claim work from the shared
    test database) starts only after the integration tests are done with it."""
    items.sort(key=lambda item: _ORDER.get(item.path.parent.name, 1))
