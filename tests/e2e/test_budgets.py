"""Budget pools end to end on the sandbox ad platform: managing them, simulating,
reallocating through the connector within limits, rolling back, and one reallocation of a
pool at a time across optimizer replicas."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import aio_pika
import aiohttp
import pytest

from sandbox.simulator import CampaignSimulator, campaign_id_for
from services.optimizer.pools.allocator import BOUNDS
from shared.config import Settings
from tests.clock import simulated_now
from tests.e2e.conftest import make_tenant
from tests.e2e.platform import Platform
from tests.e2e.test_act import Account, eventually

pytestmark = pytest.mark.e2e

SEED = 7
CAMPAIGNS = 5
BACKFILL_HOURS = 14 * 24


async def open_pool_account(
    platform: Platform, settings: Settings, *, variation: float = 0.5
) -> AsyncIterator[Account]:
    """Five campaigns with two weeks of history at budgets varied day by day, so each has a
    curve the data supports."""
    tenant = await make_tenant(settings, f"pools-{uuid4().hex[:8]}")
    now = simulated_now()
    async with (
        aiohttp.ClientSession(base_url=platform.gateway, headers=tenant.headers()) as api,
        aiohttp.ClientSession(base_url=platform.sandbox) as sandbox,
    ):
        async with sandbox.post(
            "/v1/accounts",
            json={
                "account_id": str(tenant.id),
                "campaigns": CAMPAIGNS,
                "seed": SEED,
                # Three days of room for the clock to move before it reaches the present.
                "start": (now - timedelta(hours=BACKFILL_HOURS + 72)).isoformat(),
                "backfill_hours": BACKFILL_HOURS,
                "api_key": tenant.keys["operator"],
                "budget_variation": variation,
            },
        ) as r:
            assert r.status == 201, await r.text()
        ids = [campaign_id_for(SEED, i) for i in range(CAMPAIGNS)]
        yield Account(tenant, api, sandbox, ids, settings)


@pytest.fixture
async def account(platform: Platform, settings: Settings) -> AsyncIterator[Account]:
    async for opened in open_pool_account(platform, settings):
        yield opened


async def curves_fitted(account: Account) -> None:
    """Wait until every campaign's revenue curve is fitted on most of its history."""

    async def fitted() -> bool:
        for campaign in account.campaigns:
            # 404 until the campaign's first metrics reach the optimizer.
            status, curve = await request(account, "GET", f"/campaigns/{campaign}/curve")
            if status == 404:
                return False
            assert status == 200, curve
            revenue = curve["revenue"]
            if revenue is None or revenue["n_days"] < 12:
                return False
        return True

    await eventually(fitted, within=60.0, every=1.0)


async def budgets(account: Account) -> dict[UUID, float]:
    return {
        c: float((await account.platform_campaign(c))["daily_budget"]) for c in account.campaigns
    }


def pool_body(account: Account, total: float, **extra: Any) -> dict[str, Any]:
    return {
        "budget_pool_name": "prospecting",
        "total_budget": total,
        "campaign_ids": [str(c) for c in account.campaigns],
        "allocation_strategy": "performance_based",
        "reallocation_frequency": "daily",
        "performance_thresholds": {"min_share": 0.05, "max_share": 0.5, "max_step": 0.25},
        **extra,
    }


async def request(
    account: Account, method: str, path: str, body: Any = None, role: str = "admin"
) -> tuple[int, Any]:
    async with account.api.request(
        method, f"/api/ai{path}", json=body, headers=account.tenant.headers(role)
    ) as r:
        return r.status, await r.json()


def fields_of(error: dict[str, Any]) -> list[str]:
    return [f["field"] for f in error["error"]["details"]["fields"]]


