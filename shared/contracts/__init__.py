"""Every service's contract, and what is derived from them all.

A service's routes and events are declared once, in its module here. The gateway routes and
authorises with :data:`ROUTES`, the broker's queues are bound from :func:`bindings`, and the
OpenAPI and AsyncAPI documents are built from the same declarations. Services import this
package, never each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.contracts import alerts, decision, gateway, optimizer, platform
from shared.contracts.spec import EventType, Role, Route, ServiceContract

CONTRACTS: tuple[ServiceContract, ...] = (
    gateway.CONTRACT,
    decision.CONTRACT,
    alerts.CONTRACT,
    optimizer.CONTRACT,
)
SERVICES: tuple[str, ...] = tuple(c.name for c in CONTRACTS)
# The services behind the gateway.
BACKENDS: tuple[str, ...] = tuple(name for name in SERVICES if name != gateway.SERVICE)

ROUTES: tuple[Route, ...] = tuple(route for c in CONTRACTS for route in c.routes)
EVENTS: tuple[EventType[Any], ...] = (
    *(event for c in CONTRACTS for event in c.events),
    *platform.EVENTS,
)

# Subscriptions by pattern rather than by event: the audit trail records every event.
PATTERN_SUBSCRIPTIONS: dict[str, tuple[str, ...]] = {gateway.SERVICE: ("#",)}


def _check() -> None:
    seen: dict[tuple[str, str], Route] = {}
    for route in ROUTES:
        if route.key in seen:
            raise ValueError(f"{route.method} {route.path} is declared twice")
        seen[route.key] = route
    ids = [r.operation_id for r in ROUTES]
    if len(ids) != len(set(ids)):
        raise ValueError("operation ids must be unique")
    versions = [e.key for e in EVENTS]
    if len(versions) != len(set(versions)):
        raise ValueError("an event version is declared twice")
    for event in EVENTS:
        for name in (*event.subscribers, *(p for p in event.publishers if p != "*")):
            if name not in SERVICES:
                raise ValueError(f"{event.name} names an unknown service {name!r}")


_check()

ROUTE_BY_KEY: dict[tuple[str, str], Route] = {route.key: route for route in ROUTES}


def route_for(method: str, path_template: str) -> Route | None:
    """The route declared for ``method`` on a path template such as
    ``/api/ai/alerts/{id}``; HEAD is answered as GET."""
    return ROUTE_BY_KEY.get(("GET" if method == "HEAD" else method, path_template))


def contract_of(service: str) -> ServiceContract:
    for contract in CONTRACTS:
        if contract.name == service:
            return contract
    raise KeyError(service)


def routes_of(service: str) -> tuple[Route, ...]:
    return tuple(route for route in ROUTES if route.owner == service)


def bindings(service: str) -> tuple[str, ...]:
    """The routing keys a service's queue is bound to."""
    keys = {event.name for event in EVENTS if service in event.subscribers}
    return (*PATTERN_SUBSCRIPTIONS.get(service, ()), *sorted(keys))


def topology(services: Iterable[str] = SERVICES) -> dict[str, tuple[str, ...]]:
    """Every service's queue and the routing keys bound to it."""
    return {service: bindings(service) for service in services}


__all__ = [
    "BACKENDS",
    "CONTRACTS",
    "EVENTS",
    "ROUTES",
    "SERVICES",
    "EventType",
    "Role",
    "Route",
    "ServiceContract",
    "bindings",
    "contract_of",
    "route_for",
    "routes_of",
    "topology",
]
