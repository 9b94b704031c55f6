"""What the connector contract suite needs from each connector under test.

A :class:`Harness` wraps one connector pointed at a platform the test controls (or a real
test account): it says how to list what the platform applied and how to make the platform
misbehave. Adding a connector to the suite is one factory in ``HARNESSES`` (see
``tests/connectors/README.md``).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from sandbox.server import create_app
from shared.connectors import AdPlatformConnector, CallRecord
from shared.connectors.google_ads import (
    connector_for_account as google_ads_connector_for_account,
)
from shared.connectors.meta import MetaConnector
from shared.connectors.sandbox import SandboxConnector
from shared.retry import Backoff
from tests.fakes.google_ads_server import REFRESH_TOKEN as GOOGLE_REFRESH_TOKEN
from tests.fakes.google_ads_server import GoogleAdsPlatform
from tests.fakes.meta_graph import MetaGraph
from tests.fakes.meta_graph import start as start_meta

ACCOUNT = uuid.UUID("00000000-0000-0000-0000-0000000000c7")
SANDBOX_START = datetime(2025, 3, 3, tzinfo=UTC)


def _cannot(what: str) -> Callable[[], Awaitable[None]]:
    async def skip() -> None:
        pytest.skip(f"this platform cannot be made to {what} from a test")

    return skip


@dataclass
class Harness:
    """One connector under test and the levers on its platform.

    ``applied()`` counts the changes the platform made (not previews, not replays);
    ``below_minimum`` is a daily budget the platform refuses; ``window`` a span with
    finished hours of metrics. The ``inject_*`` levers make the platform's next request
    fail: rate limited, with an expired token, or made and then never answered.
    """

    name: str
    connector: AdPlatformConnector
    account: uuid.UUID
    applied: Callable[[], Awaitable[int]]
    window: tuple[datetime, datetime]
    below_minimum: float = 0.5
    # The settings its platform lets the connector change.
    change_kinds: tuple[str, ...] = ("budget", "bid", "status")
    inject_rate_limit: Callable[[], Awaitable[None]] = field(default=_cannot("rate limit"))
    inject_expired_token: Callable[[], Awaitable[None]] = field(default=_cannot("expire a token"))
    inject_commit_then_drop: Callable[[], Awaitable[None]] = field(
        default=_cannot("drop an answer")
    )
    # Real accounts: read and preview only, unless writes are allowed explicitly.
    writes: bool = True
    calls: list[CallRecord] = field(default_factory=list)
    # Text that must never appear in a call record or an error (the credentials).
    secret: str | None = None


HarnessFactory = Callable[[], AbstractAsyncContextManager[Harness]]


@asynccontextmanager
async def sandbox_harness() -> AsyncIterator[Harness]:
    server = TestServer(create_app(gateway=None))
    await server.start_server()
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    calls: list[CallRecord] = []

    async def recorder(call: CallRecord) -> None:
        calls.append(call)

    connector = SandboxConnector(
        str(server.make_url("")),
        recorder=recorder,
        timeout_seconds=0.3,
        backoff=Backoff(first=0.01, cap=0.02),
    )

    async def post(path: str, body: dict[str, Any]) -> None:
        async with http.post(str(server.make_url(path)), json=body) as response:
            assert response.status in (200, 201), await response.text()

    async def applied() -> int:
        async with http.get(str(server.make_url(f"/v1/accounts/{ACCOUNT}/changes"))) as answer:
            return len((await answer.json())["changes"])

    await post(
        "/v1/accounts",
        {
            "account_id": str(ACCOUNT),
            "campaigns": 3,
            "seed": 5,
            "start": SANDBOX_START.isoformat(),
            "backfill_hours": 24,
            "api_key": "demo-key",
        },
    )

    async def rate_limit() -> None:
        await post("/v1/_faults", {"fail_next": 1, "status": 429, "scope": "any"})

    async def expire() -> None:
        await post("/v1/_faults", {"fail_next": 50, "status": 401, "scope": "any"})

    async def drop() -> None:
        await post("/v1/_faults", {"fail_next": 1, "delay_seconds": 0.6})

    try:
        yield Harness(
            "sandbox",
            connector,
            ACCOUNT,
            applied,
            (SANDBOX_START, SANDBOX_START + timedelta(hours=24)),
            inject_rate_limit=rate_limit,
            inject_expired_token=expire,
            inject_commit_then_drop=drop,
            calls=calls,
        )
    finally:
        await connector.close()
        await http.close()
        await server.close()


META_TOKEN = "EAAfakeSystemUserToken-" + uuid.uuid4().hex


@asynccontextmanager
async def meta_fake_harness() -> AsyncIterator[Harness]:
    graph = MetaGraph(token=META_TOKEN)
    graph.seed(3)
    graph.behaviour.drop_seconds = 1.0
    server = await start_meta(graph)
    calls: list[CallRecord] = []

    async def recorder(call: CallRecord) -> None:
        calls.append(call)

    connector = MetaConnector(
        f"act_{graph.account}",
        META_TOKEN,
        recorder=recorder,
        time_zone=graph.time_zone,
        graph_url=str(server.make_url("")),
        timeout_seconds=0.5,
    )

    async def applied() -> int:
        return len(graph.writes)

    async def rate_limit() -> None:
        graph.behaviour.rate_limited = 1

    async def expire() -> None:
        graph.behaviour.token_expired = True

    async def drop() -> None:
        graph.behaviour.commit_then_drop = 1

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    try:
        yield Harness(
            "meta",
            connector,
            ACCOUNT,
            applied,
            (now - timedelta(hours=6), now),
            below_minimum=graph.behaviour.min_daily_budget / 100 / 2,
            inject_rate_limit=rate_limit,
            inject_expired_token=expire,
            inject_commit_then_drop=drop,
            calls=calls,
            secret=META_TOKEN,
        )
    finally:
        await connector.close()
        await server.close()


# Real test accounts: each runs only when its credentials are in the environment.
META_REAL_ENV = ("ADPILOT_TEST_META_ACCESS_TOKEN", "ADPILOT_TEST_META_ACCOUNT_ID")


@asynccontextmanager
async def meta_real_harness() -> AsyncIterator[Harness]:
    missing = [name for name in META_REAL_ENV if not os.environ.get(name)]
    if missing:
        pytest.skip(f"real Meta test account: set {', '.join(missing)} to run")
    token = os.environ[META_REAL_ENV[0]]
    connector = MetaConnector(
        os.environ[META_REAL_ENV[1]],
        token,
        time_zone=os.environ.get("ADPILOT_TEST_META_TIME_ZONE", "UTC"),
    )

    async def applied() -> int:
        pytest.skip("a real account does not tell how many changes it applied")

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    try:
        yield Harness(
            "meta-real",
            connector,
            ACCOUNT,
            applied,
            (now - timedelta(hours=24), now),
            writes=os.environ.get("ADPILOT_TEST_REAL_WRITES") == "1",
            secret=token,
        )
    finally:
        await connector.close()


@asynccontextmanager
async def google_ads_fake_harness() -> AsyncIterator[Harness]:
    """The fake Google Ads API (gRPC over TLS and an OAuth token endpoint).

    Where Google differs, the levers say so: the connector retries a quota error within
    its own attempts (waiting the ``retry_delay`` Google sends), so a rate limit the
    caller sees is throttling on every attempt; it refreshes an expired access token by
    itself, so credentials fail when the user revokes the grant behind the refresh token."""
    platform = await GoogleAdsPlatform.started()
    calls: list[CallRecord] = []

    async def recorder(call: CallRecord) -> None:
        calls.append(call)

    attempts = 3
    connector = platform.connector(
        recorder=recorder,
        timeout_seconds=0.5,
        attempts=attempts,
        backoff=Backoff(first=0.01, cap=0.02),
        sleep=asyncio.sleep,
    )
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    zone = ZoneInfo(platform.fake.time_zone)
    for n, budget in enumerate((40.0, 80.0, 120.0)):
        campaign = platform.add_campaign(f"Search {n + 1}", daily_budget=budget, bids=(0.8,))
        for back in range(1, 7):
            local = (now - timedelta(hours=back)).astimezone(zone)
            platform.add_local_hour(
                campaign,
                local.date(),
                local.hour,
                impressions=900 + 10 * back,
                clicks=40 + back,
                cost_micros=(5 + back) * 1_000_000,
                conversions=2.0,
                conversions_value=60.0,
            )

    async def applied() -> int:
        return platform.writes()

    async def rate_limit() -> None:
        for _ in range(attempts):
            platform.inject("rate_limited", on="read", retry_delay=0.05)

    async def expire() -> None:
        platform.fake.revoke_grant()

    async def drop() -> None:
        platform.inject("commit_then_drop", on="budget")

    try:
        yield Harness(
            "google_ads",
            connector,
            platform.account,
            applied,
            (now - timedelta(hours=6), now),
            below_minimum=platform.fake.min_budget_micros / 1_000_000 / 2,
            inject_rate_limit=rate_limit,
            inject_expired_token=expire,
            inject_commit_then_drop=drop,
            calls=calls,
            secret=GOOGLE_REFRESH_TOKEN,
        )
    finally:
        await connector.close()
        await platform.stop()


GOOGLE_ADS_REAL_ENV = (
    "ADPILOT_TEST_GOOGLE_ADS_DEVELOPER_TOKEN",
    "ADPILOT_TEST_GOOGLE_ADS_CLIENT_ID",
    "ADPILOT_TEST_GOOGLE_ADS_CLIENT_SECRET",
    "ADPILOT_TEST_GOOGLE_ADS_REFRESH_TOKEN",
    "ADPILOT_TEST_GOOGLE_ADS_CUSTOMER_ID",
)


@asynccontextmanager
async def google_ads_real_harness() -> AsyncIterator[Harness]:
    """A real Google Ads test account (a test manager account's developer token works
    on test accounts only); ``ADPILOT_TEST_GOOGLE_ADS_LOGIN_CUSTOMER_ID``,
    ``..._TIME_ZONE`` and ``..._CURRENCY`` are optional."""
    missing = [name for name in GOOGLE_ADS_REAL_ENV if not os.environ.get(name)]
    if missing:
        pytest.skip(f"real Google Ads test account: set {', '.join(missing)} to run")
    token, client_id, client_secret, refresh, customer = (
        os.environ[name] for name in GOOGLE_ADS_REAL_ENV
    )
    connector = google_ads_connector_for_account(
        customer,
        os.environ.get("ADPILOT_TEST_GOOGLE_ADS_TIME_ZONE", "UTC"),
        {
            "developer_token": token,
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh,
            "login_customer_id": os.environ.get("ADPILOT_TEST_GOOGLE_ADS_LOGIN_CUSTOMER_ID", ""),
        },
        currency=os.environ.get("ADPILOT_TEST_GOOGLE_ADS_CURRENCY", "USD"),
        account=ACCOUNT,
    )

    async def applied() -> int:
        pytest.skip("a real account does not tell how many changes it applied")

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    try:
        yield Harness(
            "google_ads-real",
            connector,
            ACCOUNT,
            applied,
            (now - timedelta(hours=24), now),
            writes=os.environ.get("ADPILOT_TEST_REAL_WRITES") == "1",
            secret=refresh,
        )
    finally:
        await connector.close()


# The connectors the suite runs against, by test id.
HARNESSES: dict[str, HarnessFactory] = {
    "sandbox": sandbox_harness,
    "meta": meta_fake_harness,
    "meta-real": meta_real_harness,
    "google_ads": google_ads_fake_harness,
    "google_ads-real": google_ads_real_harness,
}
