"""The alerts service's contract: alerts, risks and component health, and their events."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field, JsonValue, model_validator

from shared.contracts.enums import AlertType, EntityType, RiskType, Severity
from shared.contracts.spec import (
    LENIENT,
    LIMIT,
    Collection,
    EventPayload,
    EventType,
    Lifecycle,
    QueryParam,
    Role,
    Route,
    ServiceContract,
)
from shared.models import LongText, RequestModel, ShortText
from shared.resources import Resource
from shared.schemas import ResponseModel

SERVICE = "alerts"

AlertStatus = Literal["active", "acknowledged", "resolved", "dismissed"]
RiskStatus = Literal["active", "mitigated", "resolved"]
HealthStatus = Literal["healthy", "warning", "critical", "offline"]


# --- rows ------------------------------------------------------------------------------


class Alert(ResponseModel):
    id: UUID
    alert_type: AlertType
    severity: Severity
    title: str
    description: str | None
    affected_entity_type: EntityType | None
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
    risk_level: Severity
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


# --- request bodies --------------------------------------------------------------------


class AlertCreate(RequestModel):
    alert_type: AlertType
    severity: Severity = Severity.MEDIUM
    title: ShortText
    description: LongText | None = None
    affected_entity_type: EntityType | None = None
    affected_entity_id: UUID | None = None
    recommended_actions: list[Any] | dict[str, Any] | None = None


# --- tables ----------------------------------------------------------------------------

ALERTS = Resource(
    "alert",
    "ai_smart_alerts",
    Alert,
    (
        "status",
        "severity",
        "alert_type",
        "affected_entity_type",
        "affected_entity_id",
        "auto_action_taken",
        "alert_key",
    ),
)

RISKS = Resource(
    "risk", "ai_risk_management", Risk, ("risk_type", "risk_level", "status", "affected_entity_id")
)

SYSTEM_HEALTH = Resource(
    "system health record",
    "ai_system_health",
    SystemHealthRecord,
    ("component_name",),
    platform_wide=True,
)


# --- events ----------------------------------------------------------------------------


def incident_kinds(evidence: Any) -> tuple[str | None, list[str]]:
    """The primary kind and the symptoms' kinds an incident's ``evidence`` names.

    A detector alert is an incident: one cause on one campaign. Its evidence is the
    primary's own evidence plus ``primary`` (its kind) and ``symptoms`` (the other kinds
    the cause moved, each ``{"kind", "metric", "severity", ...its evidence}``). Other
    alerts name no kinds.
    """
    if not isinstance(evidence, dict):
        return None, []
    primary = evidence.get("primary")
    symptoms = evidence.get("symptoms")
    kinds = (
        [s["kind"] for s in symptoms if isinstance(s, dict) and "kind" in s]
        if (isinstance(symptoms, list))
        else []
    )
    return (primary if isinstance(primary, str) else None), kinds


class AlertEvent(Alert):
    model_config = LENIENT

    campaign_id: UUID | None = None
    # The incident's primary kind, what explains the rest, e.g. `tracking_outage`. (The
    # `alert_key` is the primary it opened with, and does not change.)
    kind: str | None = None
    # The kinds of the incident's symptoms, e.g. `conversions_down`, `cvr_down`.
    symptoms: list[str] = Field(default_factory=list)
    metric: str | None = None
    # `auto` when the detector stopped seeing the problem.
    resolution: str | None = None
    # The status before a person changed it.
    before: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _kinds_from_evidence(self) -> AlertEvent:
        # A row sent as it is stored (a person acknowledged it, say) still names its kinds.
        if self.kind is None:
            primary, symptoms = incident_kinds(self.evidence)
            if primary is not None:
                self.kind = primary
                self.symptoms = self.symptoms or symptoms
        return self


class AssessedRisk(EventPayload):
    campaign_id: UUID
    risk_type: RiskType
    risk_level: Severity
    probability_score: float
    risk_indicators: dict[str, Any]
    impact_assessment: dict[str, Any]
    mitigation_actions: list[dict[str, Any]]
    # The stored risk row, where the assessment opened or updated one.
    id: UUID | None = None
    status: str


class RiskAssessed(EventPayload):
    """Every risk type of one campaign, scored as of ``hour``."""

    campaign_id: UUID
    hour: datetime
    risks: list[AssessedRisk]


def _alert_event(name: str, summary: str) -> EventType[Any]:
    return EventType(name, AlertEvent, (SERVICE,), subscribers=("decision",), summary=summary)


ALERT_RAISED = _alert_event(
    "alert.raised", "A new alert; `kind` names the cause, `symptoms` what else it moved."
)
ALERT_UPDATED = _alert_event(
    "alert.updated", "An open alert seen again, perhaps worse, perhaps with more symptoms."
)
ALERT_ACKNOWLEDGED = _alert_event("alert.acknowledged", "A person acknowledged an alert.")
ALERT_RESOLVED = _alert_event("alert.resolved", "An alert was resolved, by a person or quiet.")
ALERT_DISMISSED = _alert_event("alert.dismissed", "A person dismissed an alert.")
RISK_ASSESSED = EventType(
    "risk.assessed",
    RiskAssessed,
    (SERVICE,),
    subscribers=("decision",),
    summary="A campaign's risks were scored on its newest hour.",
)

ALERT_LIFECYCLE = Lifecycle(
    noun="an alert",
    transitions={
        "acknowledge": (frozenset({"active"}), "acknowledged"),
        "resolve": (frozenset({"active", "acknowledged"}), "resolved"),
        "dismiss": (frozenset({"active", "acknowledged"}), "dismissed"),
    },
    events={
        "acknowledge": ALERT_ACKNOWLEDGED,
        "resolve": ALERT_RESOLVED,
        "dismiss": ALERT_DISMISSED,
    },
    stamps={
        "acknowledged": "acknowledged_at",
        "resolved": "resolved_at",
        "dismissed": "resolved_at",
    },
)


# --- routes ----------------------------------------------------------------------------

_alerts = Collection(SERVICE, "alerts", ALERTS, "alerts")
_health = Collection(SERVICE, "system-health", SYSTEM_HEALTH, "system health records")

CREATE_ALERT = _alerts.create(AlertCreate)
LIST_SYSTEM_HEALTH = Route(
    "GET",
    _health.path,
    "list_system_health",
    "List the latest heartbeat of each component",
    SERVICE,
    Role.VIEWER,
    SYSTEM_HEALTH.page_model,
    resource=SYSTEM_HEALTH,
    query=(
        QueryParam("component_name", {"type": "string", "maxLength": 200}, "Only this one."),
        LIMIT,
    ),
    description=(
        "Always one page: `next_cursor` is null. A component whose heartbeats stopped is "
        "shown `offline`, whatever it last reported."
    ),
)

CONTRACT = ServiceContract(
    SERVICE,
    "alerting_engine",
    summary="Alerts, risks and the health of each component.",
    routes=(
        *_alerts.read(),
        CREATE_ALERT,
        *_alerts.actions(ALERT_LIFECYCLE),
        *Collection(SERVICE, "risks", RISKS, "risks").read(),
        LIST_SYSTEM_HEALTH,
        _health.get(),
    ),
    events=(
        ALERT_RAISED,
        ALERT_UPDATED,
        ALERT_ACKNOWLEDGED,
        ALERT_RESOLVED,
        ALERT_DISMISSED,
        RISK_ASSESSED,
    ),
)
