"""Decision policy of the master cycle: what to change on each campaign, and how sure we are.

Pure functions over plain data; no I/O. The cycle gathers a
:class:`CampaignView` per campaign (metric summary, open alerts, current
risks), calls :func:`decide`, and persists the returned decisions.

Rules, in priority order; the first rule that applies to a campaign decides
for it, so a campaign gets at most one decision per cycle. An open alert is an
incident, and a rule asking for a kind of alert (say ``cvr_down``) is answered
by any incident whose primary or symptoms include it:

1. ``tracking`` - a tracking outage, a critical conversion/CVR drop or a
   high tracking-loss risk while the campaign keeps spending. Pause when a
   critical alert and a high/critical tracking-loss risk agree; otherwise cut
   the budget by the maximum step.
2. ``overspend`` - budget exceeded, pacing above plan, a high overspend risk,
   or spend rising while ROAS is under target: cut the budget.
3. ``cpc`` - CPC up while ROAS is not comfortably above target: lower bids
   towards the CPC baseline.
4. ``decline`` - ROAS/CVR/conversions falling (or a high decline risk) with
   ROAS under target: cut the budget in proportion to the shortfall.
5. ``scale`` - no alerts, no risk above low, ROAS well above target on both
   the last 24 hours and the prior week with enough conversions: raise the
   budget when it is the binding constraint, or expand the audience when the
   campaign cannot even spend what it has (budget is then not the limit,
   reach is, so a bigger budget would change nothing).

If the winning rule's confidence is under ``min_confidence`` the campaign gets
no decision at all: acting on a lesser concern while a more serious one is
suspected but unconfirmed would hide the serious one.

A budget cut that would not bind (the campaign already spends less than the
new budget) becomes a bid reduction of the same size, since only bids then
control spend.

With the campaign's response curves (:mod:`services.decision.budget_curves`), budget
steps follow them instead of fixed percentages: a raise goes as far as an extra dollar
still returns ``min_marginal_roas`` (at most the maximum step; none if the curve is
already that flat), a decline cut as far as brings the curve's average ROAS back to
target, and every budget change except a tracking cut predicts its impact from the
curves, with its interval and the marginal ROAS before and after.

Confidence (0-100) combines the rule's evidence ``e`` (0-1: alert severities
and risk probabilities merged with a noisy-OR) with ``calibration`` ``c``, the
track record of the decision's type, on the log-odds scale::

    confidence = 100 * sigmoid(s * logit(e) + w * (logit(c) - logit(c0)))

with ``w = calibration_weight``, ``c0 = neutral_calibration`` (0.5) and ``s`` the
type's slope (1 unless given). With no feedback ``c = c0``, ``s = 1`` and confidence
equals the evidence. The decision service fits ``c`` and ``s`` per decision type on
the verdicts of its past decisions and people's weighted corrections
(services/decision/calibration.py), so a type that keeps being wrong loses confidence
and one that keeps being right gains it. Working in odds keeps the result inside
(0, 100) however extreme either input is.

Each predicted impact carries an interval at ``interval_level`` for the effect validation
will measure (services/decision/validation.py): the campaign's own day-to-day noise of
the metric, and the elasticity's uncertainty (or, from a curve, its bend's).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from services.decision import budget_curves, validation
from services.decision import calibration as calibration_fits
from shared.contracts.enums import AlertKind, Calibrator, DecisionType, Severity, severity_rank
from shared.metrics import HourlyMetrics, Rates

MODEL_NAME = "decision_policy"
MODEL_VERSION = "1.1.0"

DECISION_TYPES: tuple[DecisionType, ...] = tuple(DecisionType)

# How strongly one open alert of each severity argues that its problem is real.
SEVERITY_EVIDENCE: dict[Severity, float] = {
    Severity.LOW: 0.35,
    Severity.MEDIUM: 0.55,
    Severity.HIGH: 0.75,
    Severity.CRITICAL: 0.9,
}
_ELEVATED = frozenset({Severity.HIGH, Severity.CRITICAL})

_TRACKING_KINDS = frozenset({AlertKind.TRACKING_OUTAGE})
_CONVERSION_KINDS = frozenset({AlertKind.CONVERSIONS_DOWN, AlertKind.CVR_DOWN})
_DECLINE_KINDS = frozenset({AlertKind.ROAS_DOWN, AlertKind.CVR_DOWN, AlertKind.CONVERSIONS_DOWN})
# A conversion drop this severe is acted on at once (a budget cut; a pause needs a critical
# alert and a tracking-loss risk agreeing): waiting for the 24-hour ROAS to fall below
# target would pay for a day of clicks that do not convert. The detector only reports
# drops of half the baseline or more, so even a medium one is material; it gets half the
# cut of a high one.
_SEVERE_CONVERSION_DROP = frozenset({Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL})

_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)

VALIDATED = "validated"
INCORRECT = "incorrect"


# --- metric summary -------------------------------------------------------------


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


@dataclass(frozen=True, slots=True)
class WindowTotals(Rates):
    """Summed counters over a time window; ``hours`` counts the hourly rows seen."""

    hours: int = 0
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    spend: float = 0.0
    revenue: float = 0.0

    @property
    def spend_per_hour(self) -> float | None:
        return _ratio(self.spend, self.hours)

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "spend": round(self.spend, 2),
            "revenue": round(self.revenue, 2),
            "ctr": _round(self.ctr, 6),
            "cvr": _round(self.cvr, 6),
            "cpc": _round(self.cpc, 4),
            "roas": _round(self.roas, 4),
        }


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """A campaign's last 24 hours and the 7 days before them, as of ``as_of``."""

    campaign_id: UUID
    as_of: datetime
    last_24h: WindowTotals
    prior_7d: WindowTotals

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": str(self.campaign_id),
            "as_of": self.as_of.isoformat(),
            "last_24h": self.last_24h.as_dict(),
            "prior_7d": self.prior_7d.as_dict(),
        }


