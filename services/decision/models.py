"""Request bodies the decision service accepts."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from shared.models import JsonObject, LongText, RequestModel, ShortText

DecisionType = Literal["budget_adjustment", "campaign_pause", "keyword_bid", "audience_expansion"]
CycleType = Literal["optimization", "analysis", "decision", "automation"]
FeedbackType = Literal["outcome_validation", "user_correction", "performance_impact"]


class CycleCreate(RequestModel):
    cycle_name: ShortText
    cycle_type: CycleType
    priority: int = Field(default=5, ge=1, le=10)
    trigger_event: ShortText | None = None
    metadata: JsonObject = Field(default_factory=dict)


class DecisionCreate(RequestModel):
    cycle_id: UUID | None = None
    decision_type: DecisionType
    context_data: JsonObject = Field(default_factory=dict)
    decision_rationale: LongText | None = None
    confidence_score: float | None = Field(default=None, ge=0, le=100)
    action_taken: ShortText | None = None
    impact_prediction: JsonObject | None = None


class FeedbackCreate(RequestModel):
    decision_id: UUID
    feedback_type: FeedbackType
    feedback_value: JsonObject
    learning_weight: float = Field(default=1.0, ge=0, le=9.99)
