"""Outages of PostgreSQL and RabbitMQ, made by cutting a proxy the services connect through.

The services (the gateway and alerts, as processes) reach both servers only through
``tests.chaos.TcpProxy``; cutting a proxy is, for them, the server going away, while the
shared servers themselves are never touched. The platform here has its own database and
exchange, so its outages reach no other test.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import jwt
import pytest

from adpilot.registry import migration_folders
from shared.bus import Bus
from shared.config import Settings
from shared.contracts import SERVICES
from shared.db import connect, migrate_all
from tests.chaos import TcpProxy
from tests.conftest import JWT_SECRET
from tests.e2e.conftest import Tenant, make_tenant
from tests.e2e.platform import Platform
from tests.helpers import eventually
from tests.infra import Servers, private_settings, run_id, with_database

pytestmark = [pytest.mark.e2e, pytest.mark.outage]

RUNNING = ("gateway", "alerts")


def through(url: str, proxy: TcpProxy) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = (
        f"{credentials}@{proxy.host}:{proxy.port}" if credentials else f"{proxy.host}:{proxy.port}"
    )
    return urlunsplit(parts._replace(netloc=netloc))


def proxy_to(url: str) -> TcpProxy:
    parts = urlsplit(url)
    return TcpProxy(parts.hostname or "127.0.0.1", parts.port or 0)


@dataclass
class Outages:
    platform: Platform
    database: TcpProxy
    broker: TcpProxy
    tenant: Tenant
    session: aiohttp.ClientSession

    def token(self, role: str = "admin") -> dict[str, str]:
        """A bearer token: checking it needs no database, unlike an API key."""
        now = int(time.time())
        claims = {
            "sub": "outage-user",
            "tenant_id": str(self.tenant.id),
            "role": role,
            "aud": "adpilot",
            "exp": now + 600,
        }
        return {"Authorization": "Bearer " + jwt.encode(claims, JWT_SECRET, algorithm="HS256")}

    async def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
        url = self.platform.gateway + path
        async with self.session.get(url, headers=headers) as response:
            return response.status, response.headers.copy(), await response.json()

    async def ready(self, service: str) -> int:
        url = f"{self.platform.settings.url_of(service)}/readyz"
        async with self.session.get(url) as response:
            return response.status

    def tracebacks(self) -> dict[str, str]:
        """Each service whose log holds a traceback, with the lines around the first."""
        found = {}
        for name in RUNNING:
            log = self.platform.log_of(name)
            at = log.find("Traceback")
            if at >= 0:
                found[name] = log[max(0, at - 600) : at + 1500]
        return found


@pytest.fixture(scope="module")
async def outages(
    infrastructure: Servers, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Outages]:
    direct = private_settings(
        infrastructure.database_server_url,
        infrastructure.amqp_url,
        f"outage.{run_id()}",
        outbox_poll_seconds=0.5,
        heartbeat_seconds=1.0,
        status_timeout_seconds=1.0,
        jwt_secret=JWT_SECRET,
    )
    await migrate_all(direct.database_url, migration_folders())
    database, broker = proxy_to(direct.database_url), proxy_to(direct.amqp_url)
    await database.start()
    await broker.start()
    proxied: Settings = direct.model_copy(
        update={
            "database_url": through(direct.database_url, database),
            "amqp_url": through(direct.amqp_url, broker),
        }
    )
    platform = Platform(proxied, tmp_path_factory.mktemp("outage-logs"))
    try:
        tenant = await make_tenant(direct, "outage-tenant", direct.default_tenant)
        for name in RUNNING:
            await platform.start(name)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
            yield Outages(platform, database, broker, tenant, session)
    finally:
        await platform.stop_all()
        await database.close()
        await broker.close()
        bus = Bus(direct.amqp_url, direct.exchange)
        try:
            await bus.connect()
            await bus.delete_topology([*SERVICES, "probe"])
        finally:
            await bus.close()
        admin = await connect(with_database(infrastructure.database_server_url, "postgres"))
        try:
            name = urlsplit(direct.database_url).path.lstrip("/")
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def assert_unavailable(status: int, headers: Any, body: Any) -> None:
    assert status == 503, (status, body)
    assert re.fullmatch(r"\d+", headers.get("Retry-After", "")), headers
    assert set(body["error"]) == {"code", "message", "details"}, body


async def test_a_database_outage_answers_503_with_retry_after_and_recovers(
    outages: Outages,
) -> None:
    key = outages.tenant.headers("admin")
    calls = {
        # The gateway checks the key in its database.
        "key lookup": ("/api/ai/alerts", key),
        # The token needs no database; alerts, behind the gateway, cannot read its own.
        "upstream read": ("/api/ai/alerts", outages.token()),
    }
    for path, headers in calls.values():
        status, _, body = await outages.get(path, headers)
        assert status == 200, body

    await outages.database.cut()
    try:
        for what, (path, headers) in calls.items():
            status, response_headers, body = await outages.get(path, headers)
            assert_unavailable(status, response_headers, body)
            if what == "key lookup":
                assert body["error"]["code"] == "dependency_unavailable", body
        # A write the gateway makes itself.
        async with outages.session.post(
            outages.platform.gateway + "/api/ai/keys",
            json={"name": "during outage", "role": "viewer"},
            headers=outages.token(),
        ) as response:
            assert_unavailable(response.status, response.headers, await response.json())
        # The status report says what is wrong rather than failing: with a token it can be
        # asked for, and it names the database as unreachable.
        status, _, report = await outages.get("/api/ai/system-status", outages.token("viewer"))
        assert status == 200, report
        assert report["status"] != "operational"
        assert report["services"]["gateway"]["database"]["reachable"] is False
        assert report["services"]["alerts"]["database"]["reachable"] is False
        # With a key it cannot tell who asks, and says so honestly.
        assert_unavailable(*await outages.get("/api/ai/system-status", key))
        for name in RUNNING:
            assert await outages.ready(name) == 503
    finally:
        await outages.database.restore()

    async def recovered() -> bool:
        for path, headers in calls.values():
            status, _, _ = await outages.get(path, headers)
            if status != 200:
                return False
        return True

    await eventually(recovered, 20)
    assert all([await outages.ready(name) == 200 for name in RUNNING])
    assert outages.tracebacks() == {}


def gauge(metrics: str, name: str, service: str) -> float | None:
    match = re.search(rf'^{name}{{service="{service}"}} (\S+)$', metrics, re.MULTILINE)
    return float(match.group(1)) if match else None


async def test_health_reports_the_broker_down_for_the_whole_outage(outages: Outages) -> None:
    viewer = outages.tenant.headers("viewer")
    metrics_url = outages.platform.gateway + "/metrics"

    async def report() -> dict[str, Any]:
        status, _, body = await outages.get("/api/ai/system-status", viewer)
        assert status == 200, body
        return dict(body)

    async def scrape() -> str:
        async with outages.session.get(metrics_url) as response:
            return await response.text()

    before = await report()
    gateway = before["services"]["gateway"]
    assert gateway["broker"]["connected"] is True
    for reading in ("outbox_backlog", "consumer_lag", "dead_letters"):
        assert isinstance(gateway[reading], int), (reading, gateway)
    assert gauge(await scrape(), "adpilot_broker_connected", "gateway") == 1

    await outages.broker.cut()
    try:

        async def noticed() -> bool:
            return all([await outages.ready(name) == 503 for name in RUNNING])

        await eventually(noticed, 10)
        during = await report()
        assert during["status"] != "operational"
        for name in RUNNING:
            assert during["services"][name]["broker"]["connected"] is False
            assert during["services"][name]["status"] == "degraded"

        # Heartbeats keep going into the outbox; nothing can leave it.
        async def backed_up() -> dict[str, Any]:
            gateway = (await report())["services"]["gateway"]
            return gateway if gateway["outbox_oldest_age_seconds"] else {}

        stuck, _ = await eventually(backed_up, 10)
        assert stuck["outbox_backlog"] >= 1
        metrics = await scrape()
        assert gauge(metrics, "adpilot_broker_connected", "gateway") == 0
        assert (gauge(metrics, "adpilot_outbox_backlog", "gateway") or 0) >= 1
    finally:
        await outages.broker.restore()

    async def back() -> bool:
        if not all([await outages.ready(name) == 200 for name in RUNNING]):
            return False
        services = (await report())["services"]
        return all(services[name]["broker"]["connected"] for name in RUNNING)

    await eventually(back, 30)

    async def drained() -> bool:
        return (await report())["services"]["gateway"]["outbox_backlog"] == 0

    await eventually(drained, 15)
    assert gauge(await scrape(), "adpilot_broker_connected", "gateway") == 1
    assert outages.tracebacks() == {}
