"""Forecast quality on the campaign simulator: MASE and interval coverage.

Rolling origin: for every day from ``--warmup-days`` on, each campaign is forecast from its
history before midnight (at most the service's window) by ``shared.forecasting`` — the
functions the optimizer runs — and scored on the hours that followed with the service's
own scoring. ``forecast_mase`` is the mean MASE of the 24-hour forecasts over spend,
conversions and revenue (target < 0.9); ``baseline_mase`` the same for the seasonal naive
forecast made by the same code; ``interval_coverage_80``/``_95`` the share of 24-hour
totals (the three metrics) inside their intervals (target 75-85% for 80%). The 7-day
forecasts from the first week's origins are scored too (``*_7d``). ``point_inside_80`` is
the share of point totals (spend, conversions, revenue and ROAS, both horizons) inside
their own 80% interval, ``point_outside_1pct`` the share outside it by more than 1% of the
point, and ``point_outside_worst`` the largest such gap (relative to the point).
``--start`` moves the simulated history to another date and ``--origin-hour`` makes each
forecast from that hour of the day instead of midnight. ``--budget-moves``
moves every budget by 20% every other day, as an acting optimizer does, and ``--raw``
models the raw series instead of per unit of budget, to see what that buys.

The settings were tuned on seeds 1-5; report figures on other seeds.

Usage: python bench/quality_forecast.py --seed S [--campaigns N] [--days D]
       [--start YYYY-MM-DD] [--origin-hour H] [--spread X] [--budget-moves] [--raw]
       [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on the path, and its http.py would hide the
# standard library's http package: the repository's root comes first instead.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

import argparse
import statistics
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

from bench.report import print_figures
from sandbox.simulator import CampaignSimulator
from shared.connectors.base import Change
from shared.forecasting import METRICS, TOTALS, Forecast, ForecastConfig, forecast_campaign, score
from shared.metrics import HourlyMetrics

HOUR = timedelta(hours=1)
START = datetime(2025, 1, 6, tzinfo=UTC)


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def point_gaps(forecast: Forecast) -> list[float]:
    """How far each point total lies outside its own 80% interval, relative to the point
    (0 inside)."""
    gaps = []
    for metric in TOTALS:
        point, band = forecast.predicted[metric], forecast.intervals["80"][metric]
        if point is None or band is None:
            continue
        outside = max(band["low"] - point, point - band["high"], 0.0)
        gaps.append(outside / max(abs(point), 1e-9))
    return gaps


def move_budgets(sim: CampaignSimulator, seed: int, days: int, start: datetime = START) -> None:
    """Move every campaign's budget by 20% (up 60% of the time) at 03:00 every other day
    from day 8, as an optimizer acting on the account does."""
    rng = np.random.default_rng([seed, 99])
    for cid in sim.campaign_ids:
        budget = sim.state_at(cid, start).daily_budget
        for day in range(8, days, 2):
            budget *= 1.2 if rng.random() < 0.6 else 0.8
            sim.apply_change_at(
                cid, Change("budget", round(budget, 2)), start + (day * 24 + 3) * HOUR
            )


def figures(
    seed: int,
    *,
    campaigns: int = 20,
    days: int = 35,
    warmup_days: int = 21,
    budget_moves: bool = False,
    per_budget: bool = True,
    start: datetime = START,
    spread: float | None = None,
    level_half_life: float | None = None,
    origin_hour: int = 0,
) -> dict[str, object]:
    if days <= warmup_days:
        raise ValueError("days must exceed warmup_days")
    if not 0 <= origin_hour < 24:
        raise ValueError("origin_hour must be 0-23")
    sim = CampaignSimulator(campaigns, seed, start)
    if budget_moves:
        move_budgets(sim, seed, days, start)
    rows: dict[object, list[HourlyMetrics]] = {cid: [] for cid in sim.campaign_ids}
    for hour in sim.simulate_range(start, days * 24):
        for r in hour:
            rows[r.campaign_id].append(r)
    model = ForecastConfig(per_budget=per_budget)
    if spread is not None:
        model = replace(model, spread=spread)
    if level_half_life is not None:
        model = replace(model, level_half_life=level_half_life or None)
    naive = ForecastConfig(model="seasonal_naive", per_budget=per_budget)
    mase: dict[str, list[float]] = {"model": [], "baseline": [], "model_7d": []}
    per_metric: dict[str, list[float]] = {m: [] for m in METRICS}
    hits: dict[str, list[bool]] = {"80": [], "95": [], "80_7d": [], "95_7d": []}
    hits_by_metric: dict[str, list[bool]] = {m: [] for m in METRICS}
    gaps: list[float] = []
    fallbacks = 0
    seconds: list[float] = []
    end = start + days * 24 * HOUR
    for day in range(warmup_days, days - (1 if origin_hour else 0)):
        origin = start + (day * 24 + origin_hour) * HOUR
        horizons = (24, 168) if origin + 168 * HOUR <= end else (24,)
        for k, cid in enumerate(sim.campaign_ids):
            history = rows[cid]
            rng = np.random.default_rng([seed, k, day])
            began = time.perf_counter()
            made = forecast_campaign(cid, history, origin, horizons=horizons, config=model, rng=rng)
            seconds.append(time.perf_counter() - began)
            (base,) = forecast_campaign(cid, history, origin, horizons=(24,), config=naive, rng=rng)
            for f in made:
                fallbacks += f.model != "ets"
                gaps += point_gaps(f)
                s = score(f.hourly, f.intervals, f.scale, f.period_start, f.horizon_hours, history)
                suffix = "" if f.horizon_hours == 24 else "_7d"
                for level in ("80", "95"):
                    hits[level + suffix] += [bool(s.hits[level][m]) for m in METRICS]
                if f.horizon_hours == 24:
                    for m in METRICS:
                        hits_by_metric[m].append(bool(s.hits["80"][m]))
                if s.mean_mase is not None:
                    mase["model" if f.horizon_hours == 24 else "model_7d"].append(s.mean_mase)
                if f.horizon_hours == 24:
                    for m in METRICS:
                        if s.mase[m] is not None:
                            per_metric[m].append(s.mase[m])  # type: ignore[arg-type]
            b = score(base.hourly, base.intervals, base.scale, base.period_start, 24, history)
            if b.mean_mase is not None:
                mase["baseline"].append(b.mean_mase)
    forecast_mase = _mean(mase["model"])
    baseline = _mean(mase["baseline"])
    return {
        "seed": seed,
        "start": start.date().isoformat(),
        "origin_hour": origin_hour,
        "spread": model.spread,
        "level_half_life": model.level_half_life,
        "campaigns": campaigns,
        "days": days,
        "budget_moves": budget_moves,
        "per_budget": per_budget,
        "forecasts_24h": len(mase["model"]),
        "forecast_mase": forecast_mase,
        "baseline_mase": baseline,
        "mase_ratio": round(forecast_mase / baseline, 4) if forecast_mase and baseline else None,
        **{f"forecast_mase_{m}": _mean(v) for m, v in per_metric.items()},
        "interval_coverage_80": _mean([float(h) for h in hits["80"]]),
        "interval_coverage_95": _mean([float(h) for h in hits["95"]]),
        **{
            f"interval_coverage_80_{m}": _mean([float(h) for h in v])
            for m, v in hits_by_metric.items()
        },
        "forecasts_7d": len(mase["model_7d"]),
        "forecast_mase_7d": _mean(mase["model_7d"]),
        "interval_coverage_80_7d": _mean([float(h) for h in hits["80_7d"]]),
        "interval_coverage_95_7d": _mean([float(h) for h in hits["95_7d"]]),
        "point_inside_80": _mean([float(g == 0.0) for g in gaps]),
        "point_outside_1pct": _mean([float(g > 0.01) for g in gaps]),
        "point_outside_worst": round(max(gaps), 4) if gaps else None,
        "fallback_forecasts": fallbacks,
        # One campaign: three fits, 500 paths each, every horizon asked for.
        "ms_per_campaign_median": round(statistics.median(seconds) * 1000, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument(
        "--start",
        type=lambda text: datetime.fromisoformat(text).replace(tzinfo=UTC),
        default=START,
        help="the simulated history's first day (default %(default)s)",
    )
    parser.add_argument(
        "--origin-hour", type=int, default=0, help="hour of the day forecasts are made (0-23)"
    )
    parser.add_argument(
        "--budget-moves",
        action="store_true",
        help="move every budget by 20%% every other day (as an acting optimizer does)",
    )
    parser.add_argument(
        "--raw", action="store_true", help="model the raw series, not per unit of budget"
    )
    parser.add_argument(
        "--spread", type=float, help="widen the paths by this instead of the service's setting"
    )
    parser.add_argument(
        "--level-half-life",
        type=float,
        help="hours over which a shock to the level fades by half in the paths (0: never)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    args = parser.parse_args(argv)
    result = figures(
        args.seed,
        campaigns=args.campaigns,
        days=args.days,
        budget_moves=args.budget_moves,
        per_budget=not args.raw,
        start=args.start,
        origin_hour=args.origin_hour,
        spread=args.spread,
        level_half_life=args.level_half_life,
    )
    print_figures(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
