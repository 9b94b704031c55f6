"""bench/http.py's FastAPI peer on a small data set: it answers what the services' own
functions read, checks keys as the gateway does, and writes what the platform writes."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench import http as bench_http
from services.gateway.keys import create_key, ensure_tenant
from shared.config import Settings
from shared.contracts import alerts, decision, optimizer
from shared.db import connect, scoped
from shared.resources import ListQuery, list_page
from tests.conftest import schema_pool

pytestmark = pytest.mark.integration

SIZES = bench_http.Sizes(decisions=120, alerts=60, recommendations=60)
RESOURCES = {
    "decisions": ("decision", decision.DECISIONS),
    "alerts": ("alerts", alerts.ALERTS),
    "recommendations": ("optimizer", optimizer.RECOMMENDATIONS),
}


async def _keys(settings: Settings) -> tuple[uuid.UUID, dict[str, str]]:
    pool = await schema_pool(settings, "gateway")
    try:
        async with scoped(pool, system=True) as conn:
            tenant = await ensure_tenant(conn, f"peer-{uuid.uuid4().hex[:8]}")
            keys = {}
            for role in ("viewer", "operator"):
                _row, keys[role] = await create_key(conn, tenant, "peer", role)
    finally:
        await pool.close()
    return tenant, keys


async def _expected(
    settings: Settings, collection: str, tenant: uuid.UUID, query: ListQuery
) -> dict[str, Any]:
    schema, resource = RESOURCES[collection]
    pool = await schema_pool(settings, schema)
    try:
        async with scoped(pool, tenant) as conn:
            return await list_page(conn, resource, tenant, query)
    finally:
        await pool.close()


async def test_the_peer_reads_checks_keys_and_writes_like_the_platform(
    settings: Settings, tmp_path: Path
) -> None:
    tenant, keys = await _keys(settings)
    ids = await bench_http.load_data(settings, tenant, SIZES)
    peer = bench_http.Peer(settings.model_copy(update={"db_pool_max": 2}), 1, tmp_path / "log")
    operator = {"Authorization": f"Bearer {keys['operator']}"}
    try:
        await peer.start(keys["operator"])
        async with aiohttp.ClientSession(peer.url) as session:
            for collection in bench_http.COLLECTIONS:
                async with session.get(f"/api/ai/{collection}?limit=50", headers=operator) as r:
                    assert r.status == 200, await r.text()
                    first = await r.json()
                expected = await _expected(settings, collection, tenant, ListQuery(50, None, {}))
                assert [i["id"] for i in first["items"]] == [
                    str(row["id"]) for row in expected["items"]
                ]
                assert first["next_cursor"] == expected["next_cursor"] is not None
                cursor = first["next_cursor"]
                async with session.get(
                    f"/api/ai/{collection}?limit=50&cursor={cursor}", headers=operator
                ) as r:
                    second = await r.json()
                assert {i["id"] for i in second["items"]}.isdisjoint(
                    i["id"] for i in first["items"]
                )
                one = ids[collection][0]
                async with session.get(f"/api/ai/{collection}/{one}", headers=operator) as r:
                    assert r.status == 200 and (await r.json())["id"] == one
                async with session.get(
                    f"/api/ai/{collection}/{uuid.uuid4()}", headers=operator
                ) as r:
                    assert r.status == 404

            async with session.get("/api/ai/alerts") as r:
                assert r.status == 401
            async with session.get(
                "/api/ai/alerts", headers={"X-API-Key": "adp_00000000_unknown"}
            ) as r:
                assert r.status == 401
            viewer = {"Authorization": f"Bearer {keys['viewer']}"}
            async with session.post(
                "/api/ai/decisions", json=bench_http.POST_BODY, headers=viewer
            ) as r:
                assert r.status == 403
            async with session.post(
                "/api/ai/decisions", json=bench_http.POST_BODY, headers=operator
            ) as r:
                assert r.status == 201, await r.text()
                made = await r.json()
    finally:
        await peer.stop()

    conn = await connect(settings.database_url)
    try:
        event = await conn.fetchval(
            "SELECT body FROM decision.outbox WHERE tenant_id = $1 AND routing_key = $2",
            tenant,
            "decision.made",
        )
        audited = await conn.fetchval(
            "SELECT count(*) FROM gateway.ai_audit_trail WHERE tenant_id = $1 AND resource_id = $2",
            tenant,
            made["id"],
        )
    finally:
        await conn.close()
    assert event["payload"]["id"] == made["id"]
    assert audited == 1
