"""HTTP routes of the alerts service."""

from __future__ import annotations

from aiohttp import web

from services.alerts import resources as r
from services.alerts.health import latest_per_component
from services.alerts.lifecycle import ALERT_LIFECYCLE
from services.alerts.models import AlertCreate
from shared import events
from shared.crud import get_route, read_routes
from shared.events import to_payload
from shared.lifecycle import transition_route
from shared.outbox import enqueue
from shared.pagination import DEFAULT_LIMIT, parse_limit
from shared.resources import insert, parse_text
from shared.service import ServiceRuntime
from shared.web import invalid, json_response, parse_body


def routes(runtime: ServiceRuntime) -> list[web.RouteDef]:
    async def create_alert(request: web.Request) -> web.Response:
        body = await parse_body(request, AlertCreate)
        tenant = runtime.tenant_of(request)
        async with runtime.tenant_tx(tenant) as conn:
            row = await insert(conn, r.ALERTS, tenant, body.model_dump())
            await enqueue(
                conn, runtime.event(request, events.ALERT_RAISED, to_payload(row), tenant)
            )
        return json_response(row, status=201)

    async def system_health(request: web.Request) -> web.Response:
        """The latest heartbeat of each component: a short list, so one page always."""
        errors = [
            {"field": k, "message": "unknown parameter; allowed: component_name, limit"}
            for k in sorted(set(request.query) - {"component_name", "limit"})
        ]
        limit = DEFAULT_LIMIT
        try:
            limit = parse_limit(request.query.get("limit"))
        except ValueError as exc:
            errors.append({"field": "limit", "message": str(exc)})
        component = request.query.get("component_name")
        if component is not None:
            try:
                component = parse_text(component)
            except ValueError as exc:
                errors.append({"field": "component_name", "message": str(exc)})
        if errors:
            raise invalid("query parameters are invalid", errors)
        # Health is the platform's, not a tenant's: heartbeats carry the system tenant.
        system_tenant = runtime.settings.default_tenant
        async with runtime.tenant_tx(system_tenant) as conn:
            items = await latest_per_component(conn, system_tenant, component)
        return json_response({"items": items[:limit], "next_cursor": None})

    return [
        *read_routes(runtime, "/api/ai/alerts", r.ALERTS),
        web.post("/api/ai/alerts", create_alert),
        transition_route(runtime, "/api/ai/alerts", r.ALERTS, ALERT_LIFECYCLE),
        *read_routes(runtime, "/api/ai/risks", r.RISKS),
        web.get("/api/ai/system-health", system_health),
        get_route(runtime, "/api/ai/system-health", r.SYSTEM_HEALTH, platform_wide=True),
    ]
