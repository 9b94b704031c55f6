"""What the alerts service's resources answer: one field per column, typed as in the DDL.

A column without NOT NULL is nullable here even when the service always fills it, because
rows written by older code, migrations or hand fixes may hold null.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, JsonValue

from services.alerts import resources as r
from shared.resources import Resource
from shared.schemas import ResponseModel

# The CHECK constraints' values. Kept apart from the request literals on purpose: what a
# client may send can be narrower than what the table holds.
AlertKind = Literal["performance_anomaly", "budget_threshold", "opportunity", "risk"]
Level = Literal["low", "medium", "high", "critical"]
AlertEntity = Literal["campaign", "ad_group", "keyword", "audience"]
AlertStatus = Literal["active", "acknowledged", "resolved", "dismissed"]
RiskStatus = Literal["active", "mitigated", "resolved"]
HealthStatus = Literal["healthy", "warning", "critical", "offline"]


class Alert(ResponseModel):
    id: UUID
    alert_type: AlertKind
    severity: Level
    title: str
    description: str | None
    affected_entity_type: AlertEntity | None
    affected_entity_id: UUID | None
    recommended_actions: JsonValue | None
    auto_action_taken: bool | None
    status: AlertStatus | None
    alert_key: str | None
    occurrences: int
    evidence: JsonValue | None
    first_seen_hour: datetime | None
    last_seen_hour: datetime | None
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None


class Risk(ResponseModel):
    id: UUID
    risk_type: str
    risk_level: Level
    affected_entity_type: str | None
    affected_entity_id: UUID | None
    risk_indicators: JsonValue
    probability_score: float | None
    impact_assessment: JsonValue | None
    mitigation_actions: JsonValue | None
    status: RiskStatus | None
    assessed_hour: datetime | None
    created_at: datetime
    updated_at: datetime


class SystemHealthRecord(ResponseModel):
    """One heartbeat of a component."""

    id: UUID
    component_name: str
    health_status: HealthStatus
    performance_metrics: JsonValue | None
    error_logs: JsonValue | None
    last_heartbeat: datetime | None
    uptime_percentage: float | None
    created_at: datetime


RESPONSE_MODELS: tuple[tuple[Resource, type[BaseModel]], ...] = (
    (r.ALERTS, Alert),
    (r.RISKS, Risk),
    (r.SYSTEM_HEALTH, SystemHealthRecord),
)
