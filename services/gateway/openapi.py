"""The gateway's public API, ``/api/ai``, as an OpenAPI 3.1 document.

Each operation is declared here once; the document, the tests and the permission table are
all checked against the same catalog.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from pydantic import BaseModel

from services.alerts import resources as alerts
from services.alerts.lifecycle import TRANSITIONS
from services.alerts.models import AlertCreate
from services.alerts.schemas import Alert, Risk, SystemHealthRecord
from services.decision import resources as decision
from services.decision.models import CycleCreate, DecisionCreate, FeedbackCreate
from services.decision.schemas import (
    Cycle,
    Decision,
    LearningFeedback,
    ModelVersion,
    PerformanceScore,
    WorkflowState,
)
from services.gateway.audit import AUDIT_TRAIL
from services.gateway.schemas import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    AuditEntry,
    MetricsAccepted,
    SystemStatus,
)
from services.gateway.upstreams import UPSTREAMS
from services.optimizer import resources as optimizer
from services.optimizer.models import RecommendationCreate
from services.optimizer.schemas import (
    AutomationRule,
    Forecast,
    IntegrationLog,
    OptimizationRecord,
    Recommendation,
)
from shared.metrics_input import MAX_BATCH, MetricsBatch
from shared.openapi import LIMIT, Operation, QueryParam, build, filter_params
from shared.resources import Resource
from shared.schemas import Page

PREFIX = "/api/ai"
TITLE = "adpilot API"
DESCRIPTION = (
    "Alerts, risk, decisions, safe execution and learning for ad campaigns. Every route is "
    "scoped to the caller's tenant, and every error has the `ErrorBody` shape."
)
TAGS = {
    "decision": "Cycles, the decisions they make and what was learned from them.",
    "alerts": "Alerts, risks and the health of each component.",
    "optimizer": "Recommendations, forecasts, automation rules and applied changes.",
    "gateway": "Metrics intake, system status, the audit trail and API keys.",
}
LIST_NOTE = (
    "Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine "
    "with AND; an unknown query parameter is answered 422."
)

READ, WRITE, ADMIN = "viewer", "operator", "admin"


@dataclass(frozen=True)
class Collection:
    """A resource with the standard list and get-by-id routes, and maybe a create."""

    segment: str
    resource: Resource
    model: type[BaseModel]
    plural: str
    create: type[BaseModel] | None = None
    read_role: str = READ
    # False where the service answers the list with its own, non-standard route.
    standard_list: bool = True

    @property
    def path(self) -> str:
        return f"{PREFIX}/{self.segment}"

    @property
    def tag(self) -> str:
        return UPSTREAMS.get(self.segment, "gateway")

    @property
    def forwarded(self) -> bool:
        return self.segment in UPSTREAMS


COLLECTIONS: tuple[Collection, ...] = (
    Collection("cycles", decision.CYCLES, Cycle, "cycles", CycleCreate),
    Collection("decisions", decision.DECISIONS, Decision, "decisions", DecisionCreate),
    Collection("performance", decision.PERFORMANCE, PerformanceScore, "performance scores"),
    Collection(
        "learning-feedback",
        decision.FEEDBACK,
        LearningFeedback,
        "learning feedback",
        FeedbackCreate,
    ),
    Collection("model-versions", decision.MODEL_VERSIONS, ModelVersion, "model versions"),
    Collection("workflow-states", decision.WORKFLOW_STATES, WorkflowState, "workflow states"),
    Collection("alerts", alerts.ALERTS, Alert, "alerts", AlertCreate),
    Collection("risks", alerts.RISKS, Risk, "risks"),
    Collection(
        "system-health",
        alerts.SYSTEM_HEALTH,
        SystemHealthRecord,
        "system health records",
        standard_list=False,
    ),
    Collection(
        "recommendations",
        optimizer.RECOMMENDATIONS,
        Recommendation,
        "recommendations",
        RecommendationCreate,
    ),
    Collection("forecasts", optimizer.FORECASTS, Forecast, "forecasts"),
    Collection("automation-rules", optimizer.AUTOMATION_RULES, AutomationRule, "automation rules"),
    Collection(
        "optimization-history",
        optimizer.OPTIMIZATION_HISTORY,
        OptimizationRecord,
        "applied optimizations",
    ),
    Collection("integration-logs", optimizer.INTEGRATION_LOGS, IntegrationLog, "integration logs"),
    Collection("audit-trail", AUDIT_TRAIL, AuditEntry, "audit trail entries", read_role=ADMIN),
)


def _snake(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def page_of(model: type[BaseModel]) -> type[BaseModel]:
    page: type[BaseModel] = Page[model]  # type: ignore[valid-type]
    return page


def _collection_operations(c: Collection) -> list[Operation]:
    common: dict[str, Any] = {"tag": c.tag, "forwarded": c.forwarded}
    ops = []
    if c.standard_list:
        ops.append(
            Operation(
                "GET",
                c.path,
                f"list_{_snake(c.segment)}",
                f"List {c.plural}",
                response_model=page_of(c.model),
                query=filter_params(c.resource),
                paginated=True,
                required_role=c.read_role,
                description=LIST_NOTE,
                **common,
            )
        )
    if c.create is not None:
        name = c.resource.name
        ops.append(
            Operation(
                "POST",
                c.path,
                f"create_{_snake(name)}",
                f"Create {_a(name)}",
                response_model=c.model,
                status=201,
                request_model=c.create,
                required_role=WRITE,
                **common,
            )
        )
    ops.append(
        Operation(
            "GET",
            f"{c.path}/{{id}}",
            f"get_{_snake(c.resource.name)}",
            f"Get one {c.resource.name}",
            response_model=c.model,
            required_role=c.read_role,
            **common,
        )
    )
    return ops


def _alert_actions() -> list[Operation]:
    return [
        Operation(
            "POST",
            f"{PREFIX}/alerts/{{id}}/{action}",
            f"{action}_alert",
            f"{action.capitalize()} an alert",
            "alerts",
            Alert,
            required_role=WRITE,
            description=(
                f"Allowed while the alert is {' or '.join(sorted(sources))}; it becomes "
                f"{target}. Any other status is answered 409."
            ),
            forwarded=True,
            conflict=True,
        )
        for action, (sources, target) in TRANSITIONS.items()
    ]


def _system_health_list() -> Operation:
    return Operation(
        "GET",
        f"{PREFIX}/system-health",
        "list_system_health",
        "List the latest heartbeat of each component",
        "alerts",
        page_of(SystemHealthRecord),
        query=(
            QueryParam("component_name", {"type": "string", "maxLength": 200}, "Only this one."),
            LIMIT,
        ),
        required_role=READ,
        forwarded=True,
        description=(
            "Always one page: `next_cursor` is null. A component whose heartbeats stopped is "
            "shown `offline`, whatever it last reported."
        ),
    )


def _gateway_operations() -> list[Operation]:
    keys = f"{PREFIX}/keys"
    return [
        Operation(
            "POST",
            f"{PREFIX}/metrics",
            "record_metrics",
            "Record hourly campaign metrics",
            "gateway",
            MetricsAccepted,
            status=202,
            request_model=MetricsBatch,
            required_role=WRITE,
            description=(
                f"1 to {MAX_BATCH} rows, each for the start of an hour. Accepted rows are "
                "published for the services to take up; the answer does not wait for them."
            ),
        ),
        Operation(
            "GET",
            f"{PREFIX}/system-status",
            "get_system_status",
            "Get the status of every service",
            "gateway",
            SystemStatus,
            required_role=READ,
        ),
        Operation(
            "GET",
            keys,
            "list_api_keys",
            "List API keys",
            "gateway",
            page_of(ApiKey),
            required_role=ADMIN,
        ),
        Operation(
            "POST",
            keys,
            "create_api_key",
            "Create an API key",
            "gateway",
            ApiKeyCreated,
            status=201,
            request_model=ApiKeyCreate,
            required_role=ADMIN,
        ),
        Operation(
            "POST",
            f"{keys}/{{id}}/revoke",
            "revoke_api_key",
            "Revoke an API key",
            "gateway",
            ApiKey,
            required_role=ADMIN,
        ),
    ]


def operations() -> tuple[Operation, ...]:
    """Every ``/api/ai`` operation, grouped by path."""
    ops: list[Operation] = []
    for c in COLLECTIONS:
        if not c.standard_list and c.resource is alerts.SYSTEM_HEALTH:
            ops.append(_system_health_list())
        ops += _collection_operations(c)
        if c.resource is alerts.ALERTS:
            ops += _alert_actions()
    ops += _gateway_operations()
    return tuple(ops)


def operation_paths() -> set[tuple[str, str]]:
    """``(METHOD, path template)`` of every operation, e.g. ``("GET", "/api/ai/alerts/{id}")``."""
    return {(op.method.upper(), op.path) for op in operations()}


def _version() -> str:
    try:
        return metadata.version("adpilot")
    except metadata.PackageNotFoundError:
        # A checkout that was never installed has no version of its own.
        return "0.0.0"


def build_spec(servers: Sequence[str] = ()) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the gateway."""
    return build(
        operations(),
        TITLE,
        _version(),
        servers=servers,
        description=DESCRIPTION,
        tag_descriptions=TAGS,
    )
