"""Budget pools: a total daily budget over a set of campaigns that the optimizer
reallocates on the campaigns' fitted response curves, explaining every number.

Part of the optimizer's contract (its ``CONTRACT`` lists these routes and events)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AllowInfNan, Field, JsonValue, field_validator

from shared.contracts.spec import (
    CURSOR,
    LIMIT,
    LIST_NOTE,
    Collection,
    EventPayload,
    EventType,
    QueryParam,
    Role,
    Route,
)
from shared.models import RequestModel, ShortText
from shared.resources import Resource
from shared.schemas import ResponseModel

SERVICE = "optimizer"

PoolStrategy = Literal["performance_based", "opportunity_weighted", "equal_distribution"]
ReallocationFrequency = Literal["hourly", "daily", "weekly"]
ReallocationTrigger = Literal["scheduled", "on_demand"]
ReallocationStatus = Literal[
    "running", "applied", "partial", "recommended", "observed", "no_change", "failed"
]
CurveMetric = Literal["conversions", "revenue"]
# What held a campaign's new budget where it is (see services.optimizer.pools.allocator).
BoundBy = Literal["none", "floor", "cap", "step", "limit", "min_share", "max_share"]

_Share = Annotated[float, AllowInfNan(False), Field(ge=0, le=1)]
# numeric(12, 2) holds up to this.
_Money = Annotated[float, AllowInfNan(False), Field(gt=0, lt=1e10)]
MAX_POOL_CAMPAIGNS = 10_000


# --- rows ------------------------------------------------------------------------------


class BudgetPool(ResponseModel):
    """A total daily budget over ``campaign_ids``, reallocated at
    ``reallocation_frequency`` on the platform's clock (``next_reallocation_at``)."""

    id: UUID
    budget_pool_name: str
    total_budget: float
    allocated_budget: float | None
    remaining_budget: float | None
    allocation_strategy: PoolStrategy | None
    reallocation_frequency: ReallocationFrequency | None
    performance_thresholds: JsonValue | None
    campaign_ids: list[UUID]
    is_active: bool
    last_reallocation_at: datetime | None
    next_reallocation_at: datetime | None
    reallocation_count: int
    created_at: datetime
    updated_at: datetime


class Reallocation(ResponseModel):
    """One run of a pool. ``campaigns`` explains each campaign's new budget: old and new
    budget, the marginal ROAS at each, the curve (parameters and fit) it was read from,
    what bound it, and what became of the change. ``predicted`` holds the pool's
    conversions and revenue per day at the old and the new budgets, with intervals."""

    id: UUID
    pool_id: UUID
    trigger: ReallocationTrigger
    strategy: str
    autonomy: str | None
    status: ReallocationStatus
    as_of: datetime | None
    total_budget: float
    allocated_budget: float | None
    unallocated: float | None
    campaigns: JsonValue
    predicted: JsonValue | None
    error: str | None
    correlation_id: UUID | None
    created_at: datetime
    finished_at: datetime | None


class CurveFit(ResponseModel):
    """One fit of a campaign's response curve of ``metric`` per day against spend per day."""

    id: UUID
    campaign_id: UUID
    metric: CurveMetric
    model: str
    params: dict[str, float]
    covariance: JsonValue
    supported: bool
    reason: str | None
    n_days: int
    window_start: date | None
    window_end: date | None
    r_squared: float | None
    rmse: float | None
    fitted_at: datetime
    # The days it was fitted on: ``{"day", "spend", "value"}``.
    points: list[dict[str, JsonValue]]
    # The curve read at spends across and beyond the window, with its 80% interval and
    # slope: ``{"spend", "predicted", "low", "high", "marginal"}``.
    line: list[dict[str, float]]


class CampaignCurves(ResponseModel):
    """The newest fits of a campaign's conversions and revenue curves (null before the
    campaign has a complete day of metrics)."""

    campaign_id: UUID
    conversions: CurveFit | None
    revenue: CurveFit | None


class CampaignAllocation(ResponseModel):
    """What a reallocation does, or would do, to one campaign's daily budget, and why."""

    campaign_id: UUID
    name: str | None
    old_budget: float
    new_budget: float
    marginal_roas_old: float
    marginal_roas_new: float
    bound_by: BoundBy
    # The absolute bounds the pool's shares and the tenant's safety limits set.
    floor: float
    cap: float
    predicted: dict[str, float]
    curve: dict[str, Any]
    reason: str


class Interval(ResponseModel):
    old: float
    new: float
    low: float
    high: float
    level: float


class PoolPrediction(ResponseModel):
    """The pool's predicted conversions and revenue per day at the old and the new
    budgets; ``low``/``high`` bound the new figure."""

    conversions: Interval
    revenue: Interval


