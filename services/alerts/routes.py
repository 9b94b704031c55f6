"""HTTP routes of the alerts service."""

from __future__ import annotations

from aiohttp import web

from services.alerts import resources as r
from services.alerts.models import AlertCreate
from shared import events
from shared.crud import read_routes
from shared.events import to_payload
from shared.outbox import enqueue
from shared.resources import insert
from shared.service import ServiceRuntime
from shared.web import json_response, parse_body


def routes(runtime: ServiceRuntime) -> list[web.RouteDef]:
    async def create_alert(request: web.Request) -> web.Response:
        body = await parse_body(request, AlertCreate)
        tenant = runtime.tenant_of(request)
        async with runtime.db.acquire() as conn, conn.transaction():
            row = await insert(conn, r.ALERTS, tenant, body.model_dump())
            await enqueue(
                conn, runtime.event(request, events.ALERT_RAISED, to_payload(row), tenant)
            )
        return json_response(row, status=201)

    return [
        *read_routes(runtime, "/api/ai/alerts", r.ALERTS),
        web.post("/api/ai/alerts", create_alert),
        *read_routes(runtime, "/api/ai/risks", r.RISKS),
        *read_routes(runtime, "/api/ai/system-health", r.SYSTEM_HEALTH),
    ]
