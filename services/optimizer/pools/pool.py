"""Budget pools, the pure part: when a pool is due, how the tenant's safety limits become
absolute bounds on each campaign's budget, and how a reallocation explains itself.

The allocation itself is :func:`services.optimizer.pools.allocator.allocate`; this module turns
its arrays into per-campaign explanations and the pool's predicted totals. Daily spend is
read as the daily budget: a campaign spends up to its budget, and the curves are fitted
on spend per day.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID

import numpy as np

from services.optimizer.pools.allocator import Allocation, Guarded, PoolPrediction
from shared.contracts.limits import AmountLimits

HOUR = timedelta(hours=1)
# The interval level of every prediction a pool shows.
LEVEL = 0.8
# Budgets move in cents; a smaller difference is no change.
CENT = 0.01


def next_due(frequency: str, as_of: datetime) -> datetime:
    """When a pool that ran for the platform hour ``as_of`` is due again: the next hour,
    the start of the next day, or a week on (all on the platform's clock)."""
    if frequency == "hourly":
        return as_of + HOUR
    if frequency == "weekly":
        return as_of + timedelta(days=7)
    day = as_of.astimezone(UTC).date() + timedelta(days=1)
    return datetime.combine(day, time(), tzinfo=UTC)


def is_due(next_at: datetime | None, as_of: datetime) -> bool:
    return next_at is None or as_of >= next_at


# --- the tenant's limits as bounds --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bounds:
    """The lowest and highest budget the tenant's safety limits let a campaign reach in
    this reallocation, and which limit set each (``floor``, ``ceiling``, ``step``,
    ``daily_cap``, ``cooldown``, ``in_flight``, ``paused``, ``current``)."""

    floor: float
    cap: float
    floor_by: str
    cap_by: str

    @property
    def frozen(self) -> bool:
        return self.cap - self.floor < CENT


def act_bounds(
    current: float, limits: AmountLimits, day_start: float, frozen: str | None = None
) -> Bounds:
    """The budget bounds ``clamp`` would enforce on a change from ``current``.

    ``day_start`` is the budget before the day's first change (the current budget when
    there was none); ``frozen`` names why the budget may not move at all now (a cooldown,
    a change in flight, a paused campaign). Bounds are rounded inwards to cents, so a
    budget between them passes ``clamp`` untouched, and always include ``current``: a
    budget set outside the limits by hand is never pushed further out.
    """
    if frozen is not None:
        return Bounds(current, current, frozen, frozen)
    lows: list[tuple[str, float]] = [("current", 0.0)]
    highs: list[tuple[str, float]] = [("current", math.inf)]
    if limits.floor is not None:
        lows.append(("floor", limits.floor))
    if limits.ceiling is not None:
        highs.append(("ceiling", limits.ceiling))
    if limits.max_step_share is not None:
        lows.append(("step", current * (1 - limits.max_step_share)))
        highs.append(("step", current * (1 + limits.max_step_share)))
    if limits.max_daily_share is not None:
        lows.append(("daily_cap", day_start * (1 - limits.max_daily_share)))
        highs.append(("daily_cap", day_start * (1 + limits.max_daily_share)))
    floor_by, floor = max(lows, key=lambda b: b[1])
    cap_by, cap = min(highs, key=lambda b: b[1])
    floor = math.ceil(round(floor * 100, 6)) / 100
    cap = math.floor(round(cap * 100, 6)) / 100 if math.isfinite(cap) else cap
    if floor > current:
        floor, floor_by = current, "current"
    if cap < current:
        cap, cap_by = current, "current"
    return Bounds(floor, cap, floor_by, cap_by)


# --- explaining ---------------------------------------------------------------------------


def curve_summary(fit: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What an explanation shows of a stored fit: which one, its parameters and quality."""
    if fit is None:
        return None
    keys = (
        "model",
        "params",
        "supported",
        "reason",
        "n_days",
        "window_start",
        "window_end",
        "r_squared",
        "rmse",
    )
    summary = {k: fit.get(k) for k in keys}
    summary["fit_id"] = fit.get("id")
    return summary


def _money(value: float) -> str:
    return f"{value:,.2f}"


BOUND_WORDS = {
    "none": "",
    "floor": "held at zero: its first dollar earns less than the pool's marginal ROAS",
    "cap": "given the whole pool",
    "step": "held by the pool's largest step per reallocation (max_step)",
    "limit": "held by the tenant's safety limits",
    "min_share": "held at the pool's minimum share",
    "max_share": "held at the pool's maximum share",
}
LIMIT_WORDS = {
    "floor": "the budget floor",
    "ceiling": "the budget ceiling",
    "step": "the largest step per change",
    "daily_cap": "the largest change per day",
    "cooldown": "the cooldown after its last change",
    "in_flight": "a change still being made",
    "paused": "the campaign being paused",
    "current": "its current budget",
}


def reason_for(
    old: float,
    new: float,
    marginal_old: float,
    marginal_new: float,
    bound_by: str,
    bounds: Bounds,
    pool_marginal: float | None,
) -> str:
    """One sentence a person can check against the numbers beside it."""
    if abs(new - old) < CENT:
        verb = f"kept at {_money(old)}"
    elif new > old:
        verb = f"raised from {_money(old)} to {_money(new)}"
    else:
        verb = f"cut from {_money(old)} to {_money(new)}"
    text = (
        f"{verb}: marginal ROAS {marginal_old:.2f} at the old budget, {marginal_new:.2f} at the new"
    )
    if pool_marginal is not None and math.isfinite(pool_marginal):
        text += f" (the pool's other campaigns are near {pool_marginal:.2f})"
    words = BOUND_WORDS.get(bound_by, bound_by)
    if bound_by == "limit":
        edge = bounds.cap_by if new >= old else bounds.floor_by
        words = f"held by {LIMIT_WORDS.get(edge, edge)}"
    if words:
        text += f"; {words}"
    return text


def held(planned: Allocation, kept: Guarded) -> Allocation:
    """The allocation that keeps the budgets the guard fell back to: nothing bound them,
    and their marginal return is the one they had."""
    return Allocation(
        budgets=kept.budgets,
        bound_by=["none"] * len(kept.budgets),
        marginal_old=planned.marginal_old,
        marginal_new=planned.marginal_old,
        unallocated=planned.unallocated + float(planned.budgets.sum() - kept.budgets.sum()),
        lam=None,
    )


def held_note(plan: PoolPrediction, tolerance: float) -> str:
    """Why a held-back plan was not carried out, with the numbers behind it."""
    return (
        f"the planned move was held back: the pool's revenue could credibly fall by more"
        f" than {tolerance:.0%} (its change, {plan.level:.0%} interval:"
        f" {plan.low:+.1%} to {plan.high:+.1%})"
    )


def pool_marginal(marginal_new: np.ndarray, bound_by: Sequence[str]) -> float | None:
    """The marginal ROAS the unconstrained campaigns settled on (their median)."""
    free = [float(m) for m, b in zip(marginal_new, bound_by, strict=True) if b == "none"]
    return float(np.median(free)) if free else None


@dataclass(frozen=True, slots=True)
class CampaignLine:
    """One campaign going into an allocation."""

    campaign_id: UUID
    name: str | None
    budget: float
    bounds: Bounds


def rounded_budgets(budgets: np.ndarray, lines: Sequence[CampaignLine]) -> list[float]:
    """New budgets in cents, kept within each campaign's bounds (rounding never crosses
    them); a move under a cent is no move."""
    out = []
    for value, line in zip(budgets, lines, strict=True):
        cents = round(float(value), 2)
        cents = min(max(cents, line.bounds.floor), line.bounds.cap)
        if abs(cents - line.budget) < CENT:
            cents = line.budget
        out.append(cents)
    return out
