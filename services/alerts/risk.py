"""Per-campaign risk scoring: overspend, performance decline and tracking loss.

Pure functions over one campaign's recent hourly metrics; no I/O.

Contract: :func:`assess` always returns exactly one :class:`RiskAssessment` per
entry of :data:`RISK_TYPES`, in that order, including those whose level is
``"low"``. Consumers can therefore upsert every risk each cycle and treat a
risk that has fallen back to ``"low"`` as resolved, instead of inferring
resolution from an absent row.

Each probability is a 0-10 likelihood with one decimal (it is stored as
``DECIMAL(3,1)``). The level is a pure function of that score, so the two can
never disagree. Impact figures are conditional on the risk materialising;
they are not weighted by the probability, so a consumer can rank by
``probability x impact`` without double counting.

Open alerts from the anomaly detector are treated as independent evidence
and folded in with a noisy-OR: each distinct corroborating alert kind closes
``alert_evidence_weight`` of the remaining gap to certainty. The detector
looks at short-term deviations while this module looks at pace, trend and
count evidence, so neither should override the other.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import numpy as np
from scipy import stats

from services.alerts.spend_profile import (
    HOURS_PER_DAY,
    PROFILE_MIN_DAYS,
    PROFILE_SHRINKAGE,
    complete_days,
    expected_fraction,
    profile_for,
)
from shared.contracts.enums import Severity
from shared.metrics import HourlyMetrics

MODEL_NAME = "risk_scorer"
# 1.1.0: the daily spend profile is the one pacing uses (median daily shares).
MODEL_VERSION = "1.1.0"

RISK_TYPES: tuple[str, ...] = ("budget_overspend", "performance_decline", "tracking_loss")
RISK_LEVELS: tuple[str, ...] = tuple(level.value for level in Severity)

# Alert kinds that describe the same underlying problem as each risk type.
CORROBORATING_ALERTS: dict[str, frozenset[str]] = {
    "budget_overspend": frozenset({"budget_exceeded", "budget_pacing", "spend_up"}),
    "performance_decline": frozenset(
        {"roas_down", "cvr_down", "conversions_down", "ctr_down", "cpc_up"}
    ),
    "tracking_loss": frozenset({"tracking_outage"}),
}

CURRENCY = "account"
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class RiskParams:
    """Tunable constants of the risk scorer, recorded alongside every assessment."""

    # Score (0-10) at which each level starts.
    medium_at: float = 3.0
    high_at: float = 6.0
    critical_at: float = 8.5
    # Share of the remaining doubt removed by each distinct corroborating alert kind.
    alert_evidence_weight: float = 0.3

    # budget_overspend: logistic over projected end-of-day spend / daily budget.
    # Midpoint above 1.0 because platforms routinely deliver a few percent over.
    overspend_midpoint: float = 1.15
    overspend_steepness: float = 12.0
    # Weight, in "fractions of a day", given to the historical daily spend when
    # projecting today's pace; early in the day a handful of hours would
    # otherwise extrapolate wildly.
    pace_prior_weight: float = 0.1
    # Complete prior days needed before the campaign's own hour-of-day profile
    # is trusted over a flat one.
    profile_min_days: int = PROFILE_MIN_DAYS
    # Blend of the flat profile into the learned one, so hours that never saw
    # spend in history still count as part of the day.
    profile_shrinkage: float = PROFILE_SHRINKAGE

    # performance_decline: Theil-Sen trend over rolling 24h buckets.
    trend_days: int = 7
    min_trend_days: int = 4
    recent_days: int = 3
    # Relative decline per day at which the probability is one half.
    decline_midpoint: float = 0.06
    decline_steepness: float = 35.0

    # tracking_loss: Bayesian update on runs of zero-count hours.
    tracking_window_hours: int = 24
    # Prior probability that tracking is broken at any given cycle.
    tracking_prior: float = 0.02
    min_baseline_clicks: int = 100
    min_baseline_conversions: int = 10

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    """One risk's current state for one campaign."""

    campaign_id: UUID
    risk_type: str
    risk_level: str
    probability_score: float
    risk_indicators: dict[str, Any] = field(default_factory=dict)
    impact_assessment: dict[str, Any] = field(default_factory=dict)
    mitigation_actions: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": str(self.campaign_id),
            "risk_type": self.risk_type,
            "risk_level": self.risk_level,
            "probability_score": self.probability_score,
            "risk_indicators": dict(self.risk_indicators),
            "impact_assessment": dict(self.impact_assessment),
            "mitigation_actions": [dict(a) for a in self.mitigation_actions],
        }


