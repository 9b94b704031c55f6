"""HTTP routes of the alerts service."""

from __future__ import annotations

from functools import partial

from aiohttp import web

from services.alerts.health import latest_per_component
from shared.contracts import alerts as c
from shared.contracts.spec import Route
from shared.crud import create_item
from shared.pagination import DEFAULT_LIMIT, parse_limit
from shared.resources import parse_text
from shared.service import ServiceRuntime
from shared.web import Handler, invalid, json_response


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
        c.CREATE_ALERT: partial(create_item, runtime, c.ALERTS, c.AlertCreate, c.ALERT_RAISED),
        c.LIST_SYSTEM_HEALTH: partial(system_health, runtime),
    }
