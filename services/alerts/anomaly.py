"""Anomaly detection on hourly campaign metrics (pure; no I/O).

Each metric of a campaign is modelled on the log scale as its daily profile (per hour
of day, the median over the lookback) plus its recent level (the median of the 24
de-seasonalised hours before the tested stretch) plus noise: the sampling noise its
counts carry (a count of n events wobbles by about 1/sqrt(n)) and the campaign's own
spikiness, fitted robustly on its history. ``changepoint.scan`` then tests windows of
1 to 12 hours ending at the newest hour: a lone hour must be far out (score
``single_hour_z`` and 2.5x), a move that has lasted needs less per hour (score
``z_threshold`` summed over the window, with at least half its hours moved by
``min_relative_change``). A window passes only while the newest hour is still moved.
Conversions and conversion rate are also tested as counts: the window's summed
conversions against the number the baseline expects, under a negative binomial that
allows for the campaign's own spread and for the baseline's uncertainty (score
``count_z``), so a collapse on a low-volume campaign is seen where no single hour can
fall far on the log scale.

Nothing but tracking outages is reported until ``seasonal_min_days`` days at the
newest hour of day exist (``baseline_status`` says whether a campaign is warming up).
A tracking outage -- clicks or conversions reported as zero while the baseline rate
says the current traffic should have produced plenty -- is its own kind, and the
rates it distorts are not reported for that hour.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

import numpy as np

from services.alerts import changepoint
from shared.contracts.enums import AlertKind
from shared.metrics import HourlyMetrics

MODEL_NAME = "anomaly_detector"
MODEL_VERSION = "2.1.0"

METRICS: tuple[str, ...] = ("ctr", "cvr", "cpc", "spend", "conversions", "roas")
RATE_METRICS: frozenset[str] = frozenset({"ctr", "cvr", "cpc", "roas"})
# Metrics that are counts of conversions (per click for cvr): also tested as counts.
COUNT_METRICS: frozenset[str] = frozenset({"cvr", "conversions"})
# Metrics computed from clicks or conversions: meaningless while tracking is down.
TRACKED_METRICS: frozenset[str] = frozenset({"ctr", "cvr", "cpc", "conversions", "roas"})

# Turns a MAD into a standard deviation for normally distributed data (1.4826...).
MAD_TO_SIGMA = 1.0 / statistics.NormalDist().inv_cdf(0.75)

Direction = Literal["up", "down"]
BaselineKind = Literal["seasonal", "recent"]
Severity = Literal["low", "medium", "high", "critical"]

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# Only the costly direction of each metric is reported by default: cheaper
# clicks, higher conversion rates and better ROAS need no intervention; a
# drop in spend is usually a deliberate pause or budget cut; and a CTR jump
# from bot traffic shows up where it hurts, as falling cvr and roas.
DEFAULT_DIRECTIONS: tuple[tuple[str, str], ...] = (
    ("ctr", "down"),
    ("cvr", "down"),
    ("cpc", "up"),
    ("spend", "up"),
    ("conversions", "down"),
    ("roas", "down"),
)


@dataclass(frozen=True, slots=True)
class DetectorParams:
    """Every tunable of the detector and the pacing check, registered as the model's parameters."""

    # Calibrated score a sustained move must reach (windows of many hours); a window of
    # k hours needs z_threshold + (single_hour_z - z_threshold) / k, a lone hour the most.
    z_threshold: float = 6.0
    single_hour_z: float = 6.5
    # Relative change that is worth attention: at least half the hours of a window must
    # move this much, and a lone hour must move single_hour_change (double, or halve).
    min_relative_change: float = 0.6
    single_hour_change: float = 1.5
    # Days seen at the newest hour of day before anything but an outage is judged.
    seasonal_min_days: int = 5
    seasonal_lookback_days: int = 14
    # The recent level is the median of this many hours, ending before the tested windows.
    level_hours: int = 24
    recent_hours: int = 48
    recent_min_hours: int = 24
    # Smallest spread assumed beyond sampling noise, relative (5%).
    relative_scale_floor: float = 0.05
    # Conversions (and conversions per click) are also tested as counts: the window's
    # summed conversions against the number expected, under a negative binomial. Normal
    # score of its tail probability needed in a long window and in a lone hour, and how
    # far (normal score) the newest hour must itself be on the moved side.
    count_z: float = 4.0
    count_single_hour_z: float = 6.5
    count_newest_z: float = 1.0
    # Lengths of the windows ending at the newest hour that are tested for a shift.
    window_hours: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12)
    # A zero needs this many expected events before it is called an outage
    # (a Poisson count with mean 10 is zero with probability 5e-5).
    outage_min_expected: float = 10.0
    # |z| from which an anomaly is medium, high and critical; below is low.
    severity_bands: tuple[float, float, float] = (5.0, 8.0, 15.0)
    directions: tuple[tuple[str, str], ...] = DEFAULT_DIRECTIONS
    # Pacing: spend may run this far (relative) ahead of the expected curve...
    pacing_tolerance: float = 0.25
    # ...and must be at least this share of the daily budget ahead to alert.
    pacing_min_gap: float = 0.05
    # Spend above the daily budget by more than this share is "budget_exceeded".
    budget_overrun_tolerance: float = 0.0
    # Days of history needed before the learned daily profile replaces a flat one.
    pacing_profile_min_days: int = 3

    def __post_init__(self) -> None:
        # accept lists (e.g. parameters read back from JSON) but store tuples
        object.__setattr__(self, "window_hours", tuple(self.window_hours))
        object.__setattr__(self, "severity_bands", tuple(self.severity_bands))
        object.__setattr__(self, "directions", tuple(tuple(d) for d in self.directions))
        if self.z_threshold <= 0 or self.min_relative_change < 0:
            raise ValueError("thresholds must be positive")
        if self.single_hour_z < self.z_threshold or self.count_single_hour_z < self.count_z:
            raise ValueError("a lone hour cannot need less than a sustained move")
        if self.count_z <= 0:
            raise ValueError("thresholds must be positive")
        if self.level_hours < 2:
            raise ValueError("level_hours needs at least two hours")
        if self.seasonal_min_days < 2 or self.recent_min_hours < 2:
            raise ValueError("a baseline needs at least two points")
        if self.seasonal_lookback_days < self.seasonal_min_days:
            raise ValueError("seasonal_lookback_days must cover seasonal_min_days")
        if not self.window_hours or min(self.window_hours) < 1:
            raise ValueError("window_hours needs positive window lengths")
        if list(self.severity_bands) != sorted(self.severity_bands):
            raise ValueError("severity_bands must be ascending")
        unknown = {metric for metric, _ in self.directions} - set(METRICS)
        if unknown:
            raise ValueError(f"unknown metrics in directions: {sorted(unknown)}")

    @property
    def scan(self) -> changepoint.ScanSettings:
        return changepoint.ScanSettings(
            windows=tuple(sorted(set(self.window_hours))),
            single_z=self.single_hour_z,
            sustained_z=self.z_threshold,
            single_change=self.single_hour_change,
            sustained_change=self.min_relative_change,
            level_hours=self.level_hours,
            min_days=self.seasonal_min_days,
            tau_floor=self.relative_scale_floor,
            count_single_z=self.count_single_hour_z,
            count_z=self.count_z,
            count_newest_z=self.count_newest_z,
        )

    def reports(self, metric: str, direction: str) -> bool:
        return (metric, direction) in self.directions

    def as_dict(self) -> dict[str, object]:
        """JSON-ready parameters (tuples become lists)."""

        def plain(value: object) -> object:
            if isinstance(value, tuple | list):
                return [plain(item) for item in value]
            return value

        return {name: plain(value) for name, value in asdict(self).items()}


