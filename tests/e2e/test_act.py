"""The platform acting on the sandbox ad platform: applying, recommending, refusing,
rolling back and running rules, end to end on real servers."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

import aiohttp
import pytest

from sandbox.simulator import campaign_id_for
from shared.config import Settings
from shared.db import connect
from tests.clock import simulated_now
from tests.e2e.conftest import Tenant, make_tenant, optimizer_follows
from tests.e2e.platform import Platform

pytestmark = pytest.mark.e2e

HOUR = timedelta(hours=1)
T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], within: float = 60.0, every: float = 0.3
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
    settings: Settings

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
            preferences = await r.json()
        await optimizer_follows(self.settings, self.tenant.id, preferences)

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

    async def advance(self, hours: int = 1) -> datetime:
        """Finish ``hours`` more hours of this account and push them to the gateway; the
        account's clock after it. This account's clock only: the session's other accounts
        keep theirs, and each stays within the hours its test left before the present."""
        body = {"hours": hours, "account": str(self.tenant.id)}
        async with self.sandbox.post("/v1/clock/advance", json=body) as r:
            assert r.status == 200, await r.text()
            clock = (await r.json())["accounts"][str(self.tenant.id)]["clock"]
        return datetime.fromisoformat(clock)

    async def engine_caught_up(self, clock: datetime, within: float = 120.0) -> None:
        """Wait until a cycle has decided on every hour before ``clock`` and each decision it
        made is settled (applied, refused, recommended or skipped).

        The engine runs the cycles of every tenant the session made, in turn, so how many
        simulated hours pass between two cycles of this one would otherwise depend on how
        busy it is; a test that moves the clock only once the engine has caught up sees the
        same decisions, hour by hour, however many tests ran before it."""

        async def decided() -> str | None:
            steps = await self.get(
                "/workflow-states", workflow_type="master_cycle", status="completed"
            )
            for step in steps["items"]:
                as_of = (step["output_data"] or {}).get("as_of")
                if step["step_name"] == "gather" and as_of:
                    if datetime.fromisoformat(as_of) >= clock:
                        return str(step["workflow_id"])
            return None

        cycle_id = await eventually(decided, within=within, every=0.1)

        async def settled() -> bool:
            cycle = await self.get(f"/cycles/{cycle_id}")
            if cycle["status"] in ("pending", "running"):
                return False
            decisions = (await self.get("/decisions", cycle_id=cycle_id))["items"]
            return all(d["outcome"] is not None for d in decisions if d["action_taken"])

        await eventually(settled, within=within, every=0.1)

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
    headroom_hours: int = 72,
    preferences: dict[str, Any] | None = None,
    auctions: dict[str, Any] | None = None,
) -> AsyncIterator[Account]:
    """A tenant and its sandbox account, whose history the sandbox sends at once.
    ``preferences`` are the tenant's from before the history arrives, so the engine's first
    cycle already decides under them."""
    tenant = await make_tenant(settings, f"act-{uuid4().hex[:8]}")
    # History ends ``headroom_hours`` before the simulated present (tests/clock.py), so the
    # account's clock may be advanced that far before it reaches it.
    start = simulated_now() - timedelta(hours=backfill_hours + headroom_hours)
    async with (
        aiohttp.ClientSession(base_url=platform.gateway, headers=tenant.headers()) as api,
        aiohttp.ClientSession(base_url=platform.sandbox) as sandbox,
    ):
        if preferences is not None:
            async with api.put("/api/ai/preferences", json=preferences) as r:
                assert r.status == 200, await r.text()
                answer = await r.json()
            await optimizer_follows(settings, tenant.id, answer)
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
                **({"auctions": auctions} if auctions is not None else {}),
            },
        ) as r:
            assert r.status == 201, await r.text()
        ids = [campaign_id_for(seed, i) for i in range(campaigns)]
        yield Account(tenant, api, sandbox, ids, settings)


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

    await listed_or_fail(listed)

    # The engine may change the campaign between two reads; the view follows the platform.
    async def agrees() -> bool:
        platform_view = await account.platform_campaign(account.campaigns[1])
        mine = await account.get(f"/campaigns/{account.campaigns[1]}")
        return (
            mine["daily_budget"] == pytest.approx(platform_view["daily_budget"])
            and mine["audiences"] == platform_view["audiences"]
        )

    await eventually(agrees)
    platform_view = await account.platform_campaign(account.campaigns[1])
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
        outcome = logged["outcome"] or {}
        return logged if outcome.get("status") == "applied" else None

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

    async def settled() -> list[dict[str, Any]] | None:
        rows = await account.optimizations(decision_id=decision["id"])
        return rows if rows and rows[0]["status"] in ("applied", "failed") else None

    # A minute: the first test of its platform, while others start theirs beside it.
    [first] = await eventually(settled, within=60.0)
    assert first["status"] == "applied", first
    # The same decision.made again, as a broker redelivery or a second publisher would.
    from shared.bus import Bus
    from shared.contracts.decision import DECISION_MADE

    payload = {**decision, "campaign_id": str(campaign)}
    again = [
        DECISION_MADE.envelope(payload, tenant_id=account.tenant.id, source="decision")
        for _ in range(2)
    ]
    bus = Bus(settings.amqp_url, settings.exchange)
    await bus.connect()
    try:
        for envelope in again:
            await bus.publish(envelope)
    finally:
        await bus.close()
    # The optimizer has taken both (its inbox holds their ids) and done what it does.
    conn = await connect(settings.database_url)
    try:

        async def consumed() -> bool:
            taken = await conn.fetchval(
                "SELECT count(*) FROM optimizer.inbox WHERE consumer = 'optimizer' "
                "AND event_id = ANY($1::uuid[])",
                [e.event_id for e in again],
            )
            return bool(taken == len(again))

        await eventually(consumed)
    finally:
        await conn.close()
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

    # Calls are logged by a writer of their own, a moment after they are made.
    async def logged() -> list[dict[str, Any]] | None:
        logs = (await account.get("/integration-logs", operation="apply_change"))["items"]
        return [log for log in logs if log["status"] == "error"] or None

    await eventually(logged)


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


def _cpa(rows: list[dict[str, Any]]) -> float:
    spend = sum(r["spend"] for r in rows)
    conversions = sum(r["conversions"] for r in rows)
    return spend / conversions if conversions else float("inf")


def stop_loss(threshold: float) -> dict[str, Any]:
    """CPA over ``threshold`` for 6 hours, or that much spent with no conversion at all."""
    six = {"last_hours": 6}
    return {
        "any": [
            {"left": {"metric": "cpa", "timeframe": six}, "op": ">", "right": {"value": threshold}},
            {
                "all": [
                    {
                        "left": {"metric": "conversions", "timeframe": six},
                        "op": "==",
                        "right": {"value": 0},
                    },
                    {
                        "left": {"metric": "spend", "timeframe": six},
                        "op": ">",
                        "right": {"value": threshold},
                    },
                ]
            },
        ]
    }


@pytest.fixture
async def costly(platform: Platform, settings: Settings) -> AsyncIterator[Account]:
    """Three campaigns; from the clock's hour on, the first pays five times as much for
    each click, so each conversion costs five times as much. (A conversion collapse would
    do too, but the engine itself pauses a campaign whose conversions vanish, which would
    leave the rule nothing to do.)"""
    backfill = 48
    anomaly = {
        "kind": "cpc_jump",
        "campaign_index": 0,
        "start_hour": backfill,
        "hours": 24,
        "magnitude": 5.0,
    }
    async for opened in open_account(
        platform, settings, seed=202, backfill_hours=backfill, anomalies=[anomaly]
    ):
        yield opened


async def test_stop_loss_rule_pauses_only_the_costly_campaign(costly: Account) -> None:
    account = costly
    # No cooldown: a bid change the engine may make on the costly campaign first must not
    # hold the rule's pause back.
    await account.act_on_certain({"cooldown_hours": 0})
    clock = await account.sandbox.get("/v1/clock")
    now = datetime.fromisoformat((await clock.json())["accounts"][str(account.tenant.id)]["clock"])
    history = await account.report(now - timedelta(hours=48), now)
    normal = {
        c: _cpa([r for r in history if r["campaign_id"] == str(c)]) for c in account.campaigns
    }
    # A target every campaign meets today: three times it is far above each one's CPA.
    target = max(normal.values())
    _, rule = await account.post(
        "/automation-rules",
        {
            "rule_name": "stop-loss: CPA over 3x target for 6 hours",
            "rule_type": "campaign_control",
            "trigger_conditions": stop_loss(3 * target),
            "action_parameters": [
                {"type": "pause"},
                {"type": "notify", "severity": "high", "message": "stop-loss: paused"},
            ],
            "execution_frequency": "hourly",
        },
        status=201,
    )

    async def paused() -> list[dict[str, Any]] | None:
        await account.advance(1)
        rows = await account.optimizations(rule_id=rule["id"])
        return rows if any(r["status"] == "applied" for r in rows) else None

    rows = await eventually(paused, within=60.0, every=1.0)
    assert {r["target_entity_id"] for r in rows} == {str(account.campaigns[0])}
    assert rows[0]["setting"] == "status" and rows[0]["value_after"] == "paused"
    assert (await account.platform_campaign(account.campaigns[0]))["status"] == "paused"
    for other in account.campaigns[1:]:
        assert (await account.platform_campaign(other))["status"] == "active"
    # Paused, it spends nothing from the next hour on.
    await account.advance(2)
    effective = datetime.fromisoformat(rows[0]["effective_from"])
    after = await account.report(effective, effective + timedelta(hours=2))
    assert [r["spend"] for r in after if r["campaign_id"] == str(account.campaigns[0])] == [
        0.0,
        0.0,
    ]

    async def counted() -> dict[str, Any] | None:
        stored = await account.get(f"/automation-rules/{rule['id']}")
        return stored if stored["execution_count"] else None

    stored = await eventually(counted)
    assert stored["success_rate"] == pytest.approx(100.0)
    assert stored["last_execution_at"] is not None

    _, preview = await account.post(f"/automation-rules/{rule['id']}/preview", role="operator")
    by_id = {c["campaign_id"]: c for c in preview["campaigns"]}
    assert by_id[str(account.campaigns[0])]["matched"] is True
    # Already paused: the limits say there is nothing to change.
    verdict, notice = by_id[str(account.campaigns[0])]["actions"]
    assert verdict["verdict"] == "refuse" and verdict["reason"] == "no_change"
    assert notice["action"] == "notify"
    assert all(not by_id[str(c)]["matched"] for c in account.campaigns[1:])

    # The notify action raised one alert, on the costly campaign only.
    async def alerted() -> list[dict[str, Any]] | None:
        items = (await account.get("/alerts", alert_key=f"rule:{rule['id']}"))["items"]
        return items or None

    alerts = await eventually(alerted)
    assert [a["affected_entity_id"] for a in alerts] == [str(account.campaigns[0])]
    assert alerts[0]["description"] == "stop-loss: paused"


async def test_rules_are_checked_and_managed_by_admins(account: Account) -> None:
    bad = {
        "rule_name": "broken",
        "rule_type": "budget_management",
        "trigger_conditions": {
            "any": [
                {"left": {"metric": "cpx", "timeframe": "today"}, "op": ">", "right": {"value": 1}}
            ]
        },
        "action_parameters": [{"type": "change", "setting": "budget", "by_percent": -10}],
    }
    status, error = await account.post("/automation-rules", bad)
    assert status == 422
    fields = [f["field"] for f in error["error"]["details"]["fields"]]
    assert any(f.startswith("trigger_conditions.any.0.left.metric") for f in fields), fields

    bad_action = {**bad, "trigger_conditions": stop_loss(100.0)}
    bad_action["action_parameters"] = [{"type": "change", "setting": "budget"}]
    status, error = await account.post("/automation-rules", bad_action)
    assert status == 422
    assert any(
        f["field"].startswith("action_parameters.0") for f in error["error"]["details"]["fields"]
    )

    good = {**bad, "trigger_conditions": stop_loss(100.0)}
    status, _ = await account.post("/automation-rules", good, role="operator")
    assert status == 403
    _, rule = await account.post("/automation-rules", good, status=201)
    async with account.api.patch(
        f"/api/ai/automation-rules/{rule['id']}", json={"is_active": False}
    ) as r:
        assert r.status == 200
        assert (await r.json())["is_active"] is False
    async with account.api.patch(
        f"/api/ai/automation-rules/{rule['id']}",
        json={"safety_limits": {"budget": {"floor": 500, "ceiling": 100}}},
    ) as r:
        assert r.status == 422
    async with account.api.delete(f"/api/ai/automation-rules/{rule['id']}") as r:
        assert r.status == 200
    async with account.api.get(f"/api/ai/automation-rules/{rule['id']}") as r:
        assert r.status == 404


COLLAPSE_HEADROOM = timedelta(hours=168)


@pytest.fixture
async def week_then_collapse(platform: Platform, settings: Settings) -> AsyncIterator[Account]:
    """A week of history, then conversions on the first campaign fall to 40%: a decline the
    engine cuts the budget for (a fall to 10% with tracking at risk is a pause instead).

    The engine decides on the week while the tenant only takes recommendations, so what it
    makes of the healthy week (a raise, say) waits for a person rather than holding the
    campaign for the cooldown; then every decision acts, and a long cooldown keeps it to
    one change while the test watches."""
    backfill = 168
    anomaly = {
        "kind": "conversion_drop",
        "campaign_index": 0,
        "start_hour": backfill,
        "hours": 48,
        "magnitude": 0.4,
    }
    async for opened in open_account(
        platform,
        settings,
        seed=303,
        backfill_hours=backfill,
        anomalies=[anomaly],
        headroom_hours=COLLAPSE_HEADROOM // HOUR,
        preferences={"autonomy": "recommend"},
    ):
        # The account's clock stands where the week's history ends.
        await opened.engine_caught_up(simulated_now() - COLLAPSE_HEADROOM)
        await opened.autonomy("act", {"min_confidence": 0, "cooldown_hours": 48})
        yield opened


async def test_collapse_leads_to_a_budget_cut_that_can_be_undone(
    week_then_collapse: Account,
) -> None:
    account = week_then_collapse
    campaign = account.campaigns[0]

    async def cut() -> dict[str, Any] | None:
        rows = await account.optimizations(target_entity_id=str(campaign), cause_type="decision")
        return next(
            (
                r
                for r in rows
                if r["status"] == "applied"
                and r["setting"] == "budget"
                and r["value_after"] < r["value_before"]
            ),
            None,
        )

    # One simulated hour at a time, each once the engine has decided on the one before and
    # the optimizer has settled those decisions: the same hours of the collapse lead to the
    # same decisions, however busy the engine is with the session's other tenants.
    change = None
    for _hour in range(72):  # the collapse's 48 hours and a day after it
        clock = await account.advance(1)
        await account.engine_caught_up(clock)
        if change := await cut():
            break
    if change is None:
        decided = [
            (d["context_data"].get("as_of"), d["action_taken"], (d["outcome"] or {}).get("summary"))
            for d in (await account.get("/decisions", limit="500"))["items"]
            if d["context_data"].get("campaign_id") == str(campaign)
        ]
        raise AssertionError(f"no budget cut in 72 simulated hours; decided: {decided}")
    original = change["value_before"]
    # Within the tenant's limits: the default step is at most 20% of the budget.
    assert change["value_after"] >= round(original * 0.8, 2) - 0.01
    decision = await account.get(f"/decisions/{change['decision_id']}")
    assert decision["decision_type"] == "budget_adjustment"
    assert decision["action_taken"] == "decrease_budget"

    # From the next simulated hour the campaign spends within the new budget, where in the
    # day before the cut it spent more than that.
    effective = datetime.fromisoformat(change["effective_from"])
    await account.advance(24)
    day = timedelta(hours=24)

    def spend(rows: list[dict[str, Any]]) -> float:
        return sum(r["spend"] for r in rows if r["campaign_id"] == str(campaign))

    before = spend(await account.report(effective - day, effective))
    after = spend(await account.report(effective, effective + day))
    assert before > change["value_after"]
    assert after <= change["value_after"] + 0.01
    assert after < before

    _, undo = await account.post(f"/optimizations/{change['id']}/rollback", {}, status=201)
    assert undo["value_after"] == pytest.approx(original)
    assert (await account.platform_campaign(campaign))["daily_budget"] == pytest.approx(original)
    stored = await account.get(f"/optimizations/{change['id']}")
    assert stored["rolled_back_by"] == undo["id"]
    listed = await account.get(f"/campaigns/{campaign}")
    assert listed["daily_budget"] == pytest.approx(original)


async def test_two_optimizer_replicas_never_apply_conflicting_changes(
    account: Account, platform: Platform
) -> None:
    await platform.start_replica("optimizer", "second")
    try:
        await _replicas_make_one_chain(account)
    finally:
        # The session's other suites count on the database's connections.
        await platform.stop("optimizer-second")


async def _replicas_make_one_chain(account: Account) -> None:
    await account.act_on_certain(
        {"cooldown_hours": 0, "budget": {"max_step_share": 1.0, "max_daily_share": 1.0}}
    )
    campaign = account.campaigns[2]
    original = (await account.platform_campaign(campaign))["daily_budget"]
    # None of them the budget it starts from: that one would be skipped as no change.
    targets = [round(original * (0.62 + 0.05 * i), 2) for i in range(12)]
    decisions = await asyncio.gather(
        *(
            account.decide(campaign, {"kind": "budget", "to": t}, 100.0, "budget_adjustment")
            for t in targets
        )
    )
    ids = {d["id"] for d in decisions}

    async def all_settled() -> dict[str, dict[str, Any]] | None:
        outcomes = {}
        for decision_id in ids:
            logged = await account.get(f"/decisions/{decision_id}")
            if logged["outcome"] is None:
                return None
            outcomes[decision_id] = logged["outcome"]
        return outcomes

    outcomes = await eventually(all_settled, within=60.0)
    applied = [
        r
        for r in await account.optimizations(target_entity_id=str(campaign), status="applied")
        if r["decision_id"] in ids
    ]
    assert applied, outcomes
    # Whichever replica made them, the changes form one chain: each started from where the
    # one before it left the budget, so none was planned on a value another overwrote.
    chain = sorted(applied, key=lambda r: r["applied_at"])
    for earlier, later in itertools.pairwise(chain):
        assert later["value_before"] == pytest.approx(earlier["value_after"]), chain
    assert chain[0]["value_before"] == pytest.approx(original)
    received = [c for c in await account.platform_changes() if c["campaign_id"] == str(campaign)]
    assert sorted(c["change_id"] for c in received) == sorted(r["change_id"] for r in chain)
    assert (await account.platform_campaign(campaign))["daily_budget"] == pytest.approx(
        chain[-1]["value_after"]
    )
    # The rest wait for a person, saying another change was in flight; none is lost.
    held = {k: v for k, v in outcomes.items() if v["status"] != "applied"}
    assert all(v["status"] == "recommended" for v in held.values()), held
    assert len(applied) + len(held) == len(ids)


async def test_a_rule_acts_once_per_campaign_and_hour(account: Account) -> None:
    await account.act_on_certain(
        {"cooldown_hours": 0, "budget": {"max_step_share": 0.5, "max_daily_share": 1.0}}
    )
    campaign = account.campaigns[0]
    always = {
        "left": {"metric": "impressions", "timeframe": {"last_hours": 1}},
        "op": ">=",
        "right": {"value": 0},
    }
    _, rule = await account.post(
        "/automation-rules",
        {
            "rule_name": "trim 5% every hour",
            "rule_type": "budget_management",
            "trigger_conditions": always,
            "action_parameters": [{"type": "change", "setting": "budget", "by_percent": -5}],
            "execution_frequency": "continuous",
        },
        status=201,
    )

    async def changes_for(n: int) -> list[dict[str, Any]] | None:
        rows = [
            r
            for r in await account.optimizations(rule_id=rule["id"])
            if r["target_entity_id"] == str(campaign) and r["status"] == "applied"
        ]
        return rows if len(rows) >= n else None

    await account.advance(1)
    await eventually(lambda: changes_for(1))
    # Hours still on their way from the account's opening may fire too, each once.
    await asyncio.sleep(2.0)
    settled = await changes_for(1) or []
    # The newest hour arrives again (a correction): the rule looks again, acts no more.
    clock = await (await account.sandbox.get("/v1/clock")).json()
    newest = datetime.fromisoformat(clock["accounts"][str(account.tenant.id)]["clock"]) - HOUR
    again = await account.report(newest, newest + HOUR)
    async with account.api.post(
        "/api/ai/metrics", json={"metrics": again}, headers=account.tenant.headers("operator")
    ) as r:
        assert r.status == 202, await r.text()
    await asyncio.sleep(2.0)
    assert [r["id"] for r in await changes_for(1) or []] == [r["id"] for r in settled]
    # The next hour is a new firing, made from where the last change left the budget.
    await account.advance(1)
    rows = await eventually(lambda: changes_for(len(settled) + 1))
    assert rows[0]["value_before"] == pytest.approx(settled[0]["value_after"])
    changes = [c for c in await account.platform_changes() if c["campaign_id"] == str(campaign)]
    assert len(changes) == len({c["change_id"] for c in changes}) == len(rows)


async def test_an_unreachable_platform_fails_the_change_honestly(
    account: Account, settings: Settings
) -> None:
    await account.act_on_certain()
    campaign = account.campaigns[1]
    before = (await account.platform_campaign(campaign))["daily_budget"]
    async with account.sandbox.post(
        "/v1/_faults",
        json={"fail_next": 20, "status": 503, "account": str(account.tenant.id)},
    ) as r:
        assert r.status == 200
    try:
        decision = await account.decide(
            campaign, {"kind": "budget", "to": round(before * 0.9, 2)}, 100.0, "budget_adjustment"
        )

        async def failed() -> dict[str, Any] | None:
            rows = await account.optimizations(decision_id=decision["id"])
            return rows[0] if rows and rows[0]["status"] == "failed" else None

        row = await eventually(failed, within=60.0)
    finally:
        async with account.sandbox.delete("/v1/_faults") as r:
            assert r.status == 200
    # Read back after the last try, the campaign says the change was never made.
    assert row["failure_code"] == "platform_unavailable"
    assert "the change was not made" in row["failure_reason"], row["failure_reason"]
    assert (await account.platform_campaign(campaign))["daily_budget"] == before
    assert [c for c in await account.platform_changes() if c["campaign_id"] == str(campaign)] == []

    async def attempts() -> list[dict[str, Any]] | None:
        logs = (await account.get("/integration-logs", operation="apply_change"))["items"]
        errors = [log for log in logs if log["status"] == "error"]
        # Every attempt is on record: the connector's retries, on each of the tries.
        return errors if len(errors) >= 3 * settings.change_attempts else None

    await eventually(attempts)


async def _faults(account: Account, **plan: Any) -> None:
    body = {"fail_next": 40, "status": 503, "account": str(account.tenant.id), **plan}
    async with account.sandbox.post("/v1/_faults", json=body) as r:
        assert r.status == 200, await r.text()


async def _no_faults(account: Account) -> None:
    async with account.sandbox.delete("/v1/_faults") as r:
        assert r.status == 200


async def _status_of(account: Account, decision: dict[str, Any], status: str) -> Any:
    async def reached() -> dict[str, Any] | None:
        rows = await account.optimizations(decision_id=decision["id"])
        return rows[0] if rows and rows[0]["status"] == status else None

    return await eventually(reached, within=60.0)


async def test_a_change_whose_every_answer_was_lost_is_read_back_as_applied(
    account: Account,
) -> None:
    await account.act_on_certain()
    campaign = account.campaigns[2]
    target = round((await account.platform_campaign(campaign))["daily_budget"] * 0.9, 2)
    # The platform makes the change, then every answer to it is lost on the way back.
    await _faults(account, after_apply=True)
    try:
        decision = await account.decide(
            campaign, {"kind": "budget", "to": target}, 100.0, "budget_adjustment"
        )
        row = await _status_of(account, decision, "applied")
    finally:
        await _no_faults(account)
    assert row["value_after"] == pytest.approx(target)
    assert row["failure_reason"] is None
    assert (await account.platform_campaign(campaign))["daily_budget"] == pytest.approx(target)
    changes = [c for c in await account.platform_changes() if c["campaign_id"] == str(campaign)]
    assert [c["change_id"] for c in changes] == [row["change_id"]]  # made once


async def test_an_outcome_is_unknown_while_the_platform_cannot_be_read_then_found(
    account: Account,
) -> None:
    await account.act_on_certain()
    campaign = account.campaigns[0]
    target = round((await account.platform_campaign(campaign))["daily_budget"] * 0.9, 2)
    # From the change on, every request of this account is served and its answer lost.
    await _faults(account, after_apply=True, scope="from_change", fail_next=1000)
    try:
        decision = await account.decide(
            campaign, {"kind": "budget", "to": target}, 100.0, "budget_adjustment"
        )
        unknown = await _status_of(account, decision, "unknown")
        assert unknown["failure_code"] == "outcome_unknown"
        assert "not known" in unknown["failure_reason"]
        # Nothing is recorded as made or not made while it cannot be seen.
        assert unknown["applied_at"] is None
    finally:
        await _no_faults(account)
    row = await _status_of(account, decision, "applied")
    assert row["id"] == unknown["id"]
    assert row["failure_code"] is None
    changes = [c for c in await account.platform_changes() if c["campaign_id"] == str(campaign)]
    assert [c["change_id"] for c in changes] == [row["change_id"]]


async def test_a_recommendation_posted_by_hand_is_applied_when_approved(
    account: Account,
) -> None:
    await account.act_on_certain()
    campaign = account.campaigns[2]
    _, rec = await account.post(
        "/recommendations",
        {
            "recommendation_type": "campaign_control",
            "target_entity_type": "campaign",
            "target_entity_id": str(campaign),
            "recommended_changes": {"kind": "status", "to": "paused"},
        },
        role="operator",
        status=201,
    )
    _, done = await account.post(f"/recommendations/{rec['id']}/approve", role="operator")
    assert done["status"] == "implemented", done
    assert (await account.platform_campaign(campaign))["status"] == "paused"
    history = await account.get(f"/optimizations/{done['optimization_id']}")
    assert history["cause_type"] == "recommendation" and history["value_after"] == "paused"
    status, _ = await account.post(f"/recommendations/{rec['id']}/approve", role="operator")
    assert status == 409


async def test_a_change_the_platform_did_not_answer_is_sent_again_and_applied_once(
    account: Account,
) -> None:
    await account.act_on_certain()
    campaign = account.campaigns[0]
    target = round((await account.platform_campaign(campaign))["daily_budget"] * 0.9, 2)
    # The platform makes the change, but every answer of the first try is lost.
    async with account.sandbox.post(
        "/v1/_faults",
        json={
            "fail_next": 3,
            "status": 500,
            "after_apply": True,
            "account": str(account.tenant.id),
        },
    ) as r:
        assert r.status == 200
    try:
        decision = await account.decide(
            campaign, {"kind": "budget", "to": target}, 100.0, "budget_adjustment"
        )

        async def applied() -> dict[str, Any] | None:
            rows = await account.optimizations(decision_id=decision["id"])
            return rows[0] if rows and rows[0]["status"] == "applied" else None

        row = await eventually(applied, within=60.0)
    finally:
        async with account.sandbox.delete("/v1/_faults") as r:
            assert r.status == 200
    [received] = [c for c in await account.platform_changes() if c["campaign_id"] == str(campaign)]
    assert received["change_id"] == row["change_id"]
    assert received["replays"] >= 1  # the second try was answered from the platform's record
    assert (await account.platform_campaign(campaign))["daily_budget"] == pytest.approx(target)
