"""Events the optimizer reacts to."""

from __future__ import annotations

import asyncpg

from services.optimizer import tenants
from services.optimizer.recommend import recommendation_from_decision
from shared.consumer import Subscriptions
from shared.contracts.decision import DECISION_MADE, DecisionMade
from shared.contracts.optimizer import RECOMMENDATION_CREATED, RECOMMENDATIONS
from shared.events import Envelope
from shared.outbox import enqueue

subscriptions = Subscriptions("optimizer").include(tenants.subscriptions)


@subscriptions.subscriber(DECISION_MADE)
async def on_decision_made(
    conn: asyncpg.Connection, event: Envelope, decision: DecisionMade
) -> None:
    values = recommendation_from_decision(decision)
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
        await enqueue(conn, RECOMMENDATION_CREATED.caused_by(event, row, source="optimizer"))
