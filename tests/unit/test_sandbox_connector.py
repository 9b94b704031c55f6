"""The sandbox connector against the sandbox platform's HTTP server, on local test servers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sandbox.server import PLATFORM, create_app
from sandbox.simulator import campaign_id_for
from shared.config import Settings
from shared.connectors import (
    AdPlatformConnector,
    CallRecord,
    Change,
    ChangeRefused,
    ExperimentArm,
    PlatformUnavailable,
    UnknownAccount,
    connector_from_settings,
)
from shared.connectors.sandbox import SandboxConnector
from shared.retry import Backoff
from tests.infra import free_port

START = datetime(2025, 3, 3, tzinfo=UTC)
HOUR = timedelta(hours=1)
ACCOUNT = uuid.UUID("00000000-0000-0000-0000-0000000000bb")
SEED = 12
CAMPAIGNS = 3
FAST = Backoff(first=0.01, cap=0.02)


@dataclass
class Gateway:
    """A stand-in for the gateway's metrics route that keeps what it was sent."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str | None] = field(default_factory=list)
    refuse: int = 0

    async def metrics(self, request: web.Request) -> web.Response:
        if self.refuse:
            self.refuse -= 1
            return web.json_response({"error": {"code": "rejected"}}, status=400)
        self.keys.append(request.headers.get("Authorization"))
        self.bodies.append(await request.json())
        return web.json_response({"accepted": True}, status=202)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [row for body in self.bodies for row in body["metrics"]]


@dataclass
class Sandbox:
    server: TestServer
    gateway: Gateway
    calls: list[CallRecord]
    connector: SandboxConnector
    # The test's own look at the sandbox: not the connector's client, whose timeout is
    # short on purpose (a busy machine may take longer than that to create an account).
    http: aiohttp.ClientSession

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        async with self.http.post(self.url(path), json=body) as response:
            return response.status, await response.json()

    async def get(self, path: str) -> Any:
        async with self.http.get(self.url(path)) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def changes(self) -> list[dict[str, Any]]:
        return list((await self.get(f"/v1/accounts/{ACCOUNT}/changes"))["changes"])

    async def faults(self, **plan: Any) -> None:
        status, _ = await self.post("/v1/_faults", plan)
        assert status == 200


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    gateway = Gateway()
    gateway_app = web.Application()
    gateway_app.router.add_post("/api/ai/metrics", gateway.metrics)
    gateway_server = TestServer(gateway_app)
    await gateway_server.start_server()
    server = TestServer(create_app(gateway=str(gateway_server.make_url("")), gateway_patience=1.0))
    await server.start_server()
    calls: list[CallRecord] = []

    async def recorder(call: CallRecord) -> None:
        calls.append(call)

    connector = SandboxConnector(
        str(server.make_url("")), recorder=recorder, timeout_seconds=0.3, backoff=FAST
    )
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    found = Sandbox(server, gateway, calls, connector, http)
    status, body = await found.post(
        "/v1/accounts",
        {
            "account_id": str(ACCOUNT),
            "campaigns": CAMPAIGNS,
            "seed": SEED,
            "start": START.isoformat(),
            "backfill_hours": 24,
            "api_key": "demo-key",
        },
    )
    assert status == 201, body
    yield found
    await http.close()
    await connector.close()
    await server.close()
    await gateway_server.close()


CAMPAIGN = campaign_id_for(SEED, 0)


def test_the_connector_fulfils_the_interface() -> None:
    assert isinstance(SandboxConnector("http://127.0.0.1:1"), AdPlatformConnector)


