"""Heartbeats: every service reports its own health on the bus; pure classification here."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from shared.contracts import contract_of
from shared.contracts.platform import HEALTH_REPORTED
from shared.outbox import enqueue

if TYPE_CHECKING:
    from shared.service import ServiceRuntime

BACKLOG_WARNING = 1000


def classify(report: dict[str, Any]) -> tuple[str, list[str]]:
    """A service's status report as a health status and the problems behind it."""
    problems = []
    if not report["database"]["reachable"]:
        problems.append("database unreachable")
    if not report["broker"]["connected"]:
        problems.append("broker disconnected")
    if problems:
        return "critical", problems
    if (report.get("outbox_backlog") or 0) > BACKLOG_WARNING:
        problems.append(f"outbox backlog {report['outbox_backlog']}")
    if report.get("dead_letters"):
        problems.append(f"{report['dead_letters']} dead-lettered events")
    return ("warning" if problems else "healthy"), problems


async def heartbeat(runtime: ServiceRuntime) -> None:
    """Report this service's health every ``heartbeat_seconds``, through its outbox."""
    interval = runtime.settings.heartbeat_seconds
    while True:
        report = await runtime.status()
        status, problems = classify(report)
        envelope = HEALTH_REPORTED.envelope(
            {
                "component_name": contract_of(runtime.name).component,
                "health_status": status,
                "errors": problems,
                "heartbeat_seconds": interval,
                "readings": {
                    k: report[k]
                    for k in (
                        "uptime_seconds",
                        "outbox_backlog",
                        "outbox_oldest_age_seconds",
                        "consumer_lag",
                        "events_consumed",
                        "dead_letters",
                        "dead_letters_oldest_age_seconds",
                    )
                },
            },
            tenant_id=runtime.settings.default_tenant,
            source=runtime.name,
        )
        if report["database"]["reachable"]:
            async with runtime.tenant_tx(envelope.tenant_id) as conn:
                await enqueue(conn, envelope)
        await asyncio.sleep(interval)
