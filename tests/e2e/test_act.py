"""The platform acting on the sandbox ad platform: applying, recommending, refusing,
rolling back and running rules, end to end on real servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

import aiohttp
import pytest

from sandbox.simulator import campaign_id_for
from shared.config import Settings
from tests.e2e.conftest import Tenant, make_tenant
from tests.e2e.platform import Platform

pytestmark = pytest.mark.e2e

HOUR = timedelta(hours=1)
T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], within: float = 30.0, every: float = 0.3
) -> T:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await probe()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not seen within {within:g}s")
        await asyncio.sleep(every)


@dataclass
class Account:
    """One tenant with an ad account on the sandbox, and clients for both."""

    tenant: Tenant
    api: aiohttp.ClientSession
    sandbox: aiohttp.ClientSession
    campaigns: list[UUID]

    async def get(self, path: str, **params: str) -> Any:
        async with self.api.get(f"/api/ai{path}", params=params) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def post(
        self, path: str, body: Any = None, role: str = "admin", status: int | None = None
    ) -> tuple[int, Any]:
        async with self.api.post(
            f"/api/ai{path}", json=body, headers=self.tenant.headers(role)
        ) as r:
            data = await r.json()
            if status is not None:
                assert r.status == status, data
            return r.status, data

    async def autonomy(self, autonomy: str, limits: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"autonomy": autonomy}
        if limits is not None:
            body["safety_limits"] = limits
        async with self.api.put("/api/ai/preferences", json=body) as r:
            assert r.status == 200, await r.text()

    async def act_on_certain(self, limits: dict[str, Any] | None = None) -> None:
        """Autonomy ``act``, but only certain decisions (confidence 100) go through alone:
        the engine's own decisions on these campaigns wait as recommendations, so a test's
        hand-made decisions are the only changes."""
        await self.autonomy("act", {"min_confidence": 99.5, **(limits or {})})

    async def platform_campaign(self, campaign: UUID) -> dict[str, Any]:
        async with self.sandbox.get(f"/v1/accounts/{self.tenant.id}/campaigns/{campaign}") as r:
            assert r.status == 200, await r.text()
            data: dict[str, Any] = (await r.json())["campaign"]
            return data

    async def platform_changes(self) -> list[dict[str, Any]]:
        async with self.sandbox.get(f"/v1/accounts/{self.tenant.id}/changes") as r:
            assert r.status == 200, await r.text()
            data = await r.json()
            return list(data["changes"] if isinstance(data, dict) else data)

    async def advance(self, hours: int = 1) -> None:
        async with self.sandbox.post("/v1/clock/advance", json={"hours": hours}) as r:
            assert r.status == 200, await r.text()

    async def report(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        async with self.sandbox.get(
            f"/v1/accounts/{self.tenant.id}/reports/hourly",
            params={"start": start.isoformat(), "end": end.isoformat()},
        ) as r:
            assert r.status == 200, await r.text()
            return list((await r.json())["rows"])

    async def optimizations(self, **filters: str) -> list[dict[str, Any]]:
        return list((await self.get("/optimizations", **filters))["items"])

    async def decide(
        self, campaign: UUID, action: dict[str, Any], confidence: float, kind: str
    ) -> dict[str, Any]:
        """A decision logged by hand, as a subscriber's would be."""
        _, decision = await self.post(
            "/decisions",
            {
                "decision_type": kind,
                "context_data": {"campaign_id": str(campaign), "action": action},
                "decision_rationale": "test",
                "confidence_score": confidence,
                "action_taken": f"{action['kind']}_change",
            },
            status=201,
        )
        return decision


