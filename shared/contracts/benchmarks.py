"""Industry benchmarks: published figures (a shipped seed set and a tenant's own), the
tenant's own campaigns' history and a pool of peers of its industry, and each campaign's
tier against them.

Part of the optimizer's contract (its ``CONTRACT`` lists these routes)."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

from pydantic import AllowInfNan, Field, JsonValue, StringConstraints, model_validator

from shared.contracts.spec import LIST_NOTE, Collection, Role, Route
from shared.models import JsonObject, RequestModel, ShortText
from shared.resources import Resource
from shared.schemas import ResponseModel

SERVICE = "optimizer"

# The business categories of the published search and social reports the seed set comes
# from; `all` is a figure across every industry.
Industry = Literal[
    "all",
    "animals_pets",
    "apparel_fashion_jewelry",
    "arts_entertainment",
    "attorneys_legal",
    "automotive_for_sale",
    "automotive_repair",
    "beauty_personal_care",
    "business_services",
    "career_employment",
    "dentists_dental",
    "education_instruction",
    "finance_insurance",
    "furniture",
    "health_fitness",
    "home_improvement",
    "industrial_commercial",
    "personal_services",
    "physicians_surgeons",
    "real_estate",
    "restaurants_food",
    "shopping_collectibles_gifts",
    "sports_recreation",
    "travel",
]
INDUSTRIES: tuple[str, ...] = get_args(Industry)
# `search`: paid search across engines (Google Ads and Microsoft Ads together), as the
# search reports measure it; `all`: across every platform of the tenant's campaigns.
Platform = Literal[
    "google_ads", "microsoft_ads", "search", "meta", "linkedin_ads", "tiktok_ads", "all"
]
SourceKind = Literal["published", "own_history", "peer_pool"]
Metric = Literal["ctr", "cpc", "cvr", "cpl", "cpa"]
# Ratios are fractions; costs are money per click or per conversion.
HIGHER_IS_BETTER: dict[str, bool] = {
    "ctr": True,
    "cvr": True,
    "cpc": False,
    "cpl": False,
    "cpa": False,
}
PERCENTILES: tuple[int, ...] = (10, 25, 50, 75, 90)
# A peer pool is shown only where at least this many tenants contribute.
MIN_PEER_TENANTS = 10
# Own history: percentiles need at least this many campaigns with a value.
MIN_OWN_CAMPAIGNS = 5
HISTORY_DAYS = 90

TIER_NOTE = (
    "Tiers rank performance, so `90_plus` is always best: for `cpc`, `cpl` and `cpa`, "
    "where lower is better, a value at or below the 10th percentile is `90_plus`. The "
    "standard bands are `below_10`, `10_25`, `25_50`, `50_75`, `75_90` and `90_plus`. Where "
    "a benchmark gives only some percentiles (a published average is usually only the "
    "median), the tier is the narrowest band those decide, named the same way: "
    "`below_50` or `50_plus` against a median alone. A value equal to a percentile counts "
    "as having reached it."
)

_Value = Annotated[float, AllowInfNan(False), Field(ge=0, lt=1e9)]
_Code = Annotated[str, StringConstraints(min_length=2, max_length=3, pattern=r"^[A-Z]+$")]
_Url = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://\S+$")]


# --- rows ------------------------------------------------------------------------------


class Benchmark(ResponseModel):
    """One benchmark of one metric: who says so (``source``, ``url``, ``edition``), over
    which period, for which industry, platform, objective, country and currency, and its
    percentiles (null where the source gives none). ``shared`` rows (the shipped seed set
    and the peer pools) are read by every tenant and changed by none; ``benchmark_value``
    is the median."""

    id: UUID
    source_kind: SourceKind
    source: str | None
    url: str | None
    edition: str | None
    period_start: date | None
    period_end: date | None
    industry: str
    platform: str
    objective: str | None
    country: str | None
    currency: str | None
    metric: Metric
    p10: float | None
    p25: float | None
    p50: float | None
    p75: float | None
    p90: float | None
    benchmark_value: float | None
    sample_size: int | None
    shared: bool
    metadata: JsonValue | None
    created_at: datetime
    updated_at: datetime


class Comparison(ResponseModel):
    """A campaign's value of one metric against one benchmark."""

    metric: Metric
    kind: SourceKind
    higher_is_better: bool
    campaign_value: float | None
    # Null when the campaign has no value of the metric (no clicks, no conversions).
    tier: str | None
    # The percentiles the tier was decided by, e.g. [50] for a median alone.
    decided_by: list[int]
    benchmark: Benchmark


class CampaignBenchmarks(ResponseModel):
    """A campaign's metrics over the ``window_days`` up to ``as_of`` (the newest hour of
    the tenant's metrics), and its tier against every benchmark that applies."""

    campaign_id: UUID
    industry: str | None
    as_of: datetime | None
    window_days: int
    values: dict[str, float | None]
    comparisons: list[Comparison]


# --- request bodies --------------------------------------------------------------------


class _Percentiles(RequestModel):
    p10: _Value | None = None
    p25: _Value | None = None
    p50: _Value | None = None
    p75: _Value | None = None
    p90: _Value | None = None