async def test_injected_failures_are_retried_and_the_change_is_applied_once(
    sandbox: Sandbox,
) -> None:
    await sandbox.faults(fail_next=2, status=503)
    change_id = uuid.uuid4()
    receipt = await sandbox.connector.apply_change(
        ACCOUNT, CAMPAIGN, Change("budget", 250.0), change_id
    )
    assert receipt.change_id == change_id and not receipt.replayed
    assert receipt.campaign.daily_budget == 250.0
    assert receipt.effective_from == START + 24 * HOUR
    log = await sandbox.changes()
    assert [(e["change_id"], e["replays"]) for e in log] == [(str(change_id), 0)]
    assert [c.outcome for c in sandbox.calls] == ["error", "error", "success"]
    assert all(c.operation == "apply_change" and c.account == ACCOUNT for c in sandbox.calls)
    assert sandbox.calls[0].error is not None and "503" in sandbox.calls[0].error
    assert sandbox.calls[-1].request == {
        "account": str(ACCOUNT),
        "campaign_id": str(CAMPAIGN),
        "change_id": str(change_id),
        "kind": "budget",
        "value": 250.0,
    }
    assert sandbox.calls[-1].response is not None
    assert sandbox.calls[-1].response["replayed"] is False


async def test_an_answer_lost_after_the_change_is_replayed_on_retry(sandbox: Sandbox) -> None:
    await sandbox.faults(fail_next=1, status=500, after_apply=True)
    change_id = uuid.uuid4()
    receipt = await sandbox.connector.apply_change(
        ACCOUNT, CAMPAIGN, Change("status", "paused"), change_id
    )
    assert receipt.replayed and receipt.campaign.status == "paused"
    log = await sandbox.changes()
    assert [(e["change_id"], e["replays"]) for e in log] == [(str(change_id), 1)]
    assert [c.outcome for c in sandbox.calls] == ["error", "success"]


async def test_a_timed_out_change_retried_is_applied_once(sandbox: Sandbox) -> None:
    # the first request hangs past the client's timeout, then goes through anyway
    await sandbox.faults(fail_next=1, delay_seconds=0.6)
    change_id = uuid.uuid4()
    await sandbox.connector.apply_change(ACCOUNT, CAMPAIGN, Change("bid", 1.3), change_id)
    assert [c.outcome for c in sandbox.calls] == ["error", "success"]
    assert "Timeout" in (sandbox.calls[0].error or "")
    await asyncio.sleep(0.7)  # let the hung request finish on the server
    log = await sandbox.changes()
    assert [(e["change_id"], e["value"]) for e in log] == [(str(change_id), 1.3)]
    assert log[0]["replays"] == 1


@pytest.mark.parametrize(
    ("campaign", "change", "code"),
    [
        (CAMPAIGN, Change("budget", 0.5), "budget_below_minimum"),
        (uuid.UUID(int=7), Change("budget", 50.0), "unknown_campaign"),
    ],
)
async def test_refusals_carry_the_platform_code_and_are_not_retried(
    sandbox: Sandbox, campaign: uuid.UUID, change: Change, code: str
) -> None:
    with pytest.raises(ChangeRefused) as refused:
        await sandbox.connector.apply_change(ACCOUNT, campaign, change, uuid.uuid4())
    assert refused.value.code == code
    assert len(sandbox.calls) == 1 and sandbox.calls[0].outcome == "error"
    assert code in (sandbox.calls[0].error or "")
    assert await sandbox.changes() == []


async def test_a_reused_change_id_is_refused(sandbox: Sandbox) -> None:
    change_id = uuid.uuid4()
    await sandbox.connector.apply_change(ACCOUNT, CAMPAIGN, Change("bid", 1.1), change_id)
    with pytest.raises(ChangeRefused) as refused:
        await sandbox.connector.apply_change(ACCOUNT, CAMPAIGN, Change("bid", 1.4), change_id)
    assert refused.value.code == "change_id_reused"


async def test_an_unknown_account_is_told_apart(sandbox: Sandbox) -> None:
    stranger = uuid.uuid4()
    with pytest.raises(UnknownAccount) as raised:
        await sandbox.connector.list_campaigns(stranger)
    assert raised.value.account == stranger
    with pytest.raises(UnknownAccount):
        await sandbox.connector.apply_change(stranger, CAMPAIGN, Change("bid", 1.1), uuid.uuid4())
    assert len(sandbox.calls) == 2


