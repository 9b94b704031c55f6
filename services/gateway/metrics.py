"""``POST /api/ai/metrics``: validate a batch of hourly snapshots and publish it."""

from __future__ import annotations

from aiohttp import web

from shared import events
from shared.metrics_input import MetricsBatch, to_wire
from shared.outbox import enqueue
from shared.service import ServiceRuntime
from shared.web import json_response, parse_body


def metrics_handler(runtime: ServiceRuntime) -> web.RouteDef:
    async def record(request: web.Request) -> web.Response:
        batch = await parse_body(request, MetricsBatch)
        tenant = runtime.tenant_of(request)
        rows = to_wire(batch.metrics)
        async with runtime.tenant_tx(tenant) as conn:
            await enqueue(
                conn, runtime.event(request, events.METRICS_RECORDED, {"metrics": rows}, tenant)
            )
        return json_response({"accepted": len(batch.metrics), "campaign_hours": len(rows)}, 202)

    return web.post("/api/ai/metrics", record)
