"""Automation rules: a small JSON language of conditions on a campaign's metrics, the
actions to take when they hold, and the safety limits the actions run under.

Pure functions over plain data; no I/O. The service parses a rule once when it is
saved (:class:`Rule`), evaluates its conditions on each campaign's hourly metrics
(:func:`evaluate`), turns each action into the change it asks for
(:func:`desired_change`) and passes that change through the safety limits
(``services.optimizer.core.limits.clamp``).

A rule::

    {"conditions": <condition>, "actions": [<action>, ...], "safety_limits": {...}}

A condition is a group or a comparison:

- ``{"all": [<condition>, ...]}``, ``{"any": [<condition>, ...]}``: 1-20 items, groups
  nested at most 5 deep, at most 100 comparisons in a rule (every rule is evaluated
  on every campaign every hour);
- ``{"left": <metric>, "op": ">", "right": <metric or value>}`` with ``op`` one of
  ``>``, ``>=``, ``<``, ``<=``, ``==``, ``!=``; ``==`` and ``!=`` allow for float
  rounding (1e-9 relative), so a computed ratio can equal a constant.

A metric operand is ``{"metric": "cpa", "timeframe": {"last_hours": 6}, "factor": 1}``.
Performance metrics (counters, ratios, ``budget_utilisation``) need a timeframe; the
settings ``daily_budget`` and ``bid`` (the bid multiplier) are read as they stand and
take none. ``factor`` (default 1) multiplies the metric, so ``spend over the last 7
days > 2 x daily budget`` is::

    {"left": {"metric": "spend", "timeframe": {"last_days": 7}},
     "op": ">", "right": {"metric": "daily_budget", "factor": 2}}

A value operand is ``{"value": 150}``.

Timeframes end at ``as_of`` rounded down to the hour and hold whole hours only:
``{"last_hours": n}`` (1-168), ``{"last_days": n}`` (1-90, rolling 24-hour days),
``"today"`` (since midnight) and ``"yesterday"`` (the whole day before), midnight
being in the account's time zone.

Over a timeframe, counters are summed and a ratio is the ratio of the sums (CPA is
spend / conversions over the whole window, not an average of hourly CPAs).
``budget_utilisation`` is spend / (daily budget x the timeframe's days), where a day
is 24 hours of ``last_hours``, ``n`` for ``last_days`` and 1 for today and yesterday:
today's utilisation is the share of today's budget already spent.

A comparison with an undefined side is false, and its result says why: a ratio with a
zero denominator (CPA with no conversions), a timeframe with no metrics at all (no data
is not zero spend), a utilisation with no daily budget. So a rule never acts on data it
does not have.

Persistence ("CPA over 3x target for 6 hours") is the ratio over the 6-hour window,
not a test of each hour: hourly CPA on a handful of conversions is noise, and an hour
with no conversion (CPA undefined, the worst hour of all) would break an
"every hour" streak exactly when the stop-loss is needed. A stop-loss that must also
catch spend with no conversions at all says so with an ``any``::

    {"any": [
        {"left": {"metric": "cpa", "timeframe": {"last_hours": 6}},
         "op": ">", "right": {"value": 150}},
        {"all": [
            {"left": {"metric": "conversions", "timeframe": {"last_hours": 6}},
             "op": "==", "right": {"value": 0}},
            {"left": {"metric": "spend", "timeframe": {"last_hours": 6}},
             "op": ">", "right": {"value": 150}}]}]}

Actions, at most one per setting in a rule:

- ``{"type": "pause"}``, ``{"type": "resume"}``;
- ``{"type": "change", "setting": "budget" | "bid"`` and exactly one of
  ``"by_percent": -20`` (percent of the current value), ``"by_amount": -50`` or
  ``"to": 120``\\ ``}``;
- ``{"type": "notify", "severity": "high", "message": "..."}`` raises an alert.

An invalid rule fails with pydantic's ``ValidationError`` whose locations are paths
into the JSON as written (``conditions.any.1.left.metric``), ready for the
``{"field": ...}`` details of the error shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Annotated, Any, Literal

from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    Tag,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from services.optimizer.core.limits import NoAction, SafetyLimits, current_value, digits
from shared.connectors.base import CampaignState, Change
from shared.contracts.enums import Comparator, RuleActionType, RuleMetric, Severity
from shared.metrics import HourlyMetrics, Rates

MAX_DEPTH = 5
MAX_ITEMS = 20
MAX_COMPARISONS = 100
MAX_ACTIONS = 10

_HOUR = timedelta(hours=1)

_Number = Annotated[float, Strict(), AllowInfNan(False)]
_Factor = Annotated[float, Strict(), AllowInfNan(False), Field(gt=0)]


class _RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _error(loc: tuple[str | int, ...], kind: str, message: str, value: Any) -> ValidationError:
    """A validation error at ``loc`` below the model that raises it."""
    detail = InitErrorDetails(
        type=PydanticCustomError(kind, "{message}", {"message": message}), loc=loc, input=value
    )
    return ValidationError.from_exception_data("Rule", [detail])


def _without_tags(tags: frozenset[str]) -> Callable[[Any, ValidatorFunctionWrapHandler], Any]:
    """A wrap validator that drops a tagged union's tag from its members' error locations.

    Pydantic reports ``any.1.compare.left.metric``; the tag is not in the JSON anyone
    wrote, so the path a person sees would not lead to the mistake.
    """

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            details = []
            for err in exc.errors(include_url=False):
                loc = err["loc"]
                if loc and loc[0] in tags:
                    loc = loc[1:]
                details.append(
                    InitErrorDetails(
                        type=PydanticCustomError(err["type"], "{message}", {"message": err["msg"]}),
                        loc=loc,
                        input=err["input"],
                    )
                )
            raise ValidationError.from_exception_data(exc.title, details) from None

    return validate


# --- timeframes ------------------------------------------------------------------------


class LastHours(_RuleModel):
    last_hours: Annotated[int, Strict(), Field(ge=1, le=168)]


class LastDays(_RuleModel):
    last_days: Annotated[int, Strict(), Field(ge=1, le=90)]


NamedDay = Literal["today", "yesterday"]


def _timeframe_tag(value: Any) -> str | None:
    if isinstance(value, LastHours) or (isinstance(value, dict) and "last_hours" in value):
        return "last_hours"
    if isinstance(value, LastDays) or (isinstance(value, dict) and "last_days" in value):
        return "last_days"
    if isinstance(value, str):
        return "day"
    return None


Timeframe = Annotated[
    Annotated[LastHours, Tag("last_hours")]
    | Annotated[LastDays, Tag("last_days")]
    | Annotated[NamedDay, Tag("day")],
    Discriminator(
        _timeframe_tag,
        custom_error_type="invalid_timeframe",
        custom_error_message=(
            'a timeframe is {"last_hours": n}, {"last_days": n}, "today" or "yesterday"'
        ),
    ),
    WrapValidator(_without_tags(frozenset({"last_hours", "last_days", "day"}))),
]


def window(
    timeframe: LastHours | LastDays | NamedDay, as_of: datetime, tz: tzinfo = UTC
) -> tuple[datetime, datetime]:
    """``[start, end)`` of ``timeframe``: whole hours ending at ``as_of`` rounded down to
    the hour; days start at midnight in ``tz``."""
    if as_of.utcoffset() is None:
        raise ValueError("as_of must be timezone-aware")
    end = as_of.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if isinstance(timeframe, LastHours):
        return end - timeframe.last_hours * _HOUR, end
    if isinstance(timeframe, LastDays):
        return end - timeframe.last_days * 24 * _HOUR, end
    today = end.astimezone(tz).date()
    midnight = _midnight(today, tz)
    if timeframe == "today":
        return midnight, end
    return _midnight(today - timedelta(days=1), tz), midnight


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def _days(timeframe: LastHours | LastDays | NamedDay) -> float:
    if isinstance(timeframe, LastHours):
        return timeframe.last_hours / 24
    if isinstance(timeframe, LastDays):
        return float(timeframe.last_days)
    return 1.0


def _describe_timeframe(timeframe: LastHours | LastDays | NamedDay) -> str:
    if isinstance(timeframe, LastHours):
        return f"over the last {timeframe.last_hours} hours"
    if isinstance(timeframe, LastDays):
        return f"over the last {timeframe.last_days} days"
    return timeframe


# --- comparisons ------------------------------------------------------------------------


class MetricOperand(_RuleModel):
    metric: RuleMetric
    timeframe: Timeframe | None = None
    factor: _Factor = 1.0

    @model_validator(mode="after")
    def _timeframe_fits_metric(self) -> MetricOperand:
        if self.metric.is_setting and self.timeframe is not None:
            raise _error(
                ("timeframe",),
                "timeframe_not_allowed",
                f"{self.metric} is a setting read as it stands; it takes no timeframe",
                self.timeframe,
            )
        if not self.metric.is_setting and self.timeframe is None:
            raise _error(
                ("timeframe",),
                "timeframe_required",
                f"{self.metric} needs a timeframe",
                None,
            )
        return self


class ValueOperand(_RuleModel):
    value: _Number


def _operand_tag(value: Any) -> str | None:
    if isinstance(value, MetricOperand) or (isinstance(value, dict) and "metric" in value):
        return "metric"
    if isinstance(value, ValueOperand) or (isinstance(value, dict) and "value" in value):
        return "value"
    return None


Operand = Annotated[
    Annotated[MetricOperand, Tag("metric")] | Annotated[ValueOperand, Tag("value")],
    Discriminator(
        _operand_tag,
        custom_error_type="invalid_operand",
        custom_error_message='an operand is {"metric": ..., "timeframe": ...} or {"value": n}',
    ),
    WrapValidator(_without_tags(frozenset({"metric", "value"}))),
]


class Comparison(_RuleModel):
    left: MetricOperand
    op: Comparator
    right: Operand


class AllOf(_RuleModel):
    all: list[Condition] = Field(min_length=1, max_length=MAX_ITEMS)


class AnyOf(_RuleModel):
    any: list[Condition] = Field(min_length=1, max_length=MAX_ITEMS)


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, AllOf) or (isinstance(value, dict) and "all" in value):
        return "all"
    if isinstance(value, AnyOf) or (isinstance(value, dict) and "any" in value):
        return "any"
    if isinstance(value, Comparison) or (
        isinstance(value, dict) and {"left", "op", "right"} & value.keys()
    ):
        return "compare"
    return None


Condition = Annotated[
    Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[Comparison, Tag("compare")],
    Discriminator(
        _condition_tag,
        custom_error_type="invalid_condition",
        custom_error_message=(
            'a condition is {"all": [...]}, {"any": [...]} or {"left": ..., "op": ..., '
            '"right": ...}'
        ),
    ),
    WrapValidator(_without_tags(frozenset({"all", "any", "compare"}))),
]

AllOf.model_rebuild()
AnyOf.model_rebuild()


def _within_bounds(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Refuse conditions nested too deep or too many before validating them, so a
    hostile rule costs a walk over its JSON, not a model per node."""
    comparisons = 0
    stack: list[tuple[Any, tuple[str | int, ...], int]] = [(value, (), 0)]
    while stack:
        node, path, depth = stack.pop()
        if not isinstance(node, dict):
            continue
        group = next((key for key in ("all", "any") if key in node), None)
        if group is None:
            comparisons += 1
            continue
        if depth == MAX_DEPTH:
            raise _error(path, "too_deep", f"groups nest at most {MAX_DEPTH} deep", {group: "..."})
        items = node[group]
        if isinstance(items, list):
            stack.extend((item, (*path, group, i), depth + 1) for i, item in enumerate(items))
    if comparisons > MAX_COMPARISONS:
        raise _error(
            (), "too_many", f"a rule holds at most {MAX_COMPARISONS} comparisons", comparisons
        )
    return handler(value)


