"""The optimizer service's tables as API resources."""

from shared.resources import Resource, parse_bool, parse_text, parse_uuid_filter

RECOMMENDATIONS = Resource(
    name="recommendation",
    table="ai_recommendations",
    columns=(
        "id",
        "recommendation_type",
        "target_entity_type",
        "target_entity_id",
        "current_state",
        "recommended_changes",
        "expected_impact",
        "confidence_level",
        "priority_score",
        "implementation_complexity",
        "status",
        "source_decision_id",
        "created_at",
        "updated_at",
        "decided_at",
        "implemented_at",
    ),
    filters={
        "status": parse_text,
        "recommendation_type": parse_text,
        "target_entity_type": parse_text,
        "target_entity_id": parse_uuid_filter,
        "source_decision_id": parse_uuid_filter,
        "implementation_complexity": parse_text,
    },
)

FORECASTS = Resource(
    name="forecast",
    table="ai_campaign_forecasts",
    columns=(
        "id",
        "campaign_id",
        "forecast_type",
        "forecast_period_start",
        "forecast_period_end",
        "predicted_metrics",
        "confidence_intervals",
        "model_used",
        "actual_metrics",
        "accuracy_score",
        "created_at",
    ),
    filters={
        "campaign_id": parse_uuid_filter,
        "forecast_type": parse_text,
        "model_used": parse_text,
    },
)

AUTOMATION_RULES = Resource(
    name="automation rule",
    table="ai_automation_rules",
    columns=(
        "id",
        "rule_name",
        "rule_type",
        "trigger_conditions",
        "action_parameters",
        "safety_limits",
        "is_active",
        "execution_frequency",
        "last_execution_at",
        "execution_count",
        "success_rate",
        "created_at",
    ),
    filters={"rule_type": parse_text, "is_active": parse_bool, "execution_frequency": parse_text},
)

OPTIMIZATION_HISTORY = Resource(
    name="optimization",
    table="ai_optimization_history",
    columns=(
        "id",
        "target_entity_type",
        "target_entity_id",
        "optimization_type",
        "before_state",
        "after_state",
        "expected_improvement",
        "actual_improvement",
        "success_metrics",
        "rollback_data",
        "created_at",
    ),
    filters={
        "optimization_type": parse_text,
        "target_entity_type": parse_text,
        "target_entity_id": parse_uuid_filter,
    },
)

INTEGRATION_LOGS = Resource(
    name="integration log",
    table="ai_integration_logs",
    columns=(
        "id",
        "integration_name",
        "operation",
        "direction",
        "request_payload",
        "response_payload",
        "status",
        "error_message",
        "duration_ms",
        "correlation_id",
        "created_at",
    ),
    filters={"integration_name": parse_text, "operation": parse_text, "status": parse_text},
)
