"""Turning a decision into a recommendation a person can approve: pure mapping."""

from __future__ import annotations

from typing import Any

from shared.contracts.decision import DecisionMade
from shared.contracts.enums import DecisionType
from shared.events import optional_uuid

RECOMMENDATION_TYPE_OF = {
    DecisionType.BUDGET_ADJUSTMENT: "budget_optimization",
    DecisionType.KEYWORD_BID: "bid_strategy",
    DecisionType.AUDIENCE_EXPANSION: "audience_targeting",
    DecisionType.CAMPAIGN_PAUSE: "campaign_control",
}


def _priority(confidence: float | None) -> int:
    # Higher confidence, higher in the queue; never below 1 or above 10.
    if confidence is None:
        return 5
    return max(1, min(10, round(confidence / 10)))


def recommendation_from_decision(decision: DecisionMade) -> dict[str, Any] | None:
    """The recommendation carrying out ``decision`` (a ``decision.made`` payload), if any.

    A decision without an ``action_taken`` is an observation, not an action: nothing to do.
    """
    action = decision.action_taken
    if not action:
        return None
    context = decision.context_data if isinstance(decision.context_data, dict) else {}
    confidence = decision.confidence_score
    changes: dict[str, Any] = {"action": action}
    if isinstance(planned := context.get("action"), dict):
        changes.update(planned)
    return {
        "recommendation_type": RECOMMENDATION_TYPE_OF[decision.decision_type],
        "target_entity_type": "campaign",
        "target_entity_id": decision.campaign_id or optional_uuid(context.get("campaign_id")),
        "current_state": context.get("current_state"),
        "recommended_changes": changes,
        "expected_impact": decision.impact_prediction,
        "confidence_level": round(confidence / 10, 1) if confidence is not None else None,
        "priority_score": _priority(confidence),
        "implementation_complexity": "low",
        "source_decision_id": decision.id,
    }
