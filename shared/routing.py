"""A service's HTTP routes, bound from its contract.

Each route a service owns is answered by the handler the service gives for it or, for the
list, get and status-change routes every collection has, by the standard one. A route in
the contract without a handler, or a handler for a route not in it, stops the service
from starting: the contract and the code cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING

from aiohttp import web

from shared.contracts import routes_of
from shared.contracts.spec import Route
from shared.crud import get_item, list_items
from shared.lifecycle import transition
from shared.web import Handler

if TYPE_CHECKING:
    from shared.service import ServiceRuntime


class UnboundRoute(RuntimeError):
    """The contract and the service's handlers disagree."""


def standard_handler(runtime: ServiceRuntime, route: Route) -> Handler | None:
    resource = route.resource
    if resource is None:
        return None
    if route.kind == "list":
        return partial(list_items, runtime, resource)
    if route.kind == "get":
        return partial(get_item, runtime, resource)
    if route.kind == "action" and route.lifecycle is not None and route.action is not None:
        return partial(transition, runtime, resource, route.lifecycle, route.action)
    return None


def route_def(route: Route, handler: Handler) -> web.RouteDef:
    """The aiohttp route for a contract route; a GET answers HEAD too."""
    if route.method == "GET":
        return web.get(route.path, handler)
    return web.route(route.method, route.path, handler)


def bind_routes(runtime: ServiceRuntime, handlers: Mapping[Route, Handler]) -> list[web.RouteDef]:
    """aiohttp routes for every route ``runtime``'s service owns, and for any other route it
    was given a handler for (the gateway forwards those)."""
    owned = routes_of(runtime.name)
    missing: list[str] = []
    defs: list[web.RouteDef] = []
    for route in owned:
        handler = handlers.get(route) or standard_handler(runtime, route)
        if handler is None:
            missing.append(route.operation_id)
            continue
        defs.append(route_def(route, handler))
    if missing:
        raise UnboundRoute(f"{runtime.name} has no handler for {', '.join(missing)}")
    defs += [
        route_def(route, handler)
        for route, handler in handlers.items()
        if route.owner != runtime.name
    ]
    return defs
