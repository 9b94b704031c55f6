"""Several processes of one service: how many, and where each one listens.

``adpilot up --replicas optimizer=3,alerts=2`` (or ``ADPILOT_REPLICAS``) runs that many
processes of each service named, one of every other. A service's replicas share its queue
(competing consumers: each message goes to one of them) and its database, where advisory
locks and leases keep per-tenant work to one replica at a time. Replica ``i`` (from 0)
listens on the service's port + ``i`` x ``ADPILOT_REPLICA_PORT_STEP``, so each answers its
own health checks, and the gateway spreads requests over a service's replicas
(:mod:`services.gateway.upstreams`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

# More processes than this of one service is a typing slip, not a plan.
MAX_REPLICAS = 16


class BadReplicas(ValueError):
    """A replica count that cannot be used; the message says what is wrong with it."""


def parse_replicas(text: str, services: Collection[str]) -> dict[str, int]:
    """``"optimizer=3,alerts=2"`` as ``{"optimizer": 3, "alerts": 2}``; an empty text is
    no replicas asked for. Raises :class:`BadReplicas` for an unknown service, a count that
    is not a whole number from 1 to :data:`MAX_REPLICAS`, or a service named twice."""
    counts: dict[str, int] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not name or not value:
            raise BadReplicas(f"{part!r} is not SERVICE=COUNT (e.g. optimizer=3)")
        if name not in services:
            raise BadReplicas(f"unknown service {name!r}: one of {', '.join(services)}")
        if name in counts:
            raise BadReplicas(f"{name} is given twice")
        try:
            count = int(value)
        except ValueError:
            raise BadReplicas(f"{name}={value}: the count must be a whole number") from None
        if count < 1:
            raise BadReplicas(f"{name}={value}: every service runs at least 1 replica")
        if count > MAX_REPLICAS:
            raise BadReplicas(f"{name}={value}: at most {MAX_REPLICAS} replicas of a service")
        counts[name] = count
    return counts


def format_replicas(counts: Mapping[str, int]) -> str:
    """The counts as :func:`parse_replicas` reads them."""
    return ",".join(f"{name}={count}" for name, count in counts.items())


def replica_ports(port: int, count: int, step: int) -> list[int]:
    """Where each of ``count`` replicas listens: ``port``, ``port + step``, ..."""
    return [port + i * step for i in range(count)]


def replica_names(service: str, count: int) -> list[str]:
    """The replicas' names in logs: the service's own when it runs once, else
    ``service-1``, ``service-2``, ..."""
    if count == 1:
        return [service]
    return [f"{service}-{i}" for i in range(1, count + 1)]
