"""What acting on the ad platform costs: a decision until its change is applied on the
sandbox, an approval and a rollback, each against a bare connector call in the same run.

    .venv/bin/python bench/act.py [--runs 20] [--json]

Starts a platform of its own (database, exchange, ports, sandbox ad platform) and opens
an ad account for a tenant whose autonomy is ``act``. Changes alternate between two
budgets so the safety limits never shorten them. Figures are medians (and p90) in
milliseconds, and ratios to the median of a direct ``SandboxConnector.apply_change``
call, the code the optimizer itself sends changes with.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on the path, and its http.py would hide the
# standard library's http package: the repository's root comes first instead.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

import argparse
import asyncio
import time
import uuid
from datetime import datetime
from typing import Any

import aiohttp

from bench.harness import Bench, own_platform
from bench.report import milliseconds as _ms
from bench.report import print_figures
from sandbox.simulator import campaign_id_for
from shared.connectors import Change
from shared.connectors.sandbox import SandboxConnector

SEED = 11


async def _json(response: aiohttp.ClientResponse, status: int) -> Any:
    data = await response.json()
    if response.status != status:
        raise RuntimeError(f"{response.method} {response.url}: {response.status} {data}")
    return data


async def _open_account(bench: Bench, sandbox: aiohttp.ClientSession) -> list[uuid.UUID]:
    body = {
        "account_id": str(bench.tenant),
        "campaigns": 3,
        "seed": SEED,
        "backfill_hours": 24,
        "api_key": bench.keys["operator"],
    }
    async with sandbox.post("/v1/accounts", json=body) as r:
        await _json(r, 201)
    return [campaign_id_for(SEED, i) for i in range(3)]


async def _baseline(bench: Bench, campaign: uuid.UUID, budgets: list[float]) -> list[float]:
    connector = SandboxConnector(bench.settings.url_of("sandbox"), recorder=None)
    took = []
    try:
        for budget in budgets:
            start = time.perf_counter()
            await connector.apply_change(
                bench.tenant, campaign, Change("budget", budget), uuid.uuid4()
            )
            took.append(time.perf_counter() - start)
    finally:
        await connector.close()
    return took


async def _applied(api: aiohttp.ClientSession, **filters: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        async with api.get("/api/ai/optimizations", params=filters) as r:
            items = (await _json(r, 200))["items"]
        done = [i for i in items if i["status"] != "pending"]
        if done:
            if done[0]["status"] != "applied":
                raise RuntimeError(f"not applied: {done[0]}")
            return dict(done[0])
        if time.monotonic() > deadline:
            # A median over the changes that made it in time would flatter the path.
            raise RuntimeError(f"no change within 30 s for {filters}")
        await asyncio.sleep(0.02)


async def _decisions(
    api: aiohttp.ClientSession, campaign: uuid.UUID, budgets: list[float]
) -> list[float]:
    """From the decision's commit to the platform's confirmation, by the database's clocks."""
    took = []
    for budget in budgets:
        body = {
            "decision_type": "budget_adjustment",
            "action_taken": "decrease_budget",
            "confidence_score": 100,
            "context_data": {
                "campaign_id": str(campaign),
                "action": {"kind": "budget", "to": budget},
            },
        }
        async with api.post("/api/ai/decisions", json=body) as r:
            decision = await _json(r, 201)
        change = await _applied(api, decision_id=decision["id"])
        made = datetime.fromisoformat(decision["created_at"])
        took.append((datetime.fromisoformat(change["applied_at"]) - made).total_seconds())
    return took


async def _approvals(
    api: aiohttp.ClientSession, campaign: uuid.UUID, budgets: list[float]
) -> tuple[list[float], list[str]]:
    took, applied = [], []
    for budget in budgets:
        body = {
            "recommendation_type": "budget_optimization",
            "target_entity_type": "campaign",
            "target_entity_id": str(campaign),
            "recommended_changes": {"kind": "budget", "to": budget},
        }
        async with api.post("/api/ai/recommendations", json=body) as r:
            rec = await _json(r, 201)
        start = time.perf_counter()
        async with api.post(f"/api/ai/recommendations/{rec['id']}/approve") as r:
            done = await _json(r, 200)
        took.append(time.perf_counter() - start)
        if done["status"] != "implemented":
            raise RuntimeError(f"approval not implemented: {done}")
        applied.append(done["optimization_id"])
    return took, applied


async def _rollbacks(api: aiohttp.ClientSession, newest_first: list[str]) -> list[float]:
    took = []
    for optimization in newest_first:
        start = time.perf_counter()
        async with api.post(f"/api/ai/optimizations/{optimization}/rollback", json={}) as r:
            await _json(r, 201)
        took.append(time.perf_counter() - start)
    return took


async def main(runs: int, as_json: bool) -> int:
    async with own_platform("act") as bench:
        gateway = bench.platform.gateway
        sandbox_url = bench.settings.url_of("sandbox")
        async with (
            aiohttp.ClientSession(base_url=gateway, headers=bench.headers()) as api,
            aiohttp.ClientSession(base_url=sandbox_url) as sandbox,
        ):
            first, second, third = await _open_account(bench, sandbox)
            limits = {
                "cooldown_hours": 0,
                "min_confidence": 99.5,
                "budget": {"max_step_share": 1.0, "max_daily_share": 10.0},
            }
            async with api.put(
                "/api/ai/preferences", json={"autonomy": "act", "safety_limits": limits}
            ) as r:
                await _json(r, 200)
            await asyncio.sleep(1.0)  # the optimizer learns the autonomy by event
            budgets = [500.0 if i % 2 else 450.0 for i in range(runs)]
            baseline = _ms(await _baseline(bench, first, budgets))
            decided = _ms(await _decisions(api, second, budgets))
            approvals, applied = await _approvals(api, third, budgets)
            approved = _ms(approvals)
            undone = _ms(await _rollbacks(api, applied[::-1]))
    figures = {
        "runs": runs,
        "baseline_connector_apply_ms_median": baseline["median"],
        "decision_to_applied_ms_median": decided["median"],
        "decision_to_applied_ms_p90": decided["p90"],
        "decision_to_applied_ratio": round(decided["median"] / baseline["median"], 2),
        "approve_round_trip_ms_median": approved["median"],
        "approve_round_trip_ms_p90": approved["p90"],
        "approve_round_trip_ratio": round(approved["median"] / baseline["median"], 2),
        "rollback_round_trip_ms_median": undone["median"],
        "rollback_round_trip_ms_p90": undone["p90"],
        "rollback_round_trip_ratio": round(undone["median"] / baseline["median"], 2),
    }
    print_figures(figures, as_json)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, args.json)))
