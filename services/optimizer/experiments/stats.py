"""The statistics of A/B experiments: what the results of each variant say against the control.

Pure functions over plain data (numpy/scipy); no I/O. The experiments service passes the
aggregates it keeps per variant (:class:`VariantData`) to :func:`analyze` and stores the
:class:`Analysis` it gets back (``Analysis.as_json()``); it plans an experiment with
:func:`sample_size` and :func:`days_needed`. Bad input raises ``ValueError`` with a message
meant for the person who sent it (the route answers 422).

``variants[0]`` is the control; every other variant is compared with it.

Metrics:

- ``"rate"``: ``conversions`` out of ``users`` (one conversion per user at most).
- ``"mean"``: a per-user value, given by its ``sum`` and ``sum_squares`` over the users.

Frequentist (``sequential=False``): a two-proportion z-test for rates (pooled standard
error for the test, unpooled for the interval, as statsmodels' ``proportions_ztest`` and
``confint_proportions_2indep(method="wald")``), Welch's t-test for means. Intervals for
the absolute lift (variant - control) and for the relative lift ((variant - control) /
|control|, by the delta method).

Sequential (``sequential=True``, the default): the same estimates, but the intervals are
asymptotic confidence sequences (Waudby-Smith et al. 2023, the normal-mixture boundary
GrowthBook uses) and the p-values their anytime-valid counterparts, so the results may be
looked at after every update without raising the false-positive rate above ``alpha``.
The price is wider intervals: see :mod:`services.optimizer.experiments.sequential`, and plan with
``sample_size(..., sequential=True)``.

Bayesian (both modes): the chance that the variant beats the control and the risk (the
expected loss of shipping it). Rates use Beta(1, 1) priors and beta posteriors,
integrated numerically; means, and rates under CUPED, GrowthBook's normal approximation
(the log of the ratio of the means for the chance to win, the difference for the risk).

CUPED: when every variant carries pre-period aggregates of a covariate (usually the same
metric per user before the experiment: ``pre_sum``, ``pre_sum_squares`` and ``cross_sum``
= sum of metric x covariate per user), each variant's mean is adjusted by
``theta * (covariate mean - overall covariate mean)`` with one ``theta`` pooled across the
variants; the variance of a difference shrinks by about ``1 - rho**2``.

Several variants: p-values are Holm-adjusted across the comparisons with the control.
The sample-ratio-mismatch (SRM) check is a chi-square goodness of fit of the users against
the planned split; when it fails (p below ``srm_threshold``) no winner is called.
A winner is the variant with the largest lift among those significantly better than the
control at ``alpha`` after adjustment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

import numpy as np
import numpy.typing as npt
from scipy import stats

from services.optimizer.experiments import bayes as experiment_bayes
from services.optimizer.experiments import sequential as seq

Metric = Literal["rate", "mean"]
Correction = Literal["holm", "none"]
EffectKind = Literal["relative", "absolute"]
Test = Literal["z_pooled", "z", "welch"]
FloatArray = npt.NDArray[np.float64]

DEFAULT_ALPHA = 0.05
DEFAULT_SRM_THRESHOLD = 0.001
# The users of a control and one variant together at which a confidence sequence is
# tightest; GrowthBook's default. Pass the planned sample when there is one
# (``SampleSize.sequential_tuning``).
DEFAULT_SEQUENTIAL_TUNING = 5000

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_SEQUENTIAL_TUNING",
    "DEFAULT_SRM_THRESHOLD",
    "Analysis",
    "Comparison",
    "Correction",
    "EffectKind",
    "Metric",
    "Moments",
    "SampleSize",
    "Test",
    "VariantData",
    "VariantResult",
    "alpha_from_confidence",
    "analyze",
    "compare",
    "days_needed",
    "holm",
    "mean_moments",
    "rate_moments",
    "sample_size",
    "srm_p_value",
]


# --- input ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VariantData:
    """What is known about one variant's users.

    ``conversions`` for a rate metric; ``sum`` and ``sum_squares`` (of the per-user value)
    for a mean metric. The CUPED covariate, all three or none, over the same users:
    ``pre_sum`` (sum of the covariate), ``pre_sum_squares`` (sum of its squares) and
    ``cross_sum`` (sum of metric x covariate; for a rate metric the covariate summed over
    the converting users).
    """

    name: str
    users: int
    conversions: int | None = None
    sum: float | None = None
    sum_squares: float | None = None
    pre_sum: float | None = None
    pre_sum_squares: float | None = None
    cross_sum: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VariantData:
        """From the ``{"name": ..., "users": ..., ...}`` shape the results route takes;
        unknown keys are ignored, missing ones are ``None``."""
        if not isinstance(data, dict):
            raise ValueError("each variant must be an object")
        if "name" not in data or "users" not in data:
            raise ValueError("each variant needs a 'name' and 'users'")
        return cls(
            name=data["name"],
            users=data["users"],
            conversions=data.get("conversions"),
            sum=data.get("sum"),
            sum_squares=data.get("sum_squares"),
            pre_sum=data.get("pre_sum"),
            pre_sum_squares=data.get("pre_sum_squares"),
            cross_sum=data.get("cross_sum"),
        )

    @property
    def has_pre_period(self) -> bool:
        return any(v is not None for v in (self.pre_sum, self.pre_sum_squares, self.cross_sum))


# --- vectorised core ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Moments:
    """Per arm (arrays broadcast): ``n`` users, the ``mean`` per user and the per-user
    variance ``var``."""

    n: FloatArray
    mean: FloatArray
    var: FloatArray


def rate_moments(conversions: npt.ArrayLike, users: npt.ArrayLike) -> Moments:
    """A rate's moments; the variance is p(1 - p), as in the z-test."""
    n = np.asarray(users, dtype=np.float64)
    p = np.asarray(conversions, dtype=np.float64) / n
    return Moments(n, p, p * (1.0 - p))