class ReallocationPlan(ResponseModel):
    """What a reallocation of the pool would change now; nothing is applied."""

    pool_id: UUID
    strategy: PoolStrategy
    as_of: datetime | None
    total_budget: float
    unallocated: float
    campaigns: list[CampaignAllocation]
    predicted: PoolPrediction


# --- request bodies --------------------------------------------------------------------


class PoolThresholds(RequestModel):
    """Per campaign: at least ``min_share`` and at most ``max_share`` of the pool's total,
    and a budget that moves at most ``max_step`` of itself in one reallocation."""

    min_share: _Share = 0.0
    max_share: _Share = 1.0
    max_step: Annotated[float, AllowInfNan(False), Field(gt=0, le=1)] | None = None


def _unique(ids: list[UUID]) -> list[UUID]:
    seen: set[UUID] = set()
    for campaign in ids:
        if campaign in seen:
            raise ValueError(f"campaign {campaign} is named more than once")
        seen.add(campaign)
    return ids


class PoolCreate(RequestModel):
    budget_pool_name: ShortText
    total_budget: _Money
    campaign_ids: list[UUID] = Field(min_length=1, max_length=MAX_POOL_CAMPAIGNS)
    allocation_strategy: PoolStrategy = "performance_based"
    reallocation_frequency: ReallocationFrequency = "daily"
    performance_thresholds: PoolThresholds = PoolThresholds()
    is_active: bool = True

    @field_validator("campaign_ids")
    @classmethod
    def _campaigns_unique(cls, ids: list[UUID]) -> list[UUID]:
        return _unique(ids)


class PoolUpdate(RequestModel):
    """The fields to change (null or left out: kept); the pool is checked again as a
    whole."""

    budget_pool_name: ShortText | None = None
    total_budget: _Money | None = None
    campaign_ids: list[UUID] | None = Field(
        default=None, min_length=1, max_length=MAX_POOL_CAMPAIGNS
    )
    allocation_strategy: PoolStrategy | None = None
    reallocation_frequency: ReallocationFrequency | None = None
    performance_thresholds: PoolThresholds | None = None
    is_active: bool | None = None

    @field_validator("campaign_ids")
    @classmethod
    def _campaigns_unique(cls, ids: list[UUID] | None) -> list[UUID] | None:
        return None if ids is None else _unique(ids)


def pool_problems(campaigns: int, thresholds: PoolThresholds) -> list[dict[str, Any]]:
    """Why the shares cannot all hold for ``campaigns`` campaigns, as 422 field errors:
    every campaign gets at least ``min_share`` and the pool must be placeable within
    ``max_share`` each."""
    problems = []
    path = "performance_thresholds"
    if thresholds.min_share > thresholds.max_share:
        problems.append(
            {
                "field": f"{path}.min_share",
                "message": f"min_share {thresholds.min_share:g} is above max_share "
                f"{thresholds.max_share:g}",
            }
        )
    if thresholds.min_share * campaigns > 1 + 1e-9:
        problems.append(
            {
                "field": f"{path}.min_share",
                "message": f"{campaigns} campaigns at min_share {thresholds.min_share:g} "
                "need more than the whole pool",
            }
        )
    if thresholds.max_share * campaigns < 1 - 1e-9:
        problems.append(
            {
                "field": f"{path}.max_share",
                "message": f"{campaigns} campaigns at max_share {thresholds.max_share:g} "
                "cannot hold the whole pool",
            }
        )
    return problems


# --- tables ----------------------------------------------------------------------------

BUDGET_POOLS = Resource(
    "budget pool",
    "ai_budget_management",
    BudgetPool,
    ("allocation_strategy", "reallocation_frequency", "is_active", "budget_pool_name"),
    # What a person changes, and what follows from it: the budget left over, and the
    # next run of a new rhythm.
    updatable=(*PoolUpdate.model_fields, "remaining_budget", "next_reallocation_at"),
)
REALLOCATIONS = Resource(
    "reallocation", "budget_reallocations", Reallocation, ("trigger", "status")
)


# --- events ----------------------------------------------------------------------------


class BudgetChange(EventPayload):
    campaign_id: UUID
    old_budget: float
    new_budget: float
    bound_by: str
    # ``planned``/``applied``/``recommend``/``skip``/``failed``/``observe``/``unchanged``.
    outcome: str
    optimization_id: UUID | None = None
    recommendation_id: UUID | None = None


class BudgetReallocated(EventPayload):
    pool_id: UUID
    reallocation_id: UUID
    trigger: ReallocationTrigger
    strategy: str
    status: ReallocationStatus
    as_of: datetime | None
    changes: list[BudgetChange]


