"""A service outside adpilot follows decisions with a queue of its own (examples/)."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.config import Settings
from tests.e2e.conftest import Tenant
from tests.e2e.platform import Platform

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "decision_subscriber.py"


async def _line(stream: asyncio.StreamReader, within: float) -> dict[str, Any]:
    raw = await asyncio.wait_for(stream.readline(), within)
    assert raw, "the subscriber exited without printing"
    parsed: dict[str, Any] = json.loads(raw)
    return parsed


async def test_an_outside_subscriber_receives_decisions_on_its_own_queue(
    platform: Platform, settings: Settings, tenant_a: Tenant
) -> None:
    queue = f"{settings.exchange}.outside-{uuid.uuid4().hex[:6]}"
    follower = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        "--amqp-url",
        settings.amqp_url,
        "--exchange",
        settings.exchange,
        "--queue",
        queue,
        "--count",
        "1",
        stdout=asyncio.subprocess.PIPE,
    )
    assert follower.stdout is not None
    try:
        assert (await _line(follower.stdout, 20)) == {"ready": queue}
        campaign = str(uuid.uuid4())
        async with aiohttp.ClientSession(
            base_url=platform.gateway, headers=tenant_a.headers("operator")
        ) as api:
            async with api.post(
                "/api/ai/decisions",
                json={
                    "decision_type": "budget_adjustment",
                    "confidence_score": 72.5,
                    "action_taken": "reduce_budget",
                    "context_data": {"campaign_id": campaign},
                },
            ) as response:
                assert response.status == 201
                decision = await response.json()
        seen = await _line(follower.stdout, 30)
        assert seen["type"] == "decision.made" and seen["version"] == 1
        assert seen["decision_id"] == decision["id"]
        assert seen["decision_type"] == "budget_adjustment"
        assert seen["confidence_score"] == 72.5
        assert seen["tenant_id"] == str(tenant_a.id)
        assert await asyncio.wait_for(follower.wait(), 10) == 0
    finally:
        if follower.returncode is None:
            follower.kill()
            await follower.wait()
        # The queue is the subscriber's own; the test removes what it made.
        from shared.bus import Bus

        bus = Bus(settings.amqp_url, settings.exchange)
        await bus.connect()
        try:
            channel = await bus.connection.channel()
            await channel.queue_delete(queue)
            await channel.close()
        finally:
            await bus.close()
