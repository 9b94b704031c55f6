"""Experiments (``ai_testing_experiments``), part of the optimizer's contract.

An experiment compares variants with a control: it is planned (its sample size worked out
from the minimum detectable effect), started, fed cumulative results (by a person, or
pulled from the ad platform for an ad-copy experiment on a campaign), analysed, and
concluded; a concluded campaign experiment can apply its winner on the platform.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import Field, JsonValue, model_validator

from shared.contracts.spec import (
    LENIENT,
    Collection,
    EventPayload,
    EventType,
    Lifecycle,
    Role,
    Route,
)
from shared.models import JsonObject, LongText, RequestModel, ShortText
from shared.resources import Resource
from shared.schemas import ResponseModel

# The optimizer owns experiments; its contract lists these routes and events.
SERVICE = "optimizer"

ExperimentStatus = Literal["planning", "running", "analyzing", "completed"]
ExperimentKind = Literal["creative", "landing_page", "audience", "bidding", "other"]
MetricKind = Literal["rate", "mean"]
EffectKind = Literal["relative", "absolute"]
ResultSource = Literal["manual", "platform"]
VariantName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\s].*$")]


# --- rows ------------------------------------------------------------------------------


class Experiment(ResponseModel):
    """An experiment. ``variant_configs`` lists every variant, the control first
    (``control_group_config`` is that first one); ``traffic_split`` their planned shares.
    ``results`` holds the latest analysis (and, once concluded, the conclusion's);
    ``sample_size_calculation`` the users per variant and days the plan needs."""

    id: UUID
    experiment_name: str
    experiment_type: ExperimentKind
    hypothesis: str | None
    campaign_id: UUID | None
    metric_kind: MetricKind
    metric_name: str
    test_configuration: JsonValue
    control_group_config: JsonValue | None
    variant_configs: JsonValue
    traffic_split: list[float]
    minimum_detectable_effect: float | None
    mde_kind: EffectKind
    baseline_value: float | None
    baseline_std: float | None
    power: float
    daily_traffic: float | None
    sample_size_calculation: JsonValue | None
    statistical_significance_threshold: float | None
    status: ExperimentStatus
    on_platform: bool
    results_count: int
    results: JsonValue | None
    winner_variant: str | None
    confidence_level: float | None
    conclusion: JsonValue | None
    applied_optimization_id: UUID | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    concluded_at: datetime | None


class ExperimentResults(ResponseModel):
    """One submission of an experiment's cumulative results, and the analysis of them
    made when it arrived (``look`` counts the submissions: 1, 2, ...)."""

    id: UUID
    experiment_id: UUID
    look: int
    source: ResultSource
    variants: JsonValue
    platform_as_of: datetime | None
    analysis: JsonValue | None
    submitted_at: datetime
    created_at: datetime


# --- request bodies --------------------------------------------------------------------


class VariantSpec(RequestModel):
    """A variant: its name and what it is (``config``: the ad copy's headline and text,
    the landing page...; on the sandbox platform ``conversion_rate`` is the copy's true
    rate)."""

    name: VariantName
    description: LongText | None = None
    config: JsonObject = {}


class ExperimentCreate(RequestModel):
    """``variants[0]`` is the control. ``minimum_detectable_effect`` with
    ``baseline_value`` (a rate in (0, 1), or a mean with ``baseline_std``) and
    ``daily_traffic`` (users a day, all variants together) plan the sample size."""

    experiment_name: ShortText
    experiment_type: ExperimentKind = "creative"
    hypothesis: LongText | None = None
    campaign_id: UUID | None = None
    metric_kind: MetricKind = "rate"
    metric_name: ShortText = "conversion_rate"
    variants: list[VariantSpec] = Field(min_length=2, max_length=10)
    traffic_split: list[Annotated[float, Field(gt=0)]] | None = None
    minimum_detectable_effect: float = Field(gt=0)
    mde_kind: EffectKind = "relative"
    baseline_value: float = Field(gt=0)
    baseline_std: float | None = Field(default=None, gt=0)
    power: float = Field(default=0.8, gt=0.5, lt=1)
    daily_traffic: float | None = Field(default=None, gt=0)
    statistical_significance_threshold: float = Field(default=0.95, gt=0.5, lt=1)
    # Conclude on its own when the sequential analysis calls a winner or the planned
    # sample is reached (results pulled from the platform only).
    auto_conclude: bool = True
    # Apply the winner on the platform when it concludes on its own.
    auto_apply: bool = True
    test_configuration: JsonObject = {}

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [v.name for v in self.variants]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"variant names must be unique; repeated: {', '.join(duplicates)}")
        if self.traffic_split is not None and len(self.traffic_split) != len(self.variants):
            raise ValueError("traffic_split needs one share per variant")
        if self.metric_kind == "rate" and self.baseline_value >= 1:
            raise ValueError("baseline_value of a rate metric must lie in (0, 1)")
        if self.metric_kind == "mean" and self.baseline_std is None:
            raise ValueError("a mean metric needs baseline_std to plan its sample size")
        return self


class ExperimentUpdate(RequestModel):
    """Fields to change while the experiment is planning; the result is checked whole."""

    experiment_name: ShortText | None = None
    experiment_type: ExperimentKind | None = None
    hypothesis: LongText | None = None
    campaign_id: UUID | None = None
    metric_kind: MetricKind | None = None
    metric_name: ShortText | None = None
    variants: list[VariantSpec] | None = Field(default=None, min_length=2, max_length=10)
    traffic_split: list[Annotated[float, Field(gt=0)]] | None = None
    minimum_detectable_effect: float | None = Field(default=None, gt=0)
    mde_kind: EffectKind | None = None
    baseline_value: float | None = Field(default=None, gt=0)
    baseline_std: float | None = Field(default=None, gt=0)
    power: float | None = Field(default=None, gt=0.5, lt=1)
    daily_traffic: float | None = Field(default=None, gt=0)
    statistical_significance_threshold: float | None = Field(default=None, gt=0.5, lt=1)
    auto_conclude: bool | None = None
    auto_apply: bool | None = None
    test_configuration: JsonObject | None = None


class VariantResultsIn(RequestModel):
    """One variant's cumulative aggregates: ``conversions`` for a rate metric, ``sum`` and
    ``sum_squares`` of the per-user value for a mean metric. CUPED, optional, all three or
    none: ``pre_sum``, ``pre_sum_squares`` and ``cross_sum`` of the pre-period covariate."""

    name: VariantName
    users: int = Field(ge=0)
    conversions: int | None = Field(default=None, ge=0)
    sum: float | None = None
    sum_squares: float | None = Field(default=None, ge=0)
    pre_sum: float | None = None
    pre_sum_squares: float | None = Field(default=None, ge=0)
    cross_sum: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.conversions is not None and self.conversions > self.users:
            raise ValueError("conversions cannot exceed users")
        cuped = [self.pre_sum, self.pre_sum_squares, self.cross_sum]
        if any(v is not None for v in cuped) and any(v is None for v in cuped):
            raise ValueError("CUPED needs pre_sum, pre_sum_squares and cross_sum together")
        return self


class ResultsSubmit(RequestModel):
    """Cumulative results so far, one entry per variant of the experiment."""

    variants: list[VariantResultsIn] = Field(min_length=2, max_length=10)


class ConcludeRequest(RequestModel):
    """``winner_variant`` overrides the analysis's winner (a person's call, recorded as
    such; ``null`` keeps the control). ``apply`` carries the winner out on the ad platform
    (campaign experiments), within the tenant's autonomy."""

    winner_variant: VariantName | None = None
    apply: bool = False


