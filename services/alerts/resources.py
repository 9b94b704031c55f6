"""The alerts service's tables as API resources."""

from shared.resources import Resource, parse_bool, parse_text, parse_uuid_filter

ALERTS = Resource(
    name="alert",
    table="ai_smart_alerts",
    columns=(
        "id",
        "alert_type",
        "severity",
        "title",
        "description",
        "affected_entity_type",
        "affected_entity_id",
        "recommended_actions",
        "auto_action_taken",
        "status",
        "alert_key",
        "occurrences",
        "evidence",
        "first_seen_hour",
        "last_seen_hour",
        "created_at",
        "updated_at",
        "acknowledged_at",
        "resolved_at",
    ),
    filters={
        "status": parse_text,
        "severity": parse_text,
        "alert_type": parse_text,
        "affected_entity_type": parse_text,
        "affected_entity_id": parse_uuid_filter,
        "auto_action_taken": parse_bool,
        "alert_key": parse_text,
    },
)

RISKS = Resource(
    name="risk",
    table="ai_risk_management",
    columns=(
        "id",
        "risk_type",
        "risk_level",
        "affected_entity_type",
        "affected_entity_id",
        "risk_indicators",
        "probability_score",
        "impact_assessment",
        "mitigation_actions",
        "status",
        "assessed_hour",
        "created_at",
        "updated_at",
    ),
    filters={
        "risk_type": parse_text,
        "risk_level": parse_text,
        "status": parse_text,
        "affected_entity_id": parse_uuid_filter,
    },
)

SYSTEM_HEALTH = Resource(
    name="system health record",
    table="ai_system_health",
    columns=(
        "id",
        "component_name",
        "health_status",
        "performance_metrics",
        "error_logs",
        "last_heartbeat",
        "uptime_percentage",
        "created_at",
    ),
    filters={"component_name": parse_text},
)
