"""The standard handlers: every list, get-by-id and plain create looks and behaves the same."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel

from shared.contracts.spec import EventType
from shared.once import once
from shared.outbox import enqueue
from shared.resources import Resource, fetch_one, insert, list_page, parse_list_query
from shared.web import json_response, parse_body, path_id

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


async def create_item(
    runtime: ServiceRuntime,
    resource: Resource,
    body_model: type[BaseModel],
    created: EventType[Any],
    request: web.Request,
) -> web.Response:
    """``POST <collection>``: the body as sent, stored, and its event in the same
    transaction (so a subscriber hears of every row, and of no row that was not stored);
    once per Idempotency-Key."""
    body = await parse_body(request, body_model)
    tenant = runtime.tenant_of(request)
    async with once(runtime, request, tenant) as write:
        if write.replay is not None:
            return write.replay
        row = await insert(write.conn, resource, tenant, body.model_dump())
        await enqueue(write.conn, runtime.event(request, created, row, tenant))
        return write.answered(json_response(row, status=201))
