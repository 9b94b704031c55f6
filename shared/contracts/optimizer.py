"""The optimizer service's contract: recommendations, rules, forecasts, applied changes."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field, JsonValue

from shared.contracts import benchmarks, competition, connections, experiments, pools
from shared.contracts.spec import (
    LENIENT,
    Collection,
    EventPayload,
    EventType,
    Lifecycle,
    Role,
    Route,
    ServiceContract,
)
from shared.models import JsonObject, RequestModel, ShortText
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
RecommendationStatus = Literal["pending", "approved", "implemented", "rejected", "failed"]
ForecastKind = Literal["performance", "budget", "roi", "reach"]
ForecastTrigger = Literal["schedule", "request"]
Horizon = Literal[24, 168]
RuleKind = Literal[
    "budget_management", "bid_optimization", "campaign_control", "audience_management"
]
Frequency = Literal["continuous", "hourly", "daily"]
Direction = Literal["outbound", "inbound"]
CallOutcome = Literal["success", "error"]
OptimizationStatus = Literal["pending", "applied", "failed", "unknown"]
Setting = Literal["budget", "bid", "status", "audience", "creative"]
CauseKind = Literal["decision", "rule", "recommendation", "rollback", "experiment", "reallocation"]


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
    # The change that carried it out, and why it could not be, once approved.
    optimization_id: UUID | None = None
    failure_reason: str | None = None


class Forecast(ResponseModel):
    """A campaign's forecast over ``[period_start, period_end)`` (the platform's hours).

    ``predicted_metrics`` and ``actual_metrics`` hold totals over the period (``spend``,
    ``conversions``, ``revenue``, ``roas``); ``confidence_intervals`` is
    ``{"80": {metric: {"low", "high"}}, "95": {...}}`` for those totals. Once the period has
    passed: ``mase`` per metric and ``mean`` (against seasonal naive), ``accuracy_score``
    = 100 / (1 + mean MASE), and ``interval_hits`` saying which totals fell inside.
    """

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
    horizon_hours: int | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    # How it was made: model, version, fallback reason, history, fitted parameters.
    model_details: JsonValue | None = None
    # The point forecast per hour and metric.
    hourly_forecast: JsonValue | None = None
    # Each hour's own 80% band per metric (``{"80": {metric: {"low": [], "high": []}}}``), for
    # charts; the totals' intervals are ``confidence_intervals``.
    hourly_intervals: JsonValue | None = None
    # Once scored: what each hour actually was per metric (null where not reported).
    hourly_actual: JsonValue | None = None
    trigger: ForecastTrigger | None = None
    mase: JsonValue | None = None
    interval_hits: JsonValue | None = None
    hours_observed: int | None = None
    scored_at: datetime | None = None


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
    updated_at: datetime
    # The newest hour the rule has been evaluated for (the platform's clock).
    evaluated_for: datetime | None


class OptimizationRecord(ResponseModel):
    """One change to one setting of one campaign on the ad platform: planned (``pending``),
    then ``applied`` or ``failed`` with the reason.

    ``before_state`` and ``after_state`` are the campaign's settings around the change;
    ``value_before``/``value_after`` the one setting it moved. ``cause_type``/``cause_id``
    say what asked for it (a decision, a rule, an approved recommendation, or a rollback
    of another optimization); ``change_id`` is the id the platform knows it by.
    """

    id: UUID
    target_entity_type: str
    target_entity_id: UUID | None
    optimization_type: str
    status: OptimizationStatus
    setting: Setting | None
    value_before: JsonValue | None
    value_after: JsonValue | None
    before_state: JsonValue
    after_state: JsonValue
    expected_improvement: JsonValue | None
    actual_improvement: JsonValue | None
    success_metrics: JsonValue | None
    rollback_data: JsonValue | None
    change_id: UUID
    connector: str | None
    cause_type: CauseKind | None
    cause_id: UUID | None
    decision_id: UUID | None
    rule_id: UUID | None
    recommendation_id: UUID | None
    rollback_of: UUID | None
    rolled_back_by: UUID | None
    clamps: JsonValue | None
    failure_code: str | None
    failure_reason: str | None
    planned_for: datetime | None
    effective_from: datetime | None
    applied_at: datetime | None
    correlation_id: UUID | None
    # The platform's id of the request that made the change (Meta's fbtrace_id).
    platform_request_id: str | None = None
    created_at: datetime
    updated_at: datetime


class AdCampaign(ResponseModel):
    """A campaign as the ad platform last reported it (``platform_as_of``, its clock)."""

    id: UUID
    name: str
    status: str
    daily_budget: float
    bid_multiplier: float
    audience_factor: float
    audiences: JsonValue
    connector: str
    platform_as_of: datetime
    synced_at: datetime
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


RuleFrequency = Frequency


class RuleCreate(RequestModel):
    """An automation rule. ``trigger_conditions`` and ``action_parameters`` are the rule
    language's conditions and actions (see the README's loop section); ``safety_limits``
    override the tenant's limits for this rule's actions."""

    rule_name: ShortText
    rule_type: RuleKind
    trigger_conditions: JsonObject
    action_parameters: JsonValue
    safety_limits: JsonObject | None = None
    is_active: bool = True
    execution_frequency: Frequency = "hourly"


class RuleUpdate(RequestModel):
    """The fields to change; the rule is checked again as a whole."""

    rule_name: ShortText | None = None
    rule_type: RuleKind | None = None
    trigger_conditions: JsonObject | None = None
    action_parameters: JsonValue | None = None
    safety_limits: JsonObject | None = None
    is_active: bool | None = None
    execution_frequency: Frequency | None = None


def _both_horizons() -> list[Horizon]:
    return [24, 168]


# Campaigns one request may forecast: the fits run while the caller waits, within the
# gateway's upstream timeout. The schedule forecasts every campaign.
MAX_FORECAST_CAMPAIGNS = 20


class ForecastRequest(RequestModel):
    """Forecast these campaigns (default: every campaign with recent metrics, up to
    ``MAX_FORECAST_CAMPAIGNS``) over these horizons in hours (default both: the next day
    and the next week)."""

    campaign_ids: list[UUID] | None = Field(
        default=None, min_length=1, max_length=MAX_FORECAST_CAMPAIGNS
    )
    horizons: list[Horizon] = Field(default_factory=_both_horizons, min_length=1)


class SkippedCampaign(ResponseModel):
    campaign_id: UUID
    reason: str


class ForecastBatch(ResponseModel):
    """The forecasts made, from ``as_of`` (the hour after the newest metrics)."""

    as_of: datetime
    items: list[Forecast]
    skipped: list[SkippedCampaign]


class RollbackRequest(RequestModel):
    """``force`` rolls back even over later changes to the same setting, naming them."""

    force: bool = False


class RulePreview(EventPayload):
    """What a rule would do now, campaign by campaign, without doing it."""

    rule_id: UUID
    # The hour the rule is evaluated for: the one after the newest metrics.
    as_of: datetime | None
    campaigns: list[dict[str, JsonValue]]
    # Where the campaigns' settings came from: the platform now, or as last stored.
    settings_from: str = "platform"


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
    "forecast",
    "ai_campaign_forecasts",
    Forecast,
    ("campaign_id", "forecast_type", "model_used", "horizon_hours", "trigger"),
)

AUTOMATION_RULES = Resource(
    "automation rule",
    "ai_automation_rules",
    AutomationRule,
    ("rule_type", "is_active", "execution_frequency"),
    updatable=tuple(RuleUpdate.model_fields),
)

OPTIMIZATION_HISTORY = Resource(
    "optimization",
    "ai_optimization_history",
    OptimizationRecord,
    (
        "status",
        "setting",
        "optimization_type",
        "target_entity_type",
        "target_entity_id",
        "cause_type",
        "cause_id",
        "decision_id",
        "rule_id",
        "recommendation_id",
        "rollback_of",
    ),
)

CAMPAIGNS = Resource("campaign", "ad_campaigns", AdCampaign, ("status", "name"))

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
    subscribers=("decision",),
    summary="A change proposed for a person to approve or reject.",
)
RECOMMENDATION_APPROVED = EventType(
    "recommendation.approved", RecommendationEvent, (SERVICE,), summary="A person approved."
)
RECOMMENDATION_REJECTED = EventType(
    "recommendation.rejected", RecommendationEvent, (SERVICE,), summary="A person rejected."
)


class OptimizationEvent(OptimizationRecord):
    model_config = LENIENT


class ActionSkipped(EventPayload):
    """A decision or rule that led to no change and no recommendation, and why."""

    decision_id: UUID | None = None
    rule_id: UUID | None = None
    campaign_id: UUID | None = None
    reason: str
    detail: str


class RuleNotification(EventPayload):
    """A rule's ``notify`` action fired on a campaign."""

    rule_id: UUID
    rule_name: str
    campaign_id: UUID
    severity: str
    message: str
    as_of: datetime
    evaluation: dict[str, JsonValue]