async def test_a_platform_that_is_down_is_unavailable_after_every_attempt() -> None:
    calls: list[CallRecord] = []

    async def recorder(call: CallRecord) -> None:
        calls.append(call)

    connector = SandboxConnector(
        f"http://127.0.0.1:{free_port()}", recorder=recorder, attempts=3, backoff=FAST
    )
    try:
        with pytest.raises(PlatformUnavailable):
            await connector.apply_change(ACCOUNT, CAMPAIGN, Change("bid", 1.1), uuid.uuid4())
        with pytest.raises(PlatformUnavailable):
            await connector.list_campaigns(ACCOUNT)
    finally:
        await connector.close()
    assert [c.operation for c in calls] == ["apply_change"] * 3 + ["list_campaigns"] * 3
    assert all(c.outcome == "error" and c.response is None for c in calls)


async def test_reads_are_retried_too(sandbox: Sandbox) -> None:
    await sandbox.faults(fail_next=1, status=502, scope="any")
    snapshot = await sandbox.connector.list_campaigns(ACCOUNT)
    assert len(snapshot.campaigns) == CAMPAIGNS
    assert [c.outcome for c in sandbox.calls] == ["error", "success"]


async def test_a_recorder_that_fails_does_not_fail_the_call(sandbox: Sandbox) -> None:
    async def broken(call: CallRecord) -> None:
        raise RuntimeError("log store is down")

    connector = SandboxConnector(str(sandbox.server.make_url("")), recorder=broken)
    try:
        receipt = await connector.apply_change(
            ACCOUNT, CAMPAIGN, Change("audience", 1.5), uuid.uuid4()
        )
    finally:
        await connector.close()
    assert receipt.campaign.audience_factor == 1.5
    assert len(await sandbox.changes()) == 1


async def test_the_backfill_and_advanced_hours_reach_the_gateway_with_the_account_key(
    sandbox: Sandbox,
) -> None:
    assert len(sandbox.gateway.rows) == 24 * CAMPAIGNS
    status, clock = await sandbox.post("/v1/clock/advance", {"hours": 5})
    assert status == 200
    assert clock["accounts"][str(ACCOUNT)] == {
        "clock": (START + 29 * HOUR).isoformat(),
        "delivered": (START + 29 * HOUR).isoformat(),
    }
    rows = sandbox.gateway.rows
    assert sorted({r["hour"] for r in rows}) == [(START + i * HOUR).isoformat() for i in range(29)]
    assert len(rows) == 29 * CAMPAIGNS
    assert set(sandbox.gateway.keys) == {"Bearer demo-key"}
    # the platform's report says what the gateway was told
    report = await sandbox.connector.hourly_report(ACCOUNT, START, START + 48 * HOUR)
    assert len(report) == len(rows)
    pushed = {(r["campaign_id"], r["hour"]): r for r in rows}
    for row in report:
        sent = pushed[(str(row.campaign_id), row.hour.isoformat())]
        assert (row.impressions, row.clicks, row.spend) == (
            sent["impressions"],
            sent["clicks"],
            sent["spend"],
        )
    snapshot = await sandbox.connector.list_campaigns(ACCOUNT)
    assert snapshot.as_of == START + 29 * HOUR
    assert all(c.audiences for c in snapshot.campaigns)


async def test_advancing_one_account_leaves_the_others_clocks_alone(sandbox: Sandbox) -> None:
    other = uuid.uuid4()
    status, _ = await sandbox.post(
        "/v1/accounts",
        {
            "account_id": str(other),
            "campaigns": 1,
            "seed": SEED,
            "start": START.isoformat(),
            "backfill_hours": 24,
        },
    )
    assert status == 201
    status, clock = await sandbox.post("/v1/clock/advance", {"hours": 5, "account": str(other)})
    assert status == 200
    assert clock["accounts"][str(other)]["clock"] == (START + 29 * HOUR).isoformat()
    assert clock["accounts"][str(ACCOUNT)]["clock"] == (START + 24 * HOUR).isoformat()
    status, error = await sandbox.post(
        "/v1/clock/advance", {"hours": 1, "account": str(uuid.uuid4())}
    )
    assert status == 404, error


