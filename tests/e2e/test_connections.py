"""A tenant links a Meta ad account through the gateway (the Graph API being a fake on a
local port): validation, the check on creation and after the token expires, metrics
pulled from the account, a conversion collapse there opening an incident, the decision's
change applied on Meta and undone with Meta's request ids in the audit trail; and the
access token, planted once, found in no answer, log line, event, outbox or audit row of
the run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from shared.config import Settings
from shared.connectors.ids import campaign_uuid
from shared.db import connect
from tests.e2e.conftest import Tenant, make_tenant
from tests.e2e.platform import META_GRAPH_PORT, Platform
from tests.fakes.meta_graph import MetaGraph

pytestmark = pytest.mark.e2e

SECRET = "EAAe2ePlanted" + uuid.uuid4().hex


@pytest.fixture(scope="module")
async def graph() -> AsyncIterator[MetaGraph]:
    fake = MetaGraph(token=SECRET)
    fake.seed(3)
    server = TestServer(fake.app(), host="127.0.0.1", port=META_GRAPH_PORT)
    await server.start_server()
    try:
        yield fake
    finally:
        await server.close()


@pytest.fixture(scope="module")
async def linked(platform: Platform, settings: Settings) -> Tenant:
    return await make_tenant(settings, f"meta-{uuid.uuid4().hex[:8]}")


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


async def eventually(probe: Any, within: float = 60.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await probe()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not seen within {within:g}s")
        await asyncio.sleep(0.5)


BODY = {
    "platform": "meta",
    "account_id": "act_1234567890",
    "time_zone": "America/New_York",
    "currency": "USD",
    "credentials": {"access_token": SECRET},
}


async def test_a_meta_account_is_linked_acted_on_and_its_token_never_shows(
    platform: Platform, settings: Settings, graph: MetaGraph, linked: Tenant
) -> None:
    answers: list[Any] = []

    async def api(method: str, path: str, body: Any = None, role: str = "admin") -> tuple[int, Any]:
        status, answer = await call(platform, linked, method, path, body, role)
        answers.append(answer)
        return status, answer

    # validation and roles, with the secret in the body each time
    status, _ = await api("POST", "/connections", BODY, role="operator")
    assert status == 403
    status, bad = await api("POST", "/connections", {**BODY, "account_id": "act_x"})
    assert status == 422 and bad["error"]["details"]["fields"][0]["field"] == "account_id"
    status, bad = await api(
        "POST", "/connections", {**BODY, "credentials": {"access_token": SECRET, "x": SECRET}}
    )
    assert status == 422
    assert [f["field"] for f in bad["error"]["details"]["fields"]] == ["credentials.x"]

    # ad set 0 stops converting six hours ago; the tenant lets the platform act
    adset = sorted(graph.adsets)[0]
    campaign = campaign_uuid("meta", "1234567890", adset)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    graph.collapse[adset] = now - timedelta(hours=6)
    status, _ = await api("PUT", "/preferences", {"autonomy": "act"})
    assert status == 200
    status, created = await api("POST", "/connections", BODY)
    assert status == 201 and created["status"] == "ok", created

    # metrics flow in from the account, and the collapse opens an incident
    async def pulled() -> Any:
        status, page = await api("GET", "/audit-trail?action=metrics.recorded")
        return status == 200 and page["items"]

    await eventually(pulled)

    async def incident() -> Any:
        _, page = await api("GET", f"/alerts?affected_entity_id={campaign}")
        return page["items"]

    alerts = await eventually(incident, 120)
    assert alerts[0]["affected_entity_id"] == str(campaign)

    # the platform acts on Meta, and the change is undone, Meta's request ids on record
    async def acted() -> Any:
        _, page = await api("GET", f"/optimizations?target_entity_id={campaign}&status=applied")
        return page["items"]

    (applied,) = await eventually(acted, 120)
    assert applied["connector"] == "meta" and applied["cause_type"] == "decision", applied
    assert applied["platform_request_id"].startswith("AfakeTrace")
    assert len(graph.writes) >= 1
    status, undo = await api("POST", f"/optimizations/{applied['id']}/rollback", {})
    assert status == 201 and undo["status"] == "applied", undo
    setting = applied["setting"]
    if setting == "budget":
        assert graph.adsets[adset]["daily_budget"] == "5000"
    elif setting == "status":
        assert graph.adsets[adset]["status"] == "ACTIVE"

    async def audited() -> Any:
        _, page = await api("GET", "/audit-trail?action=optimization.rolled_back")
        return page["items"]

    (entry,) = await eventually(audited)
    assert entry["after_state"]["platform_request_id"] == undo["platform_request_id"]
    assert undo["platform_request_id"].startswith("AfakeTrace")
    status, page = await api("GET", "/audit-trail?action=optimization.applied")
    assert applied["platform_request_id"] in {
        e["after_state"].get("platform_request_id") for e in page["items"]
    }

    # the token expires: the check says so
    graph.behaviour.token_expired = True
    status, checked = await api("POST", f"/connections/{created['id']}/check")
    graph.behaviour.token_expired = False
    assert status == 200 and checked["status"] == "auth_failed"
    status, _ = await api("DELETE", f"/connections/{created['id']}")
    assert status == 200

    # nowhere: answers, service logs, and every row of every schema's tables
    assert all(SECRET not in str(answer) for answer in answers)
    for name in list(platform.processes):
        assert SECRET not in platform.log_of(name), f"{name}'s log"
    conn = await connect(settings.database_url)
    try:
        tables = await conn.fetch(
            """SELECT table_schema, table_name FROM information_schema.tables
               WHERE table_type = 'BASE TABLE'
                 AND table_schema NOT IN ('pg_catalog', 'information_schema')"""
        )
        for t in tables:
            found = await conn.fetchval(
                f'SELECT count(*) FROM "{t["table_schema"]}"."{t["table_name"]}" x '
                "WHERE strpos(x::text, $1) > 0",
                SECRET,
            )
            assert found == 0, f"{t['table_schema']}.{t['table_name']}"
    finally:
        await conn.close()