OPTIMIZATION_APPLIED = EventType(
    "optimization.applied",
    OptimizationEvent,
    (SERVICE,),
    subscribers=("decision", "alerts"),
    summary="A change was made on the ad platform; before and after, cause and change id.",
)
OPTIMIZATION_FAILED = EventType(
    "optimization.failed",
    OptimizationEvent,
    (SERVICE,),
    subscribers=("decision",),
    summary="The ad platform refused a change or could not be reached; nothing was changed.",
)
OPTIMIZATION_ROLLED_BACK = EventType(
    "optimization.rolled_back",
    OptimizationEvent,
    (SERVICE,),
    subscribers=("decision",),
    summary="An applied change was undone; the payload is the undoing change (`rollback_of`).",
)
ACTION_SKIPPED = EventType(
    "optimization.skipped",
    ActionSkipped,
    (SERVICE,),
    subscribers=("decision",),
    summary="A decision led to no change: the tenant only observes, or nothing was left to do.",
)
RULE_NOTIFIED = EventType(
    "rule.notified",
    RuleNotification,
    (SERVICE,),
    subscribers=("alerts",),
    summary="An automation rule's `notify` action fired; the alerts service raises an alert.",
)


class ForecastCreated(EventPayload):
    """A forecast was made (totals and intervals; the hourly path stays in the table)."""

    forecast_id: UUID
    campaign_id: UUID
    horizon_hours: int
    period_start: datetime
    period_end: datetime
    predicted_metrics: dict[str, float | None]
    confidence_intervals: dict[str, dict[str, dict[str, float] | None]]
    model_used: str
    model_name: str
    model_version: str
    trigger: ForecastTrigger


