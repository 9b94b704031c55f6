"""What ``adpilot up`` sets up for a new user beyond the demo account: a budget pool over
the demo campaigns that reallocates itself, through the gateway like any client."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp

from sandbox.simulator import CampaignSimulator

log = logging.getLogger("adpilot.demo_pool")

DEMO_POOL = "Demo pool: every sandbox campaign"


def demo_pool(campaigns: int, seed: int) -> dict[str, Any]:
    """A pool holding the demo campaigns' default budgets, reallocated daily on the
    simulated clock (every 24 s at the demo's default speed)."""
    simulator = CampaignSimulator(campaigns, seed, datetime(2026, 1, 1, tzinfo=UTC))
    ids = simulator.campaign_ids
    total = sum(simulator.state_at(c, simulator.start).daily_budget for c in ids)
    return {
        "budget_pool_name": DEMO_POOL,
        "total_budget": round(total, 2),
        "campaign_ids": [str(c) for c in ids],
        "allocation_strategy": "performance_based",
        "reallocation_frequency": "daily",
        "performance_thresholds": {"min_share": 0.05, "max_share": 0.4, "max_step": 0.2},
    }


async def ensure_demo_pool(gateway: str, api_key: str, body: dict[str, Any]) -> None:
    """Create the demo pool once the gateway answers, unless it exists already."""
    headers = {"Authorization": f"Bearer {api_key}"}
    async with aiohttp.ClientSession(base_url=gateway, headers=headers) as api:
        while True:
            try:
                async with api.get("/api/ai/budgets", params={"budget_pool_name": DEMO_POOL}) as r:
                    if r.status == 200:
                        if (await r.json())["items"]:
                            return
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(2.0)
        async with api.post("/api/ai/budgets", json=body) as r:
            if r.status != 201:
                log.warning("the demo pool was not created: %s", await r.text())
                return
            pool = await r.json()
    print(
        f"Demo budget pool {pool['id']} reallocates daily on the simulated clock:\n"
        f'  curl -H "Authorization: Bearer $ADPILOT_API_KEY" '
        f"{gateway}/api/ai/budgets/{pool['id']}/reallocations\n",
        flush=True,
    )