class AnalyzeRequest(RequestModel):
    """``sequential: false`` gives the fixed-horizon analysis, valid only at the planned
    sample; the default sequential one is valid at every look."""

    sequential: bool = True


class ExperimentAnalysis(EventPayload):
    """The analysis of the experiment's latest results (see the README)."""

    experiment_id: UUID
    look: int
    metric: MetricKind
    alpha: float
    sequential: bool
    variants: list[dict[str, JsonValue]]
    srm_p_value: float
    srm_ok: bool
    winner_variant: str | None
    method: dict[str, JsonValue]
    planned_users_per_variant: int | None = None
    planned_sample_reached: bool = False


# --- table, events, routes -------------------------------------------------------------

# The columns of an experiment's plan that are the request's fields as they were sent.
PLANNING_FIELDS = (
    "experiment_name",
    "experiment_type",
    "hypothesis",
    "campaign_id",
    "metric_kind",
    "metric_name",
    "traffic_split",
    "minimum_detectable_effect",
    "mde_kind",
    "baseline_value",
    "baseline_std",
    "power",
    "daily_traffic",
    "statistical_significance_threshold",
)
EXPERIMENTS = Resource(
    "experiment",
    "ai_testing_experiments",
    Experiment,
    ("status", "experiment_type", "campaign_id", "winner_variant", "metric_kind"),
    # Editing a planned experiment sets its plan again, and what is worked out from it.
    updatable=(
        *PLANNING_FIELDS,
        "variant_configs",
        "control_group_config",
        "test_configuration",
        "sample_size_calculation",
    ),
)
EXPERIMENT_RESULTS = Resource(
    "experiment results", "experiment_results", ExperimentResults, ("source",)
)


