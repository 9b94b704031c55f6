"""Status changes a person may make: a table per resource, one way to apply it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web

from shared.events import to_payload
from shared.outbox import enqueue
from shared.resources import Resource, fetch_one
from shared.service import ServiceRuntime
from shared.web import ApiError, json_response, path_id


class InvalidTransition(ValueError):
    def __init__(self, noun: str, action: str, status: str) -> None:
        super().__init__(f"cannot {action} {noun} that is {status}")
        self.action = action
        self.status = status


@dataclass(frozen=True)
class Lifecycle:
    """``transitions``: action -> (statuses it may start from, status it leads to)."""

    noun: str
    transitions: Mapping[str, tuple[frozenset[str], str]]
    events: Mapping[str, str]
    # Status -> the column stamped with the time it was reached.
    stamps: Mapping[str, str] = field(default_factory=dict)

    def next_status(self, action: str, current: str) -> str:
        sources, target = self.transitions[action]
        if current not in sources:
            raise InvalidTransition(self.noun, action, current)
        return target


def transition_route(
    runtime: ServiceRuntime, path: str, resource: Resource, lifecycle: Lifecycle
) -> web.RouteDef:
    """``POST path/{id}/{action}``: 200 with the item, 404 if unknown, 409 if not allowed."""
    by_column: dict[str, list[str]] = {}
    for status, column in lifecycle.stamps.items():
        by_column.setdefault(column, []).append(f"'{status}'")
    stamps = "".join(
        f", {column} = CASE WHEN $3 IN ({', '.join(statuses)}) THEN now() ELSE {column} END"
        for column, statuses in by_column.items()
    )

    async def transition(request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if action not in lifecycle.transitions:
            raise ApiError(404, "not_found", f"no route for POST {request.path}")
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
            event = runtime.event(request, lifecycle.events[action], to_payload(payload), tenant)
            await enqueue(conn, event)
        return json_response(after)

    return web.post(f"{path}/{{id}}/{{action}}", transition)
