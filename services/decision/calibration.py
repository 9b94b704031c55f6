"""How good the decision policy has been, and how sure it should be next time.

Pure functions over plain data. A validated decision becomes an :class:`Outcome`: the
confidence it was made with, whether it proved right, its weight (1 for the platform's
own check, an operator's ``learning_weight`` for a correction), whether it was carried
out, and its measured effect in money.

Scores of a group of outcomes (:func:`score`):

- ``accuracy`` - weighted share proved right, in percent.
- ``brier`` - mean squared gap between confidence (as a probability) and the 0/1 result
  (Brier 1950); 0 is perfect, 0.25 is what a constant 50% earns.
- ``ece`` - expected calibration error over equal-width confidence bins (Naeini et al.
  2015; Guo et al. 2017): ``sum_b (n_b / n) * |acc(b) - conf(b)|``, with ``acc`` and
  ``conf`` the bin's observed share right and mean confidence; weights count as ``n``.
- ``roi_impact`` - summed measured profit effect (revenue effect minus spend effect,
  against the counterfactual) of the decisions that were carried out.
- ``decision_quality`` - the Brier skill score against always saying 50%, in percent:
  ``100 * (1 - brier / 0.25)``. It is 100 for a policy that is right and sure, 0 for
  one that knows nothing, and negative for one sure of the wrong things; unlike
  accuracy it rewards knowing which decisions to doubt.

Confidence that learns (:func:`fit_calibration`): the policy turns a rule's evidence
``e`` into confidence ``sigmoid(logit(e) + logit(c))`` (see ``policy.calibrated_confidence``).
``c`` per decision type is fitted so that confidence matches the type's track record:
the offset ``b = logit(c)`` solves ``sum w_i (y_i - sigmoid(z_i + b)) = 0`` over the
type's judged decisions (``z_i = logit(e_i)``), a Platt recalibration with its slope
held at 1, with Beta(alpha, beta) pseudo-outcomes at ``z = 0`` so that no history
gives ``c = alpha / (alpha + beta)`` (0.5: confidence is the evidence) and a couple of
outcomes cannot swing it far.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Literal

import numpy as np
from scipy.optimize import isotonic_regression

from shared.contracts.enums import Calibrator

Trend = Literal["improving", "declining", "stable"]

# Metrics where a smaller value is the better one.
LOWER_IS_BETTER = frozenset({"brier", "ece"})
# Changes smaller than this (in the metric's own units) are "stable".
TREND_TOLERANCE: dict[str, float] = {
    "accuracy": 2.0,
    "decision_quality": 2.0,
    "brier": 0.01,
    "ece": 0.01,
    "roi_impact": 1.0,
}
DEFAULT_BINS = 10


@dataclass(frozen=True, slots=True)
class Outcome:
    """One judged decision (or one person's verdict on it)."""

    confidence: float  # probability 0-1 the decision was made with
    correct: bool
    weight: float = 1.0
    applied: bool = True
    profit_effect: float | None = None


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    low: float
    high: float
    count: float  # summed weights
    mean_confidence: float | None
    accuracy: float | None

    def as_json(self) -> dict[str, float | None]:
        return {
            "low": round(self.low, 4),
            "high": round(self.high, 4),
            "count": round(self.count, 4),
            "mean_confidence": _round(self.mean_confidence),
            "accuracy": _round(self.accuracy),
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _checked(outcomes: Sequence[Outcome]) -> None:
    for o in outcomes:
        if not 0.0 <= o.confidence <= 1.0 or math.isnan(o.confidence):
            raise ValueError(f"confidence must lie in [0, 1], got {o.confidence}")
        if o.weight < 0 or math.isnan(o.weight):
            raise ValueError(f"weight must be non-negative, got {o.weight}")


def _total(outcomes: Sequence[Outcome]) -> float:
    return sum(o.weight for o in outcomes)


def accuracy(outcomes: Sequence[Outcome]) -> float | None:
    """Weighted share right (0-1); None without any weight."""
    _checked(outcomes)
    total = _total(outcomes)
    if total <= 0:
        return None
    return sum(o.weight for o in outcomes if o.correct) / total


def brier(outcomes: Sequence[Outcome]) -> float | None:
    """Weighted mean of ``(confidence - correct)^2``; None without any weight."""
    _checked(outcomes)
    total = _total(outcomes)
    if total <= 0:
        return None
    return sum(o.weight * (o.confidence - float(o.correct)) ** 2 for o in outcomes) / total


def reliability(outcomes: Sequence[Outcome], bins: int = DEFAULT_BINS) -> list[ReliabilityBin]:
    """Equal-width confidence bins ``(k/bins, (k+1)/bins]`` (the first also takes 0):
    each with its weight, mean confidence and observed share right."""
    if bins < 1:
        raise ValueError("need at least one bin")
    _checked(outcomes)
    weight = [0.0] * bins
    conf = [0.0] * bins
    right = [0.0] * bins
    for o in outcomes:
        # Right-closed bins as in Guo et al.'s definition; 0 joins the first bin.
        k = max(0, math.ceil(o.confidence * bins) - 1)
        weight[k] += o.weight
        conf[k] += o.weight * o.confidence
        right[k] += o.weight * float(o.correct)
    return [
        ReliabilityBin(
            low=k / bins,
            high=(k + 1) / bins,
            count=weight[k],
            mean_confidence=conf[k] / weight[k] if weight[k] > 0 else None,
            accuracy=right[k] / weight[k] if weight[k] > 0 else None,
        )
        for k in range(bins)
    ]


def ece(outcomes: Sequence[Outcome], bins: int = DEFAULT_BINS) -> float | None:
    """Expected calibration error over ``bins`` equal-width bins; None without weight."""
    table = reliability(outcomes, bins)
    total = sum(b.count for b in table)
    if total <= 0:
        return None
    return sum(
        b.count / total * abs(b.accuracy - b.mean_confidence)
        for b in table
        if b.count > 0 and b.accuracy is not None and b.mean_confidence is not None
    )


def roi_impact(outcomes: Iterable[Outcome]) -> float:
    """Summed profit effect of the outcomes that were carried out (people's verdicts
    carry no measurement and add nothing)."""
    return sum(o.profit_effect for o in outcomes if o.applied and o.profit_effect is not None)


def decision_quality(outcomes: Sequence[Outcome]) -> float | None:
    """Brier skill score against a constant 50%, in percent."""
    b = brier(outcomes)
    return None if b is None else 100.0 * (1.0 - b / 0.25)


def score(outcomes: Sequence[Outcome], bins: int = DEFAULT_BINS) -> dict[str, float | None]:
    """Every score of one group, keyed by the ``metric_type`` it is stored under."""
    acc = accuracy(outcomes)
    return {
        "accuracy": None if acc is None else 100.0 * acc,
        "brier": brier(outcomes),
        "ece": ece(outcomes, bins),
        "roi_impact": roi_impact(outcomes),
        "decision_quality": decision_quality(outcomes),
    }


def trend(metric: str, current: float | None, previous: float | None) -> Trend | None:
    """Whether ``metric`` got better since the previous period; None with nothing to
    compare. Within the metric's tolerance it is stable."""
    if current is None or previous is None:
        return None
    tolerance = TREND_TOLERANCE.get(metric, 0.0)
    delta = current - previous
    if abs(delta) <= tolerance:
        return "stable"
    better = delta < 0 if metric in LOWER_IS_BETTER else delta > 0
    return "improving" if better else "declining"


# --- confidence that learns ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Judged:
    """A judged decision as the confidence fit needs it: the rule's evidence (0-1),
    the verdict, its weight and the rule that made it (``""`` when unknown)."""

    evidence: float
    correct: bool
    weight: float = 1.0
    rule: str = ""


_EPS = 1e-3


def _logit(x: float) -> float:
    x = min(max(x, _EPS), 1.0 - _EPS)
    return math.log(x / (1.0 - x))


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def fit_calibration(
    history: Iterable[Judged], alpha: float = 2.0, beta: float = 2.0, slope: float = 1.0
) -> float:
    """The calibration ``c`` (0-1) that makes confidence match this track record.

    Solves ``alpha - (alpha + beta) * sigmoid(b) + sum w_i (y_i - sigmoid(s * z_i + b)) =
    0`` for the offset ``b`` by bisection (the left side falls strictly in ``b``) and
    returns ``sigmoid(b)``; ``s`` is the fixed ``slope``. With no history that is ``alpha /
    (alpha + beta)``; when every evidence is 0.5 it is the Beta posterior mean ``(alpha +
    right) / (alpha + beta + n)``.
    """
    if alpha <= 0 or beta <= 0:
        raise ValueError("alpha and beta must be positive")
    points = [
        (slope * _logit(h.evidence), float(h.correct), h.weight) for h in history if h.weight > 0
    ]

    def gap(b: float) -> float:
        value = alpha - (alpha + beta) * _sigmoid(b)
        for z, y, w in points:
            value += w * (y - _sigmoid(z + b))
        return value

    low, high = -20.0, 20.0
    for _ in range(100):
        mid = (low + high) / 2
        if gap(mid) > 0:
            low = mid
        else:
            high = mid
    return _sigmoid((low + high) / 2)


@dataclass(frozen=True, slots=True)
class Fit:
    """How a decision type's evidence becomes confidence.

    A ``prior`` or ``platt`` fit gives ``sigmoid(slope * logit(e) + logit(calibration))``;
    an ``isotonic`` one interpolates its ``knots`` (evidence, probability) linearly,
    constant past either end. ``outcomes`` is the weight of the verdicts it was fitted on.
    """

    calibration: float
    slope: float = 1.0
    kind: Calibrator = Calibrator.PLATT
    outcomes: float = 0.0
    knots: tuple[tuple[float, float], ...] = ()
    # Per rule of the type, a log-odds shift on top of the type's curve (see
    # :func:`fit_rule_offsets`); a rule not named here has none.
    offsets: tuple[tuple[str, float], ...] = ()

    def offset(self, rule: str | None) -> float:
        """The log-odds shift of ``rule``'s decisions (0 for a rule without one)."""
        return dict(self.offsets).get(rule or "", 0.0)

    def probability(self, evidence: float, rule: str | None = None) -> float:
        """The confidence (0-1) this fit gives ``evidence`` of a decision by ``rule``."""
        if not 0.0 <= evidence <= 1.0 or math.isnan(evidence):
            raise ValueError(f"evidence must lie in [0, 1], got {evidence}")
        shift = self.offset(rule)
        if self.kind == Calibrator.ISOTONIC:
            base = _interpolate(self.knots, evidence)
            return base if shift == 0.0 else _sigmoid(_logit(base) + shift)
        return _sigmoid(self.slope * _logit(evidence) + _logit(self.calibration) + shift)


# How strongly the slope is held at 1 (a Gaussian prior of this precision): evidence
# keeps its say until the track record shows it predicts the verdict less (or more).
SLOPE_PRECISION = 2.0
MAX_SLOPE = 3.0


def fit_recalibration(
    history: Iterable[Judged],
    alpha: float = 2.0,
    beta: float = 2.0,
    slope_precision: float = SLOPE_PRECISION,
) -> Fit:
    """Platt recalibration of the evidence on the type's track record.

    Confidence is ``sigmoid(a * (z - z_bar) + b)`` with ``z = logit(evidence)`` and
    ``z_bar`` the history's mean: ``b`` is the log-odds of being right at the type's
    typical evidence, ``a`` how much more (or less) likely stronger evidence is to prove
    right. Both maximise the weighted log-likelihood of the verdicts, with Beta(alpha,
    beta) pseudo-outcomes at ``z_bar`` on ``b`` (a few outcomes cannot swing it far) and a
    Normal(1, 1/slope_precision) prior on ``a`` (evidence keeps its say until the record
    shows otherwise); Newton's method on a concave objective. Centring keeps the two
    apart: evidence of one type usually spans a narrow range, and an uncentred offset
    would be an extrapolation to evidence 0.5 that the slope's prior then distorts.

    Returned as the policy uses it, ``slope = a`` and ``calibration = sigmoid(b - a *
    z_bar)``. With no history that is slope 1 and calibration 0.5: confidence is the
    evidence itself. When evidence says nothing about which decisions prove right, ``a``
    falls towards 0 and every decision of the type gets about its accuracy.
    """
    if alpha <= 0 or beta <= 0 or slope_precision <= 0:
        raise ValueError("alpha, beta and slope_precision must be positive")
    points = [(_logit(h.evidence), float(h.correct), h.weight) for h in history if h.weight > 0]
    total = sum(w for _, _, w in points)
    if total <= 0:
        return Fit(0.5, 1.0, Calibrator.PLATT, 0.0)
    z_bar = sum(z * w for z, _, w in points) / total
    centred = [(z - z_bar, y, w) for z, y, w in points]
    a, b = 1.0, 0.0
    for _ in range(50):
        s = _sigmoid(b)
        g_a = -slope_precision * (a - 1.0)
        g_b = alpha - (alpha + beta) * s
        h_aa = -slope_precision
        h_ab = 0.0
        h_bb = -(alpha + beta) * s * (1.0 - s)
        for z, y, w in centred:
            p = _sigmoid(a * z + b)
            r = w * (y - p)
            v = w * p * (1.0 - p)
            g_a += r * z
            g_b += r
            h_aa -= v * z * z
            h_ab -= v * z
            h_bb -= v
        det = h_aa * h_bb - h_ab * h_ab
        if det <= 0:
            break
        step_a = (h_bb * g_a - h_ab * g_b) / det
        step_b = (h_aa * g_b - h_ab * g_a) / det
        a_new = min(MAX_SLOPE, max(0.0, a - step_a))
        b_new = max(-20.0, min(20.0, b - step_b))
        done = abs(a_new - a) < 1e-9 and abs(b_new - b) < 1e-9
        a, b = a_new, b_new
        if done:
            break
    return Fit(_sigmoid(b - a * z_bar), a, Calibrator.PLATT, total)


def _interpolate(knots: Sequence[tuple[float, float]], x: float) -> float:
    if not knots:
        raise ValueError("an isotonic fit needs at least one knot")
    if x <= knots[0][0]:
        return knots[0][1]
    for (x0, y0), (x1, y1) in pairwise(knots):
        if x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return knots[-1][1]


# Isotonic confidence stays this far from 0 and 1: a block of verdicts all right (or all
# wrong) says the type is very likely right there, not that it cannot be wrong.
ISOTONIC_FLOOR = 0.02


def fit_isotonic(history: Iterable[Judged], floor: float = ISOTONIC_FLOOR) -> Fit:
    """Isotonic regression of the verdict on the evidence (pool adjacent violators,
    Barlow et al. 1972; Zadrozny and Elkan 2002): the weighted least-squares
    non-decreasing step function, kept between ``floor`` and ``1 - floor``.

    Verdicts at the same evidence are pooled first (their weighted mean), and the fit is
    read between its blocks by linear interpolation through each block's first and last
    evidence, constant past the ends: what scikit-learn's ``IsotonicRegression(
    out_of_bounds="clip")`` predicts (with ``floor=0``)."""
    if not 0.0 <= floor < 0.5:
        raise ValueError(f"floor must lie in [0, 0.5), got {floor}")
    pooled: dict[float, list[float]] = {}
    for h in history:
        if not 0.0 <= h.evidence <= 1.0 or math.isnan(h.evidence):
            raise ValueError(f"evidence must lie in [0, 1], got {h.evidence}")
        if h.weight < 0 or math.isnan(h.weight):
            raise ValueError(f"weight must be non-negative, got {h.weight}")
        if h.weight > 0:
            cell = pooled.setdefault(h.evidence, [0.0, 0.0])
            cell[0] += h.weight * float(h.correct)
            cell[1] += h.weight
    if not pooled:
        raise ValueError("an isotonic fit needs at least one weighted verdict")
    xs = sorted(pooled)
    ys = np.array([pooled[x][0] / pooled[x][1] for x in xs])
    ws = np.array([pooled[x][1] for x in xs])
    result = isotonic_regression(ys, weights=ws, increasing=True)
    values = np.clip(result.x, floor, 1.0 - floor)
    knots: list[tuple[float, float]] = []
    for start, end in zip(result.blocks[:-1], result.blocks[1:], strict=True):
        value = float(values[start])
        knots.append((xs[start], value))
        if end - 1 > start:
            knots.append((xs[end - 1], value))
    total = float(ws.sum())
    mean = float(np.dot(ys, ws) / total)
    return Fit(mean, 0.0, Calibrator.ISOTONIC, total, tuple(knots))


# A type with less verdict weight than this keeps the prior; isotonic regression is
# tried from ISOTONIC_FROM on and kept only where it predicts held-out verdicts better
# than Platt's fit, over CV_FOLDS folds.
PRIOR_UNTIL = 20.0
ISOTONIC_FROM = 80.0
CV_FOLDS = 5
# Platt's and isotonic fits weigh a verdict by half for every HALF_LIFE verdicts of the
# type that came after it: how often a type proves right drifts (what gets carried out
# changes with confidence itself), and the recent record is the better guide.
HALF_LIFE = 50.0
# Until a type's record can fit a slope, the rule's evidence counts at this fraction of
# its log-odds: first decisions of a type are less sure than their evidence alone would
# make them.
PRIOR_SLOPE = 0.5


def prior_fit(history: Iterable[Judged] = ()) -> Fit:
    """The calibrator of a type with few verdicts: the evidence at ``PRIOR_SLOPE`` of its
    log-odds, shifted by the offset the verdicts so far earn (:func:`fit_calibration`,
    Beta(2, 2) pseudo-outcomes), so a few weighty corrections still move it. Without
    verdicts confidence is ``sigmoid(PRIOR_SLOPE * logit(evidence))``."""
    judged = [h for h in history if h.weight > 0]
    weight = sum(h.weight for h in judged)
    return Fit(fit_calibration(judged, slope=PRIOR_SLOPE), PRIOR_SLOPE, Calibrator.PRIOR, weight)


def log_loss(fit: Fit, history: Sequence[Judged], eps: float = 1e-3) -> float:
    """Weighted mean negative log-likelihood of ``history``'s verdicts under ``fit``."""
    total = sum(h.weight for h in history)
    if total <= 0:
        raise ValueError("log loss needs at least one weighted verdict")
    loss = 0.0
    for h in history:
        p = min(max(fit.probability(h.evidence), eps), 1.0 - eps)
        loss -= h.weight * math.log(p if h.correct else 1.0 - p)
    return loss / total


def cross_validated_loss(
    history: Sequence[Judged], fitter: Callable[[Sequence[Judged]], Fit], folds: int = CV_FOLDS
) -> float:
    """Mean held-out log loss of ``fitter`` over ``folds`` interleaved folds (verdict
    ``i`` is held out in fold ``i mod folds``, so each fold spans the whole record)."""
    if folds < 2:
        raise ValueError("cross-validation needs at least two folds")
    if len(history) < folds:
        raise ValueError(f"{len(history)} verdicts cannot fill {folds} folds")
    loss, weight = 0.0, 0.0
    for k in range(folds):
        train = [h for i, h in enumerate(history) if i % folds != k]
        test = [h for i, h in enumerate(history) if i % folds == k]
        test_weight = sum(h.weight for h in test)
        if test_weight <= 0:
            continue
        loss += log_loss(fitter(train), test) * test_weight
        weight += test_weight
    if weight <= 0:
        raise ValueError("no fold holds a weighted verdict")
    return loss / weight


def recency_weighted(history: Sequence[Judged], half_life: float = HALF_LIFE) -> list[Judged]:
    """``history`` (oldest first) with each verdict's weight times ``0.5 ** (age /
    half_life)``, ``age`` the number of verdicts after it: the newest keeps its weight,
    one ``half_life`` verdicts older counts half. An infinite ``half_life`` changes
    nothing. (The weighted share right is then the exponentially weighted mean of
    pandas' ``ewm(halflife=half_life)``.)"""
    if not half_life > 0:
        raise ValueError(f"half_life must be positive, got {half_life}")
    last = len(history) - 1
    return [
        Judged(h.evidence, h.correct, h.weight * 0.5 ** ((last - i) / half_life), h.rule)
        for i, h in enumerate(history)
    ]


# The Beta(RULE_PRIOR / 2, RULE_PRIOR / 2) pseudo-outcomes holding a rule's offset at 0:
# a rule needs a few times this many verdicts before its own record outweighs the type's.
RULE_PRIOR = 10.0


def fit_rule_offsets(
    fit: Fit, history: Sequence[Judged], strength: float = RULE_PRIOR, half_life: float = HALF_LIFE
) -> tuple[tuple[str, float], ...]:
    """Per rule, the log-odds shift that makes ``fit`` match the rule's own record.

    One decision type is made by several rules (a budget is raised when a campaign has
    room to grow, cut when it overspends or loses tracking) whose evidence overlaps while
    their track records differ: one curve in the evidence cannot tell them apart. Each
    rule's shift ``u`` solves ``strength / 2 - strength * sigmoid(u) + sum w_i (y_i -
    sigmoid(logit(p_i) + u)) = 0`` (:func:`fit_calibration` with slope 1 on ``p_i``, the
    type's probability for the verdict's evidence): a random-intercept (partial pooling)
    fit, with the rule's verdicts weighted by recency among its own (:func:`recency_weighted`)
    and Beta pseudo-outcomes shrinking the shift to 0, so a rule with a few verdicts keeps
    the type's curve."""
    if strength <= 0:
        raise ValueError(f"strength must be positive, got {strength}")
    by_rule: dict[str, list[Judged]] = {}
    for h in history:
        if h.weight > 0:
            by_rule.setdefault(h.rule, []).append(h)
    offsets = []
    for rule, judged in sorted(by_rule.items()):
        on_curve = [
            Judged(fit.probability(h.evidence), h.correct, h.weight)
            for h in recency_weighted(judged, half_life)
        ]
        c = fit_calibration(on_curve, alpha=strength / 2, beta=strength / 2)
        offsets.append((rule, _logit(c)))
    return tuple(offsets)


def fit_type(
    history: Sequence[Judged],
    prior_until: float = PRIOR_UNTIL,
    isotonic_from: float = ISOTONIC_FROM,
    folds: int = CV_FOLDS,
    half_life: float = HALF_LIFE,
) -> Fit:
    """The calibrator a decision type's track record (oldest verdict first) earns: the
    prior (:func:`prior_fit`) with less verdict weight than ``prior_until``; else Platt's
    fit (:func:`fit_recalibration`), or isotonic regression (:func:`fit_isotonic`) from
    ``isotonic_from`` on where its cross-validated log loss is lower than Platt's.

    Platt's and isotonic fits, and the cross-validation choosing between them, weigh the
    verdicts by recency (:func:`recency_weighted`); the thresholds and the fit's
    ``outcomes`` count the verdicts' own weight. Either then carries a shift per rule
    (:func:`fit_rule_offsets`)."""
    if prior_until < 0 or isotonic_from < prior_until:
        raise ValueError("need 0 <= prior_until <= isotonic_from")
    weight = sum(h.weight for h in history if h.weight > 0)
    if weight < prior_until or weight <= 0:
        return prior_fit(history)
    recent = recency_weighted(history, half_life)
    fit = fit_recalibration(recent)
    if (
        weight >= isotonic_from
        and len(history) >= folds
        and cross_validated_loss(recent, fit_isotonic, folds)
        < cross_validated_loss(recent, fit_recalibration, folds)
    ):
        fit = fit_isotonic(recent)
    offsets = fit_rule_offsets(fit, history, half_life=half_life)
    return replace(fit, outcomes=weight, offsets=offsets)