class ExperimentEvent(Experiment):
    model_config = LENIENT

    before: dict[str, str] | None = None


EXPERIMENT_STARTED = EventType(
    "experiment.started",
    ExperimentEvent,
    (SERVICE,),
    summary="An experiment began collecting results (on the ad platform too, for a copy test).",
)
EXPERIMENT_CONCLUDED = EventType(
    "experiment.concluded",
    ExperimentEvent,
    (SERVICE,),
    summary=(
        "An experiment was concluded: its winner (or none), confidence, the analysis it "
        "rests on, who or what concluded it, and the optimization applying the winner."
    ),
)

EXPERIMENT_LIFECYCLE = Lifecycle(
    noun="an experiment",
    transitions={
        "start": (frozenset({"planning"}), "running"),
        "conclude": (frozenset({"running", "analyzing"}), "completed"),
    },
    events={"start": EXPERIMENT_STARTED, "conclude": EXPERIMENT_CONCLUDED},
    stamps={"running": "started_at", "completed": "concluded_at"},
)
# Where results may be recorded and analyses made; ``analyzing`` is reached when the
# planned sample is in (or the platform ended the split) and awaits a conclusion.
COLLECTING: frozenset[str] = frozenset({"running", "analyzing"})
ANALYSABLE: frozenset[str] = frozenset({"running", "analyzing", "completed"})

_experiments = Collection(SERVICE, "experiments", EXPERIMENTS, "experiments", write_role=Role.ADMIN)
_item = "/api/ai/experiments/{id}"

