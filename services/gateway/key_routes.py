"""Admin routes for API keys: create (the key is shown once), list, revoke."""

from __future__ import annotations

from aiohttp import web

from services.gateway.keys import KEYS, create_key, revoke_key
from services.gateway.schemas import ApiKeyCreate
from shared.crud import list_route
from shared.service import ServiceRuntime
from shared.web import json_response, not_found, parse_body, path_id


def key_routes(runtime: ServiceRuntime) -> list[web.RouteDef]:
    async def create(request: web.Request) -> web.Response:
        body = await parse_body(request, ApiKeyCreate)
        tenant = runtime.tenant_of(request)
        async with runtime.tenant_tx(tenant) as conn:
            row, key = await create_key(conn, tenant, body.name, body.role)
        return json_response({**row, "key": key}, status=201)

    async def revoke(request: web.Request) -> web.Response:
        key_id = path_id(request, KEYS.name)
        tenant = runtime.tenant_of(request)
        async with runtime.tenant_tx(tenant) as conn:
            row = await revoke_key(conn, tenant, key_id)
        if row is None:
            raise not_found(KEYS.name, key_id)
        return json_response(row)

    return [
        list_route(runtime, "/api/ai/keys", KEYS),
        web.post("/api/ai/keys", create),
        web.post("/api/ai/keys/{id}/revoke", revoke),
    ]
