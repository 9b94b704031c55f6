"""Request bodies the optimizer service accepts."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from shared.models import JsonObject, RequestModel

RecommendationType = Literal[
    "budget_optimization",
    "audience_targeting",
    "creative_testing",
    "bid_strategy",
    "campaign_control",
]
TargetType = Literal["campaign", "ad_group", "keyword"]
Complexity = Literal["low", "medium", "high"]


class RecommendationCreate(RequestModel):
    recommendation_type: RecommendationType
    target_entity_type: TargetType
    target_entity_id: UUID | None = None
    current_state: JsonObject | None = None
    recommended_changes: JsonObject
    expected_impact: JsonObject | None = None
    confidence_level: float | None = Field(default=None, ge=0, le=10)
    priority_score: int = Field(default=5, ge=1, le=10)
    implementation_complexity: Complexity = "medium"