async def test_pools_are_checked_and_managed_by_admins(account: Account) -> None:
    body = pool_body(account, 10_000.0, is_active=False)
    bad: list[tuple[dict[str, Any], str]] = [
        ({**body, "campaign_ids": []}, "campaign_ids"),
        ({**body, "campaign_ids": [str(account.campaigns[0])] * 2}, "campaign_ids"),
        ({**body, "total_budget": 0}, "total_budget"),
        ({**body, "reallocation_frequency": "monthly"}, "reallocation_frequency"),
        ({**body, "allocation_strategy": "gut_feeling"}, "allocation_strategy"),
        (
            {**body, "performance_thresholds": {"min_share": 1.5}},
            "performance_thresholds.min_share",
        ),
        (
            {**body, "performance_thresholds": {"min_share": 0.3}},  # 5 x 0.3 > 1
            "performance_thresholds.min_share",
        ),
        (
            {**body, "performance_thresholds": {"max_share": 0.1}},  # 5 x 0.1 < 1
            "performance_thresholds.max_share",
        ),
        (
            {**body, "performance_thresholds": {"max_step": 0}},
            "performance_thresholds.max_step",
        ),
        ({**body, "surprise": 1}, "surprise"),
    ]
    for wrong, field in bad:
        status, error = await request(account, "POST", "/budgets", wrong)
        assert status == 422, (wrong, error)
        assert error["error"]["code"] == "validation_error"
        assert any(f.startswith(field) for f in fields_of(error)), (field, error)

    for role in ("viewer", "operator"):
        status, _ = await request(account, "POST", "/budgets", body, role=role)
        assert status == 403, role
    status, pool = await request(account, "POST", "/budgets", body)
    assert status == 201, pool
    assert pool["campaign_ids"] == body["campaign_ids"]
    assert pool["remaining_budget"] == pytest.approx(10_000.0)
    assert pool["performance_thresholds"] == {"min_share": 0.05, "max_share": 0.5, "max_step": 0.25}

    status, listed = await request(account, "GET", "/budgets", role="viewer")
    assert status == 200 and [p["id"] for p in listed["items"]] == [pool["id"]]
    status, one = await request(account, "GET", f"/budgets/{pool['id']}", role="viewer")
    assert status == 200 and one["budget_pool_name"] == "prospecting"

    status, _ = await request(
        account, "PATCH", f"/budgets/{pool['id']}", {"total_budget": 9000}, role="operator"
    )
    assert status == 403
    status, changed = await request(
        account, "PATCH", f"/budgets/{pool['id']}", {"total_budget": 9000, "budget_pool_name": "x"}
    )
    assert status == 200, changed
    assert changed["total_budget"] == pytest.approx(9000) and changed["budget_pool_name"] == "x"
    # Checked as a whole: two campaigns cannot each hold at most half... of a pool of
    # five at a 0.5 max share when only one is left.
    status, error = await request(
        account, "PATCH", f"/budgets/{pool['id']}", {"campaign_ids": [body["campaign_ids"][0]]}
    )
    assert status == 422 and "performance_thresholds.max_share" in fields_of(error), error
    status, error = await request(account, "PATCH", f"/budgets/{pool['id']}", {"campaign_ids": []})
    assert status == 422 and "campaign_ids" in fields_of(error)

    status, _ = await request(account, "DELETE", f"/budgets/{pool['id']}", role="operator")
    assert status == 403
    status, deleted = await request(account, "DELETE", f"/budgets/{pool['id']}")
    assert status == 200 and deleted["id"] == pool["id"]
    status, _ = await request(account, "GET", f"/budgets/{pool['id']}")
    assert status == 404
    status, _ = await request(account, "POST", f"/budgets/{uuid4()}/reallocate", role="operator")
    assert status == 404


