"""HTTP routes of the alerts service."""

from __future__ import annotations

from functools import partial

from aiohttp import web

from services.alerts.health import latest_per_component
from shared.contracts import alerts as c
from shared.contracts.spec import Route
from shared.outbox import enqueue
from shared.pagination import DEFAULT_LIMIT, parse_limit
from shared.resources import insert, parse_text
from shared.service import ServiceRuntime
from shared.web import Handler, invalid, json_response, parse_body


async def create_alert(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    body = await parse_body(request, c.AlertCreate)
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        row = await insert(conn, c.ALERTS, tenant, body.model_dump())
        await enqueue(conn, runtime.event(request, c.ALERT_RAISED, row, tenant))
    return json_response(row, status=201)


async def system_health(runtime: ServiceRuntime, request: web.Request) -> web.Response:
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


def routes(runtime: ServiceRuntime) -> dict[Route, Handler]:
    return {
        c.CREATE_ALERT: partial(create_alert, runtime),
        c.LIST_SYSTEM_HEALTH: partial(system_health, runtime),
    }