async def test_campaigns_respond_to_changes_made_through_the_connector(
    sandbox: Sandbox,
) -> None:
    reference = uuid.uuid4()
    status, _ = await sandbox.post(
        "/v1/accounts",
        {
            "account_id": str(reference),
            "campaigns": CAMPAIGNS,
            "seed": SEED,
            "start": START.isoformat(),
            "backfill_hours": 24,
        },
    )
    assert status == 201
    paused, cut, raised = (campaign_id_for(SEED, i) for i in range(CAMPAIGNS))
    snapshot = await sandbox.connector.list_campaigns(ACCOUNT)
    budget = snapshot.campaign(cut).daily_budget
    connector = sandbox.connector
    await connector.apply_change(ACCOUNT, paused, Change("status", "paused"), uuid.uuid4())
    await connector.apply_change(ACCOUNT, cut, Change("budget", budget / 2), uuid.uuid4())
    await connector.apply_change(ACCOUNT, raised, Change("bid", 2.0), uuid.uuid4())
    await sandbox.post("/v1/clock/advance", {"hours": 24})
    day = (START + 24 * HOUR, START + 48 * HOUR)
    changed = await connector.hourly_report(ACCOUNT, *day)
    normal = await connector.hourly_report(reference, *day)

    def total(rows: list[Any], campaign: uuid.UUID, field: str) -> float:
        return float(sum(getattr(r, field) for r in rows if r.campaign_id == campaign))

    assert total(changed, paused, "spend") == 0.0 and total(normal, paused, "spend") > 0
    assert total(changed, cut, "spend") < 0.6 * total(normal, cut, "spend")
    cpc_raised = total(changed, raised, "spend") / total(changed, raised, "clicks")
    cpc_normal = total(normal, raised, "spend") / total(normal, raised, "clicks")
    assert cpc_raised > 1.2 * cpc_normal
    # the day before the changes is the same on both accounts
    before = (START, START + 24 * HOUR)
    assert await connector.hourly_report(ACCOUNT, *before) == await connector.hourly_report(
        reference, *before
    )
    assert sandbox.server.app is not None
    assert len(sandbox.server.app[PLATFORM].accounts) == 2


def test_settings_choose_the_connector() -> None:
    settings = Settings(connector="sandbox", sandbox_url="http://sandbox.test:9000")
    connector = connector_from_settings(settings)
    assert isinstance(connector, SandboxConnector)
    assert connector.base_url == "http://sandbox.test:9000"
    assert Settings(sandbox_port=8111).url_of("sandbox") == "http://127.0.0.1:8111"
    with pytest.raises(ValueError, match="known: sandbox"):
        connector_from_settings(Settings(connector="adwords"))


async def test_hours_the_gateway_refused_are_sent_with_the_next_advance(
    sandbox: Sandbox,
) -> None:
    sandbox.gateway.refuse = 1
    status, body = await sandbox.post("/v1/clock/advance", {"hours": 2})
    assert status == 502 and body["error"]["code"] == "gateway_unavailable"
    clock = (await sandbox.get("/v1/clock"))["accounts"][str(ACCOUNT)]
    assert clock == {
        "clock": (START + 26 * HOUR).isoformat(),
        "delivered": (START + 24 * HOUR).isoformat(),
    }
    status, _ = await sandbox.post("/v1/clock/advance", {"hours": 1})
    assert status == 200
    hours = [r["hour"] for r in sandbox.gateway.rows]
    assert sorted(set(hours)) == [(START + i * HOUR).isoformat() for i in range(27)]
    assert len(hours) == 27 * CAMPAIGNS


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/v1/clock/advance", {"hours": 0}, 422, "invalid_request"),
        (
            "/v1/accounts",
            {"account_id": str(ACCOUNT), "campaigns": 2, "seed": 1},
            409,
            "account_exists",
        ),
        (
            f"/v1/accounts/{ACCOUNT}/campaigns/{CAMPAIGN}/changes",
            {"kind": "bid"},
            422,
            "invalid_request",
        ),
        (f"/v1/accounts/{ACCOUNT}/nowhere", {}, 404, "not_found"),
    ],
)
async def test_bad_requests_are_answered_with_an_error_code(
    sandbox: Sandbox, path: str, body: dict[str, Any], status: int, code: str
) -> None:
    answered, answer = await sandbox.post(path, body)
    assert (answered, answer["error"]["code"]) == (status, code)


