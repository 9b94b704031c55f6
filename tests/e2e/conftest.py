from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import aiohttp
import pytest

from services.gateway.keys import create_key, ensure_tenant
from services.optimizer.core.tenants import tenant_policy
from shared.config import Settings
from shared.db import create_pool, scoped
from tests.e2e.platform import Platform
from tests.helpers import eventually
from tests.infra import apart, provisioned


@pytest.fixture(scope="session")
async def settings(settings: Settings) -> AsyncIterator[Settings]:
    """The session's settings on a database, exchange and ports of the end-to-end tests'
    own. The platform's services claim work from their database (cycles, outbox rows,
    jobs) for as long as the process runs, so the integration tests, which run in the same
    process before or after, must not share it."""
    async with provisioned(apart(settings, "e2e")) as own:
        yield own


@pytest.fixture(scope="session")
async def platform(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Platform]:
    running = Platform(settings, tmp_path_factory.mktemp("service-logs"))
    try:
        await running.start_all()
        yield running
    finally:
        # Also when one failed to start: the others must not outlive the session.
        await running.stop_all()


@dataclass(frozen=True)
class Tenant:
    id: UUID
    keys: dict[str, str]  # role -> API key

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


async def make_tenant(settings: Settings, name: str, tenant_id: UUID | None = None) -> Tenant:
    pool = await create_pool(settings.database_url, "gateway", min_size=1, max_size=1)
    try:
        async with scoped(pool, system=True) as conn:
            tid = await ensure_tenant(conn, name, tenant_id)
            keys = {}
            for role in ("viewer", "operator", "admin"):
                _row, keys[role] = await create_key(conn, tid, f"{role} key", role)
    finally:
        await pool.close()
    return Tenant(tid, keys)


@pytest.fixture(scope="session")
async def tenant_a(settings: Settings) -> Tenant:
    # Tenant A is the platform's default tenant, where models register themselves.
    return await make_tenant(settings, "tenant-a", settings.default_tenant)


@pytest.fixture(scope="session")
async def tenant_b(settings: Settings) -> Tenant:
    return await make_tenant(settings, "tenant-b")


@pytest.fixture
async def api(platform: Platform, tenant_a: Tenant) -> AsyncIterator[aiohttp.ClientSession]:
    """Tenant A's admin, talking to the gateway."""
    async with aiohttp.ClientSession(base_url=platform.gateway, headers=tenant_a.headers()) as s:
        yield s


async def optimizer_follows(
    settings: Settings, tenant_id: UUID, preferences: dict[str, Any], within: float = 60.0
) -> None:
    """Wait until the optimizer holds the preferences the gateway answered a
    ``PUT /api/ai/preferences`` with (``autonomy`` and ``effective_limits``).

    The optimizer keeps its own copy, which ``preferences.updated`` brings over the bus; a
    decision it takes before that copy arrives is carried out under the tenant's earlier
    preferences. A test that sets its autonomy and then logs a decision waits here first."""
    pool = await create_pool(settings.database_url, "optimizer", min_size=1, max_size=1)
    try:

        async def current() -> bool:
            async with scoped(pool, tenant_id) as conn:
                policy = await tenant_policy(conn, tenant_id)
            return policy.autonomy == preferences["autonomy"] and (
                policy.limits.model_dump(mode="json") == preferences["effective_limits"]
            )

        await eventually(current, within)
    finally:
        await pool.close()