BUDGET_REALLOCATED = EventType(
    "budget.reallocated",
    BudgetReallocated,
    (SERVICE,),
    summary="A budget pool was reallocated; each campaign's old and new budget and outcome.",
)


# --- routes ----------------------------------------------------------------------------

_pools = Collection(SERVICE, "budgets", BUDGET_POOLS, "budget pools", write_role=Role.ADMIN)
CREATE_POOL = _pools.create(
    PoolCreate,
    description=(
        "A pool is a total daily budget over `campaign_ids`. `performance_thresholds` "
        "bound each campaign's share of the total (`min_share`, `max_share`) and its step "
        "per reallocation (`max_step`, a share of its budget). Invalid pools are answered "
        "422; each error's `field` is its path in the body."
    ),
)
UPDATE_POOL = Route(
    "PATCH",
    "/api/ai/budgets/{id}",
    "update_budget_pool",
    "Change a budget pool",
    SERVICE,
    Role.ADMIN,
    BudgetPool,
    request=PoolUpdate,
    resource=BUDGET_POOLS,
    description="Fields not given are kept; the result is checked as a whole (422).",
)
DELETE_POOL = Route(
    "DELETE",
    "/api/ai/budgets/{id}",
    "delete_budget_pool",
    "Delete a budget pool",
    SERVICE,
    Role.ADMIN,
    BudgetPool,
    resource=BUDGET_POOLS,
    description=(
        "Answers the deleted pool; its reallocations go with it. The budget changes they "
        "made stay in the optimization history and can still be rolled back."
    ),
)
REALLOCATE_POOL = Route(
    "POST",
    "/api/ai/budgets/{id}/reallocate",
    "reallocate_budget_pool",
    "Reallocate a budget pool now",
    SERVICE,
    Role.OPERATOR,
    Reallocation,
    status=201,
    resource=BUDGET_POOLS,
    conflict=True,
    description=(
        "Runs the pool's strategy now (an inactive pool too: `is_active` only stops its "
        "schedule) and applies each campaign's new budget through the "
        "ad platform within the tenant's safety limits and autonomy (`observe` records "
        "only; `recommend` asks a person). Operators may: it moves budgets only within "
        "the pool and limits an admin set. 409 `reallocation_running` while another "
        "reallocation of the pool runs."
    ),
)
LIST_REALLOCATIONS = Route(
    "GET",
    "/api/ai/budgets/{id}/reallocations",
    "list_budget_reallocations",
    "List a budget pool's reallocations",
    SERVICE,
    Role.VIEWER,
    REALLOCATIONS.page_model,
    resource=BUDGET_POOLS,
    query=(
        LIMIT,
        CURSOR,
        # Read like every list's equality filters: any text, matching what equals it.
        QueryParam(
            "trigger",
            {"type": "string", "maxLength": 200},
            "Only runs whose `trigger` equals this: `scheduled` or `on_demand`.",
        ),
        QueryParam(
            "status",
            {"type": "string", "maxLength": 200},
            "Only runs whose `status` equals this (`running`, `applied`, `partial`, ...).",
        ),
    ),
    paginated=True,
    description=f"Each with its per-campaign explanation. {LIST_NOTE}",
)
SIMULATE_POOL = Route(
    "POST",
    "/api/ai/budgets/{id}/simulate",
    "simulate_budget_pool",
    "Show what a reallocation would change",
    SERVICE,
    Role.OPERATOR,
    ReallocationPlan,
    resource=BUDGET_POOLS,
    description=(
        "Runs the pool's strategy on the campaigns' current budgets and newest curves and "
        "answers, per campaign, `old_budget`, `new_budget`, the marginal ROAS at each and "
        "`bound_by`, and for the pool the predicted conversions and revenue per day with "
        "80% intervals. Applies nothing. 409 `no_ad_account` when the tenant has no ad "
        "account; 503 while the ad platform cannot be reached."
    ),
)
CAMPAIGN_CURVE = Route(
    "GET",
    "/api/ai/campaigns/{id}/curve",
    "get_campaign_curve",
    "Get a campaign's response curves",
    SERVICE,
    Role.VIEWER,
    CampaignCurves,
    description=(
        "The newest fits of conversions and revenue per day against spend per day, with "
        "the days fitted on, the fit's quality, and whether the data supports a curve "
        "(`supported`, `reason`)."
    ),
)

ROUTES = (
    *_pools.read(),
    CREATE_POOL,
    UPDATE_POOL,
    DELETE_POOL,
    REALLOCATE_POOL,
    LIST_REALLOCATIONS,
    SIMULATE_POOL,
    CAMPAIGN_CURVE,
)
EVENTS = (BUDGET_REALLOCATED,)
