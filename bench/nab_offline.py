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

With ``--loso``, NAB is also scored leaving one series out: for each series, a setting
of ``GRID`` (the detector's defaults and moves of its key thresholds) is chosen on the
other series (``choose``: among those with recall >= 0.8, the best recall once precision
reaches 0.65, else the best precision; ties to the setting nearest the defaults), among
those that keep the simulator's precision and recall >= 0.9 on its tuning seeds, and
scored on the series left out.

It is the fast offline figure, not the platform benchmark (``bench/nab.py``).

Usage: python bench/nab_offline.py [--loso] [--nab-only | --sim-only] [--json] [--verbose]
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
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

from bench.nab_data import NabScore, NabSeries, Opened, load_nab, score_nab, series_label
from bench.quality import IncidentTracker, run
from services.alerts.anomaly import DEFAULT_PARAMS, DetectorParams
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


def _sim_one(
    args: tuple[int, int, int, bool] | tuple[int, int, int, bool, DetectorParams],
) -> dict[str, object]:
    seed, campaigns, days, quiet = args[:4]
    params = args[4] if len(args) > 4 else DEFAULT_PARAMS  # type: ignore[misc]
    result = run(seed, campaigns, days, anomalies=0 if quiet else None, params=params)
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
    return pool_runs(runs)


def pool_runs(runs: Sequence[Mapping[str, object]]) -> dict[str, object]:
    """Precision and recall of simulator runs, pooled over their counts."""
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
        "runs": list(runs),
    }


def quiet_rate(
    seeds: Sequence[int], campaigns: int = 20, days: int = 14, workers: int = 2
) -> dict[str, object]:
    with ProcessPoolExecutor(workers) as pool:
        runs = list(pool.map(_sim_one, [(s, campaigns, days, True) for s in seeds]))
    alerts = sum(int(r["alerts"]) for r in runs)
    weeks = sum(float(r["campaign_weeks"]) for r in runs)
    return {"alerts_per_campaign_week": round(alerts / weeks, 4), "alerts": alerts, "runs": runs}


# --------------------------------------------------------- leave one series out

# The detector settings tried: the service's own defaults and moves of its key
# thresholds either way. Each is the service's DetectorParams, fed to its own findings_at.
# They are listed by how far they stray from the defaults (the defaults first, then one
# threshold moved, then two), and a tie goes to the earlier one: when the series at hand
# cannot tell two settings apart, the one that assumes least beyond the defaults is kept.
GRID: tuple[tuple[str, DetectorParams], ...] = (
    ("default", DEFAULT_PARAMS),
    ("larger_sustained", replace(DEFAULT_PARAMS, min_relative_change=0.8)),
    ("larger_single", replace(DEFAULT_PARAMS, single_hour_change=2.0)),
    ("looser", replace(DEFAULT_PARAMS, z_threshold=5.0, single_hour_z=6.0)),
    ("stricter", replace(DEFAULT_PARAMS, z_threshold=7.0, single_hour_z=8.0)),
    ("larger_move", replace(DEFAULT_PARAMS, min_relative_change=0.8, single_hour_change=2.0)),
)
MIN_RECALL = 0.8
# Once a setting's precision on the tuning series reaches this, more recall is worth
# more than more precision (the targets are precision >= 0.65 and recall >= 0.8).
MIN_PRECISION = 0.65
MIN_SIM = 0.9


@dataclass(frozen=True, slots=True)
class Fold:
    """One series left out: the setting chosen on the others, and its score on this one."""

    held_out: str
    setting: str
    # The chosen setting's figures on the series it was chosen on.
    tuned_precision: float
    tuned_recall: float
    score: NabScore


@dataclass(frozen=True, slots=True)
class Loso:
    folds: list[Fold]
    precision: float
    recall: float
    alerts: int
    true_alerts: int
    windows: int
    windows_found: int


def choose(
    data: Sequence[NabSeries],
    opened: Mapping[str, Mapping[str, Sequence[Opened]]],
    admissible: Mapping[str, bool],
    min_recall: float = MIN_RECALL,
    min_precision: float = MIN_PRECISION,
) -> tuple[str, NabScore]:
    """The setting (a key of ``opened``, in its order) chosen on ``data`` among those that
    are ``admissible`` (the simulator's figures hold):

    * of those with recall >= ``min_recall`` and precision >= ``min_precision``, the one
      with the best recall, then the best precision;
    * else, of those with recall >= ``min_recall``, the one with the best precision, then
      the best recall;
    * else the first admissible setting (the defaults come first).

    Remaining ties go to the earlier setting."""
    scored = {name: score_nab(data, by_series) for name, by_series in opened.items()}
    allowed = [name for name in opened if admissible.get(name, False)]
    if not allowed:
        raise ValueError("no admissible setting to choose from")
    qualified = [name for name in allowed if scored[name].recall >= min_recall]
    if not qualified:
        return allowed[0], scored[allowed[0]]
    precise = [name for name in qualified if scored[name].precision >= min_precision]
    if precise:
        best = max(
            precise, key=lambda n: (scored[n].recall, scored[n].precision, -allowed.index(n))
        )
    else:
        best = max(
            qualified, key=lambda n: (scored[n].precision, scored[n].recall, -allowed.index(n))
        )
    return best, scored[best]