def _totals(rows: Iterable[HourlyMetrics]) -> WindowTotals:
    hours = impressions = clicks = conversions = 0
    spend = revenue = 0.0
    for row in rows:
        hours += 1
        impressions += row.impressions
        clicks += row.clicks
        conversions += row.conversions
        spend += row.spend
        revenue += row.revenue
    return WindowTotals(hours, impressions, clicks, conversions, spend, revenue)


def summarise(campaign_id: UUID, rows: Sequence[HourlyMetrics], now: datetime) -> MetricSummary:
    """Aggregate hourly rows into ``[now-24h, now)`` and ``[now-8d, now-24h)``.

    Rows outside both windows are ignored; rows of another campaign are an error
    because silently mixing campaigns would corrupt every ratio.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    for row in rows:
        if row.campaign_id != campaign_id:
            raise ValueError(f"row for campaign {row.campaign_id} passed for {campaign_id}")
    day_ago = now - _DAY
    week_before = day_ago - _WEEK
    return MetricSummary(
        campaign_id=campaign_id,
        as_of=now,
        last_24h=_totals(r for r in rows if day_ago <= r.hour < now),
        prior_7d=_totals(r for r in rows if week_before <= r.hour < day_ago),
    )


# --- inputs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompetitorLink:
    """A competitor event the alerts service linked to an incident as a candidate
    explanation (``evidence.explanation``): co-occurring, not shown to be causal.
    ``size``: the change in the competitor's impression share, in points; ``score``: that
    change times its position-above rate."""

    competitor: str
    kind: str
    started_on: str
    size: float
    score: float
    confidence: float

    @classmethod
    def of(cls, candidate: Mapping[str, Any]) -> CompetitorLink:
        return cls(
            str(candidate["competitor"]),
            str(candidate["kind"]),
            str(candidate["started_on"]),
            float(candidate["size"]),
            float(candidate["score"]),
            float(candidate["confidence"]),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AlertView:
    """An open alert as the policy needs it: an incident, whose ``kind`` is the primary
    cause and ``symptoms`` the other kinds it moved. It is evidence for each of its
    ``kinds``, at its (worst) ``severity``; ``observed``/``baseline`` are the primary's,
    in units of ``metric``."""

    alert_id: UUID
    kind: str
    metric: str
    severity: str
    observed: float | None = None
    baseline: float | None = None
    symptoms: tuple[str, ...] = ()
    # Competitor events linked to the incident, highest score first.
    competitors: tuple[CompetitorLink, ...] = ()

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset({self.kind, *self.symptoms})

    def covers(self, kinds: Iterable[str]) -> bool:
        return not self.kinds.isdisjoint(kinds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "alert_id": str(self.alert_id),
            "kind": self.kind,
            "symptoms": list(self.symptoms),
            "metric": self.metric,
            "severity": self.severity,
            "observed": self.observed,
            "baseline": self.baseline,
            "competitors": [c.as_dict() for c in self.competitors],
        }


@dataclass(frozen=True, slots=True)
class RiskView:
    risk_type: str
    risk_level: str
    probability_score: float  # 0-10

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CampaignView:
    campaign_id: UUID
    daily_budget: float
    metrics: MetricSummary
    alerts: tuple[AlertView, ...] = ()
    risks: tuple[RiskView, ...] = ()
    paused: bool = False
    # The campaign's response curves; without them budget rules take fixed steps.
    curves: budget_curves.Curves | None = None
    # Day-to-day variability (log standard deviation) of each metric over a day; the
    # predicted impact's interval rests on it.
    noise: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PolicyParams:
    """Thresholds of the policy, recorded with every model version."""

    target_roas: float = 2.0
    # Largest relative budget change in one cycle, either way.
    max_budget_step: float = 0.20
    # Changes smaller than this are noise next to daily variation.
    min_budget_step: float = 0.05
    max_bid_step: float = 0.15
    min_bid_step: float = 0.05
    min_confidence: float = 50.0
    # "Ongoing spend": last-24h spend at least this share of the daily budget.
    min_spend_share: float = 0.05
    # Scaling needs ROAS at least this multiple of target on both windows.
    scale_roas_ratio: float = 1.25
    # ROAS this far above target (relative) earns the full budget step.
    scale_full_headroom: float = 1.0
    # Last-24h spend / daily budget at or above which the budget is the constraint.
    budget_limited_utilisation: float = 0.9
    # Below this the campaign cannot spend its budget: reach is the constraint.
    under_delivery_utilisation: float = 0.7
    min_scale_conversions: int = 20
    # Conversions at which the volume factor of scaling evidence reaches 1 - 1/e.
    scale_conversion_scale: float = 30.0
    audience_factor: float = 1.2
    # Conversions grow less than budget because extra spend buys worse auctions.
    scale_elasticity: float = 0.7
    # With a response curve, a raise goes only as far as an extra dollar still returns
    # at least this much revenue (marginal ROAS), and never past max_budget_step.
    min_marginal_roas: float = 1.0
    # Broader audiences add impressions less than proportionally to their size.
    reach_elasticity: float = 0.5
    calibration_weight: float = 1.0
    neutral_calibration: float = 0.5
    horizon_hours: int = 24
    # The level of every predicted impact's interval, elasticity or curve alike: what the
    # prediction claims, so what its verdict is judged against.
    interval_level: float = validation.INTERVAL_LEVEL

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


# --- outputs -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    decision_type: str
    campaign_id: UUID
    action_taken: str
    action: dict[str, Any]
    context_data: dict[str, Any]
    rationale: str
    confidence: float  # 0-100
    impact_prediction: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision_type": self.decision_type,
            "campaign_id": str(self.campaign_id),
            "action_taken": self.action_taken,
            "action": dict(self.action),
            "context_data": dict(self.context_data),
            "rationale": self.rationale,
            "confidence": self.confidence,
            "impact_prediction": dict(self.impact_prediction),
        }


# --- learning ------------------------------------------------------------------------


def update_calibration(
    prior_correct: int, prior_total: int, alpha: float = 2.0, beta: float = 2.0
) -> float:
    """Posterior mean of the policy's accuracy under a Beta(alpha, beta) prior.

    (alpha + correct) / (alpha + beta + total): with no feedback this is the
    prior mean (0.5 for Beta(2, 2)), and the prior's weight of four pseudo-
    decisions keeps a couple of early outcomes from swinging it to 0 or 1.
    """
    if prior_total < 0 or not 0 <= prior_correct <= prior_total:
        raise ValueError(f"need 0 <= correct <= total, got {prior_correct}/{prior_total}")
    if alpha <= 0 or beta <= 0:
        raise ValueError("alpha and beta must be positive")
    return (alpha + prior_correct) / (alpha + beta + prior_total)


DEFAULT_CALIBRATION = update_calibration(0, 0)


def evaluate(
    prediction: Mapping[str, Any],
    actual: Mapping[str, Any],
    abs_tolerance: float = 0.05,
    rel_tolerance: float = 0.5,
) -> tuple[str, float]:
    """Judge a predicted relative change against the measured one.

    Returns ``(status, error)`` with ``error = |actual - expected|``. A prediction with
    an ``interval`` is ``"validated"`` when the change went the predicted way and lies
    inside the interval. Without one, the error must be within
    ``max(abs_tolerance, rel_tolerance * |expected|)``: half the predicted size, but never
    tighter than five points, since hourly ad metrics rarely move more precisely than
    that. A predicted change of zero is validated when the actual change stays within
    ``abs_tolerance`` (or the interval).
    """
    if prediction.get("metric") != actual.get("metric"):
        raise ValueError(
            f"prediction is about {prediction.get('metric')!r}, "
            f"actual about {actual.get('metric')!r}"
        )
    expected = float(prediction["expected_change"])
    observed = float(actual["actual_change"])
    if not (math.isfinite(expected) and math.isfinite(observed)):
        raise ValueError("changes must be finite numbers")
    error = abs(observed - expected)
    interval = prediction.get("interval")
    if isinstance(interval, Mapping) and "low" in interval and "high" in interval:
        low, high = float(interval["low"]), float(interval["high"])
        direction_ok = expected == 0 or observed * expected > 0
        within = low <= observed <= high
        return (VALIDATED if direction_ok and within else INCORRECT), round(error, 6)
    if expected == 0:
        direction_ok = abs(observed) <= abs_tolerance
    else:
        direction_ok = observed * expected > 0
    within = error <= max(abs_tolerance, rel_tolerance * abs(expected))
    return (VALIDATED if direction_ok and within else INCORRECT), round(error, 6)


def calibrated_confidence(
    evidence: float, calibration: float, params: PolicyParams | None = None, slope: float = 1.0
) -> float:
    """Confidence 0-100 (two decimals) from rule evidence and the policy's track record.

    ``slope`` scales the evidence's log-odds: a type whose track record shows that its
    evidence predicts the verdict only weakly gets a slope under 1 (see
    services/decision/calibration.fit_recalibration)."""
    p = params or PolicyParams()
    e = _clamp(evidence, 1e-3, 1 - 1e-3)
    c = _clamp(calibration, 1e-3, 1 - 1e-3)
    shift = p.calibration_weight * (_logit(c) - _logit(p.neutral_calibration))
    return round(100.0 * _sigmoid(slope * _logit(e) + shift), 2)


# --- the policy --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a rule wants to do, before confidence is attached."""

    rule: str
    priority: int
    decision_type: str
    action_taken: str
    action: dict[str, Any]
    evidence: float
    rationale: str
    impact: dict[str, Any]
    triggers: tuple[AlertView, ...] = field(default_factory=tuple)


