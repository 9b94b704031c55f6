"""Benchmarks through the gateway: the shipped published figures for every tenant, a
tenant's own published rows for its admins to manage, and its industry set with its
preferences reaching the optimizer."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest

from services.optimizer.benchmarks.store import seed_rows
from services.optimizer.core.tenants import tenant_industry
from shared.config import Settings
from shared.db import scoped
from tests.conftest import schema_pool
from tests.e2e.conftest import Tenant, make_tenant
from tests.e2e.platform import Platform
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

WAIT = 30.0
BODY = {
    "source": "An agency's 2025 travel report",
    "url": "https://example.com/travel-2025",
    "edition": "2025",
    "industry": "travel",
    "platform": "meta",
    "metric": "cpc",
    "currency": "USD",
    "p50": 0.9,
}


async def call(
    platform: Platform,
    tenant: Tenant,
    method: str,
    path: str,
    body: Any = None,
    role: str = "admin",
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(base_url=platform.gateway, headers=tenant.headers(role)) as s,
        s.request(method, f"/api/ai{path}", json=body) as r,
    ):
        return r.status, await r.json()


async def test_benchmarks_through_the_gateway(platform: Platform, settings: Settings) -> None:
    tenant = await make_tenant(settings, f"bench-{uuid.uuid4().hex[:8]}")
    other = await make_tenant(settings, f"bench-{uuid.uuid4().hex[:8]}")
    status, page = await call(
        platform,
        tenant,
        "GET",
        "/benchmarks?industry=travel&source_kind=published&limit=500",
        role="viewer",
    )
    assert status == 200, page
    shipped = {r["url"] for r in seed_rows() if r["industry"] == "travel"}
    assert {r["url"] for r in page["items"]} == shipped
    seed = page["items"][0]
    status, error = await call(platform, tenant, "PATCH", f"/benchmarks/{seed['id']}", {"p50": 1})
    assert status == 409 and error["error"]["code"] == "read_only_benchmark"

    for role in ("viewer", "operator"):
        status, _ = await call(platform, tenant, "POST", "/benchmarks", BODY, role=role)
        assert status == 403, role
    status, made = await call(platform, tenant, "POST", "/benchmarks", BODY)
    assert status == 201, made
    status, _ = await call(platform, other, "GET", f"/benchmarks/{made['id']}")
    assert status == 404
    status, error = await call(platform, tenant, "PATCH", f"/benchmarks/{made['id']}", {"p10": 2})
    assert status == 422 and [f["field"] for f in error["error"]["details"]["fields"]] == ["p50"]
    status, _ = await call(platform, tenant, "DELETE", f"/benchmarks/{made['id']}")
    assert status == 200

    status, prefs = await call(
        platform, tenant, "PUT", "/preferences", {"autonomy": "recommend", "industry": "travel"}
    )
    assert status == 200 and prefs["industry"] == "travel", prefs
    status, error = await call(
        platform, tenant, "PUT", "/preferences", {"autonomy": "recommend", "industry": "x"}
    )
    assert status == 422 and "industry" in str(error)
    pool = await schema_pool(settings, "optimizer")
    try:

        async def copied() -> bool:
            async with scoped(pool, tenant.id) as conn:
                return await tenant_industry(conn, tenant.id) == "travel"

        await eventually(copied, WAIT)
    finally:
        await pool.close()
    status, _ = await call(platform, tenant, "GET", f"/campaigns/{uuid.uuid4()}/benchmarks")
    assert status == 404
