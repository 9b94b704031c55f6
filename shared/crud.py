"""The standard read handlers: every list and get-by-id looks and behaves the same."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from aiohttp import web

from shared.resources import Resource, fetch_one, list_page, parse_list_query
from shared.web import json_response, path_id

if TYPE_CHECKING:
    from shared.service import ServiceRuntime


def _tenant(runtime: ServiceRuntime, request: web.Request, resource: Resource) -> UUID:
    # Platform-wide rows live in the system tenant and are the same for every caller; they
    # hold nothing of any tenant's.
    if resource.platform_wide:
        return runtime.settings.default_tenant
    return runtime.tenant_of(request)


async def list_items(
    runtime: ServiceRuntime, resource: Resource, request: web.Request
) -> web.Response:
    """``GET <collection>``: filtered, keyset-paginated, newest first."""
    query = parse_list_query(resource, request.query)
    tenant = _tenant(runtime, request, resource)
    async with runtime.tenant_tx(tenant) as conn:
        page = await list_page(conn, resource, tenant, query)
    return json_response(page)


async def get_item(
    runtime: ServiceRuntime, resource: Resource, request: web.Request
) -> web.Response:
    """``GET <collection>/{id}``."""
    id_ = path_id(request, resource.name)
    tenant = _tenant(runtime, request, resource)
    async with runtime.tenant_tx(tenant) as conn:
        row = await fetch_one(conn, resource, tenant, id_)
    return json_response(row)
