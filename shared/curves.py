"""Response curves: what a campaign's daily spend buys in conversions and revenue.

Each campaign gets a saturating curve fitted from its own history of complete UTC
days, the negative exponential

    y(spend) = top * (1 - exp(-spend / scale))

``top`` is what unlimited spend would buy in a day, ``scale`` the spend at which
63% of it is bought. It is what an auction with a finite inventory looks like
(each extra dollar competes for the impressions that are left), it has a closed
form inverse of its marginal return, which the allocator needs for thousands of
campaigns at once, and it has only two parameters, which short histories can
carry.

The fit is a Laplace posterior on ``(log top, log scale)``: a least-squares fit
of the daily values plus a prior on how far up its curve the campaign sits at
its average spend (``x = mean spend / scale``, log-normal around
:data:`PRIOR_SATURATION`: the marginal return about 70% of the average return,
a common rule of thumb for paid media). When spend never varied, which is the
normal case for a campaign whose budget never changed, the data pin only the
one point the campaign sits on and the prior gives the bend; the curve is then
marked unsupported (with the reason) but stays usable: it passes through the
observed average return with wide uncertainty on its curvature, so the
allocator can act on it and Thompson sampling explores it, which creates the
spend variation a supported fit needs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any, Literal

import numpy as np
from scipy import stats

from shared.metrics import HourlyMetrics

CurveMetric = Literal["conversions", "revenue"]
MODEL = "neg_exp"

# Prior on the saturation x = mean spend / scale of the observed window.
PRIOR_SATURATION = 0.7
PRIOR_LOG_SD = 0.5
# Below these the data cannot carry the curve's bend and the curve is unsupported.
MIN_DAYS = 7
MIN_SPEND_CV = 0.1
# The data must at least halve the prior's variance of log scale to count as
# having measured the bend rather than having assumed it.
MAX_POSTERIOR_TO_PRIOR_SD = 0.7
# Daily noise is never assumed smaller than this share of the mean: a perfect
# fit on a few days says little about the next day.
MIN_RELATIVE_NOISE = 0.03
# log-parameter bounds around the prior: far enough never to bind a sane fit.
_LOG_BOUND = 6.0


@dataclass(frozen=True, slots=True)
class DayTotals:
    """One complete UTC day of one campaign."""

    day: date
    spend: float
    conversions: float
    revenue: float


def daily_totals(rows: Iterable[HourlyMetrics]) -> list[DayTotals]:
    """Per-day totals of one campaign's hourly rows, complete UTC days only, oldest first.

    A day counts only when all 24 of its hours are present (a repeated hour counts
    once, the last row wins), so a day still in progress never looks like a day of
    low spend.
    """
    by_day: dict[date, dict[int, HourlyMetrics]] = {}
    for row in rows:
        hour = row.hour.astimezone(UTC)
        by_day.setdefault(hour.date(), {})[hour.hour] = row
    return [
        DayTotals(
            day=day,
            spend=float(sum(r.spend for r in hours.values())),
            conversions=float(sum(r.conversions for r in hours.values())),
            revenue=float(sum(r.revenue for r in hours.values())),
        )
        for day, hours in sorted(by_day.items())
        if len(hours) == 24
    ]


def _saturation_factor(x: np.ndarray | float) -> np.ndarray | float:
    """x e^-x / (1 - e^-x): marginal over average return at saturation x (1 at x=0)."""
    x = np.asarray(x, dtype=float)
    small = x < 1e-8
    safe = np.where(small, 1.0, x)
    out = np.where(small, 1.0 - x / 2.0, safe * np.exp(-safe) / -np.expm1(-safe))
    return out if out.ndim else float(out)


@dataclass(frozen=True, slots=True)
class ResponseCurve:
    """One campaign's fitted daily ``metric`` against daily spend.

    ``params`` holds ``top`` and ``scale`` (see the module), ``noise_cv`` (the
    day-to-day scatter around the curve as a share of it) and ``mean_spend`` (the window's
    average daily spend, where the curve is best known). ``covariance`` is the 2x2
    posterior covariance of ``(log top, log scale)``. ``supported`` is False, with
    ``reason``, when the data cannot carry the curve's bend; the curve is then the
    cautious prior-based one and its uncertainty is wide.
    """

    metric: str
    model: str
    params: dict[str, float]
    covariance: tuple[tuple[float, ...], ...]
    supported: bool
    reason: str | None
    n_days: int
    window_start: date | None
    window_end: date | None
    r_squared: float | None
    rmse: float | None

    @property
    def top(self) -> float:
        return self.params["top"]

    @property
    def scale(self) -> float:
        return self.params["scale"]

    def predict(self, spend: float | np.ndarray) -> Any:
        """Expected daily ``metric`` at daily ``spend`` (float in, float out)."""
        s = np.asarray(spend, dtype=float)
        out = self.top * -np.expm1(-np.maximum(s, 0.0) / self.scale)
        return out if out.ndim else float(out)

    def marginal(self, spend: float | np.ndarray) -> Any:
        """d metric / d spend at ``spend``; for revenue this is the marginal ROAS."""
        s = np.asarray(spend, dtype=float)
        out = self.top / self.scale * np.exp(-np.maximum(s, 0.0) / self.scale)
        return out if out.ndim else float(out)

    def _log_sd(self, spend: float, noise: bool) -> float:
        if self.top <= 0:
            return 0.0
        cov = np.asarray(self.covariance, dtype=float)
        # d log y / d (log top, log scale)
        grad = np.array([1.0, -float(_saturation_factor(max(spend, 0.0) / self.scale))])
        variance = float(grad @ cov @ grad)
        if noise:
            variance += math.log1p(self.params.get("noise_cv", 0.0) ** 2)
        return math.sqrt(max(variance, 0.0))

    def interval(
        self, spend: float, level: float = 0.8, *, noise: bool = True
    ) -> tuple[float, float]:
        """Central ``level`` interval of one day's ``metric`` at daily ``spend``.

        Parameter uncertainty always counts; ``noise`` adds the day-to-day scatter
        around the curve (leave it on for "what will tomorrow bring", off for "where
        is the curve"). Log-normal, so the interval never goes below zero.
        """
        if not 0 < level < 1:
            raise ValueError("level must be in (0, 1)")
        centre = float(self.predict(spend))
        if centre <= 0:
            return (0.0, 0.0)
        z = float(stats.norm.ppf(0.5 + level / 2))
        sd = self._log_sd(spend, noise)
        return (centre * math.exp(-z * sd), centre * math.exp(z * sd))

    def marginal_interval(self, spend: float, level: float = 0.8) -> tuple[float, float]:
        """Central ``level`` interval of the marginal return at ``spend`` (parameters only)."""
        centre = float(self.marginal(spend))
        if centre <= 0:
            return (0.0, 0.0)
        cov = np.asarray(self.covariance, dtype=float)
        # log m = log top - log scale - spend / scale
        grad = np.array([1.0, -1.0 + max(spend, 0.0) / self.scale])
        sd = math.sqrt(max(float(grad @ cov @ grad), 0.0))
        z = float(stats.norm.ppf(0.5 + level / 2))
        return (centre * math.exp(-z * sd), centre * math.exp(z * sd))

    def as_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "model": self.model,
            "params": dict(self.params),
            "covariance": [list(row) for row in self.covariance],
            "supported": self.supported,
            "reason": self.reason,
            "n_days": self.n_days,
            "window_start": self.window_start.isoformat() if self.window_start else None,
            "window_end": self.window_end.isoformat() if self.window_end else None,
            "r_squared": self.r_squared,
            "rmse": self.rmse,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResponseCurve:
        start, end = data.get("window_start"), data.get("window_end")
        return cls(
            metric=str(data["metric"]),
            model=str(data.get("model", MODEL)),
            params={k: float(v) for k, v in data["params"].items()},
            covariance=tuple(tuple(float(x) for x in row) for row in data["covariance"]),
            supported=bool(data["supported"]),
            reason=data.get("reason"),
            n_days=int(data["n_days"]),
            window_start=date.fromisoformat(start) if start else None,
            window_end=date.fromisoformat(end) if end else None,
            r_squared=None if data.get("r_squared") is None else float(data["r_squared"]),
            rmse=None if data.get("rmse") is None else float(data["rmse"]),
        )


def _flat_curve(
    metric: str, days: Sequence[DayTotals], reason: str, mean_spend: float
) -> ResponseCurve:
    """A curve that buys nothing: no spend or no outcome to learn a return from."""
    return ResponseCurve(
        metric=metric,
        model=MODEL,
        params={
            "top": 0.0,
            "scale": max(mean_spend, 1.0),
            "noise_cv": 0.0,
            "mean_spend": mean_spend,
        },
        covariance=((0.0, 0.0), (0.0, 0.0)),
        supported=False,
        reason=reason,
        n_days=len(days),
        window_start=days[0].day if days else None,
        window_end=days[-1].day if days else None,
        r_squared=None,
        rmse=None,
    )


def fit_curve(days: Sequence[DayTotals], metric: CurveMetric) -> ResponseCurve:
    """Fit ``metric`` (``conversions`` or ``revenue``) against spend over ``days``.

    Always returns a usable curve; ``supported`` says whether the data, not the
    prior, determined its bend (see the module).
    """
    if metric not in ("conversions", "revenue"):
        raise ValueError(f"unknown metric {metric!r}")
    # A day without spend says only that nothing buys nothing, which the curve assumes.
    days = sorted((d for d in days if d.spend > 0), key=lambda d: d.day)
    spend = np.array([d.spend for d in days], dtype=float)
    y = np.array([getattr(d, metric) for d in days], dtype=float)
    n = len(days)
    if n == 0:
        return _flat_curve(metric, days, "no complete day with spend", 0.0)
    mean_s = float(spend.mean())
    mean_y = float(y.mean())
    if mean_y <= 0:
        return _flat_curve(metric, days, f"no {metric} in the window", mean_s)

    log_scale_prior = math.log(mean_s / PRIOR_SATURATION)
    x0 = PRIOR_SATURATION
    start = np.array([math.log(mean_y / -math.expm1(-x0)), log_scale_prior])
    lower = start - _LOG_BOUND
    upper = start + _LOG_BOUND

    def curve(theta: np.ndarray) -> np.ndarray:
        return np.exp(theta[0]) * -np.expm1(-spend / np.exp(theta[1]))

    def residuals(theta: np.ndarray, noise_cv: float) -> tuple[np.ndarray, np.ndarray]:
        # Days vary in proportion to their level (demand drifts by a share, not by
        # an amount), so residuals are relative to the curve.
        top, scale = math.exp(theta[0]), math.exp(theta[1])
        x = spend / scale
        fitted = top * -np.expm1(-x)
        r = np.append((y / fitted - 1.0) / noise_cv, (theta[1] - log_scale_prior) / PRIOR_LOG_SD)
        # d fitted / d log top = fitted; d fitted / d log scale = -top x e^-x
        outer = -y / (fitted**2 * noise_cv)
        jac = np.empty((n + 1, 2))
        jac[:n, 0] = outer * fitted
        jac[:n, 1] = outer * (-top * x * np.exp(-x))
        jac[n] = (0.0, 1.0 / PRIOR_LOG_SD)
        return r, jac

    noise_cv = max(float(y.std(ddof=1) / mean_y) if n > 1 else 0.0, MIN_RELATIVE_NOISE)
    theta = start
    converged = True
    for _ in range(2):
        # The second pass re-weighs the prior against the noise the first fit found.
        theta, ok = _levenberg_marquardt(
            functools.partial(residuals, noise_cv=noise_cv), theta, lower, upper
        )
        converged = ok
        relative = (y - curve(theta)) / curve(theta)
        noise_cv = max(math.sqrt(float(np.sum(relative**2)) / max(n - 2, 1)), MIN_RELATIVE_NOISE)
    _, jac = residuals(theta, noise_cv)
    covariance = np.linalg.pinv(jac.T @ jac)

    fitted = curve(theta)
    ssr = float(np.sum((y - fitted) ** 2))
    sst = float(np.sum((y - mean_y) ** 2))
    r_squared = 1.0 - ssr / sst if n > 2 and sst > 0 else None
    rmse = math.sqrt(ssr / n)

    spend_cv = float(spend.std(ddof=1) / mean_s) if n > 1 else 0.0
    posterior_ratio = math.sqrt(max(float(covariance[1, 1]), 0.0)) / PRIOR_LOG_SD
    reason: str | None = None
    if n < MIN_DAYS:
        reason = f"only {n} complete days; a curve needs at least {MIN_DAYS}"
    elif spend_cv < MIN_SPEND_CV:
        reason = (
            f"spend barely varied (coefficient of variation {spend_cv:.3f} < {MIN_SPEND_CV}):"
            " the curve's bend is assumed, not measured"
        )
    elif not converged:
        reason = "the fit did not converge"
    elif posterior_ratio > MAX_POSTERIOR_TO_PRIOR_SD:
        reason = (
            f"the data barely narrow the curve's bend (posterior/prior sd {posterior_ratio:.2f}"
            f" > {MAX_POSTERIOR_TO_PRIOR_SD})"
        )

    return ResponseCurve(
        metric=metric,
        model=MODEL,
        params={
            "top": float(math.exp(theta[0])),
            "scale": float(math.exp(theta[1])),
            "noise_cv": float(noise_cv),
            "mean_spend": mean_s,
        },
        covariance=tuple(tuple(float(v) for v in row) for row in covariance),
        supported=reason is None,
        reason=reason,
        n_days=n,
        window_start=days[0].day,
        window_end=days[-1].day,
        r_squared=r_squared,
        rmse=rmse,
    )


def _levenberg_marquardt(
    residuals: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    theta: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    steps: int = 100,
) -> tuple[np.ndarray, bool]:
    """Least squares of two parameters within a box: damped Gauss-Newton steps.

    A hand-rolled solver, since scipy's general one costs ~100x more per fit on two
    parameters and a decision cycle fits two curves per campaign. Returns the minimum
    and whether it converged.
    """
    r, jac = residuals(theta)
    cost = float(r @ r)
    damping = 1e-3
    for _ in range(steps):
        gradient = jac.T @ r
        hessian = jac.T @ jac
        try:
            step = np.linalg.solve(hessian + damping * np.diag(np.diag(hessian) + 1e-12), -gradient)
        except np.linalg.LinAlgError:
            return theta, False
        candidate = np.clip(theta + step, lower, upper)
        r_new, jac_new = residuals(candidate)
        cost_new = float(r_new @ r_new)
        if np.isfinite(cost_new) and cost_new <= cost:
            settled = float(
                np.abs(candidate - theta).max()
            ) < 1e-9 or cost - cost_new <= 1e-12 * max(cost, 1e-300)
            theta, r, jac, cost = candidate, r_new, jac_new, cost_new
            damping = max(damping / 10, 1e-12)
            if settled:
                return theta, True
        else:
            damping *= 10
            if damping > 1e12:
                # No step lowers the cost: a minimum to within rounding.
                return theta, True
    return theta, False


class CurveSet:
    """Many campaigns' curves as arrays, for allocating over thousands at once.

    Element ``i`` is the ``i``-th curve given to :meth:`from_curves`; every method
    takes and returns arrays in that order.
    """

    __slots__ = ("chol", "log_scale", "log_top", "scale", "supported", "top")

    def __init__(
        self,
        top: np.ndarray,
        scale: np.ndarray,
        chol: np.ndarray | None = None,
        supported: np.ndarray | None = None,
    ) -> None:
        self.top = np.asarray(top, dtype=float)
        self.scale = np.asarray(scale, dtype=float)
        if self.top.shape != self.scale.shape or self.top.ndim != 1:
            raise ValueError("top and scale must be 1-d arrays of one length")
        if np.any(self.top < 0) or np.any(self.scale <= 0):
            raise ValueError("top must be >= 0 and scale > 0")
        n = len(self.top)
        # Cholesky factors of each curve's (log top, log scale) covariance, (n, 2, 2).
        self.chol = np.zeros((n, 2, 2)) if chol is None else np.asarray(chol, dtype=float)
        self.supported = (
            np.ones(n, dtype=bool) if supported is None else np.asarray(supported, dtype=bool)
        )
        with np.errstate(divide="ignore"):
            self.log_top = np.log(self.top)
        self.log_scale = np.log(self.scale)

    @classmethod
    def from_curves(cls, curves: Sequence[ResponseCurve]) -> CurveSet:
        top = np.array([c.top for c in curves], dtype=float)
        scale = np.array([c.scale for c in curves], dtype=float)
        chol = np.zeros((len(curves), 2, 2))
        for i, c in enumerate(curves):
            cov = np.asarray(c.covariance, dtype=float)
            # A tiny ridge keeps a numerically singular covariance factorable.
            chol[i] = np.linalg.cholesky(cov + 1e-12 * np.eye(2)) if c.top > 0 else 0.0
        return cls(top, scale, chol, np.array([c.supported for c in curves], dtype=bool))

    def __len__(self) -> int:
        return len(self.top)

    def predict(self, spend: np.ndarray) -> np.ndarray:
        """Expected daily outcome of each campaign at its ``spend``."""
        return self.top * -np.expm1(-np.maximum(spend, 0.0) / self.scale)

    def marginal(self, spend: np.ndarray) -> np.ndarray:
        """Marginal return of each campaign at its ``spend``."""
        return self.top / self.scale * np.exp(-np.maximum(spend, 0.0) / self.scale)

    def spend_at_marginal(self, level: float | np.ndarray) -> np.ndarray:
        """Spend at which each campaign's marginal return falls to ``level`` (0 if it
        never reaches it): the closed-form inverse of :meth:`marginal`."""
        level = np.maximum(np.asarray(level, dtype=float), 1e-300)
        with np.errstate(divide="ignore"):
            ratio = np.log(self.top / (self.scale * level))
        return np.where(ratio > 0, self.scale * ratio, 0.0)

    def optimistic(self, z: float) -> CurveSet:
        """Every curve with its ``log scale`` ``z`` posterior sds above its mean and its
        ``log top`` at its conditional mean given that ``log scale`` (the bivariate normal
        regression ``cov / var * shift``): for ``z > 0`` a curve that saturates later,
        still close to the point its data pin, by as much as its bend is unknown. A curve
        whose bend is measured barely moves; one resting on the prior moves by its
        prior's width."""
        covariance = np.einsum("nij,nkj->nik", self.chol, self.chol)
        var_scale, cov = covariance[:, 1, 1], covariance[:, 0, 1]
        shift = z * np.sqrt(var_scale)
        with np.errstate(divide="ignore", invalid="ignore"):
            top_shift = np.where(var_scale > 0, cov / var_scale * shift, 0.0)
        top = np.where(self.top > 0, np.exp(self.log_top + top_shift), 0.0)
        return CurveSet(top, np.exp(self.log_scale + shift), self.chol, self.supported)

    def sample(self, rng: np.random.Generator) -> CurveSet:
        """One posterior draw of every curve (Thompson sampling); the draw is exact,
        so the returned set carries no covariance."""
        z = rng.standard_normal((len(self), 2))
        shift = np.stack(
            (
                self.chol[:, 0, 0] * z[:, 0] + self.chol[:, 0, 1] * z[:, 1],
                self.chol[:, 1, 0] * z[:, 0] + self.chol[:, 1, 1] * z[:, 1],
            ),
            axis=1,
        )
        top = np.where(self.top > 0, np.exp(self.log_top + shift[:, 0]), 0.0)
        scale = np.exp(self.log_scale + shift[:, 1])
        return CurveSet(top, scale, None, self.supported)