def decide(
    views: Sequence[CampaignView],
    params: PolicyParams | None = None,
    calibration: float | Mapping[str, float] = DEFAULT_CALIBRATION,
    slopes: Mapping[str, float] | None = None,
    fits: Mapping[str, calibration_fits.Fit] | None = None,
) -> list[Decision]:
    """At most one decision per campaign; most urgent first, then most confident.

    ``calibration`` is one track record for every decision type, or one per type (a type
    missing from the mapping has none yet: the neutral calibration); ``slopes`` per type
    scale the evidence (1 when missing). A type in ``fits`` takes its confidence from its
    fitted calibrator instead (services/decision/calibration.fit_type).
    Ties are broken by campaign id so the same input always yields the same list.
    """
    p = params or PolicyParams()
    by_type: dict[str, float] = (
        dict(calibration)
        if isinstance(calibration, Mapping)
        else dict.fromkeys(DECISION_TYPES, calibration)
    )
    for value in by_type.values():
        if not 0.0 <= value <= 1.0 or math.isnan(value):
            raise ValueError(f"calibration must lie in [0, 1], got {value}")
    seen: set[UUID] = set()
    for view in views:
        if view.campaign_id in seen:
            raise ValueError(f"campaign {view.campaign_id} appears twice")
        seen.add(view.campaign_id)

    ranked: list[tuple[int, float, str, Decision]] = []
    for view in views:
        if view.paused:
            continue
        plan = _first_plan(view, p)
        if plan is None:
            continue
        fit = (fits or {}).get(plan.decision_type)
        if fit is None:
            type_calibration = by_type.get(plan.decision_type, p.neutral_calibration)
            slope = (slopes or {}).get(plan.decision_type, 1.0)
            confidence = calibrated_confidence(plan.evidence, type_calibration, p, slope)
        elif fit.kind == Calibrator.ISOTONIC or fit.offset(plan.rule) != 0.0:
            type_calibration = fit.calibration
            evidence = _clamp(plan.evidence, 0.0, 1.0)
            confidence = round(100.0 * fit.probability(evidence, plan.rule), 2)
        else:
            type_calibration = fit.calibration
            confidence = calibrated_confidence(plan.evidence, fit.calibration, p, fit.slope)
        if confidence < p.min_confidence:
            continue
        decision = Decision(
            decision_type=plan.decision_type,
            campaign_id=view.campaign_id,
            action_taken=plan.action_taken,
            action=plan.action,
            context_data={
                **_context(view, plan, type_calibration, p),
                **({"calibrator": fit.kind} if fit is not None else {}),
            },
            rationale=_with_competition(plan.rationale, plan.action, view),
            confidence=confidence,
            impact_prediction=_with_noise(plan.impact, view, p),
        )
        ranked.append((plan.priority, -confidence, str(view.campaign_id), decision))
    ranked.sort(key=lambda item: item[:3])
    return [item[3] for item in ranked]


