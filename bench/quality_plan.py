"""ROAS lift of a budget pool that reallocates daily on fitted curves, on the simulator.

Two copies of one seeded simulator run the same pool of campaigns with the same
total daily budget, both split evenly over a warm-up. Then, for
``--days`` simulated days:

- the *static* copy keeps the even split;
- the *reallocating* copy, each morning, fits every campaign's revenue curve
  from its own history (shared/curves.py, the optimizer's code) and moves the
  budgets as the optimizer's pools do (services/optimizer/pools/allocator.py's
  ``reallocation``: the ``performance_based`` strategy, planned over the first
  days on curves optimistic where their bend is unknown (``exploration``), and
  the guard that holds back a plan whose return may credibly fall), at most
  ``MAX_STEP`` per campaign per day. Changes take effect from the next hour, as
  on the sandbox platform.

``reallocation_roas_lift`` is the reallocating pool's ROAS over those days
against the static one's (target >= 15%); ``spend_ratio`` shows both spent the
same. ``oracle_roas_lift`` is a third copy reallocated with plain
``performance_based`` on the simulator's true curves
(``CampaignSimulator.true_curve``) instead of fitted ones: the most that daily
steps of ``MAX_STEP`` could gain on this pool, so ``lift_captured`` says how
much of it the fitted curves found (target >= 0.9). ``worse_than_static`` is
true when the reallocating pool's ROAS is more than 1% below the static one's
(target: never); ``guard_held_days`` counts the days the guard kept the budgets.
``reallocation_roas_lift_thompson`` is a fourth copy reallocated the same way
with ``opportunity_weighted`` (one posterior draw per campaign each day). The
constants were chosen on seeds 1-5 and 10-29; report on other seeds.

Usage: python bench/quality_plan.py --seed S [--campaigns N] [--days D] [--json]
       python bench/quality_plan.py --seeds 41,43,47 [--json]   # one line per seed
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on the path, and its http.py would hide the
# standard library's http package: the repository's root comes first instead.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

import numpy as np

from bench.report import print_figures
from sandbox.simulator import CampaignSimulator
from services.optimizer.pools.allocator import PoolLimits, allocate, reallocation
from shared.connectors.base import Change
from shared.curves import CurveSet, ResponseCurve, daily_totals, fit_curve
from shared.metrics import HourlyMetrics

START = datetime(2025, 3, 3, tzinfo=UTC)
DAY = timedelta(days=1)
CAMPAIGNS = 6
WARMUP_DAYS = 14
DAYS = 14
MAX_STEP = 0.2
# Curves are fitted on the most recent days: old days describe a market that moved.
WINDOW_DAYS = 28
# More than this below the static split's ROAS is worse than static.
WORSE_THAN_STATIC = 0.01


def _run_day(
    sim: CampaignSimulator, day: datetime, history: dict[UUID, list[HourlyMetrics]]
) -> None:
    for hour in sim.simulate_range(day, 24):
        for row in hour:
            history[row.campaign_id].append(row)


def _set_budgets(
    sim: CampaignSimulator, budgets: Sequence[float] | np.ndarray, day: datetime
) -> None:
    for campaign_id, budget in zip(sim.campaign_ids, budgets, strict=True):
        sim.apply_change_at(campaign_id, Change("budget", round(float(budget), 2)), day)


def _totals(history: dict[UUID, list[HourlyMetrics]], since: datetime) -> tuple[float, float]:
    rows = [r for rows in history.values() for r in rows if r.hour >= since]
    return sum(r.spend for r in rows), sum(r.revenue for r in rows)


def _oracle_curves(sim: CampaignSimulator) -> tuple[CurveSet, np.ndarray]:
    """The true revenue curves against the *budget* (spend is ``delivery`` times it),
    and the budgets past which the platform stops buying."""
    truths = [sim.true_curve(cid) for cid in sim.campaign_ids]
    top = np.array([t.top_revenue for t in truths])
    scale = np.array([t.scale / t.delivery for t in truths])
    caps = np.array([t.max_spend / t.delivery for t in truths])
    return CurveSet(top, scale), caps


@dataclass
class _Arm:
    """One copy of the pool: its simulator, its history and today's budgets."""

    sim: CampaignSimulator
    budgets: np.ndarray
    history: dict[UUID, list[HourlyMetrics]] = field(default_factory=dict)

    def fitted(self, day: datetime) -> list[ResponseCurve]:
        window_start = day - WINDOW_DAYS * DAY
        return [
            fit_curve(
                daily_totals(r for r in self.history[cid] if r.hour >= window_start), "revenue"
            )
            for cid in self.sim.campaign_ids
        ]

    def roas(self, since: datetime) -> tuple[float, float]:
        spend, revenue = _totals(self.history, since)
        return revenue / spend, spend


