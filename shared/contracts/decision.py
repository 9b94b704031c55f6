"""The decision service's contract: cycles, decisions, what was learned, and their events."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field, JsonValue

from shared.contracts.enums import Calibrator, DecisionType
from shared.contracts.spec import LENIENT, Collection, EventType, ServiceContract
from shared.models import JsonObject, LongText, RequestModel, ShortText
from shared.resources import Resource
from shared.schemas import ResponseModel

SERVICE = "decision"

# The CHECK constraints' values.
CycleKind = Literal["optimization", "analysis", "decision", "automation"]
CycleStatus = Literal["pending", "running", "completed", "failed"]
ValidationStatus = Literal["pending", "validated", "incorrect"]
TrendDirection = Literal["improving", "declining", "stable"]
FeedbackKind = Literal["outcome_validation", "user_correction", "performance_impact"]
IntegrationStatus = Literal["pending", "integrated", "rejected"]
ModelKind = Literal["optimization", "prediction", "classification", "recommendation"]
DeploymentStatus = Literal["development", "testing", "production", "deprecated"]
StepStatus = Literal["pending", "running", "completed", "failed", "skipped"]
ScoreCohort = Literal["all", "applied", "not_applied"]


# --- rows ------------------------------------------------------------------------------


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
    decision_type: DecisionType
    context_data: JsonValue
    decision_rationale: str | None
    confidence_score: float | None
    action_taken: str | None
    impact_prediction: JsonValue | None
    actual_impact: JsonValue | None
    validation_status: ValidationStatus | None
    created_at: datetime
    # What was actually done on the ad platform: `status` (applied, failed, recommended,
    # skipped), `summary` in words, and the optimization or recommendation it became.
    outcome: JsonValue | None = None
    outcome_at: datetime | None = None
    validated_at: datetime | None = None


class PerformanceScore(ResponseModel):
    """One score of the decision policy over one period, for one group of decisions.

    ``metric_type``: accuracy (percent validated), brier, ece, roi_impact (summed profit
    effect of decisions carried out) or decision_quality (Brier skill score against a
    constant 50%, percent). ``measurement_period`` is hourly, daily or weekly from
    ``period_start`` (the data time decisions were made for). A null ``decision_type`` or
    ``model_version`` means all of them; ``cohort`` is all, applied or not_applied.
    ``benchmark_comparison`` is the latest earlier period's value, ``trend_direction`` the way it
    moved. ECE rows carry the reliability table in ``details``. A decision type's rows
    (``model_version`` null) name the ``calibrator`` that turned the type's evidence into
    confidence when they were calculated (prior, platt or isotonic) and the verdict
    weight it was fitted on (``calibrator_outcomes``).
    """

    id: UUID
    metric_type: str
    score_value: float
    measurement_period: str | None
    context_filters: JsonValue | None
    benchmark_comparison: float | None
    trend_direction: TrendDirection | None
    calculated_at: datetime | None
    created_at: datetime
    period_start: datetime | None = None
    decision_type: DecisionType | None = None
    model_version: str | None = None
    cohort: ScoreCohort | None = None
    sample_size: float | None = None
    details: JsonValue | None = None
    calibrator: Calibrator | None = None
    calibrator_outcomes: float | None = None


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


# --- request bodies --------------------------------------------------------------------


class CycleCreate(RequestModel):
    cycle_name: ShortText
    cycle_type: CycleKind
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
    feedback_type: FeedbackKind
    feedback_value: JsonObject
    learning_weight: float = Field(default=1.0, ge=0, le=9.99)


# --- tables ----------------------------------------------------------------------------

CYCLES = Resource("cycle", "master_ai_cycles", Cycle, ("status", "cycle_type", "trigger_event"))

DECISIONS = Resource(
    "decision",
    "ai_decision_logs",
    Decision,
    ("decision_type", "validation_status", "cycle_id", "action_taken"),
)

PERFORMANCE = Resource(
    "performance score",
    "ai_performance_scores",
    PerformanceScore,
    (
        "metric_type",
        "measurement_period",
        "trend_direction",
        "decision_type",
        "model_version",
        "cohort",
    ),
)

FEEDBACK = Resource(
    "learning feedback",
    "ai_learning_feedback",
    LearningFeedback,
    ("decision_id", "feedback_type", "integration_status"),
)

MODEL_VERSIONS = Resource(
    "model version",
    "ai_model_versions",
    ModelVersion,
    ("model_name", "model_type", "deployment_status"),
    platform_wide=True,
)

WORKFLOW_STATES = Resource(
    "workflow state",
    "ai_workflow_states",
    WorkflowState,
    ("workflow_id", "workflow_type", "status"),
)


# --- events ----------------------------------------------------------------------------


class CycleEvent(Cycle):
    model_config = LENIENT


class DecisionMade(Decision):
    model_config = LENIENT

    # The campaign the decision acts on; decisions recorded by hand may name none.
    campaign_id: UUID | None = None


class FeedbackEvent(LearningFeedback):
    model_config = LENIENT


class DecisionValidated(Decision):
    """A decision judged after its horizon: ``actual_impact`` holds the measurement
    (before, after, counterfactual, effect, error against the prediction) and
    ``validation_status`` the verdict."""

    model_config = LENIENT

    campaign_id: UUID | None = None
    reason: str | None = None


CYCLE_QUEUED = EventType(
    "cycle.queued", CycleEvent, (SERVICE,), summary="A person asked for a cycle; it waits to run."
)
CYCLE_COMPLETED = EventType(
    "cycle.completed",
    CycleEvent,
    (SERVICE,),
    summary="A cycle ended, completed or failed; `metadata` says what it did.",
)
DECISION_MADE = EventType(
    "decision.made",
    DecisionMade,
    (SERVICE,),
    subscribers=("optimizer",),
    summary=(
        "A decision with its type, rationale, confidence and predicted impact. Services "
        "outside adpilot may subscribe to `decision.*`."
    ),
)
FEEDBACK_RECORDED = EventType(
    "feedback.recorded", FeedbackEvent, (SERVICE,), summary="Feedback on a decision."
)
DECISION_VALIDATED = EventType(
    "decision.validated",
    DecisionValidated,
    (SERVICE,),
    summary=(
        "A decision's horizon passed: its measured effect against the prediction and a "
        "counterfactual, and whether it was validated or incorrect."
    ),
)


# --- routes ----------------------------------------------------------------------------

_cycles = Collection(SERVICE, "cycles", CYCLES, "cycles")
_decisions = Collection(SERVICE, "decisions", DECISIONS, "decisions")
_feedback = Collection(SERVICE, "learning-feedback", FEEDBACK, "learning feedback")

CREATE_CYCLE = _cycles.create(
    CycleCreate,
    conflict=True,
    description="Queued for the cycle runner; refused with 409 while too many already wait.",
)
CREATE_DECISION = _decisions.create(DecisionCreate)
CREATE_FEEDBACK = _feedback.create(FeedbackCreate)

CONTRACT = ServiceContract(
    SERVICE,
    "decision_engine",
    summary="Cycles, the decisions they make and what was learned from them.",
    routes=(
        *_cycles.read(),
        CREATE_CYCLE,
        *_decisions.read(),
        CREATE_DECISION,
        *Collection(SERVICE, "performance", PERFORMANCE, "performance scores").read(),
        *_feedback.read(),
        CREATE_FEEDBACK,
        *Collection(SERVICE, "model-versions", MODEL_VERSIONS, "model versions").read(),
        *Collection(SERVICE, "workflow-states", WORKFLOW_STATES, "workflow states").read(),
    ),
    events=(CYCLE_QUEUED, CYCLE_COMPLETED, DECISION_MADE, FEEDBACK_RECORDED, DECISION_VALIDATED),
)
