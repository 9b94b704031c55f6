"""A tenant linked to Google Ads, on real PostgreSQL, through the optimizer's own HTTP
routes, with the connector reaching the fake Google Ads API (gRPC over TLS and its OAuth
token endpoint, tests/fakes/google_ads_server.py): the check on creation, the status a
refused grant or lasting throttling leaves, a change applied and rolled back with
Google's request ids on the optimization records, and the credentials found in no
answer, log line or row of the run."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.optimizer.core.platform import connector_for, connector_of
from shared.config import Settings
from shared.connectors import AuthFailed, RateLimited
from shared.connectors.google_ads import ENDPOINT_ENV, TOKEN_URI_ENV, GoogleAdsConnector
from shared.db import scoped
from tests.conftest import schema_pool
from tests.fakes.google_ads_server import (
    CLIENT_ID,
    DEVELOPER_TOKEN,
    REFRESH_TOKEN,
    GoogleAdsPlatform,
)
from tests.integration.optimizer_app import OptimizerApp, serving

pytestmark = pytest.mark.integration

# The fake's token endpoint does not check the client secret: plant a unique one.
CLIENT_SECRET = "planted-client-secret-" + uuid.uuid4().hex
SECRETS = (CLIENT_SECRET, REFRESH_TOKEN, DEVELOPER_TOKEN)


@dataclasses.dataclass
class Optimizer(OptimizerApp):
    google: GoogleAdsPlatform


@pytest.fixture(scope="module")
async def optimizer(settings: Settings) -> AsyncIterator[Optimizer]:
    google = await GoogleAdsPlatform.started()
    google.add_campaign("Search", daily_budget=50.0)
    google.add_campaign("Shopping", daily_budget=80.0, status="paused")
    try:
        env = {ENDPOINT_ENV: google.fake.endpoint, TOKEN_URI_ENV: google.fake.token_uri}
        async with serving(settings, "google_ads_connections", env) as (url, own, runtime):
            yield Optimizer(url, own, runtime, google)
    finally:
        await google.stop()


def google_body(**changes: Any) -> dict[str, Any]:
    return {
        "platform": "google_ads",
        "account_id": "123-456-7890",
        "time_zone": "America/New_York",
        "currency": "USD",
        "credentials": {
            "developer_token": DEVELOPER_TOKEN,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
            "login_customer_id": "111-222-3333",
        },
        **changes,
    }


async def _status(optimizer: Optimizer, tenant: uuid.UUID) -> str:
    await asyncio.sleep(0.05)
    pool = await schema_pool(optimizer.settings, "optimizer")
    try:
        async with scoped(pool, tenant) as conn:
            row = await conn.fetchrow(
                "SELECT status FROM ad_connections WHERE tenant_id = $1", tenant
            )
    finally:
        await pool.close()
    return str(row["status"])


async def _settled(optimizer: Optimizer, tenant: uuid.UUID, wanted: str) -> bool:
    for _ in range(40):
        if await _status(optimizer, tenant) == wanted:
            return True
    return False


async def test_a_google_ads_connection_is_checked_with_one_read(optimizer: Optimizer) -> None:
    tenant = uuid.uuid4()
    reads = len(optimizer.google.calls("read"))
    status, created = await optimizer.call("POST", "/connections", tenant, google_body())
    assert status == 201, created
    assert created["status"] == "ok" and created["status_reason"] is None, created
    # one list of campaigns: the campaigns and their ad groups
    assert len(optimizer.google.calls("read")) == reads + 2
    connector = await connector_for(optimizer.runtime, tenant)
    assert connector.name == "google_ads"
    assert connector is not connector_of(optimizer.runtime)
    snapshot = await connector.list_campaigns(tenant)
    assert sorted(c.name for c in snapshot.campaigns) == ["Search", "Shopping"]
    await optimizer.call("DELETE", f"/connections/{created['id']}", tenant)


async def test_a_customer_google_does_not_know_is_refused_on_creation(
    optimizer: Optimizer,
) -> None:
    tenant = uuid.uuid4()
    status, created = await optimizer.call(
        "POST", "/connections", tenant, google_body(account_id="999-999-9999")
    )
    assert status == 201, created
    assert created["status"] == "ok" and "check failed" in created["status_reason"], created
    await optimizer.call("DELETE", f"/connections/{created['id']}", tenant)


async def test_a_revoked_grant_and_lasting_throttling_show_in_the_status(
    optimizer: Optimizer,
) -> None:
    tenant = uuid.uuid4()
    status, created = await optimizer.call("POST", "/connections", tenant, google_body())
    assert status == 201 and created["status"] == "ok", created
    optimizer.google.fake.revoke_grant()
    try:
        status, checked = await optimizer.call(
            "POST", f"/connections/{created['id']}/check", tenant
        )
        assert status == 200 and checked["status"] == "auth_failed", checked
        assert not any(secret in str(checked) for secret in SECRETS)
    finally:
        optimizer.google.fake.grant_revoked = False
    status, checked = await optimizer.call("POST", f"/connections/{created['id']}/check", tenant)
    assert status == 200 and checked["status"] == "ok", checked

    connector = await connector_for(optimizer.runtime, tenant)
    # throttled on every one of the connector's attempts
    for _ in range(4):
        optimizer.google.inject("rate_limited", on="read", retry_delay=0.05)
    with pytest.raises(RateLimited) as limited:
        await connector.list_campaigns(tenant)
    assert limited.value.retry_after > 0
    assert await _settled(optimizer, tenant, "rate_limited")
    await connector.list_campaigns(tenant)
    assert await _settled(optimizer, tenant, "ok")
    optimizer.google.fake.revoke_grant()
    try:
        with pytest.raises(AuthFailed):
            await connector.list_campaigns(tenant)
        assert await _settled(optimizer, tenant, "auth_failed")
    finally:
        optimizer.google.fake.grant_revoked = False
    await optimizer.call("DELETE", f"/connections/{created['id']}", tenant)


async def test_a_change_is_applied_on_google_ads_and_undone_with_its_request_ids(
    optimizer: Optimizer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    google = optimizer.google
    tenant = uuid.uuid4()
    status, created = await optimizer.call("POST", "/connections", tenant, google_body())
    assert status == 201 and created["status"] == "ok", created
    campaign = google.campaign_uuid(sorted(google.fake.campaigns)[0])
    before = google.settings(campaign)["daily_budget"]
    rec, status, approved = await optimizer.approve_budget(tenant, campaign, 55.0)
    assert status == 200 and approved["status"] == "implemented", approved
    assert google.settings(campaign)["daily_budget"] == 55.0
    assert google.written("budget") == [55.0]
    status, page = await optimizer.call(
        "GET", f"/optimizations?target_entity_id={campaign}", tenant
    )
    assert status == 200
    (applied,) = page["items"]
    assert applied["connector"] == "google_ads" and applied["status"] == "applied"
    mutates = [c for c in google.calls("budget") if not c.validate_only]
    assert applied["platform_request_id"] == mutates[0].request_id

    status, undo = await optimizer.call(
        "POST", f"/optimizations/{applied['id']}/rollback", tenant, {}
    )
    assert status == 201 and undo["status"] == "applied", undo
    assert google.settings(campaign)["daily_budget"] == before
    assert google.written("budget") == [55.0, before]
    mutates = [c for c in google.calls("budget") if not c.validate_only]
    assert undo["platform_request_id"] == mutates[1].request_id != applied["platform_request_id"]

    async def logged() -> list[Any]:
        await asyncio.sleep(0.1)
        _, page = await optimizer.call(
            "GET", "/integration-logs?operation=apply_change:CampaignBudgetService", tenant
        )
        return [r for r in page["items"] if r["integration_name"] == "google_ads"]

    recorded: set[str] = set()
    for _ in range(50):
        recorded = {str((c["response_payload"] or {}).get("request_id")) for c in await logged()}
        if {applied["platform_request_id"], undo["platform_request_id"]} <= recorded:
            break
    assert {applied["platform_request_id"], undo["platform_request_id"]} <= recorded

    # the credentials appear in no answer, log line or row of the run
    pool = await schema_pool(optimizer.settings, "optimizer")
    try:
        async with scoped(pool, tenant) as conn:
            tables = await conn.fetch(
                """SELECT table_name FROM information_schema.tables
                   WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"""
            )
            for table in tables:
                rows = await conn.fetch(f'SELECT t::text AS r FROM "{table["table_name"]}" t')
                for row in rows:
                    for secret in SECRETS:
                        assert secret not in row["r"], table["table_name"]
    finally:
        await pool.close()
    for answer in (created, rec, approved, applied, undo):
        assert not any(secret in str(answer) for secret in SECRETS)
    for record in caplog.records:
        text = record.getMessage() + str(record.args or "") + str(record.__dict__)
        assert not any(secret in text for secret in SECRETS), record.getMessage()
    await optimizer.call("DELETE", f"/connections/{created['id']}", tenant)


async def test_the_connections_currency_reaches_its_connector(optimizer: Optimizer) -> None:
    tenant = uuid.uuid4()
    status, created = await optimizer.call("POST", "/connections", tenant, google_body())
    assert status == 201, created
    connector = getattr(await connector_for(optimizer.runtime, tenant), "inner", None)
    assert isinstance(connector, GoogleAdsConnector)
    assert (connector.currency, connector.account) == ("USD", tenant)
    assert connector.customer_id == "1234567890"
    status, changed = await optimizer.call(
        "PATCH", f"/connections/{created['id']}", tenant, {"currency": "JPY"}
    )
    assert status == 200 and changed["currency"] == "JPY", changed
    rebuilt = getattr(await connector_for(optimizer.runtime, tenant), "inner", None)
    assert isinstance(rebuilt, GoogleAdsConnector) and rebuilt is not connector
    # amounts are rounded to the currency's unit: a whole yen
    assert (rebuilt.currency, rebuilt.unit_micros) == ("JPY", 1_000_000)
    await optimizer.call("DELETE", f"/connections/{created['id']}", tenant)
