"""Turning a decision, or a person's recommendation, into the change it asks for: pure.

Decisions say what to do in ``context_data.action``: ``{"kind": "budget", "to": 450.0}``,
``{"kind": "bid", "multiplier": 0.85}`` (relative to the current bid),
``{"kind": "audience", "factor": 1.2}`` (relative), ``{"kind": "status", "to": "paused"}``.
A recommendation's ``recommended_changes`` use the same shape, usually with ``to``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from services.optimizer.applied import current_value, digits
from services.optimizer.execution import Desire
from services.optimizer.rules import NoAction
from shared.connectors import CHANGE_KINDS, CampaignState, Change, InvalidChange
from shared.contracts.decision import DecisionMade
from shared.contracts.enums import DecisionType
from shared.events import optional_uuid

RECOMMENDATION_TYPE_OF = {
    DecisionType.BUDGET_ADJUSTMENT: "budget_optimization",
    DecisionType.KEYWORD_BID: "bid_strategy",
    DecisionType.AUDIENCE_EXPANSION: "audience_targeting",
    DecisionType.CAMPAIGN_PAUSE: "campaign_control",
}
_RELATIVE = {"bid": "multiplier", "audience": "factor"}


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