DEFAULT_PARAMS = DetectorParams()


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One metric of one campaign that left its normal range in the newest hour."""

    campaign_id: UUID
    hour: datetime
    metric: str
    direction: Direction
    observed: float
    # Median of the baseline; for tracking outages the count the baseline rate predicts.
    baseline: float
    z_score: float
    baseline_kind: BaselineKind
    history_size: int
    severity: Severity
    # Stable de-duplication key for open alerts, e.g. "cvr_down" or "tracking_outage".
    kind: str
    # Hours the move has lasted (the window ending at ``hour``); ``observed`` is its mean.
    window_hours: int = 1
    # Hours of history behind the baseline, and the score the window had to reach.
    history_hours: int = 0
    threshold: float = 0.0

    def evidence(self) -> dict[str, object]:
        """What the alert can show about how sure the detector is."""
        return {
            "history_hours": self.history_hours,
            "baseline_days": self.history_size,
            "baseline_kind": self.baseline_kind,
            "warming_up": False,
            "threshold": round(self.threshold, 2),
        }

    @property
    def relative_change(self) -> float | None:
        if self.baseline == 0:
            return None
        return self.observed / self.baseline - 1.0


@dataclass(frozen=True, slots=True)
class AlertContent:
    """What a person reads: the alert's type, severity, headline, details and next steps."""

    alert_type: Literal["performance_anomaly", "budget_threshold"]
    severity: Severity
    title: str
    description: str
    recommended_actions: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "alert_type": self.alert_type,
            "severity": self.severity,
            "title": self.title,
            "description": self.description,
            "recommended_actions": [dict(item) for item in self.recommended_actions],
        }