async def open_account(
    platform: Platform,
    settings: Settings,
    *,
    seed: int,
    campaigns: int = 3,
    backfill_hours: int = 48,
    anomalies: list[dict[str, Any]] | None = None,
) -> AsyncIterator[Account]:
    tenant = await make_tenant(settings, f"act-{uuid4().hex[:8]}")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(hours=backfill_hours + 72)
    async with (
        aiohttp.ClientSession(base_url=platform.gateway, headers=tenant.headers()) as api,
        aiohttp.ClientSession(base_url=platform.sandbox) as sandbox,
    ):
        async with sandbox.post(
            "/v1/accounts",
            json={
                "account_id": str(tenant.id),
                "campaigns": campaigns,
                "seed": seed,
                "start": start.isoformat(),
                "backfill_hours": backfill_hours,
                "api_key": tenant.keys["operator"],
                "anomalies": anomalies or [],
            },
        ) as r:
            assert r.status == 201, await r.text()
        ids = [campaign_id_for(seed, i) for i in range(campaigns)]
        yield Account(tenant, api, sandbox, ids)


@pytest.fixture
async def account(platform: Platform, settings: Settings) -> AsyncIterator[Account]:
    async for opened in open_account(platform, settings, seed=101):
        yield opened


async def test_campaigns_route_shows_the_platform_view(account: Account) -> None:
    await account.autonomy("act")
    # The view fills from the platform when the optimizer first reads it.
    decision = await account.decide(
        account.campaigns[0], {"kind": "budget", "to": 1.5}, 95.0, "budget_adjustment"
    )
    assert decision["id"]

    async def listed() -> list[dict[str, Any]] | None:
        items = (await account.get("/campaigns"))["items"]
        return items if len(items) == len(account.campaigns) else None

    items = await listed_or_fail(listed)
    platform_view = await account.platform_campaign(account.campaigns[1])
    mine = next(c for c in items if c["id"] == str(account.campaigns[1]))
    assert mine["daily_budget"] == pytest.approx(platform_view["daily_budget"])
    assert mine["audiences"] == platform_view["audiences"]
    one = await account.get(f"/campaigns/{account.campaigns[1]}")
    assert one["name"] == platform_view["name"]


async def listed_or_fail(probe: Callable[[], Awaitable[T | None]]) -> T:
    return await eventually(probe)


async def test_low_confidence_waits_for_approval_then_applies(account: Account) -> None:
    await account.act_on_certain()
    campaign = account.campaigns[0]
    before = await account.platform_campaign(campaign)
    target = round(before["daily_budget"] * 0.9, 2)
    decision = await account.decide(
        campaign, {"kind": "budget", "to": target}, 40.0, "budget_adjustment"
    )

    async def recommended() -> dict[str, Any] | None:
        items = (await account.get("/recommendations", source_decision_id=decision["id"]))["items"]
        return items[0] if items else None

    rec = await eventually(recommended)
    assert rec["status"] == "pending"
    assert rec["recommended_changes"]["to"] == pytest.approx(target)
    assert rec["recommended_changes"]["held_back"]["reason"] == "needs_approval"
    assert await account.platform_changes() == []

    _, approved = await account.post(f"/recommendations/{rec['id']}/approve", role="operator")
    assert approved["status"] == "implemented", approved
    after = await account.platform_campaign(campaign)
    assert after["daily_budget"] == pytest.approx(target)
    [history] = await account.optimizations(recommendation_id=rec["id"])
    assert history["status"] == "applied"
    assert history["decision_id"] == decision["id"]
    assert history["value_before"] == pytest.approx(before["daily_budget"])

    async def decision_says_applied() -> dict[str, Any] | None:
        logged = await account.get(f"/decisions/{decision['id']}")
        return logged if str(logged["action_taken"]).startswith("applied") else None

    await eventually(decision_says_applied)


