"""Turning a decision into a recommendation a person can approve: pure mapping."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from shared.events import optional_uuid

RECOMMENDATION_TYPE_OF = {
    "budget_adjustment": "budget_optimization",
    "keyword_bid": "bid_strategy",
    "audience_expansion": "audience_targeting",
    "campaign_pause": "campaign_control",
}


def _priority(confidence: float | None) -> int:
    # Higher confidence, higher in the queue; never below 1 or above 10.
    if confidence is None:
        return 5
    return max(1, min(10, round(confidence / 10)))


def recommendation_from_decision(decision: dict[str, Any]) -> dict[str, Any] | None:
    """The recommendation carrying out ``decision`` (a ``decision.made`` payload), if any.

    A decision without an ``action_taken`` is an observation, not an action: nothing to do.
    """
    action = decision.get("action_taken")
    if not action:
        return None
    context = decision.get("context_data") or {}
    confidence = decision.get("confidence_score")
    confidence = float(confidence) if confidence is not None else None
    changes: dict[str, Any] = {"action": action}
    if isinstance(context.get("action"), dict):
        changes.update(context["action"])
    return {
        "recommendation_type": RECOMMENDATION_TYPE_OF[decision["decision_type"]],
        "target_entity_type": "campaign",
        "target_entity_id": optional_uuid(context.get("campaign_id")),
        "current_state": context.get("current_state"),
        "recommended_changes": changes,
        "expected_impact": decision.get("impact_prediction"),
        "confidence_level": round(confidence / 10, 1) if confidence is not None else None,
        "priority_score": _priority(confidence),
        "implementation_complexity": "low",
        "source_decision_id": UUID(str(decision["id"])),
    }