# ------------------------------------------------------------------ statistics


def median_abs_deviation(values: Sequence[float]) -> float:
    """Median of absolute deviations from the median (unscaled)."""
    if not values:
        raise ValueError("median_abs_deviation needs at least one value")
    centre = statistics.median(values)
    return statistics.median(abs(v - centre) for v in values)


@dataclass(frozen=True, slots=True)
class RobustScore:
    z: float
    median: float
    scale: float


def robust_z(observed: float, baseline: Sequence[float], floor: float = 0.0) -> RobustScore:
    """MAD z-score of ``observed`` against ``baseline``, with the scale floored at ``floor``."""
    centre = statistics.median(baseline)
    scale = max(MAD_TO_SIGMA * median_abs_deviation(baseline), floor)
    if scale <= 0:
        # identical history and no floor: any difference is infinitely unusual
        z = 0.0 if observed == centre else math.copysign(math.inf, observed - centre)
    else:
        z = (observed - centre) / scale
    return RobustScore(z=z, median=centre, scale=scale)


def severity_for(z_score: float, params: DetectorParams = DEFAULT_PARAMS) -> Severity:
    medium, high, critical = params.severity_bands
    size = abs(z_score)
    if size >= critical:
        return "critical"
    if size >= high:
        return "high"
    if size >= medium:
        return "medium"
    return "low"


# ------------------------------------------------------------------- detection


def _is_active(row: HourlyMetrics) -> bool:
    # A paused or undelivered hour says nothing about performance.
    return row.impressions > 0 or row.spend > 0


def _aggregate(rows: Sequence[HourlyMetrics]) -> HourlyMetrics:
    if len(rows) == 1:
        return rows[0]
    last = rows[-1]
    return HourlyMetrics(
        campaign_id=last.campaign_id,
        hour=last.hour,
        impressions=sum(r.impressions for r in rows),
        clicks=sum(r.clicks for r in rows),
        conversions=sum(r.conversions for r in rows),
        spend=sum(r.spend for r in rows),
        revenue=sum(r.revenue for r in rows),
        budget=last.budget,
    )


def _window(
    by_hour: dict[datetime, HourlyMetrics], end: datetime, hours: int
) -> HourlyMetrics | None:
    rows = []
    for offset in range(hours - 1, -1, -1):
        row = by_hour.get(end - offset * HOUR)
        if row is None or not _is_active(row):
            return None
        rows.append(row)
    return _aggregate(rows)


def _metric_value(row: HourlyMetrics, metric: str, budget: float) -> float | None:
    value = row.value(metric)
    if metric == "spend" and value is not None and row.budget > 0 and budget > 0:
        # Spend follows the budget by design; rescale history to today's budget
        # so a deliberate budget change is not reported as a spend anomaly.
        return value * budget / row.budget
    return value


@dataclass(frozen=True, slots=True)
class _Baseline:
    kind: BaselineKind
    rows: list[HourlyMetrics]