class ForecastScored(EventPayload):
    """A forecast's period passed and it was scored against what happened."""

    forecast_id: UUID
    campaign_id: UUID
    horizon_hours: int
    period_start: datetime
    period_end: datetime
    model_name: str
    model_version: str
    actual_metrics: dict[str, float | None]
    mase: dict[str, float | None]
    mean_mase: float | None
    accuracy_score: float | None
    interval_hits: dict[str, dict[str, bool | None]]
    hours_observed: int


FORECAST_CREATED = EventType(
    "forecast.created",
    ForecastCreated,
    (SERVICE,),
    subscribers=("decision",),
    summary="A campaign forecast with 80% and 95% intervals for the period's totals.",
)
FORECAST_SCORED = EventType(
    "forecast.scored",
    ForecastScored,
    (SERVICE,),
    subscribers=("decision",),
    summary="A forecast's period passed: actual totals, MASE, accuracy and interval hits.",
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
CREATE_RECOMMENDATION = _recommendations.create(
    RecommendationCreate,
    description=(
        "A recommendation on a campaign whose `recommended_changes` name one change, "
        '`{"kind": "budget" | "bid" | "audience", "to": number}` or '
        '`{"kind": "status", "to": "paused" | "active"}`, is applied on the ad platform '
        "when approved."
    ),
)
APPROVE_RECOMMENDATION, REJECT_RECOMMENDATION = _recommendations.actions(RECOMMENDATION_LIFECYCLE)
APPROVE_RECOMMENDATION = dataclasses.replace(
    APPROVE_RECOMMENDATION,
    description=(
        "Allowed while the recommendation is pending. The change it names is applied on the "
        "ad platform within the safety limits (a person's approval stands in for the "
        "confidence gate and the cooldown); it ends `implemented`, or `failed` with "
        "`failure_reason`. Any other status is answered 409."
    ),
)

_rules = Collection(
    SERVICE, "automation-rules", AUTOMATION_RULES, "automation rules", write_role=Role.ADMIN
)
CREATE_RULE = _rules.create(
    RuleCreate,
    description="An invalid rule is answered 422; each error's `field` is its path in the body.",
)
UPDATE_RULE = Route(
    "PATCH",
    "/api/ai/automation-rules/{id}",
    "update_automation_rule",
    "Change an automation rule",
    SERVICE,
    Role.ADMIN,
    AutomationRule,
    request=RuleUpdate,
    resource=AUTOMATION_RULES,
    description="Fields not given are kept; the result is checked as a whole (422).",
)
DELETE_RULE = Route(
    "DELETE",
    "/api/ai/automation-rules/{id}",
    "delete_automation_rule",
    "Delete an automation rule",
    SERVICE,
    Role.ADMIN,
    AutomationRule,
    resource=AUTOMATION_RULES,
    description="Answers the deleted rule. Changes it made stay in the optimization history.",
)
PREVIEW_RULE = Route(
    "POST",
    "/api/ai/automation-rules/{id}/preview",
    "preview_automation_rule",
    "Show what an automation rule would do now",
    SERVICE,
    Role.OPERATOR,
    RulePreview,
    resource=AUTOMATION_RULES,
    description=(
        "Evaluates the rule on every campaign as of the newest metrics, without acting: "
        "per campaign, whether it matched, each comparison's numbers, and for each action "
        "the change the safety limits would allow and the clamps they would apply."
    ),
)

_forecasts = Collection(SERVICE, "forecasts", FORECASTS, "forecasts")
CREATE_FORECASTS = dataclasses.replace(
    _forecasts.create(ForecastRequest, response=ForecastBatch, conflict=True),
    operation_id="create_forecasts",
    summary="Forecast campaigns now",
    description=(
        "Forecasts spend, conversions, revenue and ROAS of each campaign over the next 24 "
        "hours and/or 7 days from the newest metrics, with 80% and 95% intervals, and answers "
        "them. At most 20 campaigns a request (without `campaign_ids`, the first 20 by id; "
        "the rest are listed in `skipped`, and the schedule covers them). "
        "A campaign with too little history is listed in `skipped`; campaign ids with "
        "no metrics at all are answered 422, and a tenant with no metrics yet 409. Forecasts "
        "are also made on a schedule, and scored once their period has passed."
    ),
)

_optimizations = Collection(
    SERVICE, "optimizations", OPTIMIZATION_HISTORY, "optimizations (applied changes)"
)
ROLLBACK_OPTIMIZATION = Route(
    "POST",
    "/api/ai/optimizations/{id}/rollback",
    "rollback_optimization",
    "Undo an applied change",
    SERVICE,
    Role.OPERATOR,
    OptimizationRecord,
    status=201,
    request=RollbackRequest,
    resource=OPTIMIZATION_HISTORY,
    conflict=True,
    description=(
        "Restores the setting's value from before the change, on the ad platform; the undo "
        "is itself an optimization (`rollback_of`), which can be rolled back in turn. If a "
        "later change to the same setting still holds, or the platform holds a value the "
        "records do not explain, the answer is 409 `rollback_conflict` naming it, unless "
        '`{"force": true}`. A change that was never applied, or one being carried out, is '
        "409. The platform refusing is 502 with the failed optimization in `details`."
    ),
)

CONTRACT = ServiceContract(
    SERVICE,
    "optimization_engine",
    summary="Recommendations, forecasts, automation rules, applied changes and experiments.",
    routes=(
        *_recommendations.read(),
        CREATE_RECOMMENDATION,
        APPROVE_RECOMMENDATION,
        REJECT_RECOMMENDATION,
        *_forecasts.read(),
        CREATE_FORECASTS,
        *_rules.read(),
        CREATE_RULE,
        UPDATE_RULE,
        DELETE_RULE,
        PREVIEW_RULE,
        *_optimizations.read(),
        ROLLBACK_OPTIMIZATION,
        *Collection(SERVICE, "campaigns", CAMPAIGNS, "campaigns").read(),
        *Collection(SERVICE, "integration-logs", INTEGRATION_LOGS, "integration logs").read(),
        *experiments.ROUTES,
        *pools.ROUTES,
        *competition.ROUTES,
        *benchmarks.ROUTES,
        *connections.ROUTES,
    ),
    events=(
        RECOMMENDATION_CREATED,
        RECOMMENDATION_APPROVED,
        RECOMMENDATION_REJECTED,
        OPTIMIZATION_APPLIED,
        OPTIMIZATION_FAILED,
        OPTIMIZATION_ROLLED_BACK,
        ACTION_SKIPPED,
        RULE_NOTIFIED,
        *experiments.EVENTS,
        FORECAST_CREATED,
        FORECAST_SCORED,
        *pools.EVENTS,
        *competition.EVENTS,
    ),
)
