"""Ad-platform connections on real PostgreSQL, through the optimizer's own HTTP routes,
with a tenant linked to the fake Meta Graph server: validation per platform, the check on
creation and the status calls leave, credentials sealed at rest, the tenant's campaigns
read through its own connector, and a planted secret found in no answer, log line or
row of the run."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.optimizer.connections.pull import pull_tenant
from services.optimizer.core.platform import (
    connector_for,
    connector_of,
    registry_of,
)
from shared.config import Settings
from shared.connectors import AuthFailed, RateLimited
from shared.connectors.ids import campaign_uuid
from shared.connectors.meta import MetaConnector
from shared.contracts import connections
from shared.contracts.spec import Role
from shared.db import scoped
from shared.secrets import KEY_ENV, KEY_ID_ENV, OLD_KEYS_ENV, Keyring
from tests.conftest import schema_pool
from tests.fakes.meta_graph import MetaGraph
from tests.fakes.meta_graph import start as start_meta
from tests.integration.optimizer_app import OptimizerApp, serving

pytestmark = pytest.mark.integration

SECRET = "EAAplanted" + uuid.uuid4().hex


@dataclasses.dataclass
class Optimizer(OptimizerApp):
    graph: MetaGraph


@pytest.fixture(scope="module")
async def optimizer(settings: Settings) -> AsyncIterator[Optimizer]:
    graph = MetaGraph(token=SECRET)
    graph.seed(3)
    graph_server = await start_meta(graph)
    try:
        env = {"ADPILOT_META_GRAPH_URL": str(graph_server.make_url(""))}
        async with serving(settings, "connections", env) as (url, own, runtime):
            yield Optimizer(url, own, runtime, graph)
    finally:
        await graph_server.close()


def meta_body(**changes: Any) -> dict[str, Any]:
    return {
        "platform": "meta",
        "account_id": "act_1234567890",
        "time_zone": "America/New_York",
        "currency": "USD",
        "credentials": {"access_token": SECRET},
        **changes,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (meta_body(credentials={}), "credentials.access_token"),
        (meta_body(credentials={"access_token": SECRET, "extra": "x"}), "credentials.extra"),
        (
            {**meta_body(platform="google_ads"), "account_id": "123-456-7890"},
            "credentials.developer_token",
        ),
        (meta_body(time_zone="Mars/Olympus"), "time_zone"),
        (meta_body(account_id="act_12ab"), "account_id"),
        (meta_body(currency="usd"), "currency"),
    ],
)
async def test_invalid_connections_are_422_naming_the_field(
    optimizer: Optimizer, body: dict[str, Any], field: str
) -> None:
    status, answer = await optimizer.call("POST", "/connections", uuid.uuid4(), body)
    assert status == 422, answer
    fields = [f["field"] for f in answer["error"]["details"]["fields"]]
    assert field in fields
    assert SECRET not in str(answer)


def test_only_admins_may_reach_connections() -> None:
    # the gateway asks every route for its declared role
    assert {route.role for route in connections.ROUTES} == {Role.ADMIN}
    assert len(connections.ROUTES) == 6


async def test_a_tenant_linked_to_meta_is_read_through_its_own_connector(
    optimizer: Optimizer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant = uuid.uuid4()
    status, created = await optimizer.call("POST", "/connections", tenant, meta_body())
    assert status == 201, created
    assert created["status"] == "ok" and created["credentials_key_id"] == "test-1"
    status, again = await optimizer.call("POST", "/connections", tenant, meta_body())
    assert status == 409 and again["error"]["code"] == "connection_exists"

    connector = await connector_for(optimizer.runtime, tenant)
    assert connector.name == "meta"
    assert (await connector_for(optimizer.runtime, uuid.uuid4())) is connector_of(optimizer.runtime)
    snapshot = await connector.list_campaigns(tenant)
    assert len(snapshot.campaigns) == 3

    # the token expires: the check says so, and so do the calls made through it
    optimizer.graph.behaviour.token_expired = True
    status, checked = await optimizer.call("POST", f"/connections/{created['id']}/check", tenant)
    assert status == 200 and checked["status"] == "auth_failed", checked
    connector = await connector_for(optimizer.runtime, tenant)
    with pytest.raises(AuthFailed):
        await connector.list_campaigns(tenant)
    optimizer.graph.behaviour.token_expired = False

    status, disabled = await optimizer.call(
        "PATCH", f"/connections/{created['id']}", tenant, {"status": "disabled"}
    )
    assert status == 200 and disabled["status"] == "disabled"
    status, enabled = await optimizer.call(
        "PATCH", f"/connections/{created['id']}", tenant, {"status": "ok"}
    )
    assert status == 200 and enabled["status"] == "ok", enabled

    pool = await schema_pool(optimizer.settings, "optimizer")
    try:
        async with scoped(pool, tenant) as conn:  # row-level security: this tenant's rows
            sealed = await conn.fetchrow(
                "SELECT credentials FROM ad_connections WHERE tenant_id = $1",
                tenant,
            )
            assert SECRET.encode() not in bytes(sealed["credentials"])
            # every row of every table of the run, as text
            tables = await conn.fetch(
                """SELECT table_schema, table_name FROM information_schema.tables
                   WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"""
            )
            for table in tables:
                rows = await conn.fetch(f'SELECT t::text AS r FROM "{table["table_name"]}" t')
                for row in rows:
                    assert SECRET not in row["r"], table["table_name"]
    finally:
        await pool.close()
    for answer in (created, checked, disabled, enabled):
        assert SECRET not in str(answer)
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in str(record.args or "")

    status, gone = await optimizer.call("DELETE", f"/connections/{created['id']}", tenant)
    assert status == 200 and gone["id"] == created["id"]
    assert (await connector_for(optimizer.runtime, tenant)) is connector_of(optimizer.runtime)


def test_rotation_reseals_with_the_current_key() -> None:
    old = base64.b64encode(os.urandom(32)).decode()
    new = base64.b64encode(os.urandom(32)).decode()
    before = Keyring.from_env({KEY_ENV: old, KEY_ID_ENV: "k1"})
    sealed = before.seal({"access_token": SECRET}, b"ctx")
    after = Keyring.from_env({KEY_ENV: new, KEY_ID_ENV: "k2", OLD_KEYS_ENV: f"k1:{old}"})
    resealed = after.reseal(sealed, b"ctx")
    assert resealed is not None and resealed.key_id == "k2"
    assert after.open(resealed, b"ctx") == {"access_token": SECRET}
    assert after.reseal(resealed, b"ctx") is None
    assert SECRET not in repr(resealed) and SECRET not in repr(after)


async def test_rotate_secrets_reseals_every_connection_and_they_still_work(
    optimizer: Optimizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adpilot.cli import _rotate_secrets

    tenant = uuid.uuid4()
    status, created = await optimizer.call("POST", "/connections", tenant, meta_body())
    assert status == 201 and created["credentials_key_id"] == "test-1"
    old = os.environ[KEY_ENV]
    monkeypatch.setenv(KEY_ENV, base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv(KEY_ID_ENV, "test-2")
    monkeypatch.setenv(OLD_KEYS_ENV, f"test-1:{old}")
    resealed, current = await _rotate_secrets(optimizer.settings)
    assert resealed >= 1
    assert await _rotate_secrets(optimizer.settings) == (0, resealed + current)
    status, got = await optimizer.call("GET", f"/connections/{created['id']}", tenant)
    assert status == 200 and got["credentials_key_id"] == "test-2"
    # without the old key the new seal is all there is, and it opens
    monkeypatch.delenv(OLD_KEYS_ENV)
    status, checked = await optimizer.call("POST", f"/connections/{created['id']}/check", tenant)
    assert status == 200 and checked["status"] == "ok", checked
    await optimizer.call("DELETE", f"/connections/{created['id']}", tenant)


async def _connection_row(optimizer: Optimizer, tenant: uuid.UUID) -> Any:
    pool = await schema_pool(optimizer.settings, "optimizer")
    try:
        async with scoped(pool, tenant) as conn:
            return await conn.fetchrow("SELECT * FROM ad_connections WHERE tenant_id = $1", tenant)
    finally:
        await pool.close()


async def test_metrics_are_pulled_from_the_linked_account_and_published(
    optimizer: Optimizer,
) -> None:
    tenant = uuid.uuid4()
    status, created = await optimizer.call("POST", "/connections", tenant, meta_body())
    assert status == 201
    sent = await pull_tenant(optimizer.runtime, tenant)
    hours = (await _connection_row(optimizer, tenant))["metrics_pulled_until"]
    assert hours is not None and hours.minute == 0
    assert sent == 3 * 48  # three ad sets, the first pull reaches back 48 finished hours
    pool = await schema_pool(optimizer.settings, "optimizer")
    try:
        async with scoped(pool, tenant) as conn:
            bodies = await conn.fetch(
                """SELECT body FROM outbox WHERE tenant_id = $1
                   AND routing_key = 'metrics.recorded'""",
                tenant,
            )
    finally:
        await pool.close()
    assert len(bodies) == 1
    rows = bodies[0]["body"]["payload"]["metrics"]
    ids = {uuid.UUID(r["campaign_id"]) for r in rows}
    assert ids == {campaign_uuid("meta", "1234567890", a) for a in optimizer.graph.adsets}
    # again at once: only the last hours are read again
    assert await pull_tenant(optimizer.runtime, tenant) == 3 * 3
    await optimizer.call("DELETE", f"/connections/{created['id']}", tenant)


async def test_calls_through_the_tenants_connector_keep_its_status(optimizer: Optimizer) -> None:
    tenant = uuid.uuid4()
    status, created = await optimizer.call("POST", "/connections", tenant, meta_body())
    assert status == 201
    connector = await connector_for(optimizer.runtime, tenant)
    optimizer.graph.behaviour.token_expired = True
    try:
        with pytest.raises(AuthFailed):
            await connector.list_campaigns(tenant)
    finally:
        optimizer.graph.behaviour.token_expired = False

    async def status_now() -> str:
        await asyncio.sleep(0.05)
        return str((await _connection_row(optimizer, tenant))["status"])

    assert await _settled(status_now, "auth_failed")
    optimizer.graph.behaviour.rate_limited = 1
    with pytest.raises(RateLimited):
        await connector.list_campaigns(tenant)
    assert await _settled(status_now, "rate_limited")
    await connector.list_campaigns(tenant)
    assert await _settled(status_now, "ok")
    await optimizer.call("DELETE", f"/connections/{created['id']}", tenant)


async def _settled(probe: Any, wanted: str, tries: int = 40) -> bool:
    for _ in range(tries):
        if await probe() == wanted:
            return True
    return False


async def test_a_change_is_applied_on_meta_and_undone_with_metas_request_ids(
    optimizer: Optimizer,
) -> None:
    tenant = uuid.uuid4()
    status, created = await optimizer.call("POST", "/connections", tenant, meta_body())
    assert status == 201
    adset = sorted(optimizer.graph.adsets)[0]
    campaign = campaign_uuid("meta", "1234567890", adset)
    budget_before = optimizer.graph.adsets[adset]["daily_budget"]
    writes_before = len(optimizer.graph.writes)
    _, status, approved = await optimizer.approve_budget(tenant, campaign, 55.0)
    assert status == 200 and approved["status"] == "implemented", approved
    assert optimizer.graph.adsets[adset]["daily_budget"] == "5500"
    assert len(optimizer.graph.writes) == writes_before + 1
    status, page = await optimizer.call(
        "GET", f"/optimizations?target_entity_id={campaign}", tenant
    )
    assert status == 200
    (applied,) = page["items"]
    assert applied["connector"] == "meta" and applied["status"] == "applied"
    assert applied["platform_request_id"].startswith("AfakeTrace")

    status, undo = await optimizer.call(
        "POST", f"/optimizations/{applied['id']}/rollback", tenant, {}
    )
    assert status == 201 and undo["status"] == "applied", undo
    assert optimizer.graph.adsets[adset]["daily_budget"] == budget_before
    assert undo["platform_request_id"].startswith("AfakeTrace")
    assert undo["platform_request_id"] != applied["platform_request_id"]
    pool = await schema_pool(optimizer.settings, "optimizer")
    try:
        async with scoped(pool, tenant) as conn:
            events = await conn.fetch(
                """SELECT routing_key, body FROM outbox WHERE tenant_id = $1
                   AND routing_key IN ('optimization.applied', 'optimization.rolled_back')
                   ORDER BY id""",
                tenant,
            )
    finally:
        await pool.close()
    traces = [e["body"]["payload"]["platform_request_id"] for e in events]
    assert traces == [applied["platform_request_id"], undo["platform_request_id"]]

    async def logged() -> list[Any]:
        await asyncio.sleep(0.1)
        _, page = await optimizer.call("GET", "/integration-logs?operation=apply_change", tenant)
        return [r for r in page["items"] if r["integration_name"] == "meta"]

    for _ in range(50):
        calls = await logged()
        if len(calls) >= 2:
            break
    assert {c["response_payload"]["fbtrace_id"] for c in calls} == set(traces)

    # a connector built afresh (a restart, another replica) counts both budget changes
    registry_of(optimizer.runtime).forget(tenant)
    rebuilt = await connector_for(optimizer.runtime, tenant)
    meta = getattr(rebuilt, "inner", None)
    assert isinstance(meta, MetaConnector)
    assert meta.budget_changes_this_hour(campaign) == 2
    await optimizer.call("DELETE", f"/connections/{created['id']}", tenant)


async def test_the_limits_hold_a_fifth_budget_change_within_the_hour_on_meta(
    optimizer: Optimizer,
) -> None:
    tenant = uuid.uuid4()
    status, created = await optimizer.call("POST", "/connections", tenant, meta_body())
    assert status == 201
    adset = sorted(optimizer.graph.adsets)[1]
    campaign = campaign_uuid("meta", "1234567890", adset)
    writes_before = len(optimizer.graph.writes)

    async def approve(budget: float) -> dict[str, Any]:
        _, _, answer = await optimizer.approve_budget(tenant, campaign, budget)
        return dict(answer)

    for budget in (51.0, 52.0, 53.0, 54.0):
        assert (await approve(budget))["status"] == "implemented"
    assert len(optimizer.graph.writes) == writes_before + 4
    fifth = await approve(55.0)
    # held by the limits, before anything reached Meta, saying why
    assert len(optimizer.graph.writes) == writes_before + 4
    assert optimizer.graph.adsets[adset]["daily_budget"] == "5400"
    assert fifth["status"] == "failed", fifth
    assert fifth["failure_reason"].startswith("platform_limit: Meta allows 4 budget changes")
    await optimizer.call("DELETE", f"/connections/{created['id']}", tenant)