def mean_moments(users: npt.ArrayLike, sums: npt.ArrayLike, sum_squares: npt.ArrayLike) -> Moments:
    """A mean's moments from its sums; the sample variance (n - 1 in the denominator)."""
    n = np.asarray(users, dtype=np.float64)
    s = np.asarray(sums, dtype=np.float64)
    ss = np.asarray(sum_squares, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(n > 1, (ss - s * s / n) / (n - 1.0), 0.0)
    # Sums of squares rounded by whoever summed them can dip a hair below s^2 / n.
    return Moments(n, s / n, np.maximum(var, 0.0))


@dataclass(frozen=True, slots=True)
class Comparison:
    """A variant against the control, element-wise. ``lift`` and its interval are NaN
    where the control's mean is 0."""

    absolute_lift: FloatArray
    absolute_se: FloatArray
    absolute_ci_low: FloatArray
    absolute_ci_high: FloatArray
    lift: FloatArray
    lift_se: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    p_value: FloatArray


def compare(
    control: Moments,
    variant: Moments,
    *,
    test: Test,
    alpha: float = DEFAULT_ALPHA,
    sequential: bool = False,
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> Comparison:
    """The frequentist comparison of ``variant`` with ``control``.

    ``test``: ``"z_pooled"`` (two-proportion z-test: pooled standard error for the
    p-value, unpooled for the interval), ``"z"`` (unpooled throughout) or ``"welch"``
    (Welch's t with Welch-Satterthwaite degrees of freedom, also for the relative
    interval, as GrowthBook does). ``sequential``: confidence sequences and
    anytime-valid p-values instead (normal, unpooled, whatever ``test`` says).
    """
    var_a = control.var / control.n
    var_b = variant.var / variant.n
    diff = variant.mean - control.mean
    se = np.sqrt(var_a + var_b)
    m_a = control.mean
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = np.abs(m_a)
        lift = np.where(denom > 0, diff / denom, np.nan)
        # Delta method for m_b / m_a - 1 with independent arms.
        lift_se = np.where(
            denom > 0, np.sqrt(var_b / m_a**2 + variant.mean**2 * var_a / m_a**4), np.nan
        )
    if sequential:
        n_total = control.n + variant.n
        factor = seq.width_factor(n_total, alpha, sequential_tuning)
        p = seq.p_value(diff, se, n_total, alpha, sequential_tuning)
        abs_half = factor * se
        rel_half = factor * lift_se
    else:
        if test == "welch":
            with np.errstate(divide="ignore", invalid="ignore"):
                dof_den = np.where(control.n > 1, var_a**2 / (control.n - 1.0), 0.0) + np.where(
                    variant.n > 1, var_b**2 / (variant.n - 1.0), 0.0
                )
                dof = np.where(dof_den > 0, (var_a + var_b) ** 2 / dof_den, np.inf)
            quantile = stats.t.ppf(1.0 - alpha / 2.0, dof)
            p = _two_sided(diff, se, lambda z: stats.t.sf(z, dof))
        else:
            quantile = stats.norm.ppf(1.0 - alpha / 2.0)
            if test == "z_pooled":
                pooled = (control.n * control.mean + variant.n * variant.mean) / (
                    control.n + variant.n
                )
                test_se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / control.n + 1.0 / variant.n))
            else:
                test_se = se
            p = _two_sided(diff, test_se, stats.norm.sf)
        abs_half = quantile * se
        rel_half = quantile * lift_se
    return Comparison(
        absolute_lift=np.asarray(diff),
        absolute_se=np.asarray(se),
        absolute_ci_low=np.asarray(diff - abs_half),
        absolute_ci_high=np.asarray(diff + abs_half),
        lift=np.asarray(lift),
        lift_se=np.asarray(lift_se),
        ci_low=np.asarray(lift - rel_half),
        ci_high=np.asarray(lift + rel_half),
        p_value=np.asarray(p),
    )