def percentile_problems(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Why these percentiles cannot stand, as 422 field errors: none given, or a higher
    percentile below a lower one."""
    given = [(f"p{p}", values.get(f"p{p}")) for p in PERCENTILES]
    known = [(name, value) for name, value in given if value is not None]
    if not known:
        return [{"field": "p50", "message": "give at least one percentile (p10 to p90)"}]
    problems = []
    for (low_name, low), (high_name, high) in itertools.pairwise(known):
        if high < low:
            problems.append(
                {"field": high_name, "message": f"{high_name} {high:g} is below {low_name} {low:g}"}
            )
    return problems


class BenchmarkCreate(_Percentiles):
    """A published figure the tenant has (its own kind is ``published``). Ratios (`ctr`,
    `cvr`) are fractions: 0.0642 for 6.42%."""

    source: ShortText
    url: _Url | None = None
    edition: ShortText | None = None
    period_start: date | None = None
    period_end: date | None = None
    industry: Industry
    platform: Platform
    objective: ShortText | None = None
    country: _Code | None = None
    currency: _Code | None = None
    metric: Metric
    sample_size: Annotated[int, Field(ge=1, lt=2**31)] | None = None
    metadata: JsonObject | None = None

    @model_validator(mode="after")
    def _period_in_order(self) -> BenchmarkCreate:
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        return self


# What a benchmark cannot be without: a change may not null them.
REQUIRED_FIELDS: tuple[str, ...] = ("source", "industry", "platform", "metric")


class BenchmarkUpdate(_Percentiles):
    """The fields to change (left out: kept; null: cleared, for the optional ones); the
    percentiles are checked again as a whole."""

    source: ShortText | None = None
    url: _Url | None = None
    edition: ShortText | None = None
    period_start: date | None = None
    period_end: date | None = None
    industry: Industry | None = None
    platform: Platform | None = None
    objective: ShortText | None = None
    country: _Code | None = None
    currency: _Code | None = None
    metric: Metric | None = None
    sample_size: Annotated[int, Field(ge=1, lt=2**31)] | None = None
    metadata: JsonObject | None = None


# --- tables ----------------------------------------------------------------------------

BENCHMARKS = Resource(
    "benchmark",
    "ai_performance_benchmarks",
    Benchmark,
    ("industry", "platform", "metric", "source_kind", "objective", "country", "edition"),
    updatable=tuple(BenchmarkUpdate.model_fields),
)


# --- routes ----------------------------------------------------------------------------

_benchmarks = Collection(SERVICE, "benchmarks", BENCHMARKS, "benchmarks", write_role=Role.ADMIN)
_READ_ONLY = (
    "The shipped seed rows, the peer pools and own-history rows are not the tenant's to "
    "change: 409 `read_only_benchmark`."
)
LIST_BENCHMARKS = dataclasses.replace(
    _benchmarks.list(),
    description=(
        "The shipped published figures and the peer pools (every tenant sees them) and the "
        "tenant's own rows: its published figures and its own history. Filter by "
        f"`industry`, `platform`, `metric` or `source_kind`. {LIST_NOTE}"
    ),
)
GET_BENCHMARK = _benchmarks.get()
CREATE_BENCHMARK = _benchmarks.create(
    BenchmarkCreate,
    description=(
        "A published figure of the tenant's own (`source_kind` `published`). Percentiles "
        "not given stay null; at least one is needed, in order (422 naming the field)."
    ),
)
UPDATE_BENCHMARK = Route(
    "PATCH",
    "/api/ai/benchmarks/{id}",
    "update_benchmark",
    "Change a benchmark",
    SERVICE,
    Role.ADMIN,
    Benchmark,
    request=BenchmarkUpdate,
    resource=BENCHMARKS,
    conflict=True,
    description=(
        "Fields not given are kept; null clears an optional one (a percentile the source "
        "does not give). The percentiles are checked as a whole, at least one and in order "
        f"(422 naming the field). {_READ_ONLY}"
    ),
)
DELETE_BENCHMARK = Route(
    "DELETE",
    "/api/ai/benchmarks/{id}",
    "delete_benchmark",
    "Delete a benchmark",
    SERVICE,
    Role.ADMIN,
    Benchmark,
    resource=BENCHMARKS,
    conflict=True,
    description=f"Answers the deleted benchmark. {_READ_ONLY}",
)
CAMPAIGN_BENCHMARKS = Route(
    "GET",
    "/api/ai/campaigns/{id}/benchmarks",
    "get_campaign_benchmarks",
    "Get a campaign's tiers against the benchmarks",
    SERVICE,
    Role.VIEWER,
    CampaignBenchmarks,
    description=(
        "The campaign's CTR, CPC, conversion rate and cost per conversion (`cpl`, `cpa`) "
        "over the last 90 days of its metrics, and its tier per metric against each kind "
        "of benchmark: `published` (the newest edition per platform and source, for the "
        "tenant's industry and across all industries), `own_history` (the tenant's "
        "campaigns) and `peer_pool` (tenants of its industry, where at least 10 "
        f"contribute), each with its percentiles and provenance. {TIER_NOTE} "
        "404 for a campaign the tenant has no metrics or record of."
    ),
)

ROUTES = (
    LIST_BENCHMARKS,
    GET_BENCHMARK,
    CREATE_BENCHMARK,
    UPDATE_BENCHMARK,
    DELETE_BENCHMARK,
    CAMPAIGN_BENCHMARKS,
)