def _first_plan(view: CampaignView, p: PolicyParams) -> _Plan | None:
    rules: tuple[Callable[[CampaignView, PolicyParams], _Plan | None], ...] = (
        _tracking_rule,
        _overspend_rule,
        _cpc_rule,
        _decline_rule,
        _scale_rule,
    )
    for rule in rules:
        plan = rule(view, p)
        if plan is not None:
            return plan
    return None


# --- rules ------------------------------------------------------------------------------


def _tracking_rule(view: CampaignView, p: PolicyParams) -> _Plan | None:
    last = view.metrics.last_24h
    triggers = tuple(
        a
        for a in view.alerts
        if a.covers(_TRACKING_KINDS)
        or (a.covers(_CONVERSION_KINDS) and a.severity in _SEVERE_CONVERSION_DROP)
    )
    risk = _risk(view, "tracking_loss")
    risk_elevated = risk is not None and risk.risk_level in _ELEVATED
    if not triggers and not risk_elevated:
        return None
    if not _spending(view, p):
        return None

    critical = any(a.severity == "critical" for a in triggers)
    tracking_suspect = risk_elevated or any(a.covers(_TRACKING_KINDS) for a in triggers)
    case = _case(
        "Conversion tracking looks broken" if tracking_suspect else "Conversions collapsed",
        triggers,
        risk,
        f"CVR over the last 24h is {_fmt('cvr', last.cvr)} against "
        f"{_fmt('cvr', view.metrics.prior_7d.cvr)} over the prior 7 days",
        _spend_phrase(view),
    )
    if critical and risk_elevated:
        rationale = (
            f"{case.situation}. Pausing stops spend whose results cannot be measured; "
            "resume once conversions are recorded again."
        )
        return _Plan(
            rule="tracking",
            priority=0,
            decision_type=DecisionType.CAMPAIGN_PAUSE,
            action_taken="pause_campaign",
            action={"kind": "status", "from": "active", "to": "paused"},
            evidence=case.evidence,
            rationale=rationale,
            impact=_impact("spend", -1.0, p),
            triggers=triggers,
        )
    strong = tracking_suspect or any(
        severity_rank(a.severity) >= Severity.HIGH.rank for a in triggers
    )
    step = p.max_budget_step if strong else max(p.min_budget_step, p.max_budget_step / 2)
    return _budget_down(view, step, p, case, rule="tracking", priority=0)