async def test_simulate_changes_nothing_and_curves_are_shown(account: Account) -> None:
    await account.act_on_certain({"cooldown_hours": 0})
    await curves_fitted(account)
    before = await budgets(account)
    total = round(sum(before.values()), 2)
    _, pool = await account.post("/budgets", pool_body(account, total, is_active=False), status=201)

    status, plan = await request(
        account, "POST", f"/budgets/{pool['id']}/simulate", role="operator"
    )
    assert status == 200, plan
    assert {c["campaign_id"] for c in plan["campaigns"]} == {str(c) for c in account.campaigns}
    for line in plan["campaigns"]:
        assert line["old_budget"] == pytest.approx(before[UUID(line["campaign_id"])])
        assert line["bound_by"] in BOUNDS
        assert line["marginal_roas_old"] > 0 and line["marginal_roas_new"] > 0
        assert line["curve"]["revenue"]["supported"] is True
    assert sum(c["new_budget"] for c in plan["campaigns"]) == pytest.approx(total, abs=0.05)
    for metric in ("conversions", "revenue"):
        predicted = plan["predicted"][metric]
        assert predicted["low"] <= predicted["new"] <= predicted["high"]
        assert predicted["level"] == 0.8
    # Nothing was applied, recorded or asked.
    assert await budgets(account) == before
    assert await account.platform_changes() == []
    assert await account.optimizations(cause_type="reallocation") == []
    _, page = await request(account, "GET", f"/budgets/{pool['id']}/reallocations")
    assert page["items"] == []

    curve = await account.get(f"/campaigns/{account.campaigns[0]}/curve")
    revenue = curve["revenue"]
    assert revenue["metric"] == "revenue" and revenue["model"]
    assert set(revenue["params"]) >= {"top", "scale"}
    assert len(revenue["points"]) == revenue["n_days"]
    assert revenue["r_squared"] is not None and revenue["rmse"] is not None
    assert all(p["low"] <= p["predicted"] <= p["high"] for p in revenue["line"])
    assert curve["conversions"]["metric"] == "conversions"
    status, _ = await request(account, "GET", f"/campaigns/{uuid4()}/curve")
    assert status == 404


def _truth() -> CampaignSimulator:
    return CampaignSimulator(CAMPAIGNS, SEED, datetime(2026, 1, 1, tzinfo=UTC))


def true_marginal_roas(campaign: UUID, budget: float) -> float:
    """The simulator's own marginal ROAS at ``budget``: what the fitted curves estimate."""
    curve = _truth().true_curve(campaign)
    spend = min(budget * curve.delivery, curve.max_spend)
    return curve.top_revenue / curve.scale * math.exp(-spend / curve.scale)


def true_revenue(daily_budgets: dict[UUID, float]) -> float:
    """The pool's expected revenue per day at ``daily_budgets`` on the true curves."""
    truth = _truth()
    total = 0.0
    for campaign, budget in daily_budgets.items():
        curve = truth.true_curve(campaign)
        spend = min(budget * curve.delivery, curve.max_spend)
        total += curve.top_revenue * -math.expm1(-spend / curve.scale)
    return total


async def _reallocated_events(settings: Settings) -> tuple[Any, Any]:
    connection = await aio_pika.connect_robust(settings.amqp_url)
    channel = await connection.channel()
    exchange = await channel.get_exchange(settings.exchange, ensure=True)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, "budget.reallocated")
    return connection, queue


