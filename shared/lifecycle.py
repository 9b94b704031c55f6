"""Applying a status change a person asked for, as a lifecycle in the contract allows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from shared.contracts.spec import InvalidTransition, Lifecycle
from shared.outbox import enqueue
from shared.resources import Resource, change_status
from shared.web import json_response, path_id

if TYPE_CHECKING:
    from shared.service import ServiceRuntime

# Re-exported: the error a refused transition raises.
__all__ = ["InvalidTransition", "transition"]


async def transition(
    runtime: ServiceRuntime,
    resource: Resource,
    lifecycle: Lifecycle,
    action: str,
    request: web.Request,
) -> web.Response:
    """``POST <collection>/{id}/<action>``: 200 with the item, 404 if unknown, 409 if the
    item's status does not allow the action; the lifecycle's event goes out with it."""
    item_id = path_id(request, resource.name)
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        moved = await change_status(conn, resource, tenant, item_id, lifecycle, action)
        payload = {**moved.after, "before": {"status": moved.before["status"]}}
        event = runtime.event(request, lifecycle.events[action], payload, tenant)
        await enqueue(conn, event)
    return json_response(moved.after)