def _overspend_rule(view: CampaignView, p: PolicyParams) -> _Plan | None:
    last = view.metrics.last_24h
    roas = last.roas
    below_target = roas is None or roas < p.target_roas
    triggers = tuple(
        a
        for a in view.alerts
        if AlertKind.BUDGET_EXCEEDED in a.kinds
        # A pacing alert's own figures are spend to date against the day's allowance.
        or (
            AlertKind.BUDGET_PACING in a.kinds
            and (a.kind != AlertKind.BUDGET_PACING or _above_baseline(a))
        )
        or (AlertKind.SPEND_UP in a.kinds and below_target)
    )
    risk = _risk(view, "budget_overspend")
    risk_elevated = risk is not None and risk.risk_level in _ELEVATED
    if not triggers and not risk_elevated:
        return None
    if view.daily_budget <= 0:
        return None

    utilisation = last.spend / view.daily_budget
    # Overshooting by u means the platform delivers u x budget; a budget of
    # budget / u brings delivery back to the intended amount.
    cut = 1.0 - 1.0 / utilisation if utilisation > 1.0 else p.max_budget_step / 2
    cut = _clamp(cut, p.min_budget_step, p.max_budget_step)
    case = _case(
        "Spend is running over plan",
        triggers,
        risk,
        f"spent {last.spend:.2f} in the last 24h, {utilisation:.0%} of the "
        f"{view.daily_budget:.2f} daily budget, at ROAS {_fmt('roas', roas)} "
        f"against a {_fmt('roas', p.target_roas)} target",
    )
    return _budget_down(view, cut, p, case, rule="overspend", priority=1)


def _cpc_rule(view: CampaignView, p: PolicyParams) -> _Plan | None:
    alerts = [a for a in view.alerts if AlertKind.CPC_UP in a.kinds]
    if not alerts:
        return None
    last = view.metrics.last_24h
    # Dearer clicks that still return well above target are worth buying.
    if last.roas is not None and last.roas >= p.target_roas * p.scale_roas_ratio:
        return None
    worst = max(alerts, key=lambda a: (severity_rank(a.severity), _rise(a)))
    # An incident's figures are its primary's: CPC's only when CPC is the cause.
    baseline = worst.baseline if worst.metric == "cpc" else None
    if (
        worst.metric == "cpc"
        and worst.observed
        and baseline
        and worst.observed > 0
        and baseline > 0
    ):
        # Bidding down by the CPC inflation aims back at the baseline price.
        target = baseline / worst.observed
    else:
        target = 1.0 - p.max_bid_step
    multiplier = round(_clamp(target, 1.0 - p.max_bid_step, 1.0 - p.min_bid_step), 4)
    case = _case(
        "Clicks are getting dearer",
        tuple(alerts),
        None,
        f"ROAS over the last 24h is {_fmt('roas', last.roas)} against a "
        f"{_fmt('roas', p.target_roas)} target",
    )
    goal = (
        f"steers CPC back towards {_fmt('cpc', baseline)}"
        if baseline is not None
        else "stops paying ever more for the same clicks"
    )
    rationale = (
        f"{case.situation}. Lowering bids by {1 - multiplier:.0%} (x{multiplier:.2f}) {goal}."
    )
    return _Plan(
        rule="cpc",
        priority=2,
        decision_type=DecisionType.KEYWORD_BID,
        action_taken="lower_bid",
        action={"kind": "bid", "multiplier": multiplier},
        evidence=case.evidence,
        rationale=rationale,
        # In second-price style auctions CPC moves at most one for one with the bid.
        impact=_impact("cpc", multiplier - 1.0, p),
        triggers=tuple(alerts),
    )


def _decline_rule(view: CampaignView, p: PolicyParams) -> _Plan | None:
    last = view.metrics.last_24h
    roas = last.roas
    if roas is None or roas >= p.target_roas:
        # Still profitable: a falling trend alone is no reason to cut.
        return None
    if not _spending(view, p):
        # Next to nothing is at stake, and cutting further would starve the data.
        return None
    triggers = tuple(a for a in view.alerts if a.covers(_DECLINE_KINDS))
    risk = _risk(view, "performance_decline")
    risk_elevated = risk is not None and risk.risk_level in _ELEVATED
    if not triggers and not risk_elevated:
        return None
    shortfall = (p.target_roas - roas) / p.target_roas
    cut = _clamp(shortfall, p.min_budget_step, p.max_budget_step)
    if view.curves is not None:
        # The cut that brings the curve's average ROAS (at the last day's level) back to
        # target, as far as the step allows: a flat curve needs a deep cut, a steep one
        # a shallow cut.
        curve = view.curves.revenue
        lvl = budget_curves.recent_level(curve, last.spend, last.revenue)
        if lvl > 0:
            floor = last.spend * (1.0 - p.max_budget_step)
            enough = budget_curves.spend_for_average(curve, p.target_roas / lvl, floor, last.spend)
            cut = _clamp(1.0 - enough / last.spend, p.min_budget_step, p.max_budget_step)
    case = _case(
        "Performance is declining",
        triggers,
        risk,
        f"ROAS over the last 24h is {_fmt('roas', roas)}, {shortfall:.0%} under the "
        f"{_fmt('roas', p.target_roas)} target (prior 7 days: "
        f"{_fmt('roas', view.metrics.prior_7d.roas)})",
    )
    return _budget_down(view, cut, p, case, rule="decline", priority=3)


