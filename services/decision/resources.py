"""The decision service's tables as API resources."""

from shared.resources import Resource, parse_text, parse_uuid_filter

CYCLES = Resource(
    name="cycle",
    table="master_ai_cycles",
    columns=(
        "id",
        "cycle_name",
        "cycle_type",
        "status",
        "priority",
        "trigger_event",
        "start_time",
        "end_time",
        "duration_seconds",
        "metadata",
        "error_message",
        "created_at",
        "updated_at",
    ),
    filters={"status": parse_text, "cycle_type": parse_text, "trigger_event": parse_text},
)

DECISIONS = Resource(
    name="decision",
    table="ai_decision_logs",
    columns=(
        "id",
        "cycle_id",
        "decision_type",
        "context_data",
        "decision_rationale",
        "confidence_score",
        "action_taken",
        "impact_prediction",
        "actual_impact",
        "validation_status",
        "created_at",
    ),
    filters={
        "decision_type": parse_text,
        "validation_status": parse_text,
        "cycle_id": parse_uuid_filter,
        "action_taken": parse_text,
    },
)

PERFORMANCE = Resource(
    name="performance score",
    table="ai_performance_scores",
    columns=(
        "id",
        "metric_type",
        "score_value",
        "measurement_period",
        "context_filters",
        "benchmark_comparison",
        "trend_direction",
        "calculated_at",
        "created_at",
    ),
    filters={
        "metric_type": parse_text,
        "measurement_period": parse_text,
        "trend_direction": parse_text,
    },
)

FEEDBACK = Resource(
    name="learning feedback",
    table="ai_learning_feedback",
    columns=(
        "id",
        "decision_id",
        "feedback_type",
        "feedback_value",
        "learning_weight",
        "integration_status",
        "created_at",
    ),
    filters={
        "decision_id": parse_uuid_filter,
        "feedback_type": parse_text,
        "integration_status": parse_text,
    },
)

MODEL_VERSIONS = Resource(
    name="model version",
    table="ai_model_versions",
    columns=(
        "id",
        "model_name",
        "version",
        "model_type",
        "training_data_period",
        "performance_metrics",
        "deployment_status",
        "parameters",
        "created_at",
        "deployed_at",
    ),
    filters={"model_name": parse_text, "model_type": parse_text, "deployment_status": parse_text},
)

WORKFLOW_STATES = Resource(
    name="workflow state",
    table="ai_workflow_states",
    columns=(
        "id",
        "workflow_type",
        "workflow_id",
        "step_name",
        "step_order",
        "status",
        "input_data",
        "output_data",
        "error_message",
        "started_at",
        "completed_at",
        "created_at",
    ),
    filters={"workflow_id": parse_uuid_filter, "workflow_type": parse_text, "status": parse_text},
)
