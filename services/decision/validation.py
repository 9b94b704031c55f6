"""Was a decision right? Measure what it did against what would have happened.

Pure functions over hourly metrics; the service (services/decision/learning.py) and the
learning benchmark call the same ones.

A decision made for data hour ``as_of`` predicted a relative change of one metric over
``horizon_hours`` (``impact_prediction``, with an interval at the level it states,
``INTERVAL_LEVEL`` by default). Once every hour of ``[as_of, as_of + horizon)`` is in,
:func:`measure` compares three levels of that metric:

- ``before``: the ``horizon`` hours before ``as_of`` (what the decision saw);
- ``after``: the ``horizon`` hours from ``as_of`` (what happened);
- ``counterfactual``: what would have happened without the decision - the campaign's
  forecast for the period when one is kept, else its seasonal baseline: the same hours
  of the previous days (up to seven), so a daily cycle is not taken for an effect
  (see :func:`seasonal_level`).

``actual_change = after / before - 1``, ``counterfactual_change = counterfactual /
before - 1`` and ``effect = after / counterfactual - 1`` (the change the decision
caused). :func:`judge` gives the verdict:

- a decision carried out is ``validated`` when its effect went the predicted way and
  fell inside the predicted interval, ``incorrect`` otherwise;
- a decision never carried out changed nothing, so what happened *is* what would have
  happened without it, and the prediction is checked against that alone: had it been
  carried out, the metric would have moved from ``before`` by ``expected_change``, an
  effect of ``before * (1 + expected) / after - 1`` against the no-action outcome. It is
  ``validated`` when that effect has the predicted sign and lies in the interval (the
  situation it answered lasted, so acting would have done what it said) and
  ``incorrect`` when the metric moved on its own (a spike that ended by itself: the
  action was not needed) or the other way. The prediction was made from ``before``, so
  it is anchored there; on the simulator this agreed with the decisions' true effects
  (the same hours replayed with the decision carried out) far more often than
  anchoring on the seasonal counterfactual (bench/quality_learning.py).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from scipy import stats

from shared.metrics import HourlyMetrics

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SEASONAL_DAYS = 7
# The share of measured effects a prediction's interval claims to hold. Every predicted
# impact (elasticity or response curve) is made at this level and states it, and the
# verdict judges against the interval as stated. At 80% even a perfect policy would be
# judged outside its interval one time in five on noise alone, on top of what the sign
# test costs; at 90% the verdicts agreed with the decisions' true effects more often
# (bench/quality_learning.py, seeds 1-3).
INTERVAL_LEVEL = 0.9
# How far (in log terms, relative to the predicted change itself) the policy's elasticities
# may be off: a predicted +14% may well be +7% or +21%.
MODEL_UNCERTAINTY = 0.5
# Day-to-day noise assumed when a campaign has too little history to measure its own.
DEFAULT_NOISE = 0.15
MIN_NOISE_DAYS = 3

VALIDATED: Literal["validated"] = "validated"
INCORRECT: Literal["incorrect"] = "incorrect"

# Each metric as a ratio of two sums; totals divide by nothing.
_RATIOS: dict[str, tuple[str, str | None]] = {
    "spend": ("spend", None),
    "revenue": ("revenue", None),
    "conversions": ("conversions", None),
    "impressions": ("impressions", None),
    "clicks": ("clicks", None),
    "cpc": ("spend", "clicks"),
    "cvr": ("conversions", "clicks"),
    "ctr": ("clicks", "impressions"),
    "roas": ("revenue", "spend"),
}
METRICS = frozenset(_RATIOS)
# What a forecast copy predicts (totals over its period, and ROAS).
FORECAST_TOTALS = frozenset({"spend", "conversions", "revenue"})


def _sums(rows: Sequence[HourlyMetrics], metric: str) -> tuple[float, float]:
    numerator, denominator = _RATIOS[metric]
    num = sum(float(getattr(r, numerator)) for r in rows)
    den = (
        float(len(rows))
        if denominator is None
        else sum(float(getattr(r, denominator)) for r in rows)
    )
    return num, den


def _in(rows: Sequence[HourlyMetrics], start: datetime, end: datetime) -> list[HourlyMetrics]:
    return [r for r in rows if start <= r.hour < end]


def _level(num: float, den: float, metric: str, hours: int) -> float | None:
    """A window's value: a total over ``hours`` hours, or a ratio."""
    if _RATIOS[metric][1] is None:
        # Totals are per hour seen, scaled to the window, so a missing hour is not a drop.
        return num / den * hours if den > 0 else None
    return num / den if den > 0 else None


