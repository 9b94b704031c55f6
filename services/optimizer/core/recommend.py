"""Recommendations from the optimizer's side: turning a decision, or a person's
recommendation, into the change it asks for (pure), and :func:`hold_back`, the one writer
of a change held back for a person.

Decisions say what to do in ``context_data.action``: ``{"kind": "budget", "to": 450.0}``,
``{"kind": "bid", "multiplier": 0.85}`` (relative to the current bid),
``{"kind": "audience", "factor": 1.2}`` (relative), ``{"kind": "status", "to": "paused"}``.
A recommendation's ``recommended_changes`` use the same shape, usually with ``to``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from services.optimizer.core.execution import Desire
from services.optimizer.core.limits import NoAction, current_value, digits
from shared.connectors import CHANGE_KINDS, CampaignState, Change, InvalidChange
from shared.contracts.decision import DecisionMade
from shared.contracts.enums import DecisionType
from shared.contracts.optimizer import RECOMMENDATION_CREATED, RECOMMENDATIONS
from shared.events import Envelope, optional_uuid
from shared.outbox import enqueue

RECOMMENDATION_TYPE_OF = {
    DecisionType.BUDGET_ADJUSTMENT: "budget_optimization",
    DecisionType.KEYWORD_BID: "bid_strategy",
    DecisionType.AUDIENCE_EXPANSION: "audience_targeting",
    DecisionType.CAMPAIGN_PAUSE: "campaign_control",
}
_RELATIVE = {"bid": "multiplier", "audience": "factor"}
SOURCE = "optimizer"


class UnusableAction(ValueError):
    """An action that names no change this platform can make."""


def desire_from_action(action: Mapping[str, Any]) -> Desire:
    """The change ``action`` asks for, as a function of the campaign's current settings.

    Raises :class:`UnusableAction` when the action names no change (checked before any
    campaign is read, so a bad recommendation is refused when it is approved).
    """
    kind = action.get("kind")
    if kind not in CHANGE_KINDS:
        raise UnusableAction(f"kind must be one of {', '.join(CHANGE_KINDS)}, got {kind!r}")
    relative = _RELATIVE.get(str(kind))
    if "to" in action:
        try:
            fixed = Change(kind, action["to"])
        except InvalidChange as exc:
            raise UnusableAction(str(exc)) from exc
        return lambda _state: fixed
    if relative is not None and relative in action:
        factor = action[relative]
        if isinstance(factor, bool) or not isinstance(factor, int | float) or factor <= 0:
            raise UnusableAction(f"{relative} must be a positive number, got {factor!r}")

        def scaled(state: CampaignState) -> Change | NoAction:
            value = round(float(current_value(state, str(kind))) * factor, digits(str(kind)))
            try:
                return Change(kind, value)
            except InvalidChange as exc:
                return NoAction(str(exc))

        return scaled
    expected = '"to"' + (f' or "{relative}"' if relative else "")
    raise UnusableAction(f"a {kind} change needs {expected}")


def _priority(confidence: float | None) -> int:
    # Higher confidence, higher in the queue; never below 1 or above 10.
    if confidence is None:
        return 5
    return max(1, min(10, round(confidence / 10)))


def decision_action(decision: DecisionMade) -> dict[str, Any] | None:
    """The change a decision plans, or None for a decision that is only an observation."""
    if not decision.action_taken:
        return None
    context = decision.context_data if isinstance(decision.context_data, dict) else {}
    planned = context.get("action")
    return dict(planned) if isinstance(planned, dict) else None


def decision_campaign(decision: DecisionMade) -> UUID | None:
    """The campaign a decision acts on: named by the cycle, or in a hand-logged decision's
    ``context_data.campaign_id``."""
    if decision.campaign_id is not None:
        return decision.campaign_id
    context = decision.context_data if isinstance(decision.context_data, dict) else {}
    return optional_uuid(context.get("campaign_id"))


def recommendation_from_decision(
    decision: DecisionMade,
    campaign_id: UUID | None,
    changes: Mapping[str, Any],
    current_state: Any,
) -> dict[str, Any]:
    """The recommendation asking a person to approve what ``decision`` planned.

    ``changes`` is the change as it would be applied (``kind``, ``to``) with why it was
    not applied on its own.
    """
    confidence = decision.confidence_score
    return {
        "recommendation_type": RECOMMENDATION_TYPE_OF[decision.decision_type],
        "target_entity_type": "campaign",
        "target_entity_id": campaign_id,
        "current_state": current_state,
        "recommended_changes": {"action": decision.action_taken, **changes},
        "expected_impact": decision.impact_prediction,
        "confidence_level": round(confidence / 10, 1) if confidence is not None else None,
        "priority_score": _priority(confidence),
        "implementation_complexity": "low",
        "source_decision_id": decision.id,
    }


@dataclass(frozen=True, slots=True)
class HeldBack:
    """The recommendation asking about a held-back change: ``new``, or the one already
    pending for the same question (``id`` is None when a decision's was written before)."""

    id: UUID | None
    new: bool


async def hold_back(
    conn: asyncpg.Connection,
    tenant: UUID,
    values: Mapping[str, Any],
    *,
    same_question: Mapping[str, str] | None = None,
    caused_by: Envelope | None = None,
    correlation_id: UUID | None = None,
) -> HeldBack:
    """Write a pending recommendation of ``values`` (columns of ``ai_recommendations``)
    and announce it (``recommendation.created``), in the caller's transaction.

    One question at a time: with ``same_question`` (keys of ``recommended_changes`` and
    their values, say a rule and a setting), a recommendation still pending for the same
    target and keys is the answer and nothing is written. A decision is asked about once
    (``source_decision_id`` is unique). The event follows ``caused_by`` when an event
    caused this, or carries ``correlation_id``.
    """
    if same_question:
        keys = list(same_question.items())
        matches = " AND ".join(
            f"recommended_changes ->> ${3 + 2 * i} = ${4 + 2 * i}" for i in range(len(keys))
        )
        waiting = await conn.fetchval(
            f"""SELECT id FROM ai_recommendations
                WHERE tenant_id = $1 AND target_entity_id = $2 AND status = 'pending'
                  AND {matches}""",
            tenant,
            values["target_entity_id"],
            *(part for pair in keys for part in pair),
        )
        if waiting is not None:
            return HeldBack(waiting, new=False)
    names = ["tenant_id", *values]
    row = await conn.fetchrow(
        f"INSERT INTO ai_recommendations ({', '.join(names)}) "
        f"VALUES ({', '.join(f'${i}' for i in range(1, len(names) + 1))}) "
        f"ON CONFLICT (source_decision_id) DO NOTHING "
        f"RETURNING {RECOMMENDATIONS.select_list}",
        tenant,
        *values.values(),
    )
    if row is None:
        return HeldBack(None, new=False)
    event = (
        RECOMMENDATION_CREATED.caused_by(caused_by, row, source=SOURCE)
        if caused_by is not None
        else RECOMMENDATION_CREATED.envelope(
            dict(row), tenant_id=tenant, source=SOURCE, correlation_id=correlation_id
        )
    )
    await enqueue(conn, event)
    return HeldBack(row["id"], new=True)