def assess(
    campaign_id: UUID,
    rows: Sequence[HourlyMetrics],
    now: datetime,
    open_alert_kinds: Iterable[str] = (),
    params: RiskParams | None = None,
) -> list[RiskAssessment]:
    """Score every risk type for one campaign as of ``now``.

    ``rows`` are the campaign's recent hourly metrics (about eight days is
    enough for every component); rows at or after ``now`` are ignored. ``now``
    should be the end of the data you have, usually the start of the current
    hour, and must be timezone-aware.
    """
    p = params or RiskParams()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    for row in rows:
        if row.campaign_id != campaign_id:
            raise ValueError(f"row for campaign {row.campaign_id} passed for {campaign_id}")
    past = sorted((r for r in rows if r.hour < now), key=lambda r: r.hour)
    kinds = frozenset(open_alert_kinds)
    return [
        _budget_overspend(campaign_id, past, now, kinds, p),
        _performance_decline(campaign_id, past, now, kinds, p),
        _tracking_loss(campaign_id, past, now, kinds, p),
    ]


def level_for(score: float, params: RiskParams | None = None) -> str:
    """The risk level a 0-10 probability score maps to."""
    p = params or RiskParams()
    if score >= p.critical_at:
        return "critical"
    if score >= p.high_at:
        return "high"
    if score >= p.medium_at:
        return "medium"
    return "low"


def tracking_posterior(expected_missing: float, prior: float) -> float:
    """P(tracking broken | zero counts where ``expected_missing`` were expected).

    Under healthy tracking a Poisson count with mean L is zero with probability
    exp(-L); under broken tracking zero is certain. Bayes' rule then gives
    prior / (prior + (1 - prior) * exp(-L)). Using the posterior rather than
    1 - exp(-L) keeps a single quiet hour on a low-volume campaign from
    looking like an outage.
    """
    healthy_zero = math.exp(-max(expected_missing, 0.0))
    return prior / (prior + (1.0 - prior) * healthy_zero)


# --- shared internals ----------------------------------------------------------


def _logistic(x: float) -> float:
    # Split by sign so large magnitudes do not overflow exp().
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _corroborate(
    probability: float, risk_type: str, kinds: frozenset[str], p: RiskParams
) -> tuple[float, list[str]]:
    matching = sorted(kinds & CORROBORATING_ALERTS[risk_type])
    remaining = 1.0 - probability
    for _ in matching:
        remaining *= 1.0 - p.alert_evidence_weight
    return 1.0 - remaining, matching


def _score(probability: float) -> float:
    return round(min(max(10.0 * probability, 0.0), 10.0), 1)