def figures(
    seed: int, campaigns: int = CAMPAIGNS, days: int = DAYS, warmup_days: int = WARMUP_DAYS
) -> dict[str, object]:
    probe = CampaignSimulator(campaigns, seed, START)
    ids = probe.campaign_ids
    total = sum(probe.state_at(cid, START).daily_budget for cid in ids)
    even = np.full(campaigns, total / campaigns)
    names = ("static", "performance_based", "opportunity_weighted", "oracle")
    arms = {
        name: _Arm(CampaignSimulator(campaigns, seed, START), even.copy(), {c: [] for c in ids})
        for name in names
    }
    for arm in arms.values():
        _set_budgets(arm.sim, even, START)
    for d in range(warmup_days):
        for arm in arms.values():
            _run_day(arm.sim, START + d * DAY, arm.history)

    first_day = START + warmup_days * DAY
    true_curves, true_caps = _oracle_curves(probe)
    limits = PoolLimits(max_step=MAX_STEP)
    rng = np.random.default_rng([seed, 99])
    supported = 0
    held = 0
    for d in range(days):
        day = first_day + d * DAY
        for name in ("performance_based", "opportunity_weighted"):
            arm = arms[name]
            fitted = arm.fitted(day)
            if name == "performance_based":
                supported += sum(c.supported for c in fitted)
            _, kept = reallocation(
                total,
                arm.budgets,
                CurveSet.from_curves(fitted),
                strategy=name,  # type: ignore[arg-type]
                limits=limits,
                rng=rng,
                turn=d,
            )
            arm.budgets = kept.budgets
            held += name == "performance_based" and kept.held
        oracle = arms["oracle"]
        oracle.budgets = allocate(
            total,
            oracle.budgets,
            true_curves,
            strategy="performance_based",
            limits=limits,
            caps=true_caps,
        ).budgets
        for name in ("performance_based", "opportunity_weighted", "oracle"):
            _set_budgets(arms[name].sim, arms[name].budgets, day)
        for arm in arms.values():
            _run_day(arm.sim, day, arm.history)

    roas_static, spend_static = arms["static"].roas(first_day)
    roas_fitted, spend_fitted = arms["performance_based"].roas(first_day)
    roas_thompson, _ = arms["opportunity_weighted"].roas(first_day)
    roas_oracle, _ = arms["oracle"].roas(first_day)
    lift = roas_fitted / roas_static - 1
    oracle_lift = roas_oracle / roas_static - 1
    return {
        "seed": seed,
        "campaigns": campaigns,
        "days": days,
        "pool_roas_equal_split": round(roas_static, 4),
        "pool_roas_reallocated": round(roas_fitted, 4),
        "reallocation_roas_lift": round(lift, 4),
        "reallocation_roas_lift_thompson": round(roas_thompson / roas_static - 1, 4),
        "oracle_roas_lift": round(oracle_lift, 4),
        "lift_captured": round(lift / oracle_lift, 3) if oracle_lift > 0 else None,
        "worse_than_static": bool(lift < -WORSE_THAN_STATIC),
        "guard_held_days": int(held),
        "spend_ratio": round(spend_fitted / spend_static, 4),
        "curves_supported_share": round(supported / (days * campaigns), 3),
        "final_budget_shares": [
            round(float(b / total), 3) for b in arms["performance_based"].budgets
        ],
        "oracle_budget_shares": [round(float(b / total), 3) for b in arms["oracle"].budgets],
    }


# What a several-seed run prints per seed without --json.
SUMMARY = (
    "seed",
    "reallocation_roas_lift",
    "oracle_roas_lift",
    "lift_captured",
    "worse_than_static",
    "guard_held_days",
    "reallocation_roas_lift_thompson",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--seeds",
        type=lambda text: [int(x) for x in text.split(",")],
        default=None,
        help="comma-separated seeds, one line of figures each (overrides --seed)",
    )
    parser.add_argument("--campaigns", type=int, default=CAMPAIGNS)
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.seeds is None:
        print_figures(figures(args.seed, args.campaigns, args.days), args.json)
        return 0
    for seed in args.seeds:
        result = figures(seed, args.campaigns, args.days)
        if args.json:
            print_figures(result, True)
        else:
            print(" ".join(f"{name}={result[name]}" for name in SUMMARY))
    return 0


if __name__ == "__main__":
    sys.exit(main())
