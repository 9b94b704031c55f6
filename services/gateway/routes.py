"""Routes the gateway answers itself, and the forwarding of every other service's routes."""

from __future__ import annotations

from functools import partial
from typing import Any

from aiohttp import web

from services.gateway.asyncapi import build_asyncapi
from services.gateway.intake import record_metrics
from services.gateway.key_routes import key_routes
from services.gateway.openapi import build_openapi
from services.gateway.preference_routes import preference_routes
from services.gateway.proxy import forward_to
from services.gateway.security import KEY_UNCHECKED
from services.gateway.status import system_status
from shared.contracts import BACKENDS, gateway, routes_of
from shared.contracts.spec import Route
from shared.service import ServiceRuntime, principal_of
from shared.web import Handler, json_response, unavailable


async def status(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    report = await system_status(runtime)
    gateway_db = report["services"][runtime.name]["database"]["reachable"]
    if principal_of(request).kind == "api_key" and not gateway_db:
        # A key may have been let in from the cache of keys found good a moment ago; the
        # report is not given on a key that cannot be checked now.
        raise unavailable(KEY_UNCHECKED)
    return json_response(report)


async def session(request: web.Request) -> web.Response:
    who = principal_of(request)
    return json_response(
        {"tenant_id": who.tenant_id, "role": who.role, "kind": who.kind, "subject": who.subject}
    )


def routes(runtime: ServiceRuntime) -> dict[Route, Handler]:
    forwarded: dict[Route, Handler] = {}
    for service in BACKENDS:
        forward = forward_to(runtime, service)
        forwarded.update({route: forward for route in routes_of(service)})
    return {
        gateway.RECORD_METRICS: partial(record_metrics, runtime),
        gateway.SYSTEM_STATUS: partial(status, runtime),
        gateway.GET_SESSION: session,
        **key_routes(runtime),
        **preference_routes(runtime),
        **forwarded,
    }


async def document(body: dict[str, Any], _request: web.Request) -> web.Response:
    return json_response(body)


def documents(runtime: ServiceRuntime) -> list[web.RouteDef]:
    """The API's own description: public, and the same for everyone."""
    openapi, asyncapi = build_openapi(), build_asyncapi(runtime.settings.exchange)
    return [
        web.get("/api/ai/openapi.json", partial(document, openapi)),
        web.get("/api/ai/asyncapi.json", partial(document, asyncapi)),
    ]