def _two_sided(diff: FloatArray, se: FloatArray, sf: Any) -> FloatArray:
    """2 * sf(|diff| / se); a zero standard error gives 1 for no difference, else 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, np.abs(diff) / se, np.where(diff == 0, 0.0, np.inf))
    return np.asarray(np.minimum(1.0, 2.0 * sf(z)))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (step-down; as statsmodels' ``multipletests(method="holm")``)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def srm_p_value(users: Sequence[int], planned_split: Sequence[float] | None = None) -> float:
    """Chi-square goodness of fit of the users per variant against the planned split."""
    observed = np.asarray(users, dtype=np.float64)
    weights = (
        np.ones(len(observed)) if planned_split is None else np.asarray(planned_split, np.float64)
    )
    expected = observed.sum() * weights / weights.sum()
    return float(stats.chisquare(observed, expected).pvalue)


# --- results ------------------------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True, slots=True)
class VariantResult:
    """One variant against the control (for the control itself only ``name``, ``users``
    and ``mean`` are set; the comparisons are ``None``).

    - ``mean``: the variant's conversion rate or mean (CUPED-adjusted when CUPED applies);
    - ``lift``: relative lift, (variant - control) / |control| (``None`` when the
      control's mean is 0);
    - ``ci_low``/``ci_high``: interval of the relative lift at level ``1 - alpha``
      (a confidence sequence when sequential; not adjusted for several variants);
    - ``absolute_lift`` and ``absolute_ci_low``/``absolute_ci_high``: the same for
      variant - control;
    - ``p_value``: of no difference, from the test on the absolute lift (anytime-valid
      when sequential); ``p_value_adjusted``: Holm-adjusted across the variants (equal
      to ``p_value`` with one variant);
    - ``chance_to_win``: posterior probability that the variant is better than the
      control (in the metric's good direction);
    - ``risk``: expected loss of shipping the variant, relative to the control's mean
      (0.01 = on average 1% of the control's value lost, counting the cases where it
      is in fact worse); ``risk_control``: the same for keeping the control; ``None``
      when the control's mean is 0;
    - ``significant``: better or worse than the control at ``alpha`` after adjustment.
    """

    name: str
    users: int
    mean: float
    lift: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    absolute_lift: float | None = None
    absolute_ci_low: float | None = None
    absolute_ci_high: float | None = None
    p_value: float | None = None
    p_value_adjusted: float | None = None
    chance_to_win: float | None = None
    risk: float | None = None
    risk_control: float | None = None
    significant: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "users": self.users,
            "mean": _finite(self.mean),
            "lift": _finite(self.lift),
            "ci_low": _finite(self.ci_low),
            "ci_high": _finite(self.ci_high),
            "absolute_lift": _finite(self.absolute_lift),
            "absolute_ci_low": _finite(self.absolute_ci_low),
            "absolute_ci_high": _finite(self.absolute_ci_high),
            "p_value": _finite(self.p_value),
            "p_value_adjusted": _finite(self.p_value_adjusted),
            "chance_to_win": _finite(self.chance_to_win),
            "risk": _finite(self.risk),
            "risk_control": _finite(self.risk_control),
            "significant": self.significant,
        }


@dataclass(frozen=True, slots=True)
class Analysis:
    """The analysis of one experiment's results; ``variants[0]`` is the control.

    ``winner_variant`` is ``None`` unless the SRM check passed and some variant is
    significantly better than the control. ``method`` says how the numbers were made
    (test, sequential or not, CUPED and its theta and variance reduction, correction,
    interval level) so that a stored analysis explains itself.
    """

    metric: Metric
    alpha: float
    sequential: bool
    variants: list[VariantResult]
    srm_p_value: float
    srm_ok: bool
    winner_variant: str | None
    method: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "alpha": self.alpha,
            "sequential": self.sequential,
            "variants": [v.as_json() for v in self.variants],
            "srm_p_value": self.srm_p_value,
            "srm_ok": self.srm_ok,
            "winner_variant": self.winner_variant,
            "method": self.method,
        }


# --- validation ---------------------------------------------------------------------------


def alpha_from_confidence(confidence: float) -> float:
    """The ``alpha`` of a significance threshold given as a confidence (0.95 -> 0.05).

    ``ai_testing_experiments.statistical_significance_threshold`` holds a confidence;
    it must lie strictly between 0.5 and 1.
    """
    c = float(confidence)
    if not (math.isfinite(c) and 0.5 < c < 1.0):
        raise ValueError(
            f"the significance threshold is a confidence between 0.5 and 1 (got {confidence})"
        )
    return round(1.0 - c, 12)


def _count(variant: str, what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"variant {variant!r}: {what} must be a whole number")
    if not math.isfinite(value) or value != int(value):
        raise ValueError(f"variant {variant!r}: {what} must be a whole number (got {value})")
    return int(value)


def _is_number(value: object) -> TypeGuard[int | float]:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _number(variant: str, what: str, value: object) -> float:
    if not _is_number(value):
        raise ValueError(f"variant {variant!r}: {what} must be a finite number")
    return float(value)


def _check_unit(name: str, value: float, low_open: float = 0.0, high_open: float = 1.0) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number")
    if not low_open < value < high_open:
        raise ValueError(
            f"{name} must lie strictly between {low_open} and {high_open} (got {value})"
        )


@dataclass(frozen=True, slots=True)
class _Arm:
    name: str
    users: int
    y_sum: float
    y_sum_squares: float
    pre: tuple[float, float, float] | None  # pre_sum, pre_sum_squares, cross_sum


def _validated(variants: Sequence[VariantData], metric: Metric) -> list[_Arm]:
    if metric not in ("rate", "mean"):
        raise ValueError(f"metric must be 'rate' or 'mean' (got {metric!r})")
    if len(variants) < 2:
        raise ValueError(
            "an experiment needs at least 2 variants: the control first, then the others"
        )
    names = [v.name for v in variants]
    if any(not isinstance(n, str) or not n.strip() for n in names):
        raise ValueError("every variant needs a non-empty name")
    if len(set(names)) != len(names):
        raise ValueError("variant names must be unique")
    with_pre = [v.has_pre_period for v in variants]
    if any(with_pre) and not all(with_pre):
        raise ValueError(
            "pre-period aggregates (for CUPED) must be given for every variant or for none"
        )
    arms = []
    for v in variants:
        users = _count(v.name, "users", v.users)
        if users <= 0:
            raise ValueError(f"variant {v.name!r}: users must be positive (got {users})")
        if metric == "rate":
            if v.conversions is None:
                raise ValueError(f"variant {v.name!r}: a rate metric needs 'conversions'")
            conversions = _count(v.name, "conversions", v.conversions)
            if not 0 <= conversions <= users:
                raise ValueError(
                    f"variant {v.name!r}: conversions must lie between 0 and users "
                    f"({users}) (got {conversions})"
                )
            y_sum = y_sum_squares = float(conversions)
        else:
            if v.sum is None or v.sum_squares is None:
                raise ValueError(f"variant {v.name!r}: a mean metric needs 'sum' and 'sum_squares'")
            if users < 2:
                raise ValueError(
                    f"variant {v.name!r}: a mean metric needs at least 2 users "
                    "to estimate a variance"
                )
            y_sum = _number(v.name, "sum", v.sum)
            y_sum_squares = _number(v.name, "sum_squares", v.sum_squares)
            _check_sum_squares(v.name, "sum_squares", users, y_sum, y_sum_squares)
        pre = None
        if v.has_pre_period:
            if v.pre_sum is None or v.pre_sum_squares is None or v.cross_sum is None:
                raise ValueError(
                    f"variant {v.name!r}: CUPED needs pre_sum, pre_sum_squares "
                    "and cross_sum together"
                )
            x_sum = _number(v.name, "pre_sum", v.pre_sum)
            x_ss = _number(v.name, "pre_sum_squares", v.pre_sum_squares)
            xy = _number(v.name, "cross_sum", v.cross_sum)
            _check_sum_squares(v.name, "pre_sum_squares", users, x_sum, x_ss)
            s_xx = max(x_ss - x_sum**2 / users, 0.0)
            s_yy = max(y_sum_squares - y_sum**2 / users, 0.0)
            s_xy = xy - x_sum * y_sum / users
            # Cauchy-Schwarz: no real data has a larger centred cross product.
            if abs(s_xy) > math.sqrt(s_xx * s_yy) * (1 + 1e-9) + 1e-9 * (1 + abs(xy)):
                raise ValueError(
                    f"variant {v.name!r}: cross_sum is impossible for these sums "
                    "(it implies a correlation beyond 1)"
                )
            pre = (x_sum, x_ss, xy)
        arms.append(_Arm(v.name, users, y_sum, y_sum_squares, pre))
    return arms


def _check_sum_squares(variant: str, what: str, users: int, total: float, squares: float) -> None:
    # A sum of squares below (sum)^2 / n means a negative variance.
    floor = total * total / users
    if squares < floor - 1e-9 * max(1.0, abs(floor)):
        raise ValueError(
            f"variant {variant!r}: {what} is impossible for this sum and users "
            "(the variance would be negative)"
        )


# --- CUPED --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cuped:
    theta: float
    moments: list[Moments]
    raw: list[Moments]


def _cuped(arms: Sequence[_Arm]) -> _Cuped:
    """Adjust each arm's mean by theta * (its covariate mean - the overall covariate mean),
    theta pooled across the arms (the within-arm regression slope)."""
    s_xx_total = s_xy_total = x_total = n_total = 0.0
    centred = []
    for arm in arms:
        assert arm.pre is not None
        x_sum, x_ss, xy = arm.pre
        n = float(arm.users)
        s_xx = max(x_ss - x_sum**2 / n, 0.0)
        s_yy = max(arm.y_sum_squares - arm.y_sum**2 / n, 0.0)
        s_xy = xy - x_sum * arm.y_sum / n
        centred.append((s_xx, s_yy, s_xy))
        s_xx_total += s_xx
        s_xy_total += s_xy
        x_total += x_sum
        n_total += n
    theta = s_xy_total / s_xx_total if s_xx_total > 0 else 0.0
    x_mean_all = x_total / n_total
    adjusted, raw = [], []
    for arm, (s_xx, s_yy, s_xy) in zip(arms, centred, strict=True):
        n = float(arm.users)
        assert arm.pre is not None
        y_mean = arm.y_sum / n
        x_mean = arm.pre[0] / n
        var_y = s_yy / (n - 1.0) if n > 1 else 0.0
        var_adj = (
            max(s_yy - 2.0 * theta * s_xy + theta**2 * s_xx, 0.0) / (n - 1.0) if n > 1 else 0.0
        )
        adjusted.append(
            Moments(
                np.asarray(n),
                np.asarray(y_mean - theta * (x_mean - x_mean_all)),
                np.asarray(var_adj),
            )
        )
        raw.append(Moments(np.asarray(n), np.asarray(y_mean), np.asarray(var_y)))
    return _Cuped(theta, adjusted, raw)


# --- analysis -----------------------------------------------------------------------------


def analyze(
    variants: Sequence[VariantData],
    *,
    metric: Metric,
    alpha: float = DEFAULT_ALPHA,
    planned_split: Sequence[float] | None = None,
    sequential: bool = True,
    sequential_tuning: int = DEFAULT_SEQUENTIAL_TUNING,
    correction: Correction = "holm",
    srm_threshold: float = DEFAULT_SRM_THRESHOLD,
    higher_is_better: bool = True,
) -> Analysis:
    """Compare every variant with ``variants[0]``, the control.

    ``planned_split``: the planned share of users per variant, in the order of
    ``variants`` (normalised; default equal shares). ``sequential_tuning``: the users of
    the control and one variant together at which the confidence sequences are
    tightest; best set to the planned sample (``SampleSize.sequential_tuning``).
    ``higher_is_better=False`` for metrics such as cost per conversion: the chance to
    win, the risk and the winner then favour lower values.
    CUPED applies when every variant carries its pre-period aggregates.

    Raises ``ValueError`` on bad input: fewer than two variants, duplicate names, users
    not positive, conversions missing or outside ``[0, users]``, ``sum``/``sum_squares``
    missing or impossible (negative variance), CUPED aggregates on some variants only,
    ``alpha`` outside (0, 1), a planned split of the wrong length or not positive.
    """
    _check_options(alpha, srm_threshold, correction, sequential_tuning)
    arms = _validated(variants, metric)
    split = _validated_split(planned_split, len(arms))

    cuped = _cuped(arms) if arms[0].pre is not None else None
    if cuped is not None:
        moments = cuped.moments
        test: Test = "z" if metric == "rate" else "welch"
    elif metric == "rate":
        moments = [rate_moments(a.y_sum, a.users) for a in arms]
        test = "z_pooled"
    else:
        moments = [mean_moments(a.users, a.y_sum, a.y_sum_squares) for a in arms]
        test = "welch"

    control = moments[0]
    control_mean = float(control.mean)
    comparisons = [
        compare(
            control,
            m,
            test=test,
            alpha=alpha,
            sequential=sequential,
            sequential_tuning=sequential_tuning,
        )
        for m in moments[1:]
    ]
    raw_p = [float(c.p_value) for c in comparisons]
    adjusted = holm(raw_p) if correction == "holm" else list(raw_p)

    results = [VariantResult(name=arms[0].name, users=arms[0].users, mean=control_mean)]
    for arm, m, c, p_adj in zip(arms[1:], moments[1:], comparisons, adjusted, strict=True):
        bayes = _bayes(
            arms[0],
            control,
            arm,
            m,
            rate=cuped is None and metric == "rate",
            higher_is_better=higher_is_better,
        )
        results.append(_variant_result(arm, m, c, p_adj, bayes, abs(control_mean), alpha))

    srm_p = srm_p_value([a.users for a in arms], split)
    srm_ok = srm_p >= srm_threshold
    winner = _winner(results[1:], higher_is_better) if srm_ok else None
    method = _method(
        metric=metric,
        test=test,
        alpha=alpha,
        sequential=sequential,
        sequential_tuning=sequential_tuning,
        correction=correction,
        comparisons=len(comparisons),
        srm_threshold=srm_threshold,
        split=split,
        higher_is_better=higher_is_better,
        cuped=cuped,
        names=[a.name for a in arms],
    )
    return Analysis(
        metric=metric,
        alpha=alpha,
        sequential=sequential,
        variants=results,
        srm_p_value=srm_p,
        srm_ok=srm_ok,
        winner_variant=winner,
        method=method,
    )


def _check_options(
    alpha: float, srm_threshold: float, correction: Correction, sequential_tuning: int
) -> None:
    _check_unit("alpha", alpha)
    _check_unit("srm_threshold", srm_threshold)
    if correction not in ("holm", "none"):
        raise ValueError(f"correction must be 'holm' or 'none' (got {correction!r})")
    if (
        isinstance(sequential_tuning, bool)
        or not (isinstance(sequential_tuning, int | float) and math.isfinite(sequential_tuning))
        or sequential_tuning <= 0
    ):
        raise ValueError("sequential_tuning must be a positive number of users")


def _bayes(
    control_arm: _Arm,
    control: Moments,
    arm: _Arm,
    m: Moments,
    *,
    rate: bool,
    higher_is_better: bool,
) -> experiment_bayes.BayesSummary:
    """The Bayesian reading of one variant against the control: exact for a plain rate,
    normal on the (possibly CUPED-adjusted) moments otherwise."""
    if rate:
        return experiment_bayes.beta_binomial(
            int(control_arm.y_sum),
            control_arm.users,
            int(arm.y_sum),
            arm.users,
            higher_is_better=higher_is_better,
        )
    return experiment_bayes.normal(
        float(control.mean),
        float(control.var / control.n),
        float(m.mean),
        float(m.var / m.n),
        higher_is_better=higher_is_better,
    )


def _variant_result(
    arm: _Arm,
    m: Moments,
    c: Comparison,
    p_adj: float,
    bayes: experiment_bayes.BayesSummary,
    scale: float,
    alpha: float,
) -> VariantResult:
    return VariantResult(
        name=arm.name,
        users=arm.users,
        mean=float(m.mean),
        lift=_finite(float(c.lift)),
        ci_low=_finite(float(c.ci_low)),
        ci_high=_finite(float(c.ci_high)),
        absolute_lift=float(c.absolute_lift),
        absolute_ci_low=float(c.absolute_ci_low),
        absolute_ci_high=float(c.absolute_ci_high),
        p_value=float(c.p_value),
        p_value_adjusted=p_adj,
        chance_to_win=bayes.chance_to_win,
        risk=bayes.risk_variant / scale if scale > 0 else None,
        risk_control=bayes.risk_control / scale if scale > 0 else None,
        significant=p_adj < alpha,
    )


def _validated_split(planned_split: Sequence[float] | None, k: int) -> list[float]:
    if planned_split is None:
        return [1.0 / k] * k
    split = list(planned_split)
    if len(split) != k:
        raise ValueError(f"planned_split needs one share per variant ({k}), got {len(split)}")
    if any(
        isinstance(s, bool) or not isinstance(s, int | float) or not math.isfinite(s) or s <= 0
        for s in split
    ):
        raise ValueError("planned_split shares must be positive numbers")
    total = float(sum(split))
    return [float(s) / total for s in split]


def _winner(results: Sequence[VariantResult], higher_is_better: bool) -> str | None:
    sign = 1.0 if higher_is_better else -1.0
    better = [
        r
        for r in results
        if r.significant and r.absolute_lift is not None and sign * r.absolute_lift > 0
    ]
    if not better:
        return None
    # Every variant is measured against the same control, so the largest absolute lift is
    # also the largest relative one.
    return max(better, key=lambda r: sign * (r.absolute_lift or 0.0)).name


def _method(
    *,
    metric: Metric,
    test: Test,
    alpha: float,
    sequential: bool,
    sequential_tuning: float,
    correction: Correction,
    comparisons: int,
    srm_threshold: float,
    split: list[float],
    higher_is_better: bool,
    cuped: _Cuped | None,
    names: list[str],
) -> dict[str, Any]:
    tests = {
        "z_pooled": "two-proportion z-test (pooled SE for the test, unpooled for the interval)",
        "z": "z-test on CUPED-adjusted rates (unpooled SE)",
        "welch": "Welch's t-test" + (" on CUPED-adjusted means" if cuped else ""),
    }
    method: dict[str, Any] = {
        "test": (
            "asymptotic confidence sequence on the difference (unpooled SE)"
            if sequential
            else tests[test]
        ),
        "relative_interval": "delta method",
        "interval_level": round(1.0 - alpha, 12),
        "correction": correction if comparisons > 1 else "none",
        "comparisons": comparisons,
        "srm": {
            "test": "chi-square goodness of fit",
            "threshold": srm_threshold,
            "planned_split": split,
        },
        "higher_is_better": higher_is_better,
        "bayesian": (
            "beta-binomial, uniform priors"
            if metric == "rate" and cuped is None
            else "normal approximation (log-normal for the chance to win)"
        ),
        "sequential": None,
        "cuped": None,
    }
    if sequential:
        method["sequential"] = {
            "kind": "asymptotic confidence sequence (normal mixture)",
            "p_value": "anytime-valid, from the sequence (unpooled SE)",
            "tuning_users": sequential_tuning,
            "rho": seq.rho(alpha, sequential_tuning),
        }
    if cuped is not None:
        reduction = {}
        for name, raw, adj in zip(names[1:], cuped.raw[1:], cuped.moments[1:], strict=True):
            var_raw = float(cuped.raw[0].var / cuped.raw[0].n + raw.var / raw.n)
            var_adj = float(cuped.moments[0].var / cuped.moments[0].n + adj.var / adj.n)
            reduction[name] = 1.0 - var_adj / var_raw if var_raw > 0 else 0.0
        method["cuped"] = {"theta": cuped.theta, "variance_reduction": reduction}
    return method


# --- planning -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SampleSize:
    """How many users each variant needs to detect ``mde_absolute`` with ``power`` at
    ``alpha`` (two-sided), each comparison run at ``alpha_per_comparison`` (Bonferroni
    over the ``variants - 1`` comparisons, which is what Holm needs at worst).
    ``mde_relative`` is ``None`` for a zero baseline. ``days`` is set when daily
    traffic was given. For a sequential plan, ``sequential_tuning`` is the value to pass
    to :func:`analyze` (the users of the control and one variant at the planned end)."""

    users_per_variant: int
    total_users: int
    variants: int
    alpha: float
    alpha_per_comparison: float
    power: float
    baseline: float
    mde_absolute: float
    mde_relative: float | None
    sequential: bool = False
    sequential_tuning: int | None = None
    days: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "users_per_variant": self.users_per_variant,
            "total_users": self.total_users,
            "variants": self.variants,
            "alpha": self.alpha,
            "alpha_per_comparison": self.alpha_per_comparison,
            "power": self.power,
            "baseline": self.baseline,
            "mde_absolute": self.mde_absolute,
            "mde_relative": self.mde_relative,
            "sequential": self.sequential,
            "sequential_tuning": self.sequential_tuning,
            "days": self.days,
        }


def sample_size(
    *,
    metric: Metric,
    baseline: float,
    mde: float,
    mde_kind: EffectKind = "relative",
    std: float | None = None,
    alpha: float = DEFAULT_ALPHA,
    power: float = 0.8,
    variants: int = 2,
    daily_users: float | None = None,
    sequential: bool = False,
    variant_std: float | None = None,
) -> SampleSize:
    """Users per variant to find a true effect of size ``mde``.

    ``baseline``: the control's rate (in (0, 1)) or mean. ``mde``: the minimum
    detectable effect, relative (0.1 = +10%) or absolute. ``std``: the per-user standard
    deviation, required for a mean metric (a rate's follows from its value);
    ``variant_std`` the variant's, when the effect is expected to change it too (an
    effect that scales every user's value by 1 + mde scales the standard deviation as
    well); by default the same as the control's. Variances are taken under the alternative for
    each arm (control at ``baseline``, variant at ``baseline + mde``), as for an unpooled
    z-test: ``n = (c + z[power])^2 * (var_control + var_variant) / mde^2`` with
    ``c = z[1 - a/2]`` for a fixed-horizon test. ``variants`` counts the control. With
    ``daily_users`` (all variants together), ``days`` is :func:`days_needed`.

    ``sequential=True`` plans for the sequential analysis: ``c`` becomes the confidence
    sequence's width factor at its tuning point, which is also the planned end, so the
    plan gives ``power`` at the last look alone (looks before it only add to it); about
    1.9 times the fixed-horizon sample at alpha 0.05. Analyse with
    ``sequential_tuning=plan.sequential_tuning``.
    """
    if metric not in ("rate", "mean"):
        raise ValueError(f"metric must be 'rate' or 'mean' (got {metric!r})")
    if mde_kind not in ("relative", "absolute"):
        raise ValueError(f"mde_kind must be 'relative' or 'absolute' (got {mde_kind!r})")
    _check_unit("alpha", alpha)
    _check_unit("power", power)
    if isinstance(variants, bool) or not isinstance(variants, int) or variants < 2:
        raise ValueError("variants must be a whole number of at least 2 (the control counts)")
    for name, value in (("baseline", baseline), ("mde", mde)):
        if not _is_number(value):
            raise ValueError(f"{name} must be a finite number")
    if mde == 0:
        raise ValueError("the minimum detectable effect must not be 0")
    if mde_kind == "relative":
        if baseline == 0:
            raise ValueError("a relative minimum detectable effect needs a non-zero baseline")
        delta = abs(baseline) * mde
    else:
        delta = float(mde)
    if metric == "rate":
        target = baseline + delta
        if not 0 < baseline < 1:
            raise ValueError(
                f"a rate's baseline must lie strictly between 0 and 1 (got {baseline})"
            )
        if not 0 < target < 1:
            raise ValueError(
                f"baseline + effect must stay strictly between 0 and 1 (got {target:.6g})"
            )
        var_sum = baseline * (1 - baseline) + target * (1 - target)
    else:
        if std is None or not _is_number(std) or std <= 0:
            raise ValueError("a mean metric needs std, the per-user standard deviation (> 0)")
        other = std if variant_std is None else variant_std
        if not _is_number(other) or other <= 0:
            raise ValueError("variant_std must be a positive number")
        var_sum = std * std + other * other
    alpha_each = alpha / (variants - 1)
    if sequential:
        # At n = tuning the width factor does not depend on n, so the plan is closed-form.
        critical = float(seq.width_factor(1.0, alpha_each, 1.0))
    else:
        critical = float(stats.norm.ppf(1.0 - alpha_each / 2.0))
    z = critical + float(stats.norm.ppf(power))
    n = max(2, math.ceil(z * z * var_sum / (delta * delta)))
    days = None
    if daily_users is not None:
        days = days_needed(n, variants, daily_users)
    return SampleSize(
        users_per_variant=n,
        total_users=n * variants,
        variants=variants,
        alpha=alpha,
        alpha_per_comparison=alpha_each,
        power=power,
        baseline=float(baseline),
        mde_absolute=delta,
        mde_relative=delta / abs(baseline) if baseline != 0 else None,
        sequential=sequential,
        sequential_tuning=2 * n if sequential else None,
        days=days,
    )


def days_needed(users_per_variant: int, variants: int, daily_users: float) -> int:
    """Whole days for ``users_per_variant`` users in each of ``variants`` variants when
    ``daily_users`` users a day enter the experiment (spread over all variants)."""
    if isinstance(daily_users, bool) or not isinstance(daily_users, int | float):
        raise ValueError("daily_users must be a number")
    if not math.isfinite(daily_users) or daily_users <= 0:
        raise ValueError("daily_users must be positive")
    if users_per_variant < 0 or variants < 1:
        raise ValueError("users_per_variant must be >= 0 and variants >= 1")
    return max(1, math.ceil(users_per_variant * variants / daily_users))
