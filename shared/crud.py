"""Read routes for declared resources: every list and get-by-id looks and behaves the same."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from shared.resources import Resource, fetch_one, list_page, parse_list_query
from shared.service import ServiceRuntime
from shared.web import json_response, path_id


def _tenant(runtime: ServiceRuntime, request: web.Request, platform_wide: bool) -> UUID:
    # Platform-wide rows (heartbeats, the model registry) live in the system tenant and
    # are the same for every caller; they hold nothing of any tenant's.
    return runtime.settings.default_tenant if platform_wide else runtime.tenant_of(request)


def list_route(
    runtime: ServiceRuntime, path: str, resource: Resource, *, platform_wide: bool = False
) -> web.RouteDef:
    """``GET path``: filtered, keyset-paginated, newest first."""

    async def list_items(request: web.Request) -> web.Response:
        query = parse_list_query(resource, request.query)
        tenant = _tenant(runtime, request, platform_wide)
        async with runtime.tenant_tx(tenant) as conn:
            page = await list_page(conn, resource, tenant, query)
        return json_response(page)

    return web.get(path, list_items)


def get_route(
    runtime: ServiceRuntime, path: str, resource: Resource, *, platform_wide: bool = False
) -> web.RouteDef:
    """``GET path/{id}``."""

    async def get_item(request: web.Request) -> web.Response:
        id_ = path_id(request, resource.name)
        tenant = _tenant(runtime, request, platform_wide)
        async with runtime.tenant_tx(tenant) as conn:
            row = await fetch_one(conn, resource, tenant, id_)
        return json_response(row)

    return web.get(f"{path}/{{id}}", get_item)


def read_routes(
    runtime: ServiceRuntime, path: str, resource: Resource, *, platform_wide: bool = False
) -> list[web.RouteDef]:
    return [
        list_route(runtime, path, resource, platform_wide=platform_wide),
        get_route(runtime, path, resource, platform_wide=platform_wide),
    ]
