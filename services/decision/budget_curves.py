"""What a campaign's response curves say about a budget change. Pure.

The policy's budget rules size their steps and predict their impact here. A curve is
fitted on up to four weeks of complete days (shared/curves.py) and so gives the
*shape* of the response; the campaign's *level* may have moved since (a decline is
exactly that), so every absolute figure is scaled to the last 24 hours: ``level`` is
the last day's revenue over what the curve predicts at the last day's spend. Relative
changes do not depend on the level, only on the bend.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from services.decision.validation import INTERVAL_LEVEL, z_of
from shared.curves import DayTotals, ResponseCurve, fit_curve

# Campaigns whose curves a process keeps; each entry is two curves and their days.
CACHE_SIZE = 20_000


@dataclass(frozen=True, slots=True)
class Curves:
    """A campaign's revenue and conversions curves, fitted on the same days."""

    revenue: ResponseCurve
    conversions: ResponseCurve


class CurveCache:
    """Fitted curves per campaign, refitted only when the campaign's days change.

    Days are complete UTC days, so a campaign's curve changes about once a day and a
    cycle fits at most ``max_fits`` new ones: the rest keep no curve until a later
    cycle (their budget rules fall back to fixed steps), which bounds a cycle's cost
    whatever the tenant's size.
    """

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._entries: OrderedDict[UUID, tuple[tuple[DayTotals, ...], Curves]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, campaign_id: UUID, days: Sequence[DayTotals], *, fit: bool) -> Curves | None:
        """The campaign's curves on ``days``: cached, freshly fitted when ``fit``, or None."""
        key = tuple(days)
        with self._lock:
            entry = self._entries.get(campaign_id)
            if entry is not None and entry[0] == key:
                self._entries.move_to_end(campaign_id)
                return entry[1]
        if not fit:
            return None
        curves = Curves(fit_curve(key, "revenue"), fit_curve(key, "conversions"))
        with self._lock:
            self._entries[campaign_id] = (key, curves)
            self._entries.move_to_end(campaign_id)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return curves


def recent_level(curve: ResponseCurve, spend: float, observed: float) -> float:
    """How the last day's ``observed`` outcome compares with the curve's at its spend."""
    expected = float(curve.predict(spend))
    return observed / expected if expected > 0 and spend > 0 else 1.0


def spend_for_marginal(curve: ResponseCurve, marginal: float) -> float:
    """Daily spend at which the curve's marginal return falls to ``marginal`` (0 if never)."""
    if curve.top <= 0 or marginal <= 0:
        return 0.0 if curve.top <= 0 else math.inf
    ratio = math.log(curve.top / (curve.scale * marginal))
    return curve.scale * ratio if ratio > 0 else 0.0


def spend_for_average(curve: ResponseCurve, average: float, low: float, high: float) -> float:
    """The highest spend in ``[low, high]`` whose average return is at least ``average``
    (``low`` if none is): average return falls as spend grows on a saturating curve."""

    def avg(s: float) -> float:
        return float(curve.predict(s)) / s if s > 0 else math.inf

    if avg(high) >= average:
        return high
    if avg(low) < average:
        return low
    for _ in range(60):
        mid = 0.5 * (low + high)
        if avg(mid) >= average:
            low = mid
        else:
            high = mid
    return low


def relative_change(
    curve: ResponseCurve, old_spend: float, new_spend: float, level: float = INTERVAL_LEVEL
) -> tuple[float, float, float]:
    """Expected relative change of the curve's metric from ``old_spend`` to ``new_spend``
    over a day, and its central ``level`` interval.

    The interval counts the curve's bend uncertainty (the level cancels in a ratio)
    and two days' scatter around it, since the change will be measured from one day
    to another.
    """
    old, new = float(curve.predict(old_spend)), float(curve.predict(new_spend))
    if old <= 0 or new <= 0:
        return (0.0, 0.0, 0.0)
    centre = math.log(new / old)
    cov = curve.covariance

    # d log y / d log scale is -x e^-x / (1 - e^-x); log top cancels in the ratio.
    def bend(spend: float) -> float:
        x = spend / curve.scale
        return x * math.exp(-x) / -math.expm1(-x) if x > 1e-12 else 1.0

    slope = bend(old_spend) - bend(new_spend)
    variance = slope**2 * float(cov[1][1]) + 2 * math.log1p(curve.params.get("noise_cv", 0.0) ** 2)
    z = z_of(level)
    sd = math.sqrt(max(variance, 0.0))
    return (
        math.expm1(centre),
        math.expm1(centre - z * sd),
        math.expm1(centre + z * sd),
    )


def summary(curve: ResponseCurve) -> dict[str, Any]:
    """The curve as a decision records it: model, parameters, fit and support."""
    return {
        "metric": curve.metric,
        "model": curve.model,
        "params": {k: round(v, 6) for k, v in curve.params.items()},
        "supported": curve.supported,
        "reason": curve.reason,
        "n_days": curve.n_days,
        "window_start": curve.window_start.isoformat() if curve.window_start else None,
        "window_end": curve.window_end.isoformat() if curve.window_end else None,
        "r_squared": None if curve.r_squared is None else round(curve.r_squared, 4),
    }


def impact(
    metric: str,
    curve: ResponseCurve,
    revenue: ResponseCurve,
    old_spend: float,
    new_spend: float,
    revenue_level: float,
    *,
    horizon_hours: int,
    level: float = INTERVAL_LEVEL,
) -> dict[str, Any]:
    """A budget decision's predicted impact from its curves (the agreed impact shape):
    the relative change of ``metric`` with its interval, the marginal ROAS at the old
    and the new spend (at the last day's level) and the curves behind them."""
    expected, low, high = relative_change(curve, old_spend, new_spend, level)
    return {
        "metric": metric,
        "expected_change": round(expected, 4),
        "interval": {"low": round(low, 4), "high": round(high, 4), "level": level},
        "horizon_hours": horizon_hours,
        "source": "curve",
        "spend_change": round(new_spend / old_spend - 1.0, 4) if old_spend > 0 else None,
        "marginal_roas": {
            "old": round(revenue_level * float(revenue.marginal(old_spend)), 4),
            "new": round(revenue_level * float(revenue.marginal(new_spend)), 4),
        },
        "curve": summary(curve),
    }


def marginal_phrase(impact: dict[str, Any], curve: ResponseCurve) -> str:
    """The rationale's words for the marginal ROAS the change expects, and how sure."""
    m = impact["marginal_roas"]
    low, high, level = (impact["interval"][k] for k in ("low", "high", "level"))
    support = (
        f"fitted on {curve.n_days} days"
        if curve.supported
        else f"a cautious curve, not yet supported by the data: {curve.reason}"
    )
    return (
        f"on the campaign's response curve ({support}) the marginal ROAS moves from "
        f"{m['old']:.2f}x to {m['new']:.2f}x and {impact['metric']} by "
        f"{impact['expected_change']:+.1%} ({level:.0%} interval {low:+.1%} to {high:+.1%})"
    )