def _scale_rule(view: CampaignView, p: PolicyParams) -> _Plan | None:
    if view.alerts or any(r.risk_level != "low" for r in view.risks):
        return None
    if view.daily_budget <= 0:
        return None
    last, prior = view.metrics.last_24h, view.metrics.prior_7d
    if last.roas is None or prior.roas is None:
        return None
    # The weaker window decides, so one lucky day cannot trigger a scale-up.
    roas = min(last.roas, prior.roas)
    if roas < p.target_roas * p.scale_roas_ratio:
        return None
    conversions = last.conversions + prior.conversions
    if conversions < p.min_scale_conversions:
        return None

    excess = roas / p.target_roas - 1.0
    margin = min(1.0, excess / p.scale_full_headroom)
    volume = 1.0 - math.exp(-conversions / p.scale_conversion_scale)
    evidence = 0.95 * volume * (0.5 + 0.5 * margin)
    utilisation = last.spend / view.daily_budget
    situation = (
        f"Room to grow: ROAS is {_fmt('roas', last.roas)} over the last 24h and "
        f"{_fmt('roas', prior.roas)} over the prior 7 days against a "
        f"{_fmt('roas', p.target_roas)} target, on {conversions} conversions, "
        f"with no open alerts; spent {last.spend:.2f} of the "
        f"{view.daily_budget:.2f} daily budget ({utilisation:.0%})"
    )

    if utilisation >= p.budget_limited_utilisation:
        if view.curves is not None:
            return _curve_raise(view, view.curves, p, situation, evidence)
        step = _clamp(p.max_budget_step * margin, p.min_budget_step, p.max_budget_step)
        new_budget = round(view.daily_budget * (1.0 + step), 2)
        rationale = (
            f"{situation}. The budget is the constraint, so raising it {step:.0%} from "
            f"{view.daily_budget:.2f} to {new_budget:.2f} buys more conversions at a "
            "profitable return."
        )
        return _Plan(
            rule="scale",
            priority=4,
            decision_type=DecisionType.BUDGET_ADJUSTMENT,
            action_taken="raise_budget",
            action={"kind": "budget", "from": round(view.daily_budget, 2), "to": new_budget},
            evidence=evidence,
            rationale=rationale,
            impact=_impact("conversions", step * p.scale_elasticity, p),
        )
    if utilisation < p.under_delivery_utilisation:
        factor = p.audience_factor
        rationale = (
            f"{situation}. The campaign cannot spend what it has, so a larger budget "
            f"would change nothing; widening the audience x{factor:.2f} gives it more "
            "profitable reach."
        )
        return _Plan(
            rule="scale",
            priority=4,
            decision_type=DecisionType.AUDIENCE_EXPANSION,
            action_taken="expand_audience",
            action={"kind": "audience", "factor": factor},
            evidence=evidence,
            rationale=rationale,
            impact=_impact("impressions", (factor - 1.0) * p.reach_elasticity, p),
        )
    return None


def _curve_raise(
    view: CampaignView,
    curves: budget_curves.Curves,
    p: PolicyParams,
    situation: str,
    evidence: float,
) -> _Plan | None:
    """Raise the budget as far as the response curve says extra spend still pays: up to
    the spend where the marginal ROAS (at the last day's level) falls to
    ``min_marginal_roas``, at most ``max_budget_step``; no raise if that is under
    ``min_budget_step``."""
    last = view.metrics.last_24h
    spend = last.spend
    lvl = budget_curves.recent_level(curves.revenue, spend, last.revenue)
    if lvl <= 0:
        return None
    limit = budget_curves.spend_for_marginal(curves.revenue, p.min_marginal_roas / lvl)
    step = min(p.max_budget_step, limit / spend - 1.0)
    if step < p.min_budget_step:
        return None
    budget = round(view.daily_budget, 2)
    new_budget = round(view.daily_budget * (1.0 + step), 2)
    impact = budget_curves.impact(
        "conversions",
        curves.conversions,
        curves.revenue,
        spend,
        spend * (1.0 + step),
        lvl,
        horizon_hours=p.horizon_hours,
        level=p.interval_level,
    )
    bound = (
        "the largest step allowed"
        if step >= p.max_budget_step
        else f"where an extra dollar would return {p.min_marginal_roas:.2f}x"
    )
    rationale = (
        f"{situation}. The budget is the constraint, so raising it {step:.0%} from "
        f"{budget:.2f} to {new_budget:.2f} ({bound}): "
        f"{budget_curves.marginal_phrase(impact, curves.conversions)}."
    )
    return _Plan(
        rule="scale",
        priority=4,
        decision_type=DecisionType.BUDGET_ADJUSTMENT,
        action_taken="raise_budget",
        action={"kind": "budget", "from": budget, "to": new_budget},
        evidence=evidence,
        rationale=rationale,
        impact=impact,
    )


# How each rule's budget cut finishes its rationale.
PURPOSES = {
    "tracking": "limits spend that cannot be measured until conversion tracking recovers",
    "overspend": "brings delivery back within the intended budget",
    "decline": "shifts spend away from returns below target",
}