# The conditions of a whole rule: a condition, bounded in size.
Conditions = Annotated[Condition, WrapValidator(_within_bounds)]


# --- actions ----------------------------------------------------------------------------


class Pause(_RuleModel):
    type: Literal[RuleActionType.PAUSE]


class Resume(_RuleModel):
    type: Literal[RuleActionType.RESUME]


class ChangeSetting(_RuleModel):
    """Move the budget or the bid multiplier: by a percentage, by an amount, or to a value."""

    type: Literal[RuleActionType.CHANGE]
    setting: Literal["budget", "bid"]
    # Down by 100% or more is not a change of budget but a pause, which has its own action.
    by_percent: Annotated[float, Strict(), AllowInfNan(False), Field(gt=-100, le=1000)] | None = (
        None
    )
    by_amount: _Number | None = None
    to: Annotated[float, Strict(), AllowInfNan(False), Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _exactly_one_way(self) -> ChangeSetting:
        given = [n for n in ("by_percent", "by_amount", "to") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of by_percent, by_amount, to (got {', '.join(given) or 'none'})"
            )
        if self.by_amount == 0 or self.by_percent == 0:
            raise ValueError("a change by zero changes nothing")
        return self


class Notify(_RuleModel):
    """Raise an alert for a person instead of (or besides) changing anything."""

    type: Literal[RuleActionType.NOTIFY]
    severity: Severity = Severity.MEDIUM
    message: Annotated[str, Field(min_length=1, max_length=500)] | None = None


_ACTION_TAGS = frozenset(t.value for t in RuleActionType)


def _action_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return str(kind) if kind in _ACTION_TAGS else None


Action = Annotated[
    Annotated[Pause, Tag(RuleActionType.PAUSE.value)]
    | Annotated[Resume, Tag(RuleActionType.RESUME.value)]
    | Annotated[ChangeSetting, Tag(RuleActionType.CHANGE.value)]
    | Annotated[Notify, Tag(RuleActionType.NOTIFY.value)],
    Discriminator(
        _action_tag,
        custom_error_type="invalid_action",
        custom_error_message='an action has a "type": "pause", "resume", "change" or "notify"',
    ),
    WrapValidator(_without_tags(_ACTION_TAGS)),
]


def _target(action: Pause | Resume | ChangeSetting | Notify) -> str:
    """The setting an action moves; two actions on one setting in a rule contradict."""
    if isinstance(action, Pause | Resume):
        return "status"
    if isinstance(action, ChangeSetting):
        return action.setting
    return "notify"


class Rule(_RuleModel):
    conditions: Conditions
    actions: list[Action] = Field(min_length=1, max_length=MAX_ACTIONS)
    safety_limits: SafetyLimits | None = None

    @model_validator(mode="after")
    def _one_action_per_setting(self) -> Rule:
        seen: dict[str, int] = {}
        for i, action in enumerate(self.actions):
            target = _target(action)
            if target in seen:
                raise _error(
                    ("actions", i),
                    "conflicting_action",
                    f"actions.{seen[target]} already acts on {target}; one action per setting",
                    action.model_dump(mode="json"),
                )
            seen[target] = i
        return self


# --- evaluation -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    """One side of a comparison: what was read, its value, and why it has none."""

    label: str
    value: float | None
    undefined: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "value": self.value, "undefined": self.undefined}