async def test_an_ad_copy_experiment_through_the_connector(sandbox: Sandbox) -> None:
    connector = sandbox.connector
    experiment = uuid.uuid4()
    arms = [
        ExperimentArm("control", 0.5, {"conversion_rate": 0.02, "headline": "as is"}),
        ExperimentArm("B", 0.5, {"conversion_rate": 0.06}),
    ]
    started = await connector.start_experiment(ACCOUNT, CAMPAIGN, experiment, arms)
    assert started.status == "running" and started.as_of == START + 24 * HOUR
    assert [(v.name, v.users) for v in started.variants] == [("control", 0), ("B", 0)]
    # Sent again (a retry), the platform answers the same experiment.
    again = await connector.start_experiment(ACCOUNT, CAMPAIGN, experiment, arms)
    assert again == started
    with pytest.raises(ChangeRefused) as busy:
        await connector.start_experiment(ACCOUNT, CAMPAIGN, uuid.uuid4(), arms)
    assert busy.value.code == "experiment_running"
    with pytest.raises(ChangeRefused) as bad:
        await connector.start_experiment(
            ACCOUNT, campaign_id_for(SEED, 1), uuid.uuid4(), [ExperimentArm("x", 1.0)] * 2
        )
    assert bad.value.code == "invalid_request"

    status, _ = await sandbox.post("/v1/clock/advance", {"hours": 24})
    assert status == 200
    counted = await connector.experiment_results(ACCOUNT, CAMPAIGN, experiment)
    control, b = counted.variants
    assert counted.as_of == START + 48 * HOUR and control.users > 0 and b.users > 0
    assert b.conversions / b.users > control.conversions / control.users
    receipt = await connector.apply_change(ACCOUNT, CAMPAIGN, Change("creative", "B"), uuid.uuid4())
    assert receipt.campaign.creative == "B"
    with pytest.raises(ChangeRefused) as unknown:
        await connector.apply_change(ACCOUNT, CAMPAIGN, Change("creative", "Z"), uuid.uuid4())
    assert unknown.value.code == "unknown_creative"
    await sandbox.post("/v1/clock/advance", {"hours": 1})
    ended = await connector.experiment_results(ACCOUNT, CAMPAIGN, experiment)
    assert ended.status == "ended" and ended.variants == counted.variants
    with pytest.raises(ChangeRefused) as missing:
        await connector.experiment_results(ACCOUNT, CAMPAIGN, uuid.uuid4())
    assert missing.value.code == "unknown_experiment"
    # Campaigns outside the experiment answer as they always did: no creative at all.
    listed = await sandbox.get(f"/v1/accounts/{ACCOUNT}/campaigns")
    others = [c for c in listed["campaigns"] if c["campaign_id"] != str(CAMPAIGN)]
    assert others and all("creative" not in c for c in others)
    assert {c.operation for c in sandbox.calls} >= {"start_experiment", "experiment_results"}


async def test_a_platform_that_goes_down_as_a_change_reaches_it(sandbox: Sandbox) -> None:
    await sandbox.faults(fail_next=50, status=503, scope="from_change", after_apply=True)
    # Reads before the change are answered: a fault "from the change" is not armed yet.
    before = (await sandbox.connector.list_campaigns(ACCOUNT)).campaign(CAMPAIGN)
    change_id = uuid.uuid4()
    with pytest.raises(PlatformUnavailable):
        await sandbox.connector.apply_change(
            ACCOUNT, CAMPAIGN, Change("budget", before.daily_budget * 0.5), change_id
        )
    # The change was made, its answer lost, and nothing after it is answered.
    with pytest.raises(PlatformUnavailable):
        await sandbox.connector.list_campaigns(ACCOUNT)
    async with sandbox.http.delete(sandbox.url("/v1/_faults")) as response:
        assert response.status == 200
    [made] = await sandbox.changes()
    assert made["change_id"] == str(change_id)
