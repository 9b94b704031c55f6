"""Experiments end to end: planned, started on the sandbox ad platform, concluded with the
true winner, applied as a creative change and rolled back; roles, lifecycle and bad input
through the gateway."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

import pytest
from scipy import integrate, stats

from adpilot.demo import start_demo_experiment
from shared.config import Settings
from tests.e2e.platform import Platform
from tests.e2e.test_act import Account, eventually, open_account

pytestmark = pytest.mark.e2e

CONTROL_RATE = 0.03
B_RATE = 0.04
# Simulated hours the tests may finish; every step is 6 hours and one look.
HEADROOM = 24 * 8
STEP = 6


async def looks_until_completed(account: Account, experiment: str) -> dict[str, Any]:
    """Finish 6 hours at a time, each once the optimizer has recorded the previous ones
    (one look per step), until the experiment is completed."""
    advanced: list[datetime] = []

    async def step() -> dict[str, Any] | None:
        _, row = await call(account, "GET", f"/experiments/{experiment}", role="viewer")
        if row["status"] == "completed":
            return row
        _, page = await call(account, "GET", f"/experiments/{experiment}/results", role="viewer")
        latest = page["items"][0]["platform_as_of"] if page["items"] else None
        if not advanced or (latest and datetime.fromisoformat(latest) >= advanced[-1]):
            await account.advance(STEP)
            async with account.sandbox.get("/v1/clock") as r:
                clock = (await r.json())["accounts"][str(account.tenant.id)]["clock"]
            advanced.append(datetime.fromisoformat(clock))
        return None

    return await eventually(step, within=300.0, every=0.5)


@pytest.fixture
async def account(platform: Platform, settings: Settings) -> AsyncIterator[Account]:
    async for opened in open_account(
        platform, settings, seed=303, campaigns=2, headroom_hours=HEADROOM
    ):
        yield opened


async def call(
    account: Account, method: str, path: str, body: Any = None, role: str = "admin"
) -> tuple[int, Any]:
    async with account.api.request(
        method, f"/api/ai{path}", json=body, headers=account.tenant.headers(role)
    ) as r:
        return r.status, await r.json()


def plan_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "experiment_name": "headline test",
        "experiment_type": "other",
        "hypothesis": "a shorter headline converts better",
        "variants": [{"name": "control"}, {"name": "B"}],
        "minimum_detectable_effect": 0.1,
        "baseline_value": 0.05,
        "daily_traffic": 4000,
    }
    return {**body, **overrides}


def fields(answer: dict[str, Any]) -> set[str]:
    return {f["field"] for f in answer["error"]["details"]["fields"]}


async def test_platform_experiment_finds_the_better_copy_applies_it_and_rolls_back(
    account: Account,
) -> None:
    # Acting alone, with no cooldown: the engine's own budget moves on the account must
    # not hold the winner back (the rates, and so the right answer, do not depend on them).
    await account.autonomy("act", {"cooldown_hours": 0})
    campaign = account.campaigns[0]
    created_body = {
        "experiment_name": "ad copy: benefit-led headline",
        "experiment_type": "creative",
        "campaign_id": str(campaign),
        "variants": [
            {"name": "control", "config": {"conversion_rate": CONTROL_RATE}},
            {"name": "benefit", "config": {"conversion_rate": B_RATE}},
        ],
        "minimum_detectable_effect": 0.25,
        "baseline_value": CONTROL_RATE,
        "daily_traffic": 10000,
    }
    status, created = await call(account, "POST", "/experiments", created_body)
    assert status == 201, created
    plan = created["sample_size_calculation"]
    assert plan["users_per_variant"] > 1000 and plan["days"] >= 1
    experiment = created["id"]

    status, started = await call(account, "POST", f"/experiments/{experiment}/start")
    assert status == 200, started
    assert started["status"] == "running" and started["on_platform"] is True
    # One experiment at a time splits a campaign's traffic.
    _, rival = await call(
        account, "POST", "/experiments", {**created_body, "experiment_name": "rival"}
    )
    status, answer = await call(account, "POST", f"/experiments/{rival['id']}/start")
    assert status == 409 and answer["error"]["code"] == "experiment_running"
    assert (await account.platform_campaign(campaign))["creative"] == "control"

    concluded = await looks_until_completed(account, experiment)
    assert concluded["winner_variant"] == "benefit"
    assert concluded["conclusion"]["chosen_by"] == "rule"
    assert concluded["conclusion"]["rule"] == "winner"
    assert concluded["confidence_level"] >= 95
    assert concluded["conclusion"]["apply"]["outcome"] == "planned"

    # Every pull was kept, with the analysis it got: the last one called the winner.
    _, history = await call(account, "GET", f"/experiments/{experiment}/results", role="viewer")
    looks = history["items"]
    assert looks and {r["source"] for r in looks} == {"platform"}
    assert looks[0]["analysis"]["winner_variant"] == "benefit"
    assert all(r["analysis"]["winner_variant"] is None for r in looks[1:])
    assert [r["look"] for r in looks] == list(range(len(looks), 0, -1))

    optimization_id = concluded["applied_optimization_id"]

    async def applied() -> dict[str, Any] | None:
        _, row = await call(account, "GET", f"/optimizations/{optimization_id}")
        return row if row["status"] == "applied" else None

    change = await eventually(applied)
    assert change["setting"] == "creative"
    assert (change["value_before"], change["value_after"]) == ("control", "benefit")
    assert change["cause_type"] == "experiment" and change["cause_id"] == experiment
    assert (await account.platform_campaign(campaign))["creative"] == "benefit"

    # The platform stopped splitting: from the change on, every click sees the winner.
    async with account.sandbox.get(
        f"/v1/accounts/{account.tenant.id}/campaigns/{campaign}/experiments/{experiment}/results"
    ) as r:
        on_platform = await r.json()
    assert on_platform["status"] == "ended"
    users = {v["name"]: v["users"] for v in on_platform["variants"]}
    assert min(users.values()) > 1000

    status, undone = await call(account, "POST", f"/optimizations/{optimization_id}/rollback", {})
    assert status == 201, undone
    assert undone["status"] == "applied" and undone["value_after"] == "control"
    assert (await account.platform_campaign(campaign))["creative"] == "control"

    async def audited() -> list[dict[str, Any]] | None:
        async with account.api.get("/api/ai/audit-trail", params={"resource_id": experiment}) as r:
            entries = (await r.json())["items"]
        return entries if any(e["action"] == "experiment.concluded" for e in entries) else None

    await eventually(audited)


async def test_roles_lifecycle_and_manual_results(account: Account) -> None:
    # Viewers and operators may not plan experiments; admins may.
    for role in ("viewer", "operator"):
        status, _ = await call(account, "POST", "/experiments", plan_body(), role=role)
        assert status == 403
    status, created = await call(account, "POST", "/experiments", plan_body())
    assert status == 201, created
    experiment = created["id"]
    assert created["status"] == "planning"
    assert created["traffic_split"] == [0.5, 0.5]
    first_plan = created["sample_size_calculation"]["users_per_variant"]

    status, listed = await call(account, "GET", "/experiments", role="viewer")
    assert status == 200 and experiment in {e["id"] for e in listed["items"]}

    # Nothing to record, analyse or conclude before it runs.
    results = {
        "variants": [
            {"name": "control", "users": 10000, "conversions": 500},
            {"name": "B", "users": 10000, "conversions": 560},
        ]
    }
    for path, role in (("results", "operator"), ("analyze", "operator"), ("conclude", "admin")):
        status, answer = await call(
            account,
            "POST",
            f"/experiments/{experiment}/{path}",
            results if path == "results" else {},
            role,
        )
        assert status == 409, (path, answer)
        assert answer["error"]["details"]["status"] == "planning"

    # While planning it can be changed (the plan is worked out again) by an admin only.
    status, _ = await call(
        account,
        "PATCH",
        f"/experiments/{experiment}",
        {"minimum_detectable_effect": 0.2},
        "operator",
    )
    assert status == 403
    status, patched = await call(
        account, "PATCH", f"/experiments/{experiment}", {"minimum_detectable_effect": 0.2}
    )
    assert status == 200, patched
    assert patched["sample_size_calculation"]["users_per_variant"] < first_plan / 3

    status, _ = await call(account, "POST", f"/experiments/{experiment}/start", role="operator")
    assert status == 403
    status, started = await call(account, "POST", f"/experiments/{experiment}/start")
    assert status == 200 and started["status"] == "running" and started["on_platform"] is False
    status, again = await call(account, "POST", f"/experiments/{experiment}/start")
    assert status == 409 and again["error"]["details"]["status"] == "running"
    for method in ("PATCH", "DELETE"):
        status, _ = await call(
            account,
            method,
            f"/experiments/{experiment}",
            {"hypothesis": "x"} if method == "PATCH" else None,
        )
        assert status == 409

    status, _ = await call(account, "POST", f"/experiments/{experiment}/analyze", {}, "operator")
    assert status == 409  # no results yet

    # Operators record results; viewers may not.
    status, _ = await call(account, "POST", f"/experiments/{experiment}/results", results, "viewer")
    assert status == 403
    status, recorded = await call(
        account, "POST", f"/experiments/{experiment}/results", results, "operator"
    )
    assert status == 201, recorded
    assert recorded["look"] == 1 and recorded["source"] == "manual"

    status, _ = await call(account, "POST", f"/experiments/{experiment}/analyze", {}, "viewer")
    assert status == 403
    # The fixed-horizon analysis is the two-proportion z-test and the beta-binomial
    # chance to win; the sequential one (the default) is wider and calls no winner here.
    status, fixed = await call(
        account, "POST", f"/experiments/{experiment}/analyze", {"sequential": False}, "operator"
    )
    assert status == 200, fixed
    _, variant = fixed["variants"]
    assert variant["name"] == "B" and variant["lift"] == pytest.approx(0.12)
    pooled = 1060 / 20000
    z = (0.056 - 0.05) / math.sqrt(pooled * (1 - pooled) * 2 / 10000)
    assert variant["p_value"] == pytest.approx(2 * stats.norm.sf(z), rel=1e-6)
    assert variant["ci_low"] < 0.12 < variant["ci_high"]
    assert variant["chance_to_win"] == pytest.approx(beta_chance(561, 9441, 501, 9501), abs=2e-3)
    assert variant["risk"] >= 0
    assert fixed["srm_p_value"] == pytest.approx(1.0) and fixed["winner_variant"] is None
    status, sequential = await call(
        account, "POST", f"/experiments/{experiment}/analyze", {}, "operator"
    )
    assert status == 200 and sequential["sequential"] is True
    # Viewers read the same analysis, made when the results were recorded.
    _, row = await call(account, "GET", f"/experiments/{experiment}", role="viewer")
    assert row["results"]["analysis"]["variants"] == sequential["variants"]
    seq = sequential["variants"][1]
    assert seq["ci_high"] - seq["ci_low"] > variant["ci_high"] - variant["ci_low"]

    # Bad input names the field.
    bad = [
        (
            {
                "variants": [
                    {"name": "control", "users": 10, "conversions": 1},
                    {"name": "C", "users": 10, "conversions": 1},
                ]
            },
            "variants.1.name",
        ),
        (
            {
                "variants": [
                    {"name": "control", "users": 10, "conversions": 11},
                    {"name": "B", "users": 10, "conversions": 1},
                ]
            },
            "variants.0",
        ),
        (
            {
                "variants": [
                    {"name": "control", "users": 10, "sum": 3.0, "sum_squares": 9.0},
                    {"name": "B", "users": 10, "conversions": 1},
                ]
            },
            "variants.0.conversions",
        ),
        (
            {
                "variants": [
                    {"name": "control", "users": 10, "conversions": 1},
                    {"name": "control", "users": 10, "conversions": 1},
                ]
            },
            "variants.1.name",
        ),
        (
            {
                "variants": [
                    {"name": "control", "users": -1, "conversions": 0},
                    {"name": "B", "users": 10, "conversions": 1},
                ]
            },
            "variants.0.users",
        ),
    ]
    for body, field in bad:
        status, answer = await call(
            account, "POST", f"/experiments/{experiment}/results", body, "operator"
        )
        assert status == 422, (body, answer)
        assert field in fields(answer), (field, answer)

    # A clear difference: the sequential analysis calls the winner.
    clear = {
        "variants": [
            {"name": "control", "users": 20000, "conversions": 1000},
            {"name": "B", "users": 20000, "conversions": 1300},
        ]
    }
    status, second = await call(
        account, "POST", f"/experiments/{experiment}/results", clear, "operator"
    )
    assert status == 201 and second["look"] == 2
    assert second["analysis"]["winner_variant"] == "B"

    status, answer = await call(
        account, "POST", f"/experiments/{experiment}/conclude", {"winner_variant": "Z"}
    )
    assert status == 422 and "winner_variant" in fields(answer)
    status, _ = await call(account, "POST", f"/experiments/{experiment}/conclude", {}, "operator")
    assert status == 403
    status, done = await call(
        account, "POST", f"/experiments/{experiment}/conclude", {"apply": True}
    )
    assert status == 200, done
    assert done["status"] == "completed" and done["winner_variant"] == "B"
    assert done["confidence_level"] > 95 and done["concluded_at"] is not None
    assert done["results"]["analysis"]["look"] == 2
    # Not a campaign experiment: nothing to apply, and it says so.
    assert done["conclusion"]["apply"]["reason"] == "not_applicable"
    assert done["applied_optimization_id"] is None
    for path in ("conclude", "results"):
        status, _ = await call(
            account,
            "POST",
            f"/experiments/{experiment}/{path}",
            clear if path == "results" else {},
            "admin",
        )
        assert status == 409
    status, _ = await call(account, "DELETE", f"/experiments/{experiment}")
    assert status == 409


async def test_bad_plans_are_422_with_field_paths(account: Account) -> None:
    cases = [
        (plan_body(variants=[{"name": "A"}, {"name": "A"}]), "body"),
        (plan_body(traffic_split=[1.0]), "body"),
        (plan_body(baseline_value=1.5), "body"),
        (plan_body(metric_kind="mean"), "body"),
        (plan_body(minimum_detectable_effect=-0.1), "minimum_detectable_effect"),
        (plan_body(variants=[{"name": "only"}]), "variants"),
        (plan_body(surprise=1), "surprise"),
    ]
    for body, field in cases:
        status, answer = await call(account, "POST", "/experiments", body)
        assert status == 422, (body, answer)
        assert field in fields(answer), (field, answer)
    status, created = await call(account, "POST", "/experiments", plan_body())
    status, deleted = await call(account, "DELETE", f"/experiments/{created['id']}")
    assert status == 200 and deleted["id"] == created["id"]
    status, _ = await call(account, "GET", f"/experiments/{created['id']}")
    assert status == 404
    # A creative experiment whose copies the platform cannot run is refused at start.
    status, created = await call(
        account,
        "POST",
        "/experiments",
        plan_body(experiment_type="creative", campaign_id=str(account.campaigns[1])),
    )
    assert status == 201
    status, answer = await call(account, "POST", f"/experiments/{created['id']}/start")
    assert status == 422 and answer["error"]["code"] == "platform_refused"
    _, row = await call(account, "GET", f"/experiments/{created['id']}")
    assert row["status"] == "planning"
    assert UUID(row["id"])


def copy_test(campaign: str, **overrides: Any) -> dict[str, Any]:
    return {
        "experiment_name": "ad copy",
        "experiment_type": "creative",
        "campaign_id": campaign,
        "variants": [
            {"name": "control", "config": {"conversion_rate": CONTROL_RATE}},
            {"name": "benefit", "config": {"conversion_rate": B_RATE}},
        ],
        "minimum_detectable_effect": 0.25,
        "baseline_value": CONTROL_RATE,
        "daily_traffic": 10000,
        **overrides,
    }


async def test_under_recommend_the_winner_waits_for_approval(account: Account) -> None:
    await account.autonomy("recommend")
    campaign = account.campaigns[1]
    _, created = await call(account, "POST", "/experiments", copy_test(str(campaign)))
    experiment = created["id"]
    status, _ = await call(account, "POST", f"/experiments/{experiment}/start")
    assert status == 200

    concluded = await looks_until_completed(account, experiment)
    assert concluded["winner_variant"] == "benefit"
    applying = concluded["conclusion"]["apply"]
    assert applying["outcome"] == "recommend" and concluded["applied_optimization_id"] is None
    assert (await account.platform_campaign(campaign))["creative"] == "control"
    recommendation = applying["recommendation_id"]
    _, rec = await call(account, "GET", f"/recommendations/{recommendation}", role="viewer")
    assert rec["recommendation_type"] == "creative_testing"
    assert rec["recommended_changes"]["kind"] == "creative"
    assert rec["recommended_changes"]["to"] == "benefit"
    status, approved = await call(
        account, "POST", f"/recommendations/{recommendation}/approve", {}, "operator"
    )
    assert status == 200 and approved["status"] == "implemented", approved
    assert (await account.platform_campaign(campaign))["creative"] == "benefit"


async def test_under_observe_a_person_concludes_and_nothing_changes(account: Account) -> None:
    await account.autonomy("observe")
    campaign = account.campaigns[0]
    body = copy_test(str(campaign), auto_conclude=False)
    _, created = await call(account, "POST", "/experiments", body)
    experiment = created["id"]
    await call(account, "POST", f"/experiments/{experiment}/start")

    async def pulled() -> dict[str, Any] | None:
        _, page = await call(account, "GET", f"/experiments/{experiment}/results", role="viewer")
        return page if page["items"] else None

    await account.advance(12)
    await eventually(pulled)
    _, row = await call(account, "GET", f"/experiments/{experiment}", role="viewer")
    # Without auto_conclude it keeps collecting.
    assert row["status"] == "running"
    status, done = await call(
        account,
        "POST",
        f"/experiments/{experiment}/conclude",
        {"winner_variant": "benefit", "apply": True},
    )
    assert status == 200, done
    assert done["winner_variant"] == "benefit" and done["conclusion"]["chosen_by"] == "person"
    assert done["conclusion"]["apply"] == {
        "outcome": "skip",
        "reason": "observe",
        "detail": done["conclusion"]["apply"]["detail"],
    }
    assert (await account.platform_campaign(campaign))["creative"] == "control"


@pytest.fixture
async def demo_account(platform: Platform, settings: Settings) -> AsyncIterator[Account]:
    # The demo's account: seed 7, six campaigns.
    async for opened in open_account(
        platform, settings, seed=7, campaigns=6, headroom_hours=HEADROOM
    ):
        yield opened


async def test_the_demo_experiment_runs_to_a_conclusion(
    platform: Platform, demo_account: Account
) -> None:
    account = demo_account
    await account.autonomy("act", {"cooldown_hours": 0})
    campaign = account.campaigns[1]
    started = await start_demo_experiment(
        platform.gateway,
        platform.sandbox,
        account.tenant.keys["admin"],
        account.tenant.id,
        campaign,
        patience=30.0,
    )
    assert started is not None and started["status"] == "running"
    # Planned from the campaign's own traffic.
    assert started["daily_traffic"] > 0 and started["sample_size_calculation"]["days"] >= 1

    concluded = await looks_until_completed(account, started["id"])
    assert concluded["winner_variant"] == "benefit-led"
    optimization_id = concluded["applied_optimization_id"]
    change = await eventually(lambda: _applied(account, optimization_id))
    assert change["value_after"] == "benefit-led"
    assert (await account.platform_campaign(campaign))["creative"] == "benefit-led"


async def _applied(account: Account, optimization_id: str) -> dict[str, Any] | None:
    _, row = await call(account, "GET", f"/optimizations/{optimization_id}")
    return row if row["status"] == "applied" else None


def beta_chance(a1: float, b1: float, a0: float, b0: float) -> float:
    """P(p1 > p0) for independent Beta(a1, b1) and Beta(a0, b0), by quadrature."""
    value, _ = integrate.quad(
        lambda x: stats.beta.pdf(x, a1, b1) * stats.beta.cdf(x, a0, b0), 0.03, 0.08, limit=200
    )
    return float(value)