async def test_redelivered_decision_is_applied_once(
    account: Account, platform: Platform, settings: Settings
) -> None:
    await account.act_on_certain()
    campaign = account.campaigns[1]
    before = await account.platform_campaign(campaign)
    target = round(before["daily_budget"] * 0.9, 2)
    decision = await account.decide(
        campaign, {"kind": "budget", "to": target}, 100.0, "budget_adjustment"
    )

    async def applied() -> list[dict[str, Any]] | None:
        rows = await account.optimizations(decision_id=decision["id"])
        return rows if rows and rows[0]["status"] == "applied" else None

    [first] = await eventually(applied)
    # The same decision.made again, as a broker redelivery or a second publisher would.
    from shared.bus import Bus
    from shared.contracts.decision import DECISION_MADE

    bus = Bus(settings.amqp_url, settings.exchange)
    await bus.connect()
    try:
        payload = {**decision, "campaign_id": str(campaign)}
        for _ in range(2):
            await bus.publish(
                DECISION_MADE.envelope(payload, tenant_id=account.tenant.id, source="decision")
            )
    finally:
        await bus.close()
    await asyncio.sleep(2.0)
    rows = await account.optimizations(decision_id=decision["id"])
    assert [r["id"] for r in rows] == [first["id"]]
    changes = [c for c in await account.platform_changes() if c["campaign_id"] == str(campaign)]
    assert len(changes) == 1
    assert changes[0]["change_id"] == first["change_id"]


async def test_platform_refusal_is_recorded_as_failed(account: Account) -> None:
    # Limits that let the cut through: the sandbox, not the limits, must say no.
    await account.act_on_certain(
        {"budget": {"max_step_share": 1.0, "max_daily_share": 1.0}, "cooldown_hours": 0}
    )
    campaign = account.campaigns[2]
    before = await account.platform_campaign(campaign)
    decision = await account.decide(
        campaign, {"kind": "budget", "to": 0.5}, 100.0, "budget_adjustment"
    )

    async def failed() -> list[dict[str, Any]] | None:
        rows = await account.optimizations(decision_id=decision["id"])
        return rows if rows and rows[0]["status"] == "failed" else None

    [row] = await eventually(failed)
    assert row["failure_code"] == "budget_below_minimum"
    assert "refused" in row["failure_reason"]
    assert (await account.platform_campaign(campaign))["daily_budget"] == before["daily_budget"]
    logs = (await account.get("/integration-logs", operation="apply_change"))["items"]
    assert any(log["status"] == "error" for log in logs)


async def test_rollback_restores_and_detects_later_changes(account: Account) -> None:
    # Only changes this test asks for get through on their own: the engine's own decisions
    # on the same campaign (confidence under 99.5) wait as recommendations.
    await account.act_on_certain(
        {"cooldown_hours": 0, "budget": {"max_step_share": 0.5, "max_daily_share": 1.0}}
    )
    campaign = account.campaigns[0]
    original = (await account.platform_campaign(campaign))["daily_budget"]

    async def apply(to: float) -> dict[str, Any]:
        decision = await account.decide(
            campaign, {"kind": "budget", "to": to}, 100.0, "budget_adjustment"
        )

        async def applied() -> dict[str, Any] | None:
            rows = await account.optimizations(decision_id=decision["id"])
            return rows[0] if rows and rows[0]["status"] != "pending" else None

        row = await eventually(applied)
        assert row["status"] == "applied", row
        return row

    first = await apply(round(original * 0.8, 2))
    second = await apply(round(original * 0.7, 2))

    status, conflict = await account.post(f"/optimizations/{first['id']}/rollback", {})
    assert status == 409
    assert conflict["error"]["code"] == "rollback_conflict"
    assert second["id"] in conflict["error"]["details"]["later_change_ids"]

    # Undo the latest, then the first is safe to undo.
    _, undo_second = await account.post(f"/optimizations/{second['id']}/rollback", status=201)
    assert undo_second["rollback_of"] == second["id"]
    assert (await account.platform_campaign(campaign))["daily_budget"] == pytest.approx(
        first["value_after"]
    )
    _, undo_first = await account.post(f"/optimizations/{first['id']}/rollback", {}, status=201)
    assert (await account.platform_campaign(campaign))["daily_budget"] == pytest.approx(original)
    # A rollback is an optimization too: undoing it brings the cut back.
    _, redo = await account.post(f"/optimizations/{undo_first['id']}/rollback", {}, status=201)
    assert redo["value_after"] == pytest.approx(first["value_after"])
    assert (await account.platform_campaign(campaign))["daily_budget"] == pytest.approx(
        first["value_after"]
    )