@dataclass(frozen=True, slots=True)
class ComparisonResult:
    """One comparison of a rule; ``path`` says where it sits (``conditions.any.1``)."""

    path: str
    left: Reading
    op: Comparator
    right: Reading
    matched: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "left": self.left.as_dict(),
            "op": str(self.op),
            "right": self.right.as_dict(),
            "matched": self.matched,
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Whether the conditions matched, with every comparison's numbers (all of them are
    evaluated, none short-circuited, so a preview shows the whole picture)."""

    matched: bool
    as_of: datetime
    comparisons: tuple[ComparisonResult, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "as_of": self.as_of.isoformat(),
            "comparisons": [c.as_dict() for c in self.comparisons],
        }


@dataclass(frozen=True, slots=True)
class _Totals(Rates):
    hours: int
    impressions: int
    clicks: int
    conversions: int
    spend: float
    revenue: float

    @property
    def cpa(self) -> float | None:
        return self.spend / self.conversions if self.conversions > 0 else None


# What a ratio divides by, to say why it is undefined.
_DENOMINATOR = {
    RuleMetric.CTR: "impressions",
    RuleMetric.CVR: "clicks",
    RuleMetric.CPC: "clicks",
    RuleMetric.CPA: "conversions",
    RuleMetric.ROAS: "spend",
}
_COUNTERS = frozenset(
    {
        RuleMetric.IMPRESSIONS,
        RuleMetric.CLICKS,
        RuleMetric.CONVERSIONS,
        RuleMetric.SPEND,
        RuleMetric.REVENUE,
    }
)


class _Reader:
    """Reads operands for one campaign as of one hour, summing each window once."""

    def __init__(
        self,
        rows: Sequence[HourlyMetrics],
        settings: CampaignState,
        as_of: datetime,
        tz: tzinfo,
    ) -> None:
        self._rows = rows
        self._settings = settings
        self._as_of = as_of
        self._tz = tz
        self._totals: dict[tuple[datetime, datetime], _Totals] = {}

    def read(self, operand: MetricOperand | ValueOperand) -> Reading:
        if isinstance(operand, ValueOperand):
            return Reading(f"{operand.value:g}", operand.value)
        label = operand.metric.value
        if operand.timeframe is not None:
            label = f"{label} {_describe_timeframe(operand.timeframe)}"
        if operand.factor != 1:
            label = f"{operand.factor:g} x {label}"
        value, undefined = self._metric(operand)
        if value is None:
            return Reading(label, None, undefined)
        return Reading(label, value * operand.factor)

    def _metric(self, operand: MetricOperand) -> tuple[float | None, str | None]:
        metric = operand.metric
        if metric is RuleMetric.DAILY_BUDGET:
            return self._settings.daily_budget, None
        if metric is RuleMetric.BID:
            return self._settings.bid_multiplier, None
        assert operand.timeframe is not None  # the model requires one for every other metric
        when = _describe_timeframe(operand.timeframe)
        totals = self._window(operand.timeframe)
        if totals.hours == 0:
            return None, f"no metrics {when}"
        if metric in _COUNTERS:
            return float(getattr(totals, metric.value)), None
        if metric is RuleMetric.BUDGET_UTILISATION:
            budget = self._settings.daily_budget * _days(operand.timeframe)
            if budget <= 0:
                return None, "the campaign has no daily budget"
            return totals.spend / budget, None
        ratio: float | None = getattr(totals, metric.value)
        if ratio is None:
            return None, f"{metric} is undefined {when}: no {_DENOMINATOR[metric]}"
        return ratio, None

    def _window(self, timeframe: LastHours | LastDays | NamedDay) -> _Totals:
        key = window(timeframe, self._as_of, self._tz)
        if key not in self._totals:
            start, end = key
            rows = [r for r in self._rows if start <= r.hour < end]
            self._totals[key] = _Totals(
                hours=len(rows),
                impressions=sum(r.impressions for r in rows),
                clicks=sum(r.clicks for r in rows),
                conversions=sum(r.conversions for r in rows),
                spend=sum(r.spend for r in rows),
                revenue=sum(r.revenue for r in rows),
            )
        return self._totals[key]


def evaluate(
    conditions: AllOf | AnyOf | Comparison,
    rows: Sequence[HourlyMetrics],
    settings: CampaignState,
    as_of: datetime,
    tz: tzinfo = UTC,
) -> Evaluation:
    """Evaluate ``conditions`` on one campaign's hourly ``rows`` and current ``settings``.

    Rows outside a timeframe are ignored; a row of another campaign is an error because
    mixing campaigns would corrupt every sum. ``tz`` is the account's time zone, where
    "today" and "yesterday" start.
    """
    if as_of.utcoffset() is None:
        raise ValueError("as_of must be timezone-aware")
    for row in rows:
        if row.campaign_id != settings.campaign_id:
            raise ValueError(
                f"row for campaign {row.campaign_id} passed for {settings.campaign_id}"
            )
    reader = _Reader(rows, settings, as_of, tz)
    results: list[ComparisonResult] = []
    matched = _evaluate(conditions, "conditions", reader, results)
    return Evaluation(matched, as_of, tuple(results))


def _evaluate(
    node: AllOf | AnyOf | Comparison,
    path: str,
    reader: _Reader,
    results: list[ComparisonResult],
) -> bool:
    if isinstance(node, AllOf):
        # A list, not a generator: every child is evaluated so the preview shows them all.
        return all(
            [_evaluate(c, f"{path}.all.{i}", reader, results) for i, c in enumerate(node.all)]
        )
    if isinstance(node, AnyOf):
        return any(
            [_evaluate(c, f"{path}.any.{i}", reader, results) for i, c in enumerate(node.any)]
        )
    left, right = reader.read(node.left), reader.read(node.right)
    matched = (
        left.value is not None
        and right.value is not None
        and _holds(node.op, left.value, right.value)
    )
    results.append(ComparisonResult(path, left, node.op, right, matched))
    return matched


def _holds(op: Comparator, left: float, right: float) -> bool:
    equal = math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12)
    if op is Comparator.EQ:
        return equal
    if op is Comparator.NE:
        return not equal
    if op is Comparator.GT:
        return left > right and not equal
    if op is Comparator.GE:
        return left > right or equal
    if op is Comparator.LT:
        return left < right and not equal
    return left < right or equal


# --- actions to changes ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notification:
    """An alert a rule asks to raise."""

    severity: Severity
    message: str


def desired_change(
    action: Pause | Resume | ChangeSetting | Notify, state: CampaignState
) -> Change | Notification | NoAction:
    """The change ``action`` asks for on a campaign in ``state``, before any safety limit.

    A pause of a paused campaign is still a change here; the limits report it as
    nothing to change, so that is decided in one place. An arithmetic that leaves no
    valid value (a budget below zero, a bid multiplier at or below zero) is a
    :class:`NoAction`: the rule asked for something that cannot exist, and no other
    value is substituted for it.
    """
    if isinstance(action, Pause):
        return Change("status", "paused")
    if isinstance(action, Resume):
        return Change("status", "active")
    if isinstance(action, Notify):
        return Notification(action.severity, action.message or "the rule's conditions matched")
    current = float(current_value(state, action.setting))
    if action.to is not None:
        value = action.to
    elif action.by_percent is not None:
        value = current * (1 + action.by_percent / 100)
    else:
        value = current + (action.by_amount or 0.0)
    value = round(value, digits(action.setting))
    if value < 0 or (action.setting == "bid" and value == 0):
        return NoAction(
            f"{action.setting} {current:g} would become {value:g}, which no platform accepts"
        )
    return Change(action.setting, value)
