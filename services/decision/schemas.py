"""What the decision service's resources answer: one field per column, typed as in the DDL.

A column without NOT NULL is nullable here even when the service always fills it, because
rows written by older code, migrations or hand fixes may hold null.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, JsonValue

from services.decision import resources as r
from shared.resources import Resource
from shared.schemas import ResponseModel

# The CHECK constraints' values. Kept apart from the request literals on purpose: what a
# client may send can be narrower than what the table holds.
CycleKind = Literal["optimization", "analysis", "decision", "automation"]
CycleStatus = Literal["pending", "running", "completed", "failed"]
DecisionKind = Literal["budget_adjustment", "campaign_pause", "keyword_bid", "audience_expansion"]
ValidationStatus = Literal["pending", "validated", "incorrect"]
TrendDirection = Literal["improving", "declining", "stable"]
FeedbackKind = Literal["outcome_validation", "user_correction", "performance_impact"]
IntegrationStatus = Literal["pending", "integrated", "rejected"]
ModelKind = Literal["optimization", "prediction", "classification", "recommendation"]
DeploymentStatus = Literal["development", "testing", "production", "deprecated"]
StepStatus = Literal["pending", "running", "completed", "failed", "skipped"]


class Cycle(ResponseModel):
    """A master AI cycle: one pass of gather, analyse, decide, publish."""

    id: UUID
    cycle_name: str
    cycle_type: CycleKind
    status: CycleStatus
    priority: int | None
    trigger_event: str | None
    start_time: datetime | None
    end_time: datetime | None
    duration_seconds: int | None
    metadata: JsonValue | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime


class Decision(ResponseModel):
    id: UUID
    cycle_id: UUID | None
    decision_type: DecisionKind
    context_data: JsonValue
    decision_rationale: str | None
    confidence_score: float | None
    action_taken: str | None
    impact_prediction: JsonValue | None
    actual_impact: JsonValue | None
    validation_status: ValidationStatus | None
    created_at: datetime


class PerformanceScore(ResponseModel):
    id: UUID
    metric_type: str
    score_value: float
    measurement_period: str | None
    context_filters: JsonValue | None
    benchmark_comparison: float | None
    trend_direction: TrendDirection | None
    calculated_at: datetime | None
    created_at: datetime


class LearningFeedback(ResponseModel):
    id: UUID
    decision_id: UUID | None
    feedback_type: FeedbackKind
    feedback_value: JsonValue
    learning_weight: float | None
    integration_status: IntegrationStatus | None
    created_at: datetime


class ModelVersion(ResponseModel):
    id: UUID
    model_name: str
    version: str
    model_type: ModelKind
    training_data_period: JsonValue | None
    performance_metrics: JsonValue | None
    deployment_status: DeploymentStatus | None
    parameters: JsonValue
    created_at: datetime
    deployed_at: datetime | None


class WorkflowState(ResponseModel):
    """One step of a multi-step process."""

    id: UUID
    workflow_type: str
    workflow_id: UUID
    step_name: str
    step_order: int
    status: StepStatus
    input_data: JsonValue | None
    output_data: JsonValue | None
    error_message: str | None
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime


RESPONSE_MODELS: tuple[tuple[Resource, type[BaseModel]], ...] = (
    (r.CYCLES, Cycle),
    (r.DECISIONS, Decision),
    (r.PERFORMANCE, PerformanceScore),
    (r.FEEDBACK, LearningFeedback),
    (r.MODEL_VERSIONS, ModelVersion),
    (r.WORKFLOW_STATES, WorkflowState),
)