def _seasonal_rows(
    by_hour: dict[datetime, HourlyMetrics], newest: datetime, hours: int, params: DetectorParams
) -> list[HourlyMetrics]:
    rows = []
    for days_back in range(1, params.seasonal_lookback_days + 1):
        row = _window(by_hour, newest - days_back * DAY, hours)
        if row is not None:
            rows.append(row)
    return rows


def _recent_rows(
    by_hour: dict[datetime, HourlyMetrics], newest: datetime, params: DetectorParams
) -> list[HourlyMetrics]:
    rows = []
    for back in range(1, params.recent_hours + 1):
        row = by_hour.get(newest - back * HOUR)
        if row is not None and _is_active(row):
            rows.append(row)
    return rows


def _values(rows: Iterable[HourlyMetrics], metric: str, budget: float) -> list[float]:
    return [v for row in rows if (v := _metric_value(row, metric, budget)) is not None]


def _outage(
    current: HourlyMetrics,
    medians: dict[str, float],
    baseline: _Baseline,
    params: DetectorParams,
) -> Anomaly | None:
    """Clicks or conversions reported as zero while traffic that should produce them continues."""
    if current.impressions > 0 and current.clicks == 0 and "ctr" in medians:
        metric, expected = "clicks", current.impressions * medians["ctr"]
    elif current.clicks > 0 and current.conversions == 0 and "cvr" in medians:
        metric, expected = "conversions", current.clicks * medians["cvr"]
    else:
        return None
    if expected < params.outage_min_expected:
        return None
    # Poisson z of a zero: how many standard deviations below the expected count it sits.
    z = -math.sqrt(expected)
    return Anomaly(
        campaign_id=current.campaign_id,
        hour=current.hour,
        metric=metric,
        direction="down",
        observed=0.0,
        baseline=expected,
        z_score=z,
        baseline_kind=baseline.kind,
        history_size=len(baseline.rows),
        severity="critical",
        kind="tracking_outage",
    )


def _baseline_for(
    metric: str,
    seasonal: list[HourlyMetrics],
    recent: list[HourlyMetrics] | None,
    budget: float,
    params: DetectorParams,
) -> _Baseline | None:
    if len(_values(seasonal, metric, budget)) >= params.seasonal_min_days:
        return _Baseline("seasonal", seasonal)
    if recent is not None and metric in RATE_METRICS:
        if len(_values(recent, metric, budget)) >= params.recent_min_hours:
            return _Baseline("recent", recent)
    return None


@dataclass(frozen=True, slots=True)
class _Columns:
    """The grid's hours as arrays, built once for all the metrics (NaN where nothing ran)."""

    active: np.ndarray
    impressions: np.ndarray
    clicks: np.ndarray
    conversions: np.ndarray
    spend: np.ndarray
    revenue: np.ndarray
    budget: np.ndarray

    @classmethod
    def of(cls, rows: list[HourlyMetrics | None]) -> _Columns:
        empty = (math.nan,) * 6
        table = np.array(
            [
                empty
                if r is None
                else (r.impressions, r.clicks, r.conversions, r.spend, r.revenue, r.budget)
                for r in rows
            ],
            dtype=float,
        ).reshape(len(rows), 6)
        active = np.array([r is not None for r in rows], dtype=bool)
        return cls(active, *table.T)


