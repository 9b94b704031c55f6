"""Admin routes for API keys: create (the key is shown once) and revoke."""

from __future__ import annotations

from functools import partial

from aiohttp import web

from services.gateway.keys import create_key, revoke_key
from services.gateway.security import key_cache
from shared.contracts import gateway as c
from shared.contracts.spec import Route
from shared.service import ServiceRuntime
from shared.web import Handler, json_response, not_found, parse_body, path_id


async def create(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    body = await parse_body(request, c.ApiKeyCreate)
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        row, key = await create_key(conn, tenant, body.name, body.role)
    return json_response({**row, "key": key}, status=201)


async def revoke(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    key_id = path_id(request, c.KEYS.name)
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        row = await revoke_key(conn, tenant, key_id)
    # The key stops working here at once; elsewhere once their caches let it go.
    key_cache(runtime).forget()
    if row is None:
        raise not_found(c.KEYS.name, key_id)
    return json_response(row)


def key_routes(runtime: ServiceRuntime) -> dict[Route, Handler]:
    return {c.CREATE_KEY: partial(create, runtime), c.REVOKE_KEY: partial(revoke, runtime)}
