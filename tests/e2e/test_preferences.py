"""Autonomy preferences through the gateway, and the optimizer's copy of them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from services.optimizer.core.tenants import TenantPolicy, tenant_policy
from shared.config import Settings
from shared.contracts.limits import DEFAULT_LIMITS
from shared.db import scoped
from tests.conftest import schema_pool
from tests.e2e.conftest import Tenant, make_tenant
from tests.e2e.platform import Platform
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

PATH = "/api/ai/preferences"
WAIT = 30.0


@pytest.fixture(scope="module")
async def tenant(platform: Platform, settings: Settings) -> Tenant:
    return await make_tenant(settings, f"prefs-{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def client(platform: Platform) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=platform.gateway) as session:
        yield session


async def _fields(response: aiohttp.ClientResponse) -> set[str]:
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "validation_error"
    return {f["field"] for f in error["details"]["fields"]}


async def test_a_tenant_starts_at_recommend(
    client: aiohttp.ClientSession, settings: Settings
) -> None:
    fresh = await make_tenant(settings, f"prefs-new-{uuid.uuid4().hex[:8]}")
    async with client.get(PATH, headers=fresh.headers("viewer")) as r:
        assert r.status == 200
        body = await r.json()
    assert body == {
        "autonomy": "recommend",
        "safety_limits": None,
        "effective_limits": DEFAULT_LIMITS.model_dump(mode="json"),
        "updated_at": None,
        "industry": None,
    }


async def test_an_admin_sets_act_and_the_optimizer_follows(
    client: aiohttp.ClientSession, settings: Settings, tenant: Tenant
) -> None:
    limits = {"budget": {"ceiling": 400}, "min_confidence": 85}
    async with client.put(
        PATH, json={"autonomy": "act", "safety_limits": limits}, headers=tenant.headers()
    ) as r:
        assert r.status == 200, await r.text()
        put = await r.json()
    assert put["autonomy"] == "act"
    assert put["safety_limits"] == {"budget": {"ceiling": 400.0}, "min_confidence": 85.0}
    effective = put["effective_limits"]
    assert effective["budget"]["ceiling"] == 400.0
    assert effective["budget"]["max_step_share"] == DEFAULT_LIMITS.budget.max_step_share
    assert effective["min_confidence"] == 85.0
    assert effective["cooldown_hours"] == DEFAULT_LIMITS.cooldown_hours
    async with client.get(PATH, headers=tenant.headers("viewer")) as r:
        assert r.status == 200
        assert await r.json() == put

    pool = await schema_pool(settings, "optimizer")
    try:

        async def policy() -> TenantPolicy | None:
            async with scoped(pool, tenant.id) as conn:
                found = await tenant_policy(conn, tenant.id)
            return found if found.autonomy == "act" else None

        found, _ = await eventually(policy, WAIT)
        assert found.limits.model_dump(mode="json") == effective

        # Back to the defaults: no limits of its own.
        async with client.put(PATH, json={"autonomy": "observe"}, headers=tenant.headers()) as r:
            assert r.status == 200
            assert (await r.json())["safety_limits"] is None

        async def observing() -> TenantPolicy | None:
            async with scoped(pool, tenant.id) as conn:
                found = await tenant_policy(conn, tenant.id)
            return found if found.autonomy == "observe" else None

        found, _ = await eventually(observing, WAIT)
        assert found.limits == DEFAULT_LIMITS
    finally:
        await pool.close()


async def test_the_change_is_in_the_audit_trail(
    client: aiohttp.ClientSession, tenant: Tenant
) -> None:
    async with client.put(PATH, json={"autonomy": "recommend"}, headers=tenant.headers()) as r:
        assert r.status == 200

    async def entries() -> list[dict[str, Any]]:
        async with client.get(
            "/api/ai/audit-trail",
            params={"resource_type": "preferences"},
            headers=tenant.headers(),
        ) as r:
            assert r.status == 200
            items: list[dict[str, Any]] = (await r.json())["items"]
        events = [i for i in items if i["event_type"] == "preferences.updated"]
        requests = [i for i in items if i["action"] == f"PUT {PATH}"]
        return items if events and requests else []

    items, _ = await eventually(entries, WAIT)
    request = next(i for i in items if i["action"] == f"PUT {PATH}")
    assert request["status_code"] == 200
    assert request["after_state"]["autonomy"] == "recommend"


@pytest.mark.parametrize("role", ["viewer", "operator"])
async def test_only_admins_set_preferences(
    client: aiohttp.ClientSession, tenant: Tenant, role: str
) -> None:
    async with client.put(PATH, json={"autonomy": "act"}, headers=tenant.headers(role)) as r:
        assert r.status == 403
        assert (await r.json())["error"]["details"]["required_role"] == "admin"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"autonomy": "yolo"}, "autonomy"),
        ({"safety_limits": None}, "autonomy"),
        (
            {"autonomy": "act", "safety_limits": {"budget": {"floor": 500, "ceiling": 100}}},
            "safety_limits.budget",
        ),
        ({"autonomy": "act", "safety_limits": {"bid": {"floor": -1}}}, "safety_limits.bid.floor"),
        (
            {"autonomy": "act", "safety_limits": {"cooldown_hours": 1e6}},
            "safety_limits.cooldown_hours",
        ),
        ({"autonomy": "act", "safety_limits": {"max_budget": 1}}, "safety_limits.max_budget"),
    ],
)
async def test_bad_preferences_are_refused_naming_the_field(
    client: aiohttp.ClientSession, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    async with client.put(PATH, json=body, headers=tenant.headers()) as r:
        assert field in await _fields(r)


async def test_the_document_has_the_routes(client: aiohttp.ClientSession) -> None:
    async with client.get("/api/ai/openapi.json") as r:
        document = await r.json()
    item = document["paths"][PATH]
    assert item["get"]["x-required-role"] == "viewer"
    assert item["put"]["x-required-role"] == "admin"
    async with client.get("/api/ai/asyncapi.json") as r:
        assert "preferences.updated" in (await r.json())["channels"]
