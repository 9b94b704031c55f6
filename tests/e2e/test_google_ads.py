"""A tenant links a Google Ads account through the gateway (the Google Ads API being a fake
on local ports: gRPC over TLS and an OAuth token endpoint): validation, the check on
creation and after the grant is revoked, metrics pulled from the account, a conversion
collapse there opening an incident, the decision's change applied on Google Ads and undone
with Google's request ids in the audit trail, a change a person approved made and undone
too; and the client secret, planted once, found in no answer, log line, event, outbox or
audit row of the run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from shared.config import Settings
from shared.db import connect
from tests.e2e.conftest import Tenant, make_tenant
from tests.e2e.platform import GOOGLE_ADS_PORT, GOOGLE_ADS_TOKEN_PORT, Platform
from tests.fakes.google_ads_server import (
    CLIENT_ID,
    DEVELOPER_TOKEN,
    REFRESH_TOKEN,
    FakeGoogleAds,
    GoogleAdsPlatform,
)

pytestmark = pytest.mark.e2e

# The fake's token endpoint does not check the client secret: plant a unique one.
SECRET = "e2e-planted-client-secret-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
async def google() -> AsyncIterator[GoogleAdsPlatform]:
    fake = FakeGoogleAds(port=GOOGLE_ADS_PORT, token_port=GOOGLE_ADS_TOKEN_PORT)
    await fake.start()
    google = GoogleAdsPlatform(fake, uuid.uuid4())
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    zone = ZoneInfo(fake.time_zone)
    # Search: half a day of steady figures. Shopping: nine days, enough for a baseline at
    # every hour of day, converting like clockwork until the test makes it stop.
    for name, budget, days in (("Search", 50.0, 0.5), ("Shopping", 80.0, 9)):
        campaign = google.add_campaign(name, daily_budget=budget)
        for back in range(1, round(days * 24) + 1):
            local = (now - timedelta(hours=back)).astimezone(zone)
            google.add_local_hour(
                campaign,
                local.date(),
                local.hour,
                impressions=1000 + local.hour,
                clicks=200 + local.hour % 5,
                cost_micros=2_000_000 + 10_000 * local.hour,
                conversions=10.0 + local.hour % 3,
                conversions_value=25.0 * (10 + local.hour % 3),
            )
    try:
        yield google
    finally:
        await fake.stop()


@pytest.fixture(scope="module")
async def linked(platform: Platform, settings: Settings) -> Tenant:
    return await make_tenant(settings, f"google-ads-{uuid.uuid4().hex[:8]}")


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
    "platform": "google_ads",
    "account_id": "123-456-7890",
    "time_zone": "America/New_York",
    "currency": "USD",
    "credentials": {
        "developer_token": DEVELOPER_TOKEN,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "refresh_token": REFRESH_TOKEN,
        "login_customer_id": "111-222-3333",
    },
}


async def test_a_google_ads_account_is_linked_acted_on_and_its_secret_never_shows(
    platform: Platform, settings: Settings, google: GoogleAdsPlatform, linked: Tenant
) -> None:
    answers: list[Any] = []

    async def api(method: str, path: str, body: Any = None, role: str = "admin") -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession(base_url=platform.gateway, headers=linked.headers(role)) as s,
            s.request(method, f"/api/ai{path}", json=body) as r,
        ):
            answer = await r.json()
        answers.append(answer)
        return r.status, answer

    status, _ = await api("POST", "/connections", BODY, role="operator")
    assert status == 403
    status, bad = await api("POST", "/connections", {**BODY, "account_id": "customers/12"})
    assert status == 422 and bad["error"]["details"]["fields"][0]["field"] == "account_id"
    status, bad = await api(
        "POST", "/connections", {**BODY, "credentials": {**BODY["credentials"], "x": SECRET}}
    )
    assert status == 422
    assert [f["field"] for f in bad["error"]["details"]["fields"]] == ["credentials.x"]

    # Shopping stops converting six hours ago; the tenant lets the platform act
    search, shopping = (google.campaign_uuid(g) for g in sorted(google.fake.campaigns))
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    google.collapse(shopping, now - timedelta(hours=6))
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
        _, page = await api("GET", f"/alerts?affected_entity_id={shopping}")
        return page["items"]

    alerts = await eventually(incident, 120)
    assert alerts[0]["affected_entity_id"] == str(shopping)

    # the platform acts on Google Ads, and the change is undone, Google's request ids on
    # record
    async def acted() -> Any:
        _, page = await api("GET", f"/optimizations?target_entity_id={shopping}&status=applied")
        return page["items"]

    (decided,) = await eventually(acted, 120)
    assert decided["connector"] == "google_ads" and decided["cause_type"] == "decision", decided
    answered = {c.request_id for c in google.calls() if c.succeeded and not c.validate_only}
    assert decided["platform_request_id"] in answered
    untouched = {"daily_budget": 80.0, "status": "active", "bids": [1.0]}
    assert google.settings(shopping) != untouched, "the decision's change is not on Google Ads"
    status, undo = await api("POST", f"/optimizations/{decided['id']}/rollback", {})
    assert status == 201 and undo["status"] == "applied", undo
    assert google.settings(shopping) == untouched
    answered = {c.request_id for c in google.calls() if c.succeeded and not c.validate_only}
    assert undo["platform_request_id"] in answered
    assert undo["platform_request_id"] != decided["platform_request_id"]

    async def rolled_back(request_id: str) -> Any:
        _, page = await api("GET", "/audit-trail?action=optimization.rolled_back")
        entries = page["items"]
        return [e for e in entries if e["after_state"].get("platform_request_id") == request_id]

    await eventually(lambda: rolled_back(undo["platform_request_id"]))
    status, page = await api("GET", "/audit-trail?action=optimization.applied")
    assert decided["platform_request_id"] in {
        e["after_state"].get("platform_request_id") for e in page["items"]
    }

    # a change approved by a person is made on Google Ads, and undone
    campaign = search
    status, rec = await api(
        "POST",
        "/recommendations",
        {
            "recommendation_type": "budget_optimization",
            "target_entity_type": "campaign",
            "target_entity_id": str(campaign),
            "recommended_changes": {"kind": "budget", "to": 55.0},
        },
    )
    assert status == 201, rec
    status, approved = await api("POST", f"/recommendations/{rec['id']}/approve")
    assert status == 200 and approved["status"] == "implemented", approved
    assert google.settings(campaign)["daily_budget"] == 55.0
    status, page = await api("GET", f"/optimizations?target_entity_id={campaign}&status=applied")
    (applied,) = page["items"]
    assert applied["connector"] == "google_ads"
    mutates = [c for c in google.calls("budget") if not c.validate_only]
    assert applied["platform_request_id"] == mutates[-1].request_id
    status, undo = await api("POST", f"/optimizations/{applied['id']}/rollback", {})
    assert status == 201 and undo["status"] == "applied", undo
    assert google.settings(campaign)["daily_budget"] == 50.0
    mutates = [c for c in google.calls("budget") if not c.validate_only]
    assert undo["platform_request_id"] == mutates[-1].request_id

    (entry,) = await eventually(lambda: rolled_back(undo["platform_request_id"]))
    assert entry["after_state"]["platform_request_id"] == undo["platform_request_id"]

    # the user withdraws access: the check says so
    google.fake.revoke_grant()
    try:
        status, checked = await api("POST", f"/connections/{created['id']}/check")
    finally:
        google.fake.grant_revoked = False
    assert status == 200 and checked["status"] == "auth_failed", checked
    status, _ = await api("DELETE", f"/connections/{created['id']}")
    assert status == 200

    # nowhere: answers, service logs, and every row of every schema's tables
    assert all(SECRET not in str(answer) for answer in answers)
    for name in list(platform.processes):
        log = platform.log_of(name)
        assert SECRET not in log and DEVELOPER_TOKEN not in log, f"{name}'s log"
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