CREATE_EXPERIMENT = _experiments.create(
    ExperimentCreate,
    description=(
        "`sample_size_calculation` is filled from the minimum detectable effect, the "
        "baseline and the daily traffic. Bad input is 422 with each error's `field`."
    ),
)
UPDATE_EXPERIMENT = Route(
    "PATCH",
    _item,
    "update_experiment",
    "Change an experiment while it is planning",
    SERVICE,
    Role.ADMIN,
    Experiment,
    request=ExperimentUpdate,
    resource=EXPERIMENTS,
    conflict=True,
    description="409 unless planning; the sample size is worked out again.",
)
DELETE_EXPERIMENT = Route(
    "DELETE",
    _item,
    "delete_experiment",
    "Delete an experiment while it is planning",
    SERVICE,
    Role.ADMIN,
    Experiment,
    resource=EXPERIMENTS,
    conflict=True,
    description="Answers the deleted experiment; 409 unless planning.",
)
START_EXPERIMENT = Route(
    "POST",
    f"{_item}/start",
    "start_experiment",
    "Start an experiment",
    SERVICE,
    Role.ADMIN,
    Experiment,
    resource=EXPERIMENTS,
    conflict=True,
    lifecycle=EXPERIMENT_LIFECYCLE,
    action="start",
    description=(
        "Allowed while planning; it becomes running. A creative experiment on a campaign "
        "starts on the ad platform too (its traffic is split across the variants' copies) "
        "and its results are then pulled from the platform as hours finish; 502 if the "
        "platform cannot be reached, 409 if it refuses."
    ),
)
RECORD_RESULTS = Route(
    "POST",
    f"{_item}/results",
    "record_experiment_results",
    "Record an experiment's cumulative results",
    SERVICE,
    Role.OPERATOR,
    ExperimentResults,
    status=201,
    request=ResultsSubmit,
    resource=EXPERIMENTS,
    conflict=True,
    description=(
        "Totals so far per variant, every variant once (names as the experiment's). Kept "
        "as one row of the results history (`source: manual`), analysed at once. 409 "
        "unless running or analyzing; 422 for unknown or missing variants, conversions "
        "above users, or fields of the wrong metric."
    ),
)
LIST_RESULTS = Route(
    "GET",
    f"{_item}/results",
    "list_experiment_results",
    "An experiment's results history",
    SERVICE,
    Role.VIEWER,
    EXPERIMENT_RESULTS.page_model,
    resource=EXPERIMENTS,
    description="Every submission, newest first, each with the analysis made of it.",
)
ANALYZE_EXPERIMENT = Route(
    "POST",
    f"{_item}/analyze",
    "analyze_experiment",
    "Analyse an experiment's latest results",
    SERVICE,
    # No POST is a viewer's; viewers read the newest analysis in the experiment's
    # ``results`` and every earlier one in its results history.
    Role.OPERATOR,
    ExperimentAnalysis,
    request=AnalyzeRequest,
    resource=EXPERIMENTS,
    conflict=True,
    description=(
        "One entry per variant (`lift`, `ci_low`, `ci_high`, `p_value`, `chance_to_win`, "
        "`risk`...), `srm_p_value` and `winner_variant` (or null). Changes nothing. 409 "
        "while planning or before any results."
    ),
)
CONCLUDE_EXPERIMENT = Route(
    "POST",
    f"{_item}/conclude",
    "conclude_experiment",
    "Conclude an experiment",
    SERVICE,
    Role.ADMIN,
    Experiment,
    request=ConcludeRequest,
    resource=EXPERIMENTS,
    conflict=True,
    lifecycle=EXPERIMENT_LIFECYCLE,
    action="conclude",
    description=(
        "Allowed while running or analyzing; it becomes completed with `winner_variant`, "
        "`confidence_level` and `results`, and `experiment.concluded` is published. With "
        '`"apply": true` a campaign experiment\'s winner is applied on the ad platform '
        "as a `creative` change (an optimization, which can be rolled back), by the "
        "tenant's autonomy: observe changes nothing, recommend leaves a recommendation."
    ),
)

ROUTES: tuple[Route, ...] = (
    *_experiments.read(),
    CREATE_EXPERIMENT,
    UPDATE_EXPERIMENT,
    DELETE_EXPERIMENT,
    START_EXPERIMENT,
    RECORD_RESULTS,
    LIST_RESULTS,
    ANALYZE_EXPERIMENT,
    CONCLUDE_EXPERIMENT,
)
EVENTS: tuple[EventType[ExperimentEvent], ...] = (EXPERIMENT_STARTED, EXPERIMENT_CONCLUDED)