def _budget_down(
    view: CampaignView, cut: float, p: PolicyParams, case: _Case, *, rule: str, priority: int
) -> _Plan:
    """A budget cut of ``cut`` (or, where a cut would not bind, lower bids); ``rule``'s
    purpose finishes the rationale."""
    situation, purpose = case.situation, PURPOSES[rule]
    budget = round(view.daily_budget, 2)
    new_budget = round(budget * (1.0 - cut), 2)
    spend = view.metrics.last_24h.spend
    if spend > new_budget and view.curves is not None and rule != "tracking":
        # Revenue on a curve fitted while tracking worked says nothing while it is broken.
        curve = view.curves.revenue
        impact = budget_curves.impact(
            "revenue",
            curve,
            curve,
            spend,
            new_budget,
            budget_curves.recent_level(curve, spend, view.metrics.last_24h.revenue),
            horizon_hours=p.horizon_hours,
            level=p.interval_level,
        )
        rationale = (
            f"{situation}. Cutting the daily budget {cut:.0%} from {budget:.2f} to "
            f"{new_budget:.2f} {purpose}; {budget_curves.marginal_phrase(impact, curve)}."
        )
        return _Plan(
            rule=rule,
            priority=priority,
            decision_type=DecisionType.BUDGET_ADJUSTMENT,
            action_taken="decrease_budget",
            action={"kind": "budget", "from": budget, "to": new_budget},
            evidence=case.evidence,
            rationale=rationale,
            impact=impact,
            triggers=case.triggers,
        )
    if spend > new_budget:
        rationale = (
            f"{situation}. Cutting the daily budget {cut:.0%} from {budget:.2f} to "
            f"{new_budget:.2f} {purpose}."
        )
        return _Plan(
            rule=rule,
            priority=priority,
            decision_type=DecisionType.BUDGET_ADJUSTMENT,
            action_taken="decrease_budget",
            action={"kind": "budget", "from": budget, "to": new_budget},
            evidence=case.evidence,
            rationale=rationale,
            # Spend falls to the new cap, not by the full step, when it was under budget.
            impact=_impact("spend", new_budget / spend - 1.0, p),
            triggers=case.triggers,
        )
    step = _clamp(cut, p.min_bid_step, p.max_bid_step)
    multiplier = round(1.0 - step, 4)
    rationale = (
        f"{situation}. With {spend:.2f} spent against a {budget:.2f} budget a cut to "
        f"{new_budget:.2f} would not bind, so lowering bids by {step:.0%} "
        f"(x{multiplier:.2f}) instead {purpose}."
    )
    return _Plan(
        rule=rule,
        priority=priority,
        decision_type=DecisionType.KEYWORD_BID,
        action_taken="lower_bid",
        action={"kind": "bid", "multiplier": multiplier},
        evidence=case.evidence,
        rationale=rationale,
        impact=_impact("spend", multiplier - 1.0, p),
        triggers=case.triggers,
    )


# --- competitors ----------------------------------------------------------------------------

COMPETITOR_LABEL = "co-occurring, not shown to be causal"


def competitor_links(view: CampaignView) -> list[CompetitorLink]:
    """The competitor events linked to any of the campaign's open incidents, each once,
    highest score first."""
    seen: dict[tuple[str, str, str], CompetitorLink] = {}
    for alert in view.alerts:
        for link in alert.competitors:
            seen.setdefault((link.competitor, link.kind, link.started_on), link)
    return sorted(seen.values(), key=lambda k: (-k.score, k.competitor))


def raises_bids(action: Mapping[str, Any]) -> bool:
    multiplier = action.get("multiplier")
    return action.get("kind") == "bid" and isinstance(multiplier, int | float) and multiplier > 1


def competition_note(links: Sequence[CompetitorLink], action: Mapping[str, Any]) -> str:
    """What a rationale says of the competitor events linked to the campaign's incidents:
    each with its figures and that it is co-occurring, not shown to be causal; and, for a
    bid raise while a competitor turned aggressive, that it bids into that competitor's
    step jump. Empty without links."""
    if not links:
        return ""
    described = "; ".join(
        f"{k.competitor} {k.kind} from {k.started_on} (impression share {k.size:+.1f} "
        f"points, score {k.score:.2f}, confidence {k.confidence:.2f})"
        for k in links
    )
    noun = "event" if len(links) == 1 else "events"
    note = f"Linked competitor {noun}: {described}; {COMPETITOR_LABEL}."
    aggressive = [k for k in links if k.kind == "aggressive"]
    if aggressive and raises_bids(action):
        names = ", ".join(f"{k.competitor}'s" for k in aggressive)
        note += f" This is raising bids into {names} step jump."
    return note


def _with_competition(rationale: str, action: Mapping[str, Any], view: CampaignView) -> str:
    note = competition_note(competitor_links(view), action)
    return f"{rationale} {note}" if note else rationale


# --- internals ------------------------------------------------------------------------------


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _logit(x: float) -> float:
    return math.log(x / (1.0 - x))


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _noisy_or(probabilities: Iterable[float]) -> float:
    """P(at least one signal is right), treating the signals as independent."""
    remaining = 1.0
    for prob in probabilities:
        remaining *= 1.0 - _clamp(prob, 0.0, 1.0)
    return 1.0 - remaining


def _severity_evidence(alert: AlertView) -> float:
    try:
        return SEVERITY_EVIDENCE[Severity(alert.severity)]
    except ValueError:
        return SEVERITY_EVIDENCE[Severity.LOW]