def _r(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    # Adding 0.0 turns -0.0 into 0.0 so stored JSON never shows a signed zero.
    return round(float(value), digits) + 0.0


def _assessment(
    campaign_id: UUID,
    risk_type: str,
    model_probability: float,
    kinds: frozenset[str],
    p: RiskParams,
    indicators: dict[str, Any],
    impact: dict[str, Any],
    mitigations: dict[str, list[dict[str, str]]],
) -> RiskAssessment:
    probability, matching = _corroborate(model_probability, risk_type, kinds, p)
    score = _score(probability)
    level = level_for(score, p)
    indicators = {
        **indicators,
        "model_probability": _r(model_probability),
        "corroborating_alerts": matching,
    }
    return RiskAssessment(
        campaign_id=campaign_id,
        risk_type=risk_type,
        risk_level=level,
        probability_score=score,
        risk_indicators=indicators,
        impact_assessment=impact,
        mitigation_actions=mitigations.get(level, []),
    )


def _day_start(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


# --- budget_overspend ----------------------------------------------------------


def _budget_overspend(
    campaign_id: UUID,
    rows: Sequence[HourlyMetrics],
    now: datetime,
    kinds: frozenset[str],
    p: RiskParams,
) -> RiskAssessment:
    day_start = _day_start(now)
    history = [r for r in rows if r.hour < day_start]
    today = [r for r in rows if r.hour >= day_start]
    budget = rows[-1].budget if rows else 0.0
    spent = sum(r.spend for r in today)

    days = complete_days(history)
    profile, profile_kind = profile_for(history, p.profile_min_days, p.profile_shrinkage)
    fraction = expected_fraction((now - day_start) / _HOUR, profile)
    baseline_daily = sum(sum(d) for d in days.values()) / len(days) if days else budget
    # Today's pace is trusted in proportion to how much of the day it covers.
    today_pace = spent / fraction if fraction > 0 else 0.0
    weight = fraction / (fraction + p.pace_prior_weight)
    pace = weight * today_pace + (1.0 - weight) * baseline_daily
    projected = spent + (1.0 - fraction) * pace

    sufficient = budget > 0
    ratio = projected / budget if sufficient else None
    model_probability = (
        _logistic(p.overspend_steepness * (ratio - p.overspend_midpoint))
        if ratio is not None
        else 0.0
    )
    hours_left = max(0, math.ceil((day_start + _DAY - now) / _HOUR))
    overspend = max(0.0, projected - budget) if sufficient else 0.0

    indicators: dict[str, Any] = {
        "sufficient_data": sufficient,
        "daily_budget": _r(budget, 2),
        "spend_today": _r(spent, 2),
        "expected_day_fraction": _r(fraction),
        "today_pace": _r(today_pace, 2),
        "baseline_daily_spend": _r(baseline_daily, 2),
        "projected_spend": _r(projected, 2),
        "projected_ratio": _r(ratio),
        "profile": profile_kind,
        "history_days": len(days),
    }
    impact = {
        "estimated_daily_loss": _r(overspend, 2),
        "currency": CURRENCY,
        "horizon_hours": hours_left,
    }
    detail = (
        f"projected spend {projected:.2f} is {ratio or 0.0:.0%} of the "
        f"{budget:.2f} daily budget with {fraction:.0%} of the day's usual spend elapsed"
    )
    pacing = {"action": "enable_even_pacing", "reason": f"Spread delivery: {detail}."}
    cut = {
        "action": "decrease_budget",
        "reason": f"Cap the overshoot of {overspend:.2f}: {detail}.",
    }
    pause = {
        "action": "pause_campaign",
        "reason": f"Stop delivery until the next budget day: {detail}.",
    }
    mitigations = {"medium": [pacing], "high": [cut, pacing], "critical": [cut, pause]}
    return _assessment(
        campaign_id,
        "budget_overspend",
        model_probability,
        kinds,
        p,
        indicators,
        impact,
        mitigations,
    )


# --- performance_decline -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Bucket:
    index: int  # 0 = oldest
    spend: float
    revenue: float
    clicks: int
    conversions: int


def _daily_buckets(rows: Sequence[HourlyMetrics], now: datetime, days: int) -> list[_Bucket]:
    """Rolling 24h buckets ending at ``now``, oldest first.

    Rolling windows instead of calendar days keep the newest bucket complete,
    so today's partial day neither hides nor fakes a decline.
    """
    buckets: list[_Bucket] = []
    for back in range(days - 1, -1, -1):
        end = now - back * _DAY
        start = end - _DAY
        window = [r for r in rows if start <= r.hour < end]
        if not window:
            continue
        buckets.append(
            _Bucket(
                index=days - 1 - back,
                spend=sum(r.spend for r in window),
                revenue=sum(r.revenue for r in window),
                clicks=sum(r.clicks for r in window),
                conversions=sum(r.conversions for r in window),
            )
        )
    return buckets


# stats.theilslopes without the NaN-policy layer scipy wraps it in, which costs twice the fit
# itself; the points here are finite, so the layer would pass them through unchanged.
_THEIL_SEN = getattr(stats.theilslopes, "__wrapped__", stats.theilslopes)


def _trend(points: Sequence[tuple[int, float]], p: RiskParams) -> dict[str, float | None] | None:
    """Theil-Sen slope relative to the series median, or None if too short or flat at zero.

    Theil-Sen (median of pairwise slopes) shrugs off a single odd day, which
    an ordinary least-squares slope over a week would not.
    """
    if len(points) < p.min_trend_days:
        return None
    x = np.array([pt[0] for pt in points], dtype=float)
    y = np.array([pt[1] for pt in points], dtype=float)
    level = float(np.median(y))
    if level <= 0:
        return None
    fit = _THEIL_SEN(y, x)
    return {
        "slope_per_day": float(fit.slope),
        "slope_low": float(fit.low_slope),
        "slope_high": float(fit.high_slope),
        "median": level,
        "relative_change_per_day": float(fit.slope) / level,
    }


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def _performance_decline(
    campaign_id: UUID,
    rows: Sequence[HourlyMetrics],
    now: datetime,
    kinds: frozenset[str],
    p: RiskParams,
) -> RiskAssessment:
    buckets = _daily_buckets(rows, now, p.trend_days)
    roas_points = [(b.index, b.revenue / b.spend) for b in buckets if b.spend > 0]
    cvr_points = [(b.index, b.conversions / b.clicks) for b in buckets if b.clicks > 0]
    trends = {"roas": _trend(roas_points, p), "cvr": _trend(cvr_points, p)}

    declines = {
        name: -t["relative_change_per_day"]
        for name, t in trends.items()
        if t is not None and t["relative_change_per_day"] is not None
    }
    # Either metric falling is enough to hurt, so the worse one drives the score.
    driver = max(declines, key=lambda k: declines[k]) if declines else None
    decline = declines[driver] if driver else None
    model_probability = (
        _logistic(p.decline_steepness * (decline - p.decline_midpoint))
        if decline is not None
        else 0.0
    )

    recent_cut = p.trend_days - p.recent_days
    recent = [b for b in buckets if b.index >= recent_cut]
    prior = [b for b in buckets if b.index < recent_cut]
    recent_roas = _ratio(sum(b.revenue for b in recent), sum(b.spend for b in recent))
    prior_roas = _ratio(sum(b.revenue for b in prior), sum(b.spend for b in prior))
    recent_cvr = _ratio(sum(b.conversions for b in recent), sum(b.clicks for b in recent))
    prior_cvr = _ratio(sum(b.conversions for b in prior), sum(b.clicks for b in prior))

    latest = buckets[-1] if buckets and buckets[-1].index == p.trend_days - 1 else None
    latest_roas = _ratio(latest.revenue, latest.spend) if latest else None
    loss = 0.0
    if latest is not None and latest_roas is not None and prior_roas is not None:
        loss = max(0.0, prior_roas - latest_roas) * latest.spend

    indicators: dict[str, Any] = {
        "sufficient_data": decline is not None,
        "days_observed": len(buckets),
        "driver": driver,
        "relative_decline_per_day": _r(decline),
    }
    for name, t in trends.items():
        indicators[f"{name}_slope_per_day"] = _r(t["slope_per_day"], 6) if t else None
        indicators[f"{name}_slope_ci"] = (
            [_r(t["slope_low"], 6), _r(t["slope_high"], 6)] if t else None
        )
        indicators[f"{name}_relative_change_per_day"] = (
            _r(t["relative_change_per_day"]) if t else None
        )
    indicators.update(
        {
            f"roas_recent_{p.recent_days}d": _r(recent_roas),
            "roas_prior": _r(prior_roas),
            f"cvr_recent_{p.recent_days}d": _r(recent_cvr, 6),
            "cvr_prior": _r(prior_cvr, 6),
        }
    )
    impact = {"estimated_daily_loss": _r(loss, 2), "currency": CURRENCY, "horizon_hours": 24}

    detail = (
        f"{driver or 'performance'} is falling {(decline or 0.0):.1%} per day "
        f"over {len(buckets)} days"
    )
    review = {"action": "review_targeting", "reason": f"Find the segment behind it: {detail}."}
    bid = {"action": "lower_bid", "reason": f"Pay less per click while {detail}."}
    cut = {
        "action": "decrease_budget",
        "reason": f"Limit exposure of about {loss:.2f}/day in lost revenue: {detail}.",
    }
    mitigations = {"medium": [review], "high": [bid, review], "critical": [cut, bid]}
    return _assessment(
        campaign_id,
        "performance_decline",
        model_probability,
        kinds,
        p,
        indicators,
        impact,
        mitigations,
    )


# --- tracking_loss -------------------------------------------------------------


def _trailing_zero_run(
    active: Sequence[HourlyMetrics],
    is_zero: Callable[[HourlyMetrics], bool],
    expected: Callable[[HourlyMetrics], float],
) -> tuple[int, float, float]:
    """Length, expected count and spend of the run of zero hours ending at the newest hour."""
    hours, expected_total, spend = 0, 0.0, 0.0
    for row in reversed(active):
        if not is_zero(row):
            break
        hours += 1
        expected_total += expected(row)
        spend += row.spend
    return hours, expected_total, spend


def _tracking_loss(
    campaign_id: UUID,
    rows: Sequence[HourlyMetrics],
    now: datetime,
    kinds: frozenset[str],
    p: RiskParams,
) -> RiskAssessment:
    window_start = now - p.tracking_window_hours * _HOUR
    # Hours without delivery say nothing about tracking, so they neither
    # extend nor break a run.
    active = [r for r in rows if r.hour >= window_start and r.spend > 0 and r.impressions > 0]
    baseline = [r for r in rows if r.hour < window_start and r.spend > 0 and r.impressions > 0]

    b_impr = sum(r.impressions for r in baseline)
    b_clicks = sum(r.clicks for r in baseline)
    b_conv = sum(r.conversions for r in baseline)
    ctr = b_clicks / b_impr if b_clicks >= p.min_baseline_clicks else None
    cvr = b_conv / b_clicks if ctr is not None and b_conv >= p.min_baseline_conversions else None

    click_run = (0, 0.0, 0.0)
    if ctr is not None:
        click_run = _trailing_zero_run(
            active, lambda r: r.clicks == 0, lambda r: r.impressions * ctr
        )
    conv_run = (0, 0.0, 0.0)
    if cvr is not None and ctr is not None:
        # With clicks missing too, expect conversions from impressions instead.
        conv_run = _trailing_zero_run(
            active,
            lambda r: r.conversions == 0,
            lambda r: (r.clicks if r.clicks > 0 else r.impressions * ctr) * cvr,
        )

    channels = {"clicks": click_run, "conversions": conv_run}
    sufficient = ctr is not None
    driver = max(channels, key=lambda k: channels[k][1])
    hours, missing, run_spend = channels[driver]
    model_probability = tracking_posterior(missing, p.tracking_prior) if sufficient else 0.0

    zero_conv_share = sum(1 for r in active if r.conversions == 0) / len(active) if active else None
    indicators: dict[str, Any] = {
        "sufficient_data": sufficient,
        "driver": driver if hours else None,
        "baseline_ctr": _r(ctr, 6),
        "baseline_cvr": _r(cvr, 6),
        "baseline_conversions_per_hour": _r(b_conv / len(baseline) if baseline else None),
        "zero_click_hours": click_run[0],
        "zero_conversion_hours": conv_run[0],
        "expected_clicks_missing": _r(click_run[1]),
        "expected_conversions_missing": _r(conv_run[1]),
        # Significant figures, not decimals: the interesting values are tiny.
        "p_zero_if_healthy": float(f"{math.exp(-missing):.4g}"),
        "zero_conversion_share": _r(zero_conv_share),
        "conversion_channel": cvr is not None,
        "active_hours": len(active),
        "prior": p.tracking_prior,
    }
    hourly_spend = run_spend / hours if hours else 0.0
    impact = {
        # Spend that would run blind for a day if the outage persists.
        "estimated_daily_loss": _r(hourly_spend * HOURS_PER_DAY, 2),
        "currency": CURRENCY,
        "horizon_hours": 24,
    }
    detail = (
        f"{hours} consecutive hours with zero {driver} where {missing:.1f} were expected "
        f"(chance under healthy tracking {math.exp(-missing):.2g})"
    )
    verify = {"action": "verify_tracking", "reason": f"Check the pixel and postbacks: {detail}."}
    cut = {
        "action": "decrease_budget",
        "reason": f"Limit unmeasured spend of {hourly_spend:.2f}/h: {detail}.",
    }
    pause = {
        "action": "pause_campaign",
        "reason": f"Stop unmeasured spend of {hourly_spend:.2f}/h until tracking recovers: "
        f"{detail}.",
    }
    mitigations = {"medium": [verify], "high": [verify, cut], "critical": [verify, pause]}
    return _assessment(
        campaign_id, "tracking_loss", model_probability, kinds, p, indicators, impact, mitigations
    )
