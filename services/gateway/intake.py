"""``POST /api/ai/metrics``: validate a batch of hourly campaign metrics and publish it."""

from __future__ import annotations

from aiohttp import web

from shared.contracts.gateway import METRICS_RECORDED
from shared.metrics_input import MetricsBatch, latest_per_hour
from shared.outbox import enqueue
from shared.service import ServiceRuntime
from shared.web import json_response, parse_body


async def record_metrics(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    batch = await parse_body(request, MetricsBatch)
    tenant = runtime.tenant_of(request)
    rows = latest_per_hour(batch.metrics)
    async with runtime.tenant_tx(tenant) as conn:
        await enqueue(conn, runtime.event(request, METRICS_RECORDED, {"metrics": rows}, tenant))
    return json_response({"accepted": len(batch.metrics), "campaign_hours": len(rows)}, 202)
