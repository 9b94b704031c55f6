"""The audit trail: one append-only row per event on the bus."""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.consumer import Subscriptions
from shared.contracts.gateway import METRICS_RECORDED
from shared.events import Envelope

# Events whose payloads are bulk data; the trail keeps a summary, not the data.
SUMMARISED = {METRICS_RECORDED.name}


def audit_row(event: Envelope) -> dict[str, Any]:
    """What the trail records for ``event``. Pure, so the mapping is tested without a server."""
    payload = event.payload
    if event.type in SUMMARISED:
        after: dict[str, Any] = {k: v for k, v in payload.items() if not isinstance(v, list)}
        after.update({k: len(v) for k, v in payload.items() if isinstance(v, list)})
    else:
        after = payload
    resource_id = payload.get("id")
    return {
        "actor_type": "service" if event.source else "system",
        "actor_id": event.source or "unknown",
        "action": event.type,
        "resource_type": event.type.split(".", 1)[0],
        "resource_id": str(resource_id) if resource_id is not None else None,
        "before_state": payload.get("before") if isinstance(payload.get("before"), dict) else None,
        "after_state": after,
        "event_id": event.event_id,
        "event_type": event.type,
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "metadata": {"version": event.version, "occurred_at": event.occurred_at.isoformat()},
    }


subscriptions = Subscriptions("gateway")


@subscriptions.pattern("#")
async def record_event(conn: asyncpg.Connection, event: Envelope, _payload: object) -> None:
    row = audit_row(event)
    names = ["tenant_id", *row]
    await conn.execute(
        f"INSERT INTO ai_audit_trail ({', '.join(names)}) "
        f"VALUES ({', '.join(f'${i}' for i in range(1, len(names) + 1))}) "
        "ON CONFLICT (event_id) DO NOTHING",
        event.tenant_id,
        *row.values(),
    )
