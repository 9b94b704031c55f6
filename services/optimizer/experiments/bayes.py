"""Bayesian summaries of a variant against the control: the chance it wins, and the risk.

- Rates: Beta(1, 1) priors, so each arm's posterior is Beta(1 + conversions,
  1 + users - conversions). Both quantities are one-dimensional integrals over the
  variant's posterior, computed by adaptive quadrature after mapping it to (0, 1)
  through its quantile function (a posterior a thousandth wide is integrated as
  accurately as a flat one), with the control's CDF and partial expectation in closed
  form. Deterministic, no Monte Carlo.
- Means (and anything else given as a normal estimate): GrowthBook's approximation. The
  chance to win comes from the log of the ratio of the means (delta method:
  ``var(log m) = var(m) / m^2``), and the expected losses from the normal distribution
  of the difference. When a mean is not positive the log is undefined and the chance to
  win falls back to the difference's normal distribution.

The risk of an arm is the expected loss of choosing it: ``E[max(other - it, 0)]`` when
higher is better, in the metric's own units.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from scipy import integrate, special, stats


@dataclass(frozen=True, slots=True)
class BayesSummary:
    """``chance_to_win``: P(variant better than control). ``risk_variant``/``risk_control``:
    the expected loss of choosing the variant / the control, in the metric's units."""

    chance_to_win: float
    risk_variant: float
    risk_control: float


def _integrate_over_beta(a: float, b: float, fn: Callable[[float], float]) -> float:
    """E[fn(X)] for X ~ Beta(a, b), integrating fn(quantile(u)) over u in (0, 1)."""
    value, _ = integrate.quad(
        lambda u: fn(float(special.betaincinv(a, b, u))),
        0.0,
        1.0,
        epsabs=1e-11,
        epsrel=1e-9,
        limit=200,
    )
    return float(value)


def beta_binomial(
    conversions_a: int,
    users_a: int,
    conversions_b: int,
    users_b: int,
    *,
    higher_is_better: bool = True,
) -> BayesSummary:
    """Arm a is the control, arm b the variant."""
    a_a, b_a = 1.0 + conversions_a, 1.0 + users_a - conversions_a
    a_b, b_b = 1.0 + conversions_b, 1.0 + users_b - conversions_b
    mean_a = a_a / (a_a + b_a)
    mean_b = a_b / (a_b + b_b)
    # Integrate over the narrower posterior: the other one's CDF then varies smoothly over
    # the range of integration, where the other way round it can be a step that
    # quadrature steps over.
    if _beta_variance(a_b, b_b) <= _beta_variance(a_a, b_a):
        p_b_greater, loss_choosing_b = _below_and_excess((a_b, b_b), (a_a, b_a))
        loss_choosing_a = mean_b - mean_a + loss_choosing_b
    else:
        p_a_greater, loss_choosing_a = _below_and_excess((a_a, b_a), (a_b, b_b))
        p_b_greater = 1.0 - p_a_greater
        loss_choosing_b = loss_choosing_a - (mean_b - mean_a)
    p_b_greater = min(1.0, max(0.0, p_b_greater))
    loss_choosing_a = max(0.0, loss_choosing_a)
    loss_choosing_b = max(0.0, loss_choosing_b)
    if higher_is_better:
        return BayesSummary(p_b_greater, loss_choosing_b, loss_choosing_a)
    return BayesSummary(1.0 - p_b_greater, loss_choosing_a, loss_choosing_b)


def _beta_variance(a: float, b: float) -> float:
    return a * b / ((a + b) ** 2 * (a + b + 1.0))


def _below_and_excess(
    outer: tuple[float, float], inner: tuple[float, float]
) -> tuple[float, float]:
    """For X ~ Beta(*outer) and Y ~ Beta(*inner), independent: P(Y < X) and
    E[max(Y - X, 0)]."""
    a_y, b_y = inner
    mean_y = a_y / (a_y + b_y)

    def cdf_y(x: float) -> float:
        return float(special.betainc(a_y, b_y, x))

    def excess_y_over(x: float) -> float:
        # E[max(Y - x, 0)] = E[Y; Y > x] - x P(Y > x), and E[Y; Y > x] is mean_y times
        # the upper tail of Beta(a_y + 1, b_y).
        upper_mean = mean_y * float(special.betaincc(a_y + 1.0, b_y, x))
        return upper_mean - x * float(special.betaincc(a_y, b_y, x))

    return (
        _integrate_over_beta(*outer, cdf_y),
        _integrate_over_beta(*outer, excess_y_over),
    )


def _normal_positive_part(mu: float, sigma: float) -> float:
    """E[max(X, 0)] for X ~ N(mu, sigma^2)."""
    if sigma <= 0:
        return mu if mu > 0 else 0.0
    z = mu / sigma
    return float(mu * stats.norm.cdf(z) + sigma * stats.norm.pdf(z))


def normal(
    mean_a: float,
    var_mean_a: float,
    mean_b: float,
    var_mean_b: float,
    *,
    higher_is_better: bool = True,
) -> BayesSummary:
    """Arm a is the control, arm b the variant; ``var_mean_*`` are the variances of the
    two means (per-user variance / users)."""
    diff = mean_b - mean_a
    sd_diff = math.sqrt(max(var_mean_a + var_mean_b, 0.0))
    if mean_a > 0 and mean_b > 0:
        log_ratio = math.log(mean_b) - math.log(mean_a)
        sd_log = math.sqrt(var_mean_a / mean_a**2 + var_mean_b / mean_b**2)
        p_b_greater = _normal_probability_positive(log_ratio, sd_log)
    else:
        p_b_greater = _normal_probability_positive(diff, sd_diff)
    loss_choosing_b = _normal_positive_part(-diff, sd_diff)
    loss_choosing_a = _normal_positive_part(diff, sd_diff)
    if higher_is_better:
        return BayesSummary(p_b_greater, loss_choosing_b, loss_choosing_a)
    return BayesSummary(1.0 - p_b_greater, loss_choosing_a, loss_choosing_b)


def _normal_probability_positive(mu: float, sigma: float) -> float:
    if sigma <= 0:
        return 1.0 if mu > 0 else 0.0 if mu < 0 else 0.5
    return float(stats.norm.sf(0.0, loc=mu, scale=sigma))
