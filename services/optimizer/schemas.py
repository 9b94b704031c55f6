"""What the optimizer service's resources answer: one field per column, typed as in the DDL.

A column without NOT NULL is nullable here even when the service always fills it, because
rows written by older code, migrations or hand fixes may hold null.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, JsonValue

from services.optimizer import resources as r
from shared.resources import Resource
from shared.schemas import ResponseModel

# The CHECK constraints' values. Kept apart from the request literals on purpose: what a
# client may send can be narrower than what the table holds.
RecommendationKind = Literal[
    "budget_optimization",
    "audience_targeting",
    "creative_testing",
    "bid_strategy",
    "campaign_control",
]
TargetEntity = Literal["campaign", "ad_group", "keyword"]
Complexity = Literal["low", "medium", "high"]
RecommendationStatus = Literal["pending", "approved", "implemented", "rejected"]
ForecastKind = Literal["performance", "budget", "roi", "reach"]
RuleKind = Literal[
    "budget_management", "bid_optimization", "campaign_control", "audience_management"
]
Frequency = Literal["continuous", "hourly", "daily"]
Direction = Literal["outbound", "inbound"]
CallOutcome = Literal["success", "error"]


class Recommendation(ResponseModel):
    id: UUID
    recommendation_type: RecommendationKind
    target_entity_type: TargetEntity
    target_entity_id: UUID | None
    current_state: JsonValue | None
    recommended_changes: JsonValue
    expected_impact: JsonValue | None
    confidence_level: float | None
    priority_score: int | None
    implementation_complexity: Complexity | None
    status: RecommendationStatus | None
    source_decision_id: UUID | None
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None
    implemented_at: datetime | None


class Forecast(ResponseModel):
    id: UUID
    campaign_id: UUID | None
    forecast_type: ForecastKind
    forecast_period_start: date | None
    forecast_period_end: date | None
    predicted_metrics: JsonValue
    confidence_intervals: JsonValue | None
    model_used: str | None
    actual_metrics: JsonValue | None
    accuracy_score: float | None
    created_at: datetime


class AutomationRule(ResponseModel):
    id: UUID
    rule_name: str
    rule_type: RuleKind
    trigger_conditions: JsonValue
    action_parameters: JsonValue
    safety_limits: JsonValue | None
    is_active: bool | None
    execution_frequency: Frequency | None
    last_execution_at: datetime | None
    execution_count: int | None
    success_rate: float | None
    created_at: datetime


class OptimizationRecord(ResponseModel):
    """A change that was applied, with what it replaced."""

    id: UUID
    target_entity_type: str
    target_entity_id: UUID | None
    optimization_type: str
    before_state: JsonValue
    after_state: JsonValue
    expected_improvement: JsonValue | None
    actual_improvement: JsonValue | None
    success_metrics: JsonValue | None
    rollback_data: JsonValue | None
    created_at: datetime


class IntegrationLog(ResponseModel):
    """One call to an ad platform, or to the simulator standing in for one."""

    id: UUID
    integration_name: str
    operation: str
    direction: Direction
    request_payload: JsonValue | None
    response_payload: JsonValue | None
    status: CallOutcome
    error_message: str | None
    duration_ms: int | None
    correlation_id: UUID | None
    created_at: datetime


RESPONSE_MODELS: tuple[tuple[Resource, type[BaseModel]], ...] = (
    (r.RECOMMENDATIONS, Recommendation),
    (r.FORECASTS, Forecast),
    (r.AUTOMATION_RULES, AutomationRule),
    (r.OPTIMIZATION_HISTORY, OptimizationRecord),
    (r.INTEGRATION_LOGS, IntegrationLog),
)
