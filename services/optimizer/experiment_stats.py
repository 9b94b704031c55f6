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
the absolute lift (variant - control) and for the relative lift (variant / control - 1,
by the delta method).

Sequential (``sequential=True``, the default): the same estimates, but the intervals are
asymptotic confidence sequences (Howard et al. 2021, the normal-mixture boundary
GrowthBook uses) and the p-values their anytime-valid counterparts, so the results may be
looked at after every update without raising the false-positive rate above ``alpha``.
The price is wider intervals: see :mod:`services.optimizer.sequential`.

Bayesian (both modes): the chance that the variant beats the control and the risk (the
expected loss of shipping it). Rates use Beta(1, 1) priors and beta posteriors,
integrated numerically; means, and rates under CUPED, a normal approximation of the
relative lift.

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
from typing import Any, Literal

Metric = Literal["rate", "mean"]
Correction = Literal["holm", "none"]
EffectKind = Literal["relative", "absolute"]

DEFAULT_ALPHA = 0.05
DEFAULT_SRM_THRESHOLD = 0.001
# The sample size (all variants together) at which a confidence sequence is tightest;
# GrowthBook's default. Pass the planned sample when there is one.
DEFAULT_SEQUENTIAL_TUNING = 5000

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_SEQUENTIAL_TUNING",
    "DEFAULT_SRM_THRESHOLD",
    "Analysis",
    "Correction",
    "EffectKind",
    "Metric",
    "SampleSize",
    "VariantData",
    "VariantResult",
    "alpha_from_confidence",
    "analyze",
    "days_needed",
    "sample_size",
]


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
        """From the ``{"name": ..., "users": ..., ...}`` shape the results route takes."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class VariantResult:
    """One variant against the control (for the control itself only ``name``, ``users``
    and ``mean`` are set; the comparisons are ``None``).

    - ``mean``: the variant's conversion rate or mean (CUPED-adjusted when CUPED applies);
    - ``lift``: relative lift, variant / control - 1 (``None`` when the control's mean is 0);
    - ``ci_low``/``ci_high``: interval of the relative lift at level ``1 - alpha``
      (a confidence sequence when sequential);
    - ``absolute_lift`` and ``absolute_ci_low``/``absolute_ci_high``: the same for
      variant - control;
    - ``p_value``: of no difference (anytime-valid when sequential); ``p_value_adjusted``:
      Holm-adjusted across the variants (equal to ``p_value`` with one variant);
    - ``chance_to_win``: posterior probability that the variant is better than the
      control (in the metric's good direction);
    - ``risk``: expected loss of shipping the variant, relative to the control's mean
      (0.01 = on average 1% of the control's value lost if it is in fact worse);
      ``risk_control``: the same for keeping the control;
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
        raise NotImplementedError


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
        raise NotImplementedError


def alpha_from_confidence(confidence: float) -> float:
    """The ``alpha`` of a significance threshold given as a confidence (0.95 -> 0.05).

    ``ai_testing_experiments.statistical_significance_threshold`` holds a confidence;
    it must lie strictly between 0.5 and 1.
    """
    raise NotImplementedError


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
    ``variants`` (normalised; default equal shares). ``sequential_tuning``: the total
    sample size (all variants) at which the confidence sequences are tightest, best set
    to the planned sample. ``higher_is_better=False`` for metrics such as cost per
    conversion: the chance to win, the risk and the winner then favour lower values.
    CUPED applies when every variant carries its pre-period aggregates.

    Raises ``ValueError`` on bad input: fewer than two variants, duplicate names, users
    not positive, conversions missing or outside ``[0, users]``, ``sum``/``sum_squares``
    missing or impossible (negative variance), CUPED aggregates on some variants only,
    ``alpha`` outside (0, 1), a planned split of the wrong length or not positive.
    """
    raise NotImplementedError


@dataclass(frozen=True, slots=True)
class SampleSize:
    """How many users each variant needs to detect ``mde_absolute`` with ``power`` at
    ``alpha`` (two-sided), each comparison run at ``alpha_per_comparison`` (Bonferroni
    over the ``variants - 1`` comparisons, which is what Holm needs at worst).
    ``days`` is set when daily traffic was given."""

    users_per_variant: int
    total_users: int
    variants: int
    alpha: float
    alpha_per_comparison: float
    power: float
    baseline: float
    mde_absolute: float
    mde_relative: float
    days: int | None = None

    def as_json(self) -> dict[str, Any]:
        raise NotImplementedError


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
) -> SampleSize:
    """Users per variant for a fixed-horizon test to find a true effect of size ``mde``.

    ``baseline``: the control's rate (in (0, 1)) or mean. ``mde``: the minimum
    detectable effect, relative (0.1 = +10%) or absolute. ``std``: the per-user standard
    deviation, required for a mean metric (a rate's follows from its value). Variances
    are taken under the alternative for each arm (control at ``baseline``, variant at
    ``baseline + mde``). ``variants`` counts the control. With ``daily_users`` (all
    variants together), ``days`` is :func:`days_needed`.

    A sequential analysis looks more often and pays for it: within this sample its power
    is lower (see the experiments benchmark, bench/quality_experiments.py).
    """
    raise NotImplementedError


def days_needed(users_per_variant: int, variants: int, daily_users: float) -> int:
    """Whole days for ``users_per_variant`` users in each of ``variants`` variants when
    ``daily_users`` users a day enter the experiment (spread over all variants)."""
    if daily_users <= 0:
        raise ValueError("daily_users must be positive")
    return max(1, math.ceil(users_per_variant * variants / daily_users))
