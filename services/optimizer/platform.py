"""The optimizer's way to the ad platform: one connector per process, every call logged.

The connector is chosen by configuration (``ADPILOT_CONNECTOR``). Each request it makes is
written to ``ai_integration_logs`` in a transaction of its own, so a call is on record
even when the work that made it rolls back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from uuid import UUID

from shared.connectors import AdPlatformConnector, CallRecord, CallRecorder, connector_from_settings
from shared.contracts.optimizer import INTEGRATION_LOGS
from shared.resources import insert
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

# The conversation a platform call belongs to, for its integration log row.
CORRELATION: ContextVar[UUID | None] = ContextVar("platform_call_correlation", default=None)

_CONNECTOR = "connector"
# Event handlers take (connection, envelope, payload); the ones that reach the platform find
# the process's runtime here. One optimizer runtime runs per process.
_ACTIVE: list[ServiceRuntime] = []


def integration_recorder(runtime: ServiceRuntime, name: str) -> CallRecorder:
    """Writes each call the connector reports as an ``ai_integration_logs`` row."""

    async def record(call: CallRecord) -> None:
        async with runtime.tenant_tx(call.account) as conn:
            await insert(
                conn,
                INTEGRATION_LOGS,
                call.account,
                {
                    "integration_name": name,
                    "operation": call.operation,
                    "direction": "outbound",
                    "request_payload": call.request,
                    "response_payload": call.response,
                    "status": call.outcome,
                    "error_message": call.error,
                    "duration_ms": call.duration_ms,
                    "correlation_id": CORRELATION.get(),
                },
            )

    return record


@asynccontextmanager
async def connector_lifespan(runtime: ServiceRuntime) -> AsyncIterator[None]:
    name = runtime.settings.connector
    connector = connector_from_settings(runtime.settings, integration_recorder(runtime, name))
    runtime.state[_CONNECTOR] = connector
    _ACTIVE.append(runtime)
    log.info("ad platform connector: %s", connector.name)
    try:
        yield
    finally:
        _ACTIVE.remove(runtime)
        await connector.close()


def active_runtime() -> ServiceRuntime:
    """The runtime of the optimizer running in this process."""
    if not _ACTIVE:
        raise RuntimeError("the optimizer's connector is not started")
    return _ACTIVE[-1]


def connector_of(runtime: ServiceRuntime) -> AdPlatformConnector:
    connector: AdPlatformConnector = runtime.state[_CONNECTOR]
    return connector
