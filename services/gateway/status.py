"""``/api/ai/system-status``: every service's own view of its health, in one answer."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

from services.gateway.proxy import client
from shared.contracts import BACKENDS
from shared.internal_auth import HEADER, Principal, sign
from shared.service import ServiceRuntime


async def _ask(runtime: ServiceRuntime, service: str) -> dict[str, Any]:
    settings = runtime.settings
    # A service bounds each of its own readings by the same limit; the margin is the trip.
    timeout = aiohttp.ClientTimeout(total=settings.status_timeout_seconds + 1.0)
    url = f"{settings.url_of(service)}/internal/status"
    system = Principal(settings.default_tenant, "system", "gateway", "system")
    token = sign(system, settings.require_internal_secret(), settings.internal_token_ttl_seconds)
    try:
        async with client(runtime).get(url, timeout=timeout, headers={HEADER: token}) as response:
            if response.status != 200:
                return {"service": service, "status": "down", "error": f"HTTP {response.status}"}
            report: dict[str, Any] = await response.json(loads=orjson.loads)
            return report
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return {"service": service, "status": "down", "error": exc.__class__.__name__}


def overall(reports: list[dict[str, Any]]) -> str:
    statuses = {r["status"] for r in reports}
    if statuses == {"up"}:
        return "operational"
    if "up" not in statuses:
        return "down"
    return "degraded"


async def system_status(runtime: ServiceRuntime) -> dict[str, Any]:
    reports = [await runtime.status()]
    reports += await asyncio.gather(*(_ask(runtime, s) for s in BACKENDS))
    return {"status": overall(reports), "services": {r["service"]: r for r in reports}}