def _risk(view: CampaignView, risk_type: str) -> RiskView | None:
    matching = [r for r in view.risks if r.risk_type == risk_type]
    return max(matching, key=lambda r: r.probability_score) if matching else None


def _risk_evidence(risk: RiskView | None) -> list[float]:
    return [] if risk is None else [risk.probability_score / 10.0]


def _spending(view: CampaignView, p: PolicyParams) -> bool:
    spend = view.metrics.last_24h.spend
    if view.daily_budget <= 0:
        return spend > 0
    return spend >= p.min_spend_share * view.daily_budget


def _above_baseline(alert: AlertView) -> bool:
    return (
        alert.observed is not None
        and alert.baseline is not None
        and alert.observed > alert.baseline
    )


def _rise(alert: AlertView) -> float:
    if alert.observed is None or not alert.baseline:
        return 0.0
    return alert.observed / alert.baseline


def _impact(
    metric: str, change: float, p: PolicyParams, noise: float | None = None
) -> dict[str, Any]:
    """The predicted impact with an ``interval_level`` interval for the effect that
    validation will measure; ``noise`` is the metric's day-to-day variability on the campaign (a
    default when unknown; :func:`decide` puts in the campaign's own)."""
    return {
        "metric": metric,
        "expected_change": round(change, 4),
        "interval": validation.prediction_interval(change, noise, level=p.interval_level),
        "horizon_hours": p.horizon_hours,
        "source": "elasticity",
    }


def _with_noise(impact: dict[str, Any], view: CampaignView, p: PolicyParams) -> dict[str, Any]:
    """The impact's interval widened or narrowed to the campaign's measured noise."""
    noise = view.noise.get(str(impact.get("metric")))
    if impact.get("source") != "elasticity" or noise is None:
        return impact
    return _impact(impact["metric"], impact["expected_change"], p, noise)


_PERCENT_METRICS = frozenset({"ctr", "cvr"})
_COUNT_METRICS = frozenset({"impressions", "clicks", "conversions"})


def _fmt(metric: str, value: float | None) -> str:
    """A metric value the way a person would read it in the rationale."""
    if value is None:
        return "n/a"
    if metric in _PERCENT_METRICS:
        return f"{value * 100:.2f}%"
    if metric == "roas":
        return f"{value:.2f}x"
    if metric in _COUNT_METRICS:
        return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
    return f"{value:.2f}"


def _describe_alert(alert: AlertView) -> str:
    """The incident's cause, its symptoms and the cause's figures."""
    symptoms = f", with {', '.join(alert.symptoms)}" if alert.symptoms else ""
    text = (
        f"{alert.kind} ({alert.severity}{symptoms}): "
        f"{alert.metric} at {_fmt(alert.metric, alert.observed)}"
    )
    if alert.baseline is not None:
        text += f" against a {_fmt(alert.metric, alert.baseline)} baseline"
        if alert.observed is not None and alert.baseline != 0:
            text += f" ({alert.observed / alert.baseline - 1:+.0%})"
    return text


def _describe_risk(risk: RiskView | None) -> str:
    if risk is None:
        return ""
    name = risk.risk_type.replace("_", "-")
    return f"{name} risk is {risk.risk_level} ({risk.probability_score:.1f}/10)"


def _spend_phrase(view: CampaignView) -> str:
    last = view.metrics.last_24h
    per_hour = last.spend_per_hour or 0.0
    return (
        f"spend held at {per_hour:.2f}/h ({last.spend:.2f} in 24h on a "
        f"{view.daily_budget:.2f} daily budget)"
    )


@dataclass(frozen=True, slots=True)
class _Case:
    """What a rule sees, in words, the alerts behind it, and how strongly they and the
    risk argue that it is real."""

    situation: str
    evidence: float
    triggers: tuple[AlertView, ...]


def _case(
    headline: str, triggers: Sequence[AlertView], risk: RiskView | None, *details: str
) -> _Case:
    evidence = _noisy_or([_severity_evidence(a) for a in triggers] + _risk_evidence(risk))
    parts = [*(_describe_alert(a) for a in triggers), *details, _describe_risk(risk)]
    return _Case(_join(headline, parts), evidence, tuple(triggers))


def _join(lead: str, parts: Iterable[str]) -> str:
    return f"{lead}: " + "; ".join(part for part in parts if part)


def _context(
    view: CampaignView, plan: _Plan, calibration: float, p: PolicyParams
) -> dict[str, Any]:
    last = view.metrics.last_24h
    return {
        "rule": plan.rule,
        "campaign_id": str(view.campaign_id),
        "daily_budget": round(view.daily_budget, 2),
        "utilisation": (
            round(last.spend / view.daily_budget, 4) if view.daily_budget > 0 else None
        ),
        "metrics": view.metrics.as_dict(),
        "trigger_alert_ids": [str(a.alert_id) for a in plan.triggers],
        "alerts": [a.as_dict() for a in view.alerts],
        "risks": [r.as_dict() for r in view.risks],
        "evidence": round(plan.evidence, 4),
        "calibration": round(calibration, 4),
        "target_roas": p.target_roas,
        "model": {"name": MODEL_NAME, "version": MODEL_VERSION},
    }
