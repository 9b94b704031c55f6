"""Offline alert quality: NAB's real ad-exchange series and the simulator, no servers.

Every hour is fed, in process, through the alerts service's own pure path
(``findings_at``: anomaly detection and pacing), and kept the way the alerts
store keeps them, by the service's own rules through the quality bench's
``IncidentTracker`` (findings grouped into incidents, resolved after
``QUIET_HOURS`` hours of data by ``alert_lifecycle.advance``). Only openings count.

NAB (``/work/shared/data/nab``): one campaign per series, clicks (impressions
for CPM) held constant so spend = price x volume, revenue = 4 x spend and a
daily budget of three times the median daily spend. An alert is true when it
opens inside a labelled window (precision); a window is found when at least one
alert opens inside it (recall).

Simulator: ``bench/quality.py``'s own run and scoring on seeds 1..5 (tuned on)
and 11..15 (held out); and quiet campaigns (nothing injected), where every
alert is a false one, as alerts per campaign-week.

It is the fast offline figure, not the platform benchmark (``bench/nab.py``).

Usage: python bench/nab_offline.py [--nab-only | --sim-only] [--json] [--verbose]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on the path, and its http.py would hide the
# standard library's http package: the repository's root comes first instead.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

import argparse
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta

from bench.nab_data import NabScore, NabSeries, load_nab, score_nab
from bench.quality import IncidentTracker, run
from services.alerts.findings import Finding, findings_at, lookback
from shared.metrics import HourlyMetrics

HOUR = timedelta(hours=1)
# Constant volumes of the mapped campaigns: the price series decides spend.
TUNING_SEEDS = (1, 2, 3, 4, 5)
HELD_OUT_SEEDS = (11, 12, 13, 14, 15)

FindingsAt = Callable[[Sequence[HourlyMetrics], datetime], list[Finding]]


# ------------------------------------------------------------------ replay


def replay(
    series: Sequence[HourlyMetrics], detect: FindingsAt = findings_at
) -> list[tuple[str, datetime]]:
    """Feed one campaign's hours in order; (primary kind, first hour) of every incident opened."""
    keep = lookback()
    tracker = IncidentTracker()
    start = 0
    for end, row in enumerate(series):
        while series[start].hour < row.hour - keep:
            start += 1
        tracker.observe(row.campaign_id, detect(series[start : end + 1], row.hour), row.hour)
        tracker.quiet(row.campaign_id, row.hour)
    return [(alert.kind, alert.hour) for alert in tracker.raised]


# ------------------------------------------------------------------------- NAB


def _nab_one(item: tuple[NabSeries, FindingsAt]) -> list[tuple[str, datetime]]:
    series, detect = item
    return replay(series.rows, detect)


def replay_nab(
    data: Sequence[NabSeries], detect: FindingsAt = findings_at, workers: int = 2
) -> NabScore:
    """The NAB series replayed through the service's findings and incidents, scored as
    ``bench/nab.py`` scores the platform's alerts."""
    with ProcessPoolExecutor(workers) as pool:
        opened = list(pool.map(_nab_one, [(s, detect) for s in data]))
    return score_nab(
        data, {series.name: raised for series, raised in zip(data, opened, strict=True)}
    )


# ------------------------------------------------------------------- simulator


def _sim_one(args: tuple[int, int, int, bool]) -> dict[str, object]:
    seed, campaigns, days, quiet = args
    result = run(seed, campaigns, days, anomalies=0 if quiet else None)
    if quiet:
        return {
            "seed": seed,
            "alerts": result.alerts,
            "campaign_weeks": campaigns * days / 7,
            "kinds": sorted(result.alerts_by_kind),
        }
    return {
        "seed": seed,
        "precision": result.alert_precision,
        "recall": result.alert_recall,
        "alerts": result.alerts,
        "true_alerts": result.true_alerts,
        "injected": result.injected,
        "detected": result.detected,
        "recall_by_kind": result.recall_by_kind,
        "false_by_kind": result.false_alerts_by_kind,
    }


def score_simulator(
    seeds: Sequence[int], campaigns: int = 20, days: int = 14, workers: int = 2
) -> dict[str, object]:
    with ProcessPoolExecutor(workers) as pool:
        runs = list(pool.map(_sim_one, [(s, campaigns, days, False) for s in seeds]))
    alerts = sum(int(r["alerts"]) for r in runs)
    true_alerts = sum(int(r["true_alerts"]) for r in runs)
    injected = sum(int(r["injected"]) for r in runs)
    detected = sum(int(r["detected"]) for r in runs)
    return {
        "precision": round(true_alerts / alerts, 4) if alerts else 1.0,
        "recall": round(detected / injected, 4) if injected else 1.0,
        "min_seed_precision": round(min(float(r["precision"]) for r in runs), 4),
        "min_seed_recall": round(min(float(r["recall"]) for r in runs), 4),
        "alerts": alerts,
        "runs": runs,
    }


def quiet_rate(
    seeds: Sequence[int], campaigns: int = 20, days: int = 14, workers: int = 2
) -> dict[str, object]:
    with ProcessPoolExecutor(workers) as pool:
        runs = list(pool.map(_sim_one, [(s, campaigns, days, True) for s in seeds]))
    alerts = sum(int(r["alerts"]) for r in runs)
    weeks = sum(float(r["campaign_weeks"]) for r in runs)
    return {"alerts_per_campaign_week": round(alerts / weeks, 4), "alerts": alerts, "runs": runs}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nab-only", action="store_true")
    parser.add_argument("--sim-only", action="store_true")
    parser.add_argument("--held-out-only", action="store_true", help="skip the tuning seeds")
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--verbose", action="store_true", help="list every alert and seed")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures: dict[str, object] = {}
    if not args.sim_only:
        nab = replay_nab(load_nab(), workers=args.workers)
        figures.update(
            nab_precision=round(nab.precision, 4),
            nab_recall=round(nab.recall, 4),
            nab_alerts=nab.alerts,
            nab_true_alerts=nab.true_alerts,
            nab_windows_found=f"{nab.windows_found}/{nab.windows}",
        )
        if args.verbose:
            figures["nab_per_series"] = nab.per_series
    if not args.nab_only:
        seed_sets = [("held_out", HELD_OUT_SEEDS)]
        if not args.held_out_only:
            seed_sets.insert(0, ("tuning", TUNING_SEEDS))
        for label, seeds in seed_sets:
            sim = score_simulator(seeds, args.campaigns, args.days, args.workers)
            quiet = quiet_rate(seeds, args.campaigns, args.days, args.workers)
            figures[f"sim_{label}_precision"] = sim["precision"]
            figures[f"sim_{label}_recall"] = sim["recall"]
            figures[f"sim_{label}_min_seed_precision"] = sim["min_seed_precision"]
            figures[f"sim_{label}_min_seed_recall"] = sim["min_seed_recall"]
            figures[f"sim_{label}_alerts"] = sim["alerts"]
            figures[f"quiet_{label}_alerts_per_campaign_week"] = quiet["alerts_per_campaign_week"]
            if args.verbose:
                figures[f"sim_{label}_runs"] = sim["runs"]
                figures[f"quiet_{label}_runs"] = quiet["runs"]
    if args.json:
        print(json.dumps(figures, default=str))
    else:
        for name, value in figures.items():
            if isinstance(value, dict | list):
                print(f"{name}:")
                print(json.dumps(value, indent=1, default=str))
            else:
                print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