async def test_a_pool_moves_budget_to_the_better_campaigns_within_limits_and_rolls_back(
    account: Account, settings: Settings
) -> None:
    # The tenant's limits: 30% per change; the pool's own step is 25%.
    await account.act_on_certain(
        {"cooldown_hours": 0, "budget": {"max_step_share": 0.3, "max_daily_share": 1.0}}
    )
    await curves_fitted(account)
    before = await budgets(account)
    total = round(sum(before.values()), 2)
    _, pool = await account.post("/budgets", pool_body(account, total, is_active=False), status=201)
    connection, queue = await _reallocated_events(settings)
    try:
        status, run = await request(
            account, "POST", f"/budgets/{pool['id']}/reallocate", role="operator"
        )
        assert status == 201, run
        # The event leaves through the outbox a moment after the answer.
        message = await eventually(lambda: queue.get(fail=False), within=30.0)
        await message.ack()
    finally:
        await connection.close()
    assert run["status"] == "applied", run
    assert run["trigger"] == "on_demand" and run["autonomy"] == "act"
    event = json.loads(message.body)
    assert event["payload"]["reallocation_id"] == run["id"]
    assert event["payload"]["pool_id"] == pool["id"]

    lines = {UUID(c["campaign_id"]): c for c in run["campaigns"]}
    after = await budgets(account)
    for campaign, line in lines.items():
        old, new = line["old_budget"], line["new_budget"]
        assert old == pytest.approx(before[campaign])
        assert after[campaign] == pytest.approx(new)
        # Within the pool's step (and so the tenant's) and shares.
        assert abs(new - old) <= 0.25 * old + 0.01, line
        assert 0.05 * total - 0.01 <= new <= 0.5 * total + 0.01
        assert line["bound_by"] in BOUNDS
        assert line["reason"]
        assert line["curve"]["revenue"]["params"]["top"] > 0
        assert line["curve"]["revenue"]["r_squared"] is not None
    assert sum(after.values()) == pytest.approx(total, abs=0.05)

    # Towards the better campaigns, by the simulator's true curves: the best campaign on
    # its next dollar got more, the worst less, and the pool truly earns more per day.
    truth = {c: true_marginal_roas(c, before[c]) for c in account.campaigns}
    raised = [c for c in account.campaigns if after[c] > before[c] + 0.01]
    cut = [c for c in account.campaigns if after[c] < before[c] - 0.01]
    assert max(truth, key=lambda c: truth[c]) in raised, (truth, after)
    assert min(truth, key=lambda c: truth[c]) in cut, (truth, after)
    assert true_revenue(after) > true_revenue(before) * 1.01, (truth, after)
    # The pool's revenue is predicted to rise.
    predicted = run["predicted"]["revenue"]
    assert predicted["new"] > predicted["old"]

    # Through the connector, as optimizations caused by the reallocation.
    history = await account.optimizations(cause_type="reallocation", cause_id=run["id"])
    assert {UUID(h["target_entity_id"]) for h in history} == set(raised + cut)
    assert all(h["status"] == "applied" and h["setting"] == "budget" for h in history)
    received = {c["change_id"] for c in await account.platform_changes()}
    assert received == {h["change_id"] for h in history}

    stored = await account.get(f"/budgets/{pool['id']}")
    assert stored["allocated_budget"] == pytest.approx(total, abs=0.05)
    assert stored["reallocation_count"] == 1 and stored["last_reallocation_at"]
    listed = await account.get(f"/budgets/{pool['id']}/reallocations")
    assert [r["id"] for r in listed["items"]] == [run["id"]]

    # The sandbox's spend follows: over the next day each campaign spends within, and
    # close to, its new budget.
    await account.advance(24)
    effective = datetime.fromisoformat(history[0]["effective_from"])
    report = await account.report(effective, effective + timedelta(hours=24))
    for campaign in raised + cut:
        spent = sum(r["spend"] for r in report if r["campaign_id"] == str(campaign))
        assert 0.85 * after[campaign] <= spent <= after[campaign] + 0.01, (campaign, spent)

    # Every change of the pool can be rolled back.
    for change in history:
        _, undo = await account.post(f"/optimizations/{change['id']}/rollback", {}, status=201)
        assert undo["rollback_of"] == change["id"]
    assert await budgets(account) == pytest.approx(before)