def window_level(
    rows: Sequence[HourlyMetrics], metric: str, start: datetime, end: datetime
) -> float | None:
    hours = round((end - start) / HOUR)
    return _level(*_sums(_in(rows, start, end), metric), metric, hours)


def _same_hours(as_of: datetime, horizon: int) -> list[tuple[datetime, datetime]]:
    """The hours of ``[as_of, as_of + horizon)`` on earlier days, wholly before ``as_of``."""
    first = max(1, math.ceil(horizon / 24))
    return [
        (as_of - d * DAY, as_of - d * DAY + horizon * HOUR)
        for d in range(first, first + SEASONAL_DAYS)
    ]


def seasonal_level(
    rows: Sequence[HourlyMetrics], metric: str, as_of: datetime, horizon: int
) -> tuple[float | None, int]:
    """The seasonal counterfactual of ``metric`` for ``[as_of, as_of + horizon)``, and the
    days it rests on: the same hours of the previous days (up to seven), their mean
    (totals) or pooled ratio. Days with an hour missing are left out.

    The mean of a week, not the last day alone: decisions are made on days that stand
    out, and the next day tends back to the usual level whatever was done (regression to
    the mean), which anchoring on the day before would credit to the decision. The price
    is that an earlier change still settling in the week (yesterday's budget raise)
    counts towards this one's effect; on the simulator the week's mean agreed best with
    the true effects (bench/quality_learning.py).
    """
    nums: list[float] = []
    dens: list[float] = []
    for start, end in _same_hours(as_of, horizon):
        window = _in(rows, start, end)
        if len(window) < horizon:
            continue
        num, den = _sums(window, metric)
        nums.append(num)
        dens.append(den)
    if not nums:
        return None, 0
    return _level(sum(nums), sum(dens), metric, horizon), len(nums)


def daily_noise(
    rows: Sequence[HourlyMetrics], metric: str, as_of: datetime, horizon: int = 24
) -> float | None:
    """How much ``metric`` over a ``horizon``-hour window varies from day to day when
    nobody acts: the standard deviation of the log of the previous days' same-hours
    levels. None with fewer than three complete days or a zero among them."""
    levels = []
    for start, end in _same_hours(as_of, horizon):
        window = _in(rows, start, end)
        if len(window) < horizon:
            continue
        level = _level(*_sums(window, metric), metric, horizon)
        if level is None or level <= 0:
            return None
        levels.append(math.log(level))
    if len(levels) < MIN_NOISE_DAYS:
        return None
    return statistics.stdev(levels)


