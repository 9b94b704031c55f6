"""The gateway's public API, ``/api/ai``, as an OpenAPI 3.1 document.

Each operation is declared here once; the document, the tests and the permission table are
all checked against the same catalog.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from pydantic import BaseModel

from services.alerts import resources as alerts
from services.alerts.lifecycle import ALERT_LIFECYCLE
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
from services.gateway.keys import KEYS
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
from services.optimizer.lifecycle import RECOMMENDATION_LIFECYCLE
from services.optimizer.models import RecommendationCreate
from services.optimizer.schemas import (
    AutomationRule,
    Forecast,
    IntegrationLog,
    OptimizationRecord,
    Recommendation,
)
from shared.lifecycle import Lifecycle
from shared.metrics_input import MAX_BATCH, MetricsBatch
from shared.openapi import LIMIT, Operation, QueryParam, build, filter_params
from shared.resources import Resource
from shared.schemas import page_of

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
    """A resource with a list route, usually a get-by-id route, and maybe a create."""

    segment: str
    resource: Resource
    model: type[BaseModel]
    plural: str
    create: type[BaseModel] | None = None
    read_role: str = READ
    write_role: str = WRITE
    # False where the service answers the list with its own, non-standard route.
    standard_list: bool = True
    get_by_id: bool = True
    # What a create answers, when it is more than the item as listed.
    created: type[BaseModel] | None = None
    # Whether a create can be refused with 409 (e.g. too many cycles already waiting).
    create_conflicts: bool = False

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
    Collection("cycles", decision.CYCLES, Cycle, "cycles", CycleCreate, create_conflicts=True),
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
    Collection(
        "keys",
        KEYS,
        ApiKey,
        "API keys",
        ApiKeyCreate,
        read_role=ADMIN,
        write_role=ADMIN,
        get_by_id=False,
        created=ApiKeyCreated,
    ),
)


def _snake(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _standard_list(c: Collection) -> Operation:
    return Operation(
        "GET",
        c.path,
        f"list_{_snake(c.segment)}",
        f"List {c.plural}",
        c.tag,
        page_of(c.model),
        query=filter_params(c.resource),
        paginated=True,
        required_role=c.read_role,
        description=LIST_NOTE,
        forwarded=c.forwarded,
    )


def _system_health_list(c: Collection) -> Operation:
    return Operation(
        "GET",
        c.path,
        "list_system_health",
        "List the latest heartbeat of each component",
        c.tag,
        page_of(c.model),
        query=(
            QueryParam("component_name", {"type": "string", "maxLength": 200}, "Only this one."),
            LIMIT,
        ),
        required_role=c.read_role,
        description=(
            "Always one page: `next_cursor` is null. A component whose heartbeats stopped is "
            "shown `offline`, whatever it last reported."
        ),
        forwarded=c.forwarded,
    )


def _actions(lifecycle: Lifecycle) -> Callable[[Collection], list[Operation]]:
    """The status-changing actions a lifecycle allows, as operations."""

    def operations(c: Collection) -> list[Operation]:
        noun = lifecycle.noun.split(" ", 1)[1]
        return [
            Operation(
                "POST",
                f"{c.path}/{{id}}/{action}",
                f"{action}_{_snake(noun)}",
                f"{action.capitalize()} {lifecycle.noun}",
                c.tag,
                c.model,
                required_role=c.write_role,
                description=(
                    f"Allowed while the {noun} is {' or '.join(sorted(sources))}; it becomes "
                    f"{target}. Any other status is answered 409."
                ),
                forwarded=c.forwarded,
                conflict=True,
            )
            for action, (sources, target) in lifecycle.transitions.items()
        ]

    return operations


def _revoke_key(c: Collection) -> list[Operation]:
    return [
        Operation(
            "POST",
            f"{c.path}/{{id}}/revoke",
            "revoke_api_key",
            "Revoke an API key",
            c.tag,
            c.model,
            required_role=c.write_role,
            description="The key stops working at once. Revoking a revoked key changes nothing.",
            forwarded=c.forwarded,
        )
    ]


# Lists a service answers with a route of its own instead of the standard one.
SPECIAL_LISTS: dict[str, Callable[[Collection], Operation]] = {
    "system-health": _system_health_list,
}
# Operations beyond list, create and get, by collection.
EXTRAS: dict[str, Callable[[Collection], list[Operation]]] = {
    "alerts": _actions(ALERT_LIFECYCLE),
    "recommendations": _actions(RECOMMENDATION_LIFECYCLE),
    "keys": _revoke_key,
}


def _collection_operations(c: Collection) -> list[Operation]:
    ops = [
        _standard_list(c) if c.standard_list else SPECIAL_LISTS[c.segment](c),
    ]
    if c.create is not None:
        name = c.resource.name
        ops.append(
            Operation(
                "POST",
                c.path,
                f"create_{_snake(name)}",
                f"Create {_a(name)}",
                c.tag,
                c.created or c.model,
                status=201,
                request_model=c.create,
                required_role=c.write_role,
                forwarded=c.forwarded,
                conflict=c.create_conflicts,
            )
        )
    if c.get_by_id:
        ops.append(
            Operation(
                "GET",
                f"{c.path}/{{id}}",
                f"get_{_snake(c.resource.name)}",
                f"Get one {c.resource.name}",
                c.tag,
                c.model,
                required_role=c.read_role,
                forwarded=c.forwarded,
            )
        )
    ops += EXTRAS.get(c.segment, lambda _c: [])(c)
    return ops


def _gateway_operations() -> list[Operation]:
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
    ]


def operations() -> tuple[Operation, ...]:
    """Every ``/api/ai`` operation, grouped by path."""
    ops: list[Operation] = []
    for c in COLLECTIONS:
        ops += _collection_operations(c)
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
