"""Feeding a running platform from the built-in simulator, in accelerated time."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson

from sandbox.simulator import (
    ANOMALY_KINDS,
    DEFAULT_MAGNITUDES,
    CampaignSimulator,
    InjectedAnomaly,
)
from shared.metrics import HourlyMetrics
from shared.metrics_input import MAX_BATCH

HOUR = timedelta(hours=1)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def parse_injection(spec: str, campaign_ids: Sequence[Any], start: datetime) -> InjectedAnomaly:
    """``KIND:CAMPAIGN_INDEX:START_HOUR[:DURATION[:MAGNITUDE]]`` as an injected anomaly."""
    parts = spec.split(":")
    if not 3 <= len(parts) <= 5 or parts[0] not in ANOMALY_KINDS:
        raise ValueError(
            f"--inject {spec!r}: expected KIND:CAMPAIGN:START_HOUR[:DURATION[:MAGNITUDE]] "
            f"with KIND one of {', '.join(ANOMALY_KINDS)}"
        )
    try:
        index, first = int(parts[1]), int(parts[2])
        duration = int(parts[3]) if len(parts) > 3 else 6
        magnitude = float(parts[4]) if len(parts) > 4 else None
    except ValueError as exc:
        raise ValueError(f"--inject {spec!r}: numbers expected after the kind") from exc
    if not 0 <= index < len(campaign_ids):
        raise ValueError(f"--inject {spec!r}: campaign index must be below {len(campaign_ids)}")
    return InjectedAnomaly(
        campaign_id=campaign_ids[index],
        kind=parts[0],  # type: ignore[arg-type]
        start_hour=start + first * HOUR,
        end_hour=start + (first + duration) * HOUR,
        magnitude=DEFAULT_MAGNITUDES[parts[0]] if magnitude is None else magnitude,
    )


def to_body(rows: Sequence[HourlyMetrics]) -> dict[str, Any]:
    return {
        "metrics": [
            {
                "campaign_id": str(r.campaign_id),
                "hour": r.hour.isoformat(),
                "impressions": r.impressions,
                "clicks": r.clicks,
                "conversions": r.conversions,
                "spend": round(r.spend, 4),
                "revenue": round(r.revenue, 4),
                "budget": round(r.budget, 2),
            }
            for r in rows
        ]
    }


def batch_key(body: bytes) -> str:
    """The batch's ``Idempotency-Key``: the same rows always get the same key, so a batch
    sent again after a cut connection is answered from the gateway's store, not recorded
    twice (keys are per tenant, so two accounts sending equal rows do not collide)."""
    return f"metrics-{hashlib.sha256(body).hexdigest()}"


async def _in_progress_wait(response: aiohttp.ClientResponse) -> float | None:
    """Seconds to wait if the gateway is still answering an earlier send of this batch."""
    if response.status != 409:
        return None
    try:
        code = (await response.json())["error"]["code"]
    except (ValueError, KeyError, TypeError, aiohttp.ContentTypeError):
        return None
    if code != "idempotency_in_progress":
        return None
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


async def post_batch(
    session: aiohttp.ClientSession, url: str, rows: Sequence[HourlyMetrics], patience: float = 60
) -> None:
    """POST rows to the gateway, waiting for it while the platform starts. Every attempt
    carries the batch's idempotency key, so a retry never records the rows twice."""
    body = orjson.dumps(to_body(rows))
    headers = {"Content-Type": "application/json", "Idempotency-Key": batch_key(body)}
    delay, waited = 0.25, 0.0
    while True:
        pause = delay
        try:
            async with session.post(url, data=body, headers=headers) as response:
                if response.status == 202:
                    return
                wait = await _in_progress_wait(response)
                if wait is not None:
                    pause = wait
                elif response.status < 500:
                    raise RuntimeError(f"gateway refused metrics: {await response.text()}")
        except aiohttp.ClientConnectionError:
            pass
        if waited >= patience:
            raise RuntimeError(f"gateway at {url} did not accept metrics in {patience:.0f}s")
        await asyncio.sleep(pause)
        waited += pause
        delay = min(delay * 2, 5.0)


async def feed(
    simulator: CampaignSimulator,
    gateway: str,
    *,
    hours: int,
    backfill_hours: int,
    speed: float,
    headers: dict[str, str] | None = None,
    on_hour: Callable[[int, datetime], None] | None = None,
) -> None:
    """Send ``hours`` hours from the simulator's start: the first ``backfill_hours`` in bulk,
    then one hour every ``3600 / speed`` seconds (as fast as possible when speed is 0)."""
    url = f"{gateway.rstrip('/')}/api/ai/metrics"
    per_batch = max(1, MAX_BATCH // len(simulator.campaign_ids))
    async with aiohttp.ClientSession(headers=headers) as session:
        sent = 0
        while sent < min(backfill_hours, hours):
            n = min(per_batch, backfill_hours - sent, hours - sent)
            rows = [
                row
                for i in range(sent, sent + n)
                for row in simulator.simulate_hour(simulator.start + i * HOUR)
            ]
            await post_batch(session, url, rows)
            sent += n
            if on_hour:
                on_hour(sent, simulator.start + (sent - 1) * HOUR)
        pause = 3600.0 / speed if speed > 0 else 0.0
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while sent < hours:
            hour = simulator.start + sent * HOUR
            await post_batch(session, url, simulator.simulate_hour(hour))
            sent += 1
            if on_hour:
                on_hour(sent, hour)
            next_at += pause
            await asyncio.sleep(max(0.0, next_at - loop.time()))