def z_of(level: float) -> float:
    """The standard normal quantile of a central ``level`` interval."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"an interval level lies strictly between 0 and 1, not {level}")
    return float(stats.norm.ppf(0.5 + level / 2.0))


def prediction_interval(
    expected: float,
    noise: float | None,
    seasonal_days: int = SEASONAL_DAYS,
    level: float = INTERVAL_LEVEL,
) -> dict[str, float]:
    """A central ``level`` interval for the measured effect of a predicted relative change.

    On the log scale the measured effect is the predicted one plus three errors: the
    elasticity being off (``MODEL_UNCERTAINTY`` of the predicted log change), how the
    window varies from day to day (``noise``, measured as :func:`daily_noise`), and the
    error of a counterfactual resting on ``seasonal_days`` days (``noise / sqrt(days)``).
    """
    z = z_of(level)
    s = DEFAULT_NOISE if noise is None else noise
    if expected <= -0.99:
        # A pause: the metric stops; only a little leaks through before it takes effect.
        return {"low": -1.0, "high": round(-1.0 + 0.1, 4), "level": level}
    log_change = math.log1p(expected)
    sd = math.sqrt(
        (MODEL_UNCERTAINTY * log_change) ** 2 + s**2 * (1.0 + 1.0 / max(1, seasonal_days))
    )
    return {
        "low": round(math.expm1(log_change - z * sd), 4),
        "high": round(math.expm1(log_change + z * sd), 4),
        "level": level,
    }


# --- measurement ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ForecastCopy:
    """A campaign forecast the decision service keeps (``campaign_forecasts``)."""

    period_start: datetime
    period_end: datetime
    predicted: Mapping[str, Any]
    model_version: str | None = None

    def level(self, metric: str, start: datetime, end: datetime) -> float | None:
        """The forecast for ``metric`` over ``[start, end)``, if it covers the window."""
        if not (self.period_start <= start and end <= self.period_end):
            return None
        value = self.predicted.get(metric)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        if metric == "roas":
            return float(value)
        if metric not in FORECAST_TOTALS:
            return None
        period_hours = (self.period_end - self.period_start) / HOUR
        return float(value) * ((end - start) / HOUR) / period_hours if period_hours > 0 else None


@dataclass(frozen=True, slots=True)
class Measurement:
    metric: str
    before: float
    after: float
    counterfactual: float
    counterfactual_source: Literal["forecast", "seasonal"]
    counterfactual_days: int
    actual_change: float
    counterfactual_change: float
    effect: float | None
    profit_effect: float | None
    window_start: datetime
    window_end: datetime

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["window_start"] = self.window_start.isoformat()
        data["window_end"] = self.window_end.isoformat()
        for key, value in data.items():
            if isinstance(value, float):
                data[key] = round(value, 6)
        return data


def _counterfactual(
    rows: Sequence[HourlyMetrics],
    metric: str,
    as_of: datetime,
    horizon: int,
    forecast: ForecastCopy | None,
) -> tuple[float | None, Literal["forecast", "seasonal"], int]:
    end = as_of + horizon * HOUR
    if forecast is not None:
        level = forecast.level(metric, as_of, end)
        if level is not None:
            return level, "forecast", 0
    level, days = seasonal_level(rows, metric, as_of, horizon)
    return level, "seasonal", days


def measure(
    rows: Sequence[HourlyMetrics],
    metric: str,
    as_of: datetime,
    horizon: int,
    forecast: ForecastCopy | None = None,
) -> Measurement | None:
    """Before, after and counterfactual of ``metric`` around ``as_of``; None when the
    metric is unknown, an hour of the window is missing, or a level is zero or unknown
    (nothing to compare a relative change with)."""
    if metric not in METRICS or horizon < 1:
        return None
    end = as_of + horizon * HOUR
    after_rows = _in(rows, as_of, end)
    if len(after_rows) < horizon:
        return None
    before = window_level(rows, metric, as_of - horizon * HOUR, as_of)
    after = window_level(rows, metric, as_of, end)
    counterfactual, source, days = _counterfactual(rows, metric, as_of, horizon, forecast)
    if before is None or after is None or counterfactual is None:
        return None
    if before <= 0 or counterfactual <= 0:
        return None
    return Measurement(
        metric=metric,
        before=before,
        after=after,
        counterfactual=counterfactual,
        counterfactual_source=source,
        counterfactual_days=days,
        actual_change=after / before - 1.0,
        counterfactual_change=counterfactual / before - 1.0,
        effect=after / counterfactual - 1.0,
        profit_effect=_profit_effect(rows, as_of, horizon, forecast),
        window_start=as_of,
        window_end=end,
    )


def _profit_effect(
    rows: Sequence[HourlyMetrics], as_of: datetime, horizon: int, forecast: ForecastCopy | None
) -> float | None:
    """Revenue gained minus spend added against the counterfactual, in money."""
    end = as_of + horizon * HOUR
    parts = []
    for metric in ("revenue", "spend"):
        after = window_level(rows, metric, as_of, end)
        counterfactual, _, _ = _counterfactual(rows, metric, as_of, horizon, forecast)
        if after is None or counterfactual is None:
            return None
        parts.append(after - counterfactual)
    return parts[0] - parts[1]


# --- verdict ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Literal["validated", "incorrect"]
    applied: bool
    # The effect judged: measured for an applied decision, hypothetical otherwise.
    judged_effect: float
    error: float  # judged effect minus the predicted change
    sign_ok: bool
    in_interval: bool
    reason: str


def interval_of(prediction: Mapping[str, Any]) -> tuple[float, float]:
    """The prediction's interval; a prediction made before intervals existed gets the old
    tolerance (half the predicted change, never under five points) as one."""
    expected = float(prediction["expected_change"])
    interval = prediction.get("interval")
    if isinstance(interval, Mapping) and "low" in interval and "high" in interval:
        return float(interval["low"]), float(interval["high"])
    width = max(0.05, 0.5 * abs(expected))
    return expected - width, expected + width


def judge(prediction: Mapping[str, Any], measured: Measurement, applied: bool) -> Verdict:
    """The verdict on one decision (see the module's docstring)."""
    if prediction.get("metric") != measured.metric:
        raise ValueError(
            f"prediction is about {prediction.get('metric')!r}, measured {measured.metric!r}"
        )
    expected = float(prediction["expected_change"])
    if not math.isfinite(expected):
        raise ValueError("the predicted change must be a finite number")
    low, high = interval_of(prediction)
    if applied:
        assert measured.effect is not None
        effect = measured.effect
    elif measured.after > 0:
        effect = measured.before * (1.0 + expected) / measured.after - 1.0
    else:
        # The metric vanished on its own: whatever the decision wanted, it did not matter.
        effect = -1.0 if expected >= 0 else 0.0
    sign_ok = expected == 0 or effect * expected > 0
    inside = low <= effect <= high
    status: Literal["validated", "incorrect"] = VALIDATED if sign_ok and inside else INCORRECT
    metric = measured.metric
    basis = f"{measured.counterfactual_source} counterfactual {measured.counterfactual:.2f}" + (
        f" ({measured.counterfactual_days} days)" if measured.counterfactual_days else ""
    )
    if applied:
        what = (
            f"{metric} was {measured.after:.2f} over the {_hours(measured)} against a "
            f"{basis}: an effect of {effect:+.1%}"
        )
    else:
        what = (
            f"not carried out; without it {metric} went from {measured.before:.2f} to "
            f"{measured.after:.2f} ({measured.actual_change:+.1%}), so acting would have "
            f"made an effect of {effect:+.1%}"
        )
    predicted = f"predicted {expected:+.1%} in [{low:+.1%}, {high:+.1%}]"
    if status == VALIDATED:
        why = f"{what}; {predicted}: right direction and inside the interval"
    elif not sign_ok:
        why = f"{what}; {predicted}: the wrong direction"
    else:
        side = "short of" if abs(effect) < min(abs(low), abs(high)) else "beyond"
        why = f"{what}; {predicted}: right direction but {side} the interval"
    return Verdict(status, applied, effect, effect - expected, sign_ok, inside, why)


def _hours(measured: Measurement) -> str:
    return f"{round((measured.window_end - measured.window_start) / HOUR)} hours after"


def is_applied(outcome: Mapping[str, Any] | None) -> bool:
    """Whether the decision's change reached the ad platform and stayed there for its
    horizon (a rolled-back change counts as applied: it did act for a while)."""
    if not isinstance(outcome, Mapping):
        return False
    return outcome.get("status") in {"applied", "rolled_back"}
