"""The demo's experiment: an ad-copy test on one of the demo account's campaigns, planned
from its real traffic, started through the gateway as an admin would, so a new user sees
it collect results, conclude on its own and apply the better copy."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import aiohttp

log = logging.getLogger("adpilot.demo")

NAME = "Demo: benefit-led headline vs the current copy"
# The true conversion rates the sandbox gives the two copies (per click).
COPIES = (
    {
        "name": "control",
        "config": {"headline": "Running shoes, all sizes", "conversion_rate": 0.03},
    },
    {
        "name": "benefit-led",
        "config": {"headline": "Run further with less strain", "conversion_rate": 0.04},
    },
)


async def start_demo_experiment(
    gateway: str, sandbox: str, key: str, tenant: UUID, campaign: UUID, patience: float = 300.0
) -> dict[str, Any] | None:
    """Create and start the demo experiment once the platform is up; answers it, or None
    when the platform did not come up within ``patience`` seconds."""
    headers = {"Authorization": f"Bearer {key}"}
    deadline = asyncio.get_running_loop().time() + patience
    async with aiohttp.ClientSession(headers=headers) as session:
        while True:
            try:
                daily = await _daily_clicks(session, sandbox, tenant, campaign)
                if daily is not None and await _ready(session, gateway):
                    break
            except aiohttp.ClientError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                log.warning("demo experiment not started: the platform did not come up")
                return None
            await asyncio.sleep(2.0)
        api = f"{gateway}/api/ai/experiments"
        await _retire_earlier(session, api, campaign)
        body = {
            "experiment_name": NAME,
            "experiment_type": "creative",
            "hypothesis": "Saying what the runner gains converts more clicks than listing sizes.",
            "campaign_id": str(campaign),
            "variants": list(COPIES),
            "minimum_detectable_effect": 0.25,
            "baseline_value": 0.03,
            "daily_traffic": daily,
        }
        async with session.post(api, json=body) as r:
            created = await r.json()
            if r.status != 201:
                log.warning("demo experiment not created: %s", created)
                return None
        async with session.post(f"{api}/{created['id']}/start") as r:
            started: dict[str, Any] = await r.json()
            if r.status != 200:
                log.warning("demo experiment not started: %s", started)
                return None
    return started


async def _ready(session: aiohttp.ClientSession, gateway: str) -> bool:
    async with session.get(f"{gateway}/api/ai/experiments", params={"limit": "1"}) as r:
        return r.status == 200


async def _daily_clicks(
    session: aiohttp.ClientSession, sandbox: str, tenant: UUID, campaign: UUID
) -> float | None:
    """The campaign's clicks over its last finished day, once the backfill is there."""
    async with session.get(f"{sandbox}/v1/accounts/{tenant}/campaigns") as r:
        if r.status != 200:
            return None
        clock = datetime.fromisoformat((await r.json())["as_of"])
    start = clock - timedelta(days=1)
    params = {"start": start.astimezone(UTC).isoformat(), "end": clock.isoformat()}
    async with session.get(f"{sandbox}/v1/accounts/{tenant}/reports/hourly", params=params) as r:
        if r.status != 200:
            return None
        rows = (await r.json())["rows"]
    clicks = sum(row["clicks"] for row in rows if row["campaign_id"] == str(campaign))
    return float(clicks) if clicks > 0 else None


async def _retire_earlier(session: aiohttp.ClientSession, api: str, campaign: UUID) -> None:
    """An earlier run's demo experiment ran on a sandbox that is gone: conclude it, without
    applying anything, so the campaign is free for this run's."""
    for status in ("running", "analyzing"):
        params = {"campaign_id": str(campaign), "status": status}
        async with session.get(api, params=params) as r:
            items = (await r.json()).get("items", []) if r.status == 200 else []
        for item in items:
            async with session.post(f"{api}/{item['id']}/conclude", json={"apply": False}):
                pass