def leave_one_out(
    data: Sequence[NabSeries],
    opened: Mapping[str, Mapping[str, Sequence[Opened]]],
    admissible: Mapping[str, bool],
    min_recall: float = MIN_RECALL,
) -> Loso:
    """For each series: choose a setting on the other series, score it on the one left
    out; precision and recall pool the held-out counts of all folds."""
    folds = []
    for series in data:
        others = [s for s in data if s.name != series.name]
        setting, tuned = choose(others, opened, admissible, min_recall)
        score = score_nab([series], opened[setting])
        folds.append(Fold(series.name, setting, tuned.precision, tuned.recall, score))
    alerts = sum(f.score.alerts for f in folds)
    true_alerts = sum(f.score.true_alerts for f in folds)
    windows = sum(f.score.windows for f in folds)
    found = sum(f.score.windows_found for f in folds)
    return Loso(
        folds,
        precision=true_alerts / alerts if alerts else 1.0,
        recall=found / windows if windows else 1.0,
        alerts=alerts,
        true_alerts=true_alerts,
        windows=windows,
        windows_found=found,
    )


def _grid_job(job: tuple[str, object, DetectorParams]) -> object:
    kind, item, params = job
    if kind == "nab":
        assert isinstance(item, NabSeries)
        return replay(item.rows, partial(findings_at, params=params))
    assert isinstance(item, tuple)
    return _sim_one((*item, params))


def grid_runs(
    data: Sequence[NabSeries],
    grid: Sequence[tuple[str, DetectorParams]] = GRID,
    seeds: Sequence[int] = TUNING_SEEDS,
    campaigns: int = 20,
    days: int = 14,
    workers: int = 2,
) -> tuple[dict[str, dict[str, list[Opened]]], dict[str, dict[str, object]]]:
    """Every setting on every NAB series (alerts opened) and on the simulator's tuning
    seeds (pooled figures), all in one pool of workers."""
    jobs: list[tuple[str, object, DetectorParams]] = []
    for _, params in grid:
        jobs += [("nab", series, params) for series in data]
        jobs += [("sim", (seed, campaigns, days, False), params) for seed in seeds]
    with ProcessPoolExecutor(workers) as pool:
        results = iter(list(pool.map(_grid_job, jobs)))
    opened: dict[str, dict[str, list[Opened]]] = {}
    simulator: dict[str, dict[str, object]] = {}
    for name, _ in grid:
        opened[name] = {series.name: next(results) for series in data}  # type: ignore[misc]
        simulator[name] = pool_runs([next(results) for _ in seeds])  # type: ignore[misc]
    return opened, simulator


def sim_holds(figures: Mapping[str, object], floor: float = MIN_SIM) -> bool:
    return float(figures["precision"]) >= floor and float(figures["recall"]) >= floor  # type: ignore[arg-type]


def loso_figures(
    data: Sequence[NabSeries] | None = None, workers: int = 2, verbose: bool = False
) -> dict[str, object]:
    """Leave-one-series-out figures on NAB, flat, as the benches print them."""
    data = load_nab() if data is None else data
    opened, simulator = grid_runs(data, workers=workers)
    admissible = {name: sim_holds(figures) for name, figures in simulator.items()}
    loso = leave_one_out(data, opened, admissible)
    figures: dict[str, object] = {
        "nab_loso_precision": round(loso.precision, 4),
        "nab_loso_recall": round(loso.recall, 4),
        "nab_loso_alerts": loso.alerts,
        "nab_loso_true_alerts": loso.true_alerts,
        "nab_loso_windows_found": f"{loso.windows_found}/{loso.windows}",
    }
    for fold in loso.folds:
        label = series_label(fold.held_out)
        counts = fold.score.per_series[fold.held_out]
        figures[f"nab_loso_{label}_setting"] = fold.setting
        figures[f"nab_loso_{label}_alerts"] = counts["alerts"]
        figures[f"nab_loso_{label}_true_alerts"] = counts["true"]
        figures[f"nab_loso_{label}_windows_found"] = counts["windows_found"]
        figures[f"nab_loso_{label}_tuned_precision"] = round(fold.tuned_precision, 4)
        figures[f"nab_loso_{label}_tuned_recall"] = round(fold.tuned_recall, 4)
        if verbose:
            figures[f"nab_loso_{label}_opened"] = " ".join(counts["opened"])  # type: ignore[arg-type]
    for name, sim in simulator.items():
        whole = score_nab(data, opened[name])
        figures[f"grid_{name}"] = (
            f"nab P {whole.precision:.3f} R {whole.recall:.3f} ({whole.alerts} alerts); "
            f"sim tuning P {sim['precision']} R {sim['recall']}"
            f"{'' if admissible[name] else ' (fails the simulator)'}"
        )
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nab-only", action="store_true")
    parser.add_argument("--sim-only", action="store_true")
    parser.add_argument("--held-out-only", action="store_true", help="skip the tuning seeds")
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--verbose", action="store_true", help="list every alert and seed")
    parser.add_argument(
        "--loso",
        action="store_true",
        help="leave one NAB series out: tune a setting of the grid on the others, score it",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures: dict[str, object] = {}
    if args.loso:
        figures.update(loso_figures(workers=args.workers, verbose=args.verbose))
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
