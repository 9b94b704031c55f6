"""Asymptotic confidence sequences: intervals that may be looked at after every update.

A fixed-horizon interval covers the truth with probability ``1 - alpha`` at one look
decided in advance; looked at repeatedly, and stopped at the first look that excludes
zero, it errs far more often. A confidence sequence covers the truth at every sample
size at once with probability ``1 - alpha``, so stopping whenever it excludes zero keeps
the error rate at ``alpha``.

This is the two-sided normal-mixture boundary of Waudby-Smith et al., "Time-uniform
central limit theory and asymptotic confidence sequences" (2023, arXiv:2103.06476,
eq. 9; the mixing parameter from eq. 161), as GrowthBook's stats engine uses it:

    halfwidth = sqrt(s2) * sqrt(2 (n rho^2 + 1) / (n^2 rho^2) * log(sqrt(n rho^2 + 1) / alpha))

with ``n`` the users of both arms together, ``s2 = n * se^2`` the per-user variance of
the estimate, and ``rho`` chosen so that the sequence is tightest at ``n = tuning``.
The anytime-valid p-value (eq. 155) is the reciprocal of the mixture martingale; it
falls below ``alpha`` exactly when the sequence at level ``1 - alpha`` excludes zero.

The guarantee is asymptotic (a central limit theorem uniform in time): with few users
per arm, or very low rates, a look is less well covered than the formula says.

Functions take numpy arrays (or floats) and broadcast, so a simulation of thousands of
experiments calls the same code the service does.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
ArrayLike = float | FloatArray


def rho(alpha: float, tuning: float) -> float:
    """The mixing parameter that makes the sequence tightest at ``tuning`` users."""
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must lie strictly between 0 and 1")
    if tuning <= 0:
        raise ValueError("the sequential tuning parameter must be positive")
    log_alpha = np.log(alpha)
    return float(np.sqrt((-2.0 * log_alpha + np.log(-2.0 * log_alpha + 1.0)) / tuning))


def width_factor(n: ArrayLike, alpha: float, tuning: float) -> FloatArray:
    """The half-width of the sequence at ``n`` users, per unit of standard error.

    The fixed-horizon counterpart is ``norm.ppf(1 - alpha / 2)`` (1.96 at 0.05); this is
    larger at every ``n``, least so near ``n = tuning``.
    """
    r2 = rho(alpha, tuning) ** 2
    n_arr = np.asarray(n, dtype=np.float64)
    nr2 = n_arr * r2 + 1.0
    # halfwidth = sqrt(n se^2) * sqrt(2 nr2 / (n^2 r2) * log(sqrt(nr2)/alpha)); the n
    # cancels to a factor of se.
    return np.asarray(np.sqrt(2.0 * nr2 / (n_arr * r2) * np.log(np.sqrt(nr2) / alpha)))


def p_value(
    estimate: ArrayLike, se: ArrayLike, n: ArrayLike, alpha: float, tuning: float
) -> FloatArray:
    """The anytime-valid p-value of ``estimate`` being 0, given its standard error.

    ``alpha`` only fixes ``rho`` (where the sequence is tightest), so that the p-value is
    below ``alpha`` exactly when the sequence at that level excludes 0. A zero standard
    error gives 1 for a zero estimate and 0 otherwise.
    """
    r2 = rho(alpha, tuning) ** 2
    est = np.asarray(estimate, dtype=np.float64)
    se_arr = np.asarray(se, dtype=np.float64)
    n_arr = np.asarray(n, dtype=np.float64)
    nr2 = n_arr * r2 + 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        # z^2 = estimate^2 / se^2; log e-value = r2 n z^2 / (2 nr2) - log(sqrt(nr2))
        z2 = np.where(se_arr > 0, est**2 / se_arr**2, np.where(est == 0, 0.0, np.inf))
    log_e = r2 * n_arr * z2 / (2.0 * nr2) - 0.5 * np.log(nr2)
    return np.asarray(np.minimum(1.0, np.exp(-log_e)))