def _metric_series(
    columns: _Columns, metric: str, budget: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Per hour: the metric on a scale where zero counts stay finite, its sampling noise,
    and for the metrics in ``COUNT_METRICS`` the conversions behind each value.

    Counts get half an event added (a zero is "fewer than one"), and the noise a count
    of n events carries, about 1/sqrt(n) on the log scale, is reported beside it.
    """
    c = columns
    values = np.full(len(c.active), np.nan)
    noise = np.zeros(len(c.active))
    counts = np.where(c.active, c.conversions, np.nan) if metric in COUNT_METRICS else None
    if metric == "spend":
        spent = np.flatnonzero(c.active & (c.spend > 0))
        values[spent] = c.spend[spent]
        if budget > 0:
            # Spend follows the budget by design; history is rescaled to today's budget
            # (as _metric_value does) so a deliberate budget change is not an anomaly.
            scaled = spent[c.budget[spent] > 0]
            values[scaled] = c.spend[scaled] * budget / c.budget[scaled]
        return values, noise, counts
    # no clicks: nothing to divide by, or a tracking gap reported on its own
    clicked = c.active & (c.clicks > 0)
    conversions = c.conversions + 0.5
    if metric == "cpc":
        at = np.flatnonzero(clicked & (c.spend > 0))
        values[at], noise[at] = c.spend[at] / c.clicks[at], 1 / np.sqrt(c.clicks[at])
    elif metric == "ctr":
        at = np.flatnonzero(clicked)
        seen = at[c.impressions[at] != 0]
        values[seen] = c.clicks[seen] / c.impressions[seen]
        noise[at] = 1 / np.sqrt(c.clicks[at])
    elif metric == "cvr":
        at = np.flatnonzero(clicked)
        values[at], noise[at] = conversions[at] / c.clicks[at], 1 / np.sqrt(conversions[at])
    elif metric == "conversions":
        at = np.flatnonzero(clicked)
        values[at], noise[at] = conversions[at], 1 / np.sqrt(conversions[at])
    elif metric == "roas":
        converted = c.active & (c.conversions != 0)
        order_values = (c.revenue[converted] / c.conversions[converted]).tolist()
        order_value = statistics.median(order_values) if order_values else 0.0
        # order values vary as much as order counts: twice the Poisson variance
        revenue = c.revenue + 0.5 * order_value
        at = np.flatnonzero(clicked & (c.spend > 0) & (revenue > 0))
        values[at], noise[at] = revenue[at] / c.spend[at], np.sqrt(2 / conversions[at])
    return values, noise, counts


def _grid(
    by_hour: dict[datetime, HourlyMetrics], newest: datetime, params: DetectorParams
) -> list[HourlyMetrics | None]:
    """The lookback as consecutive hours ending at ``newest``; None where nothing ran."""
    hours = params.seasonal_lookback_days * 24 + 1
    first = newest - (hours - 1) * HOUR
    rows: list[HourlyMetrics | None] = [None] * hours
    for hour, row in by_hour.items():
        if first <= hour <= newest and _is_active(row):
            offset, rest = divmod(hour - first, HOUR)
            if not rest:
                rows[offset] = row
    started = next((i for i, row in enumerate(rows) if row is not None), len(rows))
    return rows[started:]


@dataclass(frozen=True, slots=True)
class BaselineStatus:
    """How much history backs the newest hour's baseline (shown as alert evidence)."""

    history_hours: int
    days_at_hour: int
    baseline_kind: BaselineKind
    warming_up: bool


def baseline_status(
    series: Sequence[HourlyMetrics], params: DetectorParams = DEFAULT_PARAMS
) -> BaselineStatus:
    """Whether one campaign's history is long enough for its newest hour to be judged."""
    if not series:
        return BaselineStatus(0, 0, "seasonal", True)
    by_hour = {row.hour: row for row in series}
    newest = max(by_hour)
    rows = _grid(by_hour, newest, params)
    values, noise, _ = _metric_series(_Columns.of(rows), "spend", by_hour[newest].budget)
    fit, _ = changepoint.scan(values, noise, _hours_of_day(newest, len(rows)), (), params.scan)
    return BaselineStatus(fit.history_hours, fit.days_at_hour, "seasonal", not fit.ready)


def _hours_of_day(newest: datetime, count: int) -> np.ndarray:
    return (np.arange(count) - (count - 1) + newest.hour) % 24


def detect_campaign(
    series: Sequence[HourlyMetrics], params: DetectorParams = DEFAULT_PARAMS
) -> list[Anomaly]:
    """Anomalies in the newest hour of one campaign's ``series`` (any order, one row per hour).

    Nothing but a tracking outage is reported until the history holds
    ``seasonal_min_days`` days at the newest hour of day: before that no baseline says
    what normal is.
    """
    if not series:
        return []
    by_hour = {row.hour: row for row in series}
    newest = max(by_hour)
    current = by_hour[newest]
    if not _is_active(current):
        return []

    # Tracking first: when it is down, the rates built on clicks and conversions are artefacts.
    recent = _recent_rows(by_hour, newest, params)
    seasonal_single = _seasonal_rows(by_hour, newest, 1, params)
    medians = _medians(current, seasonal_single, recent, params)
    outage_baseline = _baseline_for("ctr", seasonal_single, recent, current.budget, params)
    outage = _outage(current, medians, outage_baseline, params) if outage_baseline else None
    if outage is not None:
        # the rates it distorts are symptoms; spend is still worth a look
        wanted = [(m, d) for m, d in params.directions if m not in TRACKED_METRICS]
    else:
        wanted = list(params.directions)

    rows = _grid(by_hour, newest, params)
    columns = _Columns.of(rows)
    hours_of_day = _hours_of_day(newest, len(rows))
    scanned: list[tuple[str, changepoint.Series]] = []
    for metric in METRICS:
        directions = [d for m, d in wanted if m == metric]
        if not directions:
            continue
        values, noise, counts = _metric_series(columns, metric, current.budget)
        signs = tuple(1 if d == "up" else -1 for d in directions)
        scanned.append((metric, changepoint.Series(values, noise, signs, counts)))
    # The metrics' baselines are fitted together; each gets its own.
    results = changepoint.scan_all([s for _, s in scanned], hours_of_day, params.scan)
    found: list[Anomaly] = []
    for (metric, _), (fit, shifts) in zip(scanned, results, strict=True):
        for sign, shift in sorted(shifts.items(), reverse=True):
            direction = "up" if sign > 0 else "down"
            found.append(
                Anomaly(
                    campaign_id=current.campaign_id,
                    hour=newest,
                    metric=metric,
                    direction=direction,  # type: ignore[arg-type]
                    observed=shift.observed,
                    baseline=shift.baseline,
                    z_score=sign * shift.score,
                    baseline_kind="seasonal",
                    history_size=fit.days_at_hour,
                    severity=severity_for(shift.score, params),
                    kind=str(AlertKind.of_move(metric, direction)),
                    window_hours=shift.hours,
                    history_hours=fit.history_hours,
                    threshold=shift.threshold,
                )
            )
    return [outage, *found] if outage else found


def _medians(
    current: HourlyMetrics,
    seasonal: list[HourlyMetrics],
    recent: list[HourlyMetrics] | None,
    params: DetectorParams,
) -> dict[str, float]:
    medians: dict[str, float] = {}
    # The rates an outage is judged by (see _outage); the others would go unread.
    for metric in ("ctr", "cvr"):
        baseline = _baseline_for(metric, seasonal, recent, current.budget, params)
        if baseline is not None:
            medians[metric] = statistics.median(_values(baseline.rows, metric, current.budget))
    return medians


def detect(
    history: Iterable[HourlyMetrics], params: DetectorParams = DEFAULT_PARAMS
) -> list[Anomaly]:
    """Anomalies in each campaign's newest hour, across all campaigns in ``history``."""
    by_campaign: dict[UUID, list[HourlyMetrics]] = defaultdict(list)
    for row in history:
        by_campaign[row.campaign_id].append(row)
    found: list[Anomaly] = []
    for campaign_id in sorted(by_campaign, key=str):
        found.extend(detect_campaign(by_campaign[campaign_id], params))
    return found


# ------------------------------------------------------------------ describing

METRIC_LABELS: dict[str, str] = {
    "ctr": "Click-through rate",
    "cvr": "Conversion rate",
    "cpc": "Cost per click",
    "spend": "Spend",
    "conversions": "Conversions",
    "roas": "ROAS",
    "clicks": "Clicks",
}

_ACTIONS: dict[str, list[dict[str, str]]] = {
    "ctr_down": [
        {"action": "review_creatives", "reason": "ads may be fatigued or disapproved"},
        {
            "action": "review_audience",
            "reason": "a recent targeting change can bring less interested users",
        },
    ],
    "cvr_down": [
        {
            "action": "check_landing_page",
            "reason": "a broken or slow page stops people who already clicked",
        },
        {
            "action": "check_conversion_tracking",
            "reason": "a partly broken tag looks like fewer conversions",
        },
        {
            "action": "hold_budget_increases",
            "reason": "extra spend would buy clicks that do not convert",
        },
    ],
    "cpc_up": [
        {"action": "reduce_bid", "reason": "auction prices rose; the current bid may overpay"},
        {
            "action": "review_audience",
            "reason": "competition is often concentrated in a few segments",
        },
    ],
    "spend_up": [
        {
            "action": "check_budget_settings",
            "reason": "spend is far above its usual level for this hour",
        },
        {"action": "reduce_budget", "reason": "caps the damage while the cause is investigated"},
    ],
    "conversions_down": [
        {
            "action": "check_conversion_tracking",
            "reason": "lost tracking looks the same as lost sales",
        },
        {"action": "check_delivery", "reason": "fewer conversions can follow from less traffic"},
    ],
    "roas_down": [
        {"action": "reduce_budget", "reason": "each unit of spend currently returns less revenue"},
        {"action": "reduce_bid", "reason": "lower bids restore margin when returns drop"},
    ],
    "tracking_outage": [
        {
            "action": "check_conversion_tracking",
            "reason": "traffic is paid for but no events are recorded",
        },
        {"action": "freeze_automation", "reason": "decisions based on missing data would be wrong"},
    ],
}


def format_metric(metric: str, value: float) -> str:
    if metric in ("ctr", "cvr"):
        return f"{value * 100:.2f}%"
    if metric in ("cpc", "spend"):
        return f"{value:,.2f}"
    if metric == "roas":
        return f"{value:.2f}x"
    return f"{value:,.1f}" if value != int(value) else f"{int(value):,}"


def _baseline_phrase(anomaly: Anomaly) -> str:
    span = "hour" if anomaly.window_hours == 1 else f"{anomaly.window_hours} hours"
    if anomaly.baseline_kind == "seasonal":
        return f"the same {span} of day on {anomaly.history_size} previous days"
    return f"the previous {anomaly.history_size} active hours"


def _campaign_label(anomaly: Anomaly, campaign_name: str | None) -> str:
    return campaign_name if campaign_name else str(anomaly.campaign_id)


def describe(anomaly: Anomaly, campaign_name: str | None = None) -> AlertContent:
    """Human-readable alert content for ``anomaly``."""
    campaign = _campaign_label(anomaly, campaign_name)
    start = anomaly.hour - (anomaly.window_hours - 1) * HOUR
    period = (
        f"the hour starting {start:%Y-%m-%d %H:%M} UTC"
        if anomaly.window_hours == 1
        else f"the {anomaly.window_hours} hours from {start:%Y-%m-%d %H:%M} UTC"
    )
    actions = [dict(item) for item in _ACTIONS.get(anomaly.kind, [])]
    if anomaly.kind == "tracking_outage":
        label = METRIC_LABELS[anomaly.metric].lower()
        title = f"Tracking outage suspected on campaign {campaign}: {label} reported as zero"
        description = (
            f"No {label} were reported in {period} although traffic continued; "
            f"about {anomaly.baseline:,.0f} were expected from the usual rate "
            f"({_baseline_phrase(anomaly)}), z = {anomaly.z_score:.1f}."
        )
        return AlertContent("performance_anomaly", anomaly.severity, title, description, actions)

    label = METRIC_LABELS.get(anomaly.metric, anomaly.metric)
    change = anomaly.relative_change
    size = f" {abs(change) * 100:.0f}%" if change is not None else ""
    title = f"{label} {anomaly.direction}{size} on campaign {campaign}"
    description = (
        f"{label} was {format_metric(anomaly.metric, anomaly.observed)} in {period}, "
        f"against a baseline median of {format_metric(anomaly.metric, anomaly.baseline)} "
        f"({_baseline_phrase(anomaly)}); robust z-score {anomaly.z_score:.1f}, "
        f"{anomaly.baseline_kind} baseline."
    )
    return AlertContent("performance_anomaly", anomaly.severity, title, description, actions)
