"""The optimizer service's contract: recommendations, rules, forecasts, applied changes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field, JsonValue

from shared.contracts.spec import LENIENT, Collection, EventType, Lifecycle, ServiceContract
from shared.models import JsonObject, RequestModel
from shared.resources import Resource
from shared.schemas import ResponseModel

SERVICE = "optimizer"

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


# --- rows ------------------------------------------------------------------------------


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


# --- request bodies --------------------------------------------------------------------


class RecommendationCreate(RequestModel):
    recommendation_type: RecommendationKind
    target_entity_type: TargetEntity
    target_entity_id: UUID | None = None
    current_state: JsonObject | None = None
    recommended_changes: JsonObject
    expected_impact: JsonObject | None = None
    confidence_level: float | None = Field(default=None, ge=0, le=10)
    priority_score: int = Field(default=5, ge=1, le=10)
    implementation_complexity: Complexity = "medium"


# --- tables ----------------------------------------------------------------------------

RECOMMENDATIONS = Resource(
    "recommendation",
    "ai_recommendations",
    Recommendation,
    (
        "status",
        "recommendation_type",
        "target_entity_type",
        "target_entity_id",
        "source_decision_id",
        "implementation_complexity",
    ),
)

FORECASTS = Resource(
    "forecast", "ai_campaign_forecasts", Forecast, ("campaign_id", "forecast_type", "model_used")
)

AUTOMATION_RULES = Resource(
    "automation rule",
    "ai_automation_rules",
    AutomationRule,
    ("rule_type", "is_active", "execution_frequency"),
)

OPTIMIZATION_HISTORY = Resource(
    "optimization",
    "ai_optimization_history",
    OptimizationRecord,
    ("optimization_type", "target_entity_type", "target_entity_id"),
)

INTEGRATION_LOGS = Resource(
    "integration log",
    "ai_integration_logs",
    IntegrationLog,
    ("integration_name", "operation", "status"),
)


# --- events ----------------------------------------------------------------------------


class RecommendationEvent(Recommendation):
    model_config = LENIENT

    # The status before a person changed it.
    before: dict[str, str] | None = None


RECOMMENDATION_CREATED = EventType(
    "recommendation.created",
    RecommendationEvent,
    (SERVICE,),
    summary="A change proposed for a person to approve or reject.",
)
RECOMMENDATION_APPROVED = EventType(
    "recommendation.approved", RecommendationEvent, (SERVICE,), summary="A person approved."
)
RECOMMENDATION_REJECTED = EventType(
    "recommendation.rejected", RecommendationEvent, (SERVICE,), summary="A person rejected."
)

RECOMMENDATION_LIFECYCLE = Lifecycle(
    noun="a recommendation",
    transitions={
        "approve": (frozenset({"pending"}), "approved"),
        "reject": (frozenset({"pending", "approved"}), "rejected"),
    },
    events={"approve": RECOMMENDATION_APPROVED, "reject": RECOMMENDATION_REJECTED},
    stamps={"approved": "decided_at", "rejected": "decided_at"},
)


# --- routes ----------------------------------------------------------------------------

_recommendations = Collection(SERVICE, "recommendations", RECOMMENDATIONS, "recommendations")
CREATE_RECOMMENDATION = _recommendations.create(RecommendationCreate)

CONTRACT = ServiceContract(
    SERVICE,
    "optimization_engine",
    summary="Recommendations, forecasts, automation rules and applied changes.",
    routes=(
        *_recommendations.read(),
        CREATE_RECOMMENDATION,
        *_recommendations.actions(RECOMMENDATION_LIFECYCLE),
        *Collection(SERVICE, "forecasts", FORECASTS, "forecasts").read(),
        *Collection(SERVICE, "automation-rules", AUTOMATION_RULES, "automation rules").read(),
        *Collection(
            SERVICE, "optimization-history", OPTIMIZATION_HISTORY, "applied optimizations"
        ).read(),
        *Collection(SERVICE, "integration-logs", INTEGRATION_LOGS, "integration logs").read(),
    ),
    events=(RECOMMENDATION_CREATED, RECOMMENDATION_APPROVED, RECOMMENDATION_REJECTED),
)