async def test_one_reallocation_of_a_pool_at_a_time_across_replicas(
    account: Account, platform: Platform
) -> None:
    await account.act_on_certain(
        {"cooldown_hours": 0, "budget": {"max_step_share": 0.3, "max_daily_share": 1.0}}
    )
    await curves_fitted(account)
    total = round(sum((await budgets(account)).values()), 2)
    await platform.start_replica("optimizer", "pools")
    try:
        _, pool = await account.post(
            "/budgets", pool_body(account, total, reallocation_frequency="hourly"), status=201
        )

        async def scheduled(n: int) -> list[dict[str, Any]] | None:
            items = (await account.get(f"/budgets/{pool['id']}/reallocations", limit="50"))["items"]
            done = [r for r in items if r["trigger"] == "scheduled" and r["finished_at"]]
            return items if len(done) >= n else None

        await eventually(lambda: scheduled(1), within=60.0, every=1.0)
        for hour in range(3):
            # Both replicas hear of each new hour and race for the pool; people ask too.
            await account.advance(1)
            answers = await asyncio.gather(
                *(
                    request(account, "POST", f"/budgets/{pool['id']}/reallocate", role="operator")
                    for _ in range(3)
                )
            )
            assert {status for status, _ in answers} <= {201, 409}, answers
            await eventually(lambda n=hour + 2: scheduled(n), within=60.0, every=1.0)
    finally:
        await platform.stop("optimizer-pools")

    async def all_finished() -> list[dict[str, Any]] | None:
        items = (await account.get(f"/budgets/{pool['id']}/reallocations", limit="100"))["items"]
        return items if all(r["finished_at"] for r in items) else None

    runs = await eventually(all_finished)
    # One scheduled run per hour of the clock, never two.
    hours = [r["as_of"] for r in runs if r["trigger"] == "scheduled"]
    assert len(hours) == len(set(hours)) >= 4
    only = await account.get(f"/budgets/{pool['id']}/reallocations", trigger="scheduled")
    assert sorted(r["as_of"] for r in only["items"]) == sorted(hours)
    # No two runs of the pool overlapped, whichever replica or request started them.
    spans = sorted((r["created_at"], r["finished_at"]) for r in runs)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert datetime.fromisoformat(end) <= datetime.fromisoformat(start), spans
    # Each change on the platform belongs to one run, applied once.
    changes = await account.platform_changes()
    assert len(changes) == len({c["change_id"] for c in changes})


async def test_under_recommend_a_reallocation_asks_a_person_first(account: Account) -> None:
    await account.autonomy("recommend", {"cooldown_hours": 0})
    await curves_fitted(account)
    before = await budgets(account)
    total = round(sum(before.values()), 2)
    _, pool = await account.post("/budgets", pool_body(account, total, is_active=False), status=201)
    _, run = await account.post(f"/budgets/{pool['id']}/reallocate", role="operator", status=201)
    assert run["status"] == "recommended", run
    assert run["autonomy"] == "recommend"
    moved = [c for c in run["campaigns"] if c["outcome"] != "unchanged"]
    assert moved and all(c["outcome"] == "recommend" for c in moved), run["campaigns"]
    # Nothing changed on the platform; each move waits as a recommendation.
    assert await budgets(account) == before
    assert await account.platform_changes() == []
    recommendations = [
        await account.get(f"/recommendations/{c['recommendation_id']}") for c in moved
    ]
    for line, rec in zip(moved, recommendations, strict=True):
        assert rec["status"] == "pending" and rec["target_entity_id"] == line["campaign_id"]
        assert rec["recommended_changes"]["pool_id"] == pool["id"]
        assert rec["recommended_changes"]["to"] == pytest.approx(line["new_budget"])
        assert rec["expected_impact"]["marginal_roas"]["new"] == pytest.approx(
            line["marginal_roas_new"]
        )
    # A person approves one: that campaign, and only that one, moves.
    line, rec = moved[0], recommendations[0]
    _, approved = await account.post(f"/recommendations/{rec['id']}/approve", role="operator")
    assert approved["status"] == "implemented", approved
    after = await budgets(account)
    campaign = UUID(line["campaign_id"])
    assert after[campaign] == pytest.approx(line["new_budget"])
    assert {c: b for c, b in after.items() if c != campaign} == {
        c: b for c, b in before.items() if c != campaign
    }
