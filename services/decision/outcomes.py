"""What became of each decision on the ad platform, written back into its log row.

The optimizer says, by event, whether a decision's change was applied (and to what, after
the safety limits), failed, waits for a person as a recommendation, or was not made at
all. The decision's ``outcome`` records it, with a ``summary`` in words; ``action_taken``
keeps the action decided, which cycles compare new decisions with. A later report
replaces an earlier one (a recommendation, then the change once approved).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from shared.consumer import Subscriptions
from shared.contracts import optimizer
from shared.events import Envelope

subscriptions = Subscriptions("decision")


def _value(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


async def _record(
    conn: asyncpg.Connection, tenant: UUID, decision_id: UUID, text: str, outcome: dict[str, Any]
) -> None:
    await conn.execute(
        """UPDATE ai_decision_logs SET outcome = $3, outcome_at = clock_timestamp()
           WHERE tenant_id = $1 AND id = $2""",
        tenant,
        decision_id,
        {"summary": text, **outcome},
    )


@subscriptions.subscriber(optimizer.OPTIMIZATION_APPLIED, optimizer.OPTIMIZATION_FAILED)
async def on_optimization(
    conn: asyncpg.Connection, event: Envelope, change: optimizer.OptimizationEvent
) -> None:
    if change.decision_id is None:
        return
    if change.status == "applied":
        text = (
            f"applied: {change.setting} {_value(change.value_before)} -> "
            f"{_value(change.value_after)}"
        )
        if change.clamps:
            text += " (held by the safety limits)"
    else:
        text = f"failed: {change.failure_code}"
    outcome = {
        "status": change.status,
        "optimization_id": str(change.id),
        "setting": change.setting,
        "before": change.value_before,
        "after": change.value_after,
        "clamps": change.clamps,
        "failure_reason": change.failure_reason,
    }
    await _record(conn, event.tenant_id, change.decision_id, text, outcome)


@subscriptions.subscriber(optimizer.RECOMMENDATION_CREATED)
async def on_recommended(
    conn: asyncpg.Connection, event: Envelope, rec: optimizer.RecommendationEvent
) -> None:
    if rec.source_decision_id is None:
        return
    changes = rec.recommended_changes if isinstance(rec.recommended_changes, dict) else {}
    held = changes.get("held_back") if isinstance(changes.get("held_back"), dict) else {}
    reason = held.get("reason", "approval") if isinstance(held, dict) else "approval"
    text = f"recommended ({reason}): waits for a person"
    outcome = {"status": "recommended", "recommendation_id": str(rec.id), "held_back": held}
    await _record(conn, event.tenant_id, rec.source_decision_id, text, outcome)


@subscriptions.subscriber(optimizer.ACTION_SKIPPED)
async def on_skipped(
    conn: asyncpg.Connection, event: Envelope, skipped: optimizer.ActionSkipped
) -> None:
    if skipped.decision_id is None:
        return
    outcome = {"status": "skipped", "reason": skipped.reason, "detail": skipped.detail}
    await _record(
        conn, event.tenant_id, skipped.decision_id, f"not carried out: {skipped.reason}", outcome
    )


@subscriptions.subscriber(optimizer.OPTIMIZATION_ROLLED_BACK)
async def on_rolled_back(
    conn: asyncpg.Connection, event: Envelope, undo: optimizer.OptimizationEvent
) -> None:
    """A decision whose change was undone says so (it knows its change by id)."""
    if undo.rollback_of is None:
        return
    await conn.execute(
        """UPDATE ai_decision_logs
           SET outcome = outcome || jsonb_build_object(
                   'status', 'rolled_back', 'rolled_back_by', $3::text,
                   'summary', 'rolled back: ' || (outcome ->> 'summary')),
               outcome_at = clock_timestamp()
           WHERE tenant_id = $1 AND outcome ->> 'optimization_id' = $2""",
        event.tenant_id,
        str(undo.rollback_of),
        str(undo.id),
    )
