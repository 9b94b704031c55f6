"""ROAS lift of a budget pool that reallocates daily on fitted curves, on the simulator.

Two copies of one seeded simulator run the same pool of campaigns with the same
total daily budget, both split evenly over a warm-up. Then, for
``--days`` simulated days:

- the *static* copy keeps the even split;
- the *reallocating* copy, each morning, fits every campaign's revenue curve
  from its own history (shared/curves.py, the optimizer's code) and moves the
  budgets with services/optimizer/allocator.py's ``performance_based``
  strategy, at most ``MAX_STEP`` per campaign per day. Changes take effect from
  the next hour, as on the sandbox platform.

``reallocation_roas_lift`` is the reallocating pool's ROAS over those days
against the static one's (target >= 15%); ``spend_ratio`` shows both spent the
same. ``oracle_roas_lift`` is a third copy reallocated the same way on the
simulator's true curves (``CampaignSimulator.true_curve``) instead of fitted
ones: the most that daily steps of ``MAX_STEP`` could gain on this pool, so
``lift_captured`` says how much of it the fitted curves found. The constants
below were chosen on seeds 1-5; report on other seeds.

Usage: python bench/quality_plan.py --seed S [--campaigns N] [--days D] [--json]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.report import print_figures
from sandbox.simulator import CampaignSimulator
from services.optimizer.allocator import PoolLimits, allocate
from shared.connectors.base import Change
from shared.curves import CurveSet, daily_totals, fit_curve
from shared.metrics import HourlyMetrics

START = datetime(2025, 3, 3, tzinfo=UTC)
DAY = timedelta(days=1)
CAMPAIGNS = 6
WARMUP_DAYS = 14
DAYS = 14
MAX_STEP = 0.2
# Curves are fitted on the most recent days: old days describe a market that moved.
WINDOW_DAYS = 28


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


def figures(
    seed: int, campaigns: int = CAMPAIGNS, days: int = DAYS, warmup_days: int = WARMUP_DAYS
) -> dict[str, object]:
    static = CampaignSimulator(campaigns, seed, START)
    moving = CampaignSimulator(campaigns, seed, START)
    oracle = CampaignSimulator(campaigns, seed, START)
    ids = static.campaign_ids
    total = sum(static.state_at(cid, START).daily_budget for cid in ids)
    even = [total / campaigns] * campaigns
    history_static: dict[UUID, list[HourlyMetrics]] = {cid: [] for cid in ids}
    history_moving: dict[UUID, list[HourlyMetrics]] = {cid: [] for cid in ids}
    history_oracle: dict[UUID, list[HourlyMetrics]] = {cid: [] for cid in ids}
    runs = ((static, history_static), (moving, history_moving), (oracle, history_oracle))
    for sim, _ in runs:
        _set_budgets(sim, even, START)
    for d in range(warmup_days):
        for sim, history in runs:
            _run_day(sim, START + d * DAY, history)

    first_day = START + warmup_days * DAY
    budgets = np.array(even)
    oracle_budgets = np.array(even)
    true_curves, true_caps = _oracle_curves(oracle)
    supported_days = 0
    for d in range(days):
        day = first_day + d * DAY
        window_start = day - WINDOW_DAYS * DAY
        curves = [
            fit_curve(
                daily_totals(r for r in history_moving[cid] if r.hour >= window_start), "revenue"
            )
            for cid in ids
        ]
        supported_days += sum(c.supported for c in curves)
        result = allocate(
            total,
            budgets,
            CurveSet.from_curves(curves),
            strategy="performance_based",
            limits=PoolLimits(max_step=MAX_STEP),
        )
        budgets = result.budgets
        _set_budgets(moving, budgets, day)
        oracle_budgets = allocate(
            total,
            oracle_budgets,
            true_curves,
            strategy="performance_based",
            limits=PoolLimits(max_step=MAX_STEP),
            caps=true_caps,
        ).budgets
        _set_budgets(oracle, oracle_budgets, day)
        for sim, history in runs:
            _run_day(sim, day, history)

    spend_static, revenue_static = _totals(history_static, first_day)
    spend_moving, revenue_moving = _totals(history_moving, first_day)
    spend_oracle, revenue_oracle = _totals(history_oracle, first_day)
    roas_static = revenue_static / spend_static
    roas_moving = revenue_moving / spend_moving
    lift = roas_moving / roas_static - 1
    oracle_lift = (revenue_oracle / spend_oracle) / roas_static - 1
    return {
        "seed": seed,
        "campaigns": campaigns,
        "days": days,
        "pool_roas_equal_split": round(roas_static, 4),
        "pool_roas_reallocated": round(roas_moving, 4),
        "reallocation_roas_lift": round(lift, 4),
        "oracle_roas_lift": round(oracle_lift, 4),
        "lift_captured": round(lift / oracle_lift, 3) if oracle_lift > 0 else None,
        "spend_ratio": round(spend_moving / spend_static, 4),
        "curves_supported_share": round(supported_days / (days * campaigns), 3),
        "final_budget_shares": [round(float(b / total), 3) for b in budgets],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--campaigns", type=int, default=CAMPAIGNS)
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    print_figures(figures(args.seed, args.campaigns, args.days), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
