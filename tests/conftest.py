"""Session fixtures: this run's own database and exchange on real servers.

Sandbox accounts build their history on a fixed simulated clock, not the wall clock, so no
test depends on the date it runs: ``ADPILOT_TEST_CLOCK=2025-08-19T13:00 make test`` moves
it (see tests/clock.py); the header of every run says where it stands."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from shared.bus import Bus
from shared.config import Settings
from shared.db import create_pool
from tests.clock import ENV as CLOCK_ENV
from tests.clock import simulated_now
from tests.infra import Servers, private_settings, provisioned, run_id, servers, worker

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
    async with provisioned(configured) as ready:
        yield ready


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


# One process runs the fast tests first. Parallel workers (pytest -n) take groups from a
# queue in another order: the suites that start platforms of their own first, as they take
# longest, and unit tests last, filling the gaps while the long ones finish. The end-to-end
# platform has a database of its own (tests/e2e/conftest.py), so an integration test never
# meets its services, whichever runs first on a worker.
_ORDER = {"unit": 0, "integration": 1, "e2e": 2}
_PARALLEL_ORDER = {"e2e": 0, "browser": 0, "faults": 0, "integration": 1, "unit": 2}
# Tests that share a module or package fixture run on one worker, and start it once there.
_GROUPED_BY_PACKAGE = {"browser", "faults"}
# End-to-end modules go to one of two workers, so no more than two end-to-end platforms run
# at once (besides the browser suite's): each takes 24 of PostgreSQL's 100 connections. The
# modules that start a platform of their own besides (`adpilot up`, one behind a proxy) go
# together, so that only one such runs at a time.
_E2E_FIRST = {
    "test_shutdown",
    "test_outages",
    "test_security",
    "test_contract",
    "test_typescript_client",
    "test_static",
    "test_preferences",
    "test_outside_subscriber",
    "test_supervision",
}


def _kind(item: pytest.Item) -> str:
    return item.path.parent.name


def group_of(nodeid: str) -> str:
    """The work a parallel worker takes whole, by the test's place in tests/: its package
    for the browser and fault suites (one `adpilot up`, one set of private servers), one
    of two halves for the end-to-end tests, its module for integration tests (module
    fixtures start once); a unit test on its own."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    kind, module = (parts[-2], parts[-1].removesuffix(".py")) if len(parts) > 1 else ("", "")
    if kind in _GROUPED_BY_PACKAGE:
        return kind
    if kind == "e2e":
        return "e2e.first" if module in _E2E_FIRST else "e2e.second"
    if kind == "integration":
        return path
    return nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With ``--dist loadgroup`` (the default here), workers take the groups of
    :func:`group_of`, in the order of :func:`pytest_collection_modifyitems`. Computed from
    the test's id rather than read from ``xdist_group`` marks, which pytest-xdist 3.8
    loses under pytest 9.2's node ids."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the tests for one process or several (``pytest -n``)."""
    order = _PARALLEL_ORDER if worker() != "main" else _ORDER
    items.sort(key=lambda item: order.get(_kind(item), 1))
