"""Read routes for declared resources: every list and get-by-id looks and behaves the same."""

from __future__ import annotations

from aiohttp import web

from shared.resources import Resource, fetch_one, list_page, parse_list_query
from shared.service import ServiceRuntime
from shared.web import json_response, path_id


def list_route(runtime: ServiceRuntime, path: str, resource: Resource) -> web.RouteDef:
    """``GET path``: filtered, keyset-paginated, newest first."""

    async def list_items(request: web.Request) -> web.Response:
        query = parse_list_query(resource, request.query)
        tenant = runtime.tenant_of(request)
        async with runtime.tenant_tx(tenant) as conn:
            page = await list_page(conn, resource, tenant, query)
        return json_response(page)

    return web.get(path, list_items)


def get_route(runtime: ServiceRuntime, path: str, resource: Resource) -> web.RouteDef:
    """``GET path/{id}``."""

    async def get_item(request: web.Request) -> web.Response:
        id_ = path_id(request, resource.name)
        tenant = runtime.tenant_of(request)
        async with runtime.tenant_tx(tenant) as conn:
            row = await fetch_one(conn, resource, tenant, id_)
        return json_response(row)

    return web.get(f"{path}/{{id}}", get_item)


def read_routes(runtime: ServiceRuntime, path: str, resource: Resource) -> list[web.RouteDef]:
    return [list_route(runtime, path, resource), get_route(runtime, path, resource)]
