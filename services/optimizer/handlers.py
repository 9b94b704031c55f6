"""Events the optimizer reacts to."""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

from services.optimizer.recommend import recommendation_from_decision
from services.optimizer.resources import RECOMMENDATIONS
from shared import events
from shared.consumer import Handler
from shared.events import Envelope, to_payload
from shared.outbox import enqueue
from shared.service import ServiceRuntime


async def on_decision_made(conn: asyncpg.Connection, event: Envelope) -> None:
    values = recommendation_from_decision(event.payload)
    if values is None:
        return
    names = ["tenant_id", *values]
    row = await conn.fetchrow(
        f"INSERT INTO ai_recommendations ({', '.join(names)}) "
        f"VALUES ({', '.join(f'${i}' for i in range(1, len(names) + 1))}) "
        f"ON CONFLICT (source_decision_id) DO NOTHING RETURNING {RECOMMENDATIONS.select_list}",
        event.tenant_id,
        *values.values(),
    )
    if row is not None:
        await enqueue(
            conn, event.caused(events.RECOMMENDATION_CREATED, to_payload(row), source="optimizer")
        )


def handlers(_runtime: ServiceRuntime) -> Mapping[str, Handler]:
    return {events.DECISION_MADE: on_decision_made}
