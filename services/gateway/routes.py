"""Routes the gateway answers itself, then the catch-all that forwards the rest."""

from __future__ import annotations

from aiohttp import web

from services.gateway.audit import AUDIT_TRAIL
from services.gateway.key_routes import key_routes
from services.gateway.metrics import metrics_handler
from services.gateway.openapi import build_spec
from services.gateway.proxy import proxy_handler
from services.gateway.status import system_status
from shared.crud import read_routes
from shared.service import ServiceRuntime
from shared.web import json_response


def routes(runtime: ServiceRuntime) -> list[web.AbstractRouteDef]:
    async def status(_request: web.Request) -> web.Response:
        return json_response(await system_status(runtime))

    spec = build_spec()

    async def openapi(_request: web.Request) -> web.Response:
        return json_response(spec)

    forward = proxy_handler(runtime)
    return [
        web.get("/api/ai/openapi.json", openapi),
        web.get("/api/ai/system-status", status),
        metrics_handler(runtime),
        *key_routes(runtime),
        *read_routes(runtime, "/api/ai/audit-trail", AUDIT_TRAIL),
        # Registered last: aiohttp matches routes in order, so local routes win.
        web.route("*", "/api/ai/{resource}", forward),
        web.route("*", "/api/ai/{resource}/{tail:.*}", forward),
    ]
