"""Applying a status change a person asked for, as a lifecycle in the contract allows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from shared.contracts.spec import InvalidTransition, Lifecycle
from shared.outbox import enqueue
from shared.resources import Resource, fetch_one
from shared.web import ApiError, Handler, json_response, path_id

if TYPE_CHECKING:
    from shared.service import ServiceRuntime


def transition_handler(
    runtime: ServiceRuntime, resource: Resource, lifecycle: Lifecycle, action: str
) -> Handler:
    """``POST <collection>/{id}/<action>``: 200 with the item, 404 if unknown, 409 if the
    item's status does not allow the action."""
    by_column: dict[str, list[str]] = {}
    for status, column in lifecycle.stamps.items():
        by_column.setdefault(column, []).append(f"'{status}'")
    stamps = "".join(
        f", {column} = CASE WHEN $3 IN ({', '.join(statuses)}) THEN now() ELSE {column} END"
        for column, statuses in by_column.items()
    )
    event_type = lifecycle.events[action]

    async def transition(request: web.Request) -> web.Response:
        item_id = path_id(request, resource.name)
        tenant = runtime.tenant_of(request)
        async with runtime.tenant_tx(tenant) as conn:
            await conn.execute(
                f"SELECT 1 FROM {resource.table} WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
                tenant,
                item_id,
            )
            before = await fetch_one(conn, resource, tenant, item_id)
            try:
                status = lifecycle.next_status(action, before["status"])
            except InvalidTransition as exc:
                raise ApiError(
                    409, "invalid_transition", str(exc), {"status": exc.status, "action": action}
                ) from exc
            row = await conn.fetchrow(
                # clock_timestamp(): copies elsewhere order versions of an item by it.
                f"""UPDATE {resource.table} SET status = $3,
                        updated_at = clock_timestamp(){stamps}
                    WHERE tenant_id = $1 AND id = $2 RETURNING {resource.select_list}""",
                tenant,
                item_id,
                status,
            )
            assert row is not None
            after = dict(row)
            payload = {**after, "before": {"status": before["status"]}}
            await enqueue(conn, runtime.event(request, event_type, payload, tenant))
        return json_response(after)

    return transition
