"""Alert precision and recall of the anomaly detector on the campaign simulator.

The simulator runs with a seeded schedule of injected anomalies; every hour
is fed, in process, through the same pure detector and pacing check the
alerts service uses. Each hour's findings are grouped into incidents and
folded into the open ones by the service's own functions
(services/alerts/incidents.py, on the rule of alert_lifecycle.py); every
incident opened is one alert, scored against the simulator's ground truth.
On campaigns with nothing injected, ``alerts_per_campaign_week`` counts how
often a person would be called for nothing (target: at most 0.2).

Alongside alerts it prints the other areas' quality figures, each measured by its own
module on the same seed: ``plan`` (bench/quality_plan.py, the budget pool's ROAS lift),
``forecast`` (bench/quality_forecast.py, MASE and interval coverage), ``experiments``
(bench/quality_experiments.py, A/A false positives under peeking and power) and
``learning`` (bench/quality_learning.py, validated decision accuracy and calibration).

Usage: python bench/quality.py --seed S [--area all|alerts|plan|...] [--campaigns N]
       [--days D] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on the path, and its http.py would hide the
# standard library's http package: the repository's root comes first instead.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

import argparse
import importlib
import statistics
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from adpilot.progress import add_task, progress_bar
from bench.report import print_figures
from sandbox.simulator import (
    ANOMALY_KINDS,
    CampaignSimulator,
    InjectedAnomaly,
    random_schedule,
)
from services.alerts.alert_lifecycle import QUIET_HOURS, QuietHour, Transition, advance
from services.alerts.anomaly import DEFAULT_PARAMS, DetectorParams
from services.alerts.findings import Finding, findings_at
from services.alerts.incidents import OpenIncident, fold, group
from shared.metrics import HourlyMetrics

HOUR = timedelta(hours=1)
START = datetime(2025, 1, 6, tzinfo=UTC)

# Alerts that raise within this many hours after an anomaly ends still count:
# multi-hour windows and the day-to-date pacing view see a fault late.
DEFAULT_GRACE_HOURS = 3
# An incident closes after this many hours without a repeat of its alert.
DEFAULT_QUIET_HOURS = QUIET_HOURS
# Pacing alerts judge spend accumulated since midnight UTC, so an anomaly's
# effect on them lasts until the day ends, however short the anomaly was.
DAY_TO_DATE_KINDS: frozenset[str] = frozenset({"budget_pacing", "budget_exceeded"})


@dataclass(frozen=True, slots=True)
class RaisedAlert:
    """A new incident on a campaign: its primary ``kind`` and every kind it opened with."""

    campaign_id: UUID
    kind: str
    hour: datetime
    kinds: frozenset[str] = frozenset()


@dataclass(slots=True)
class IncidentTracker:
    """The alerts store's bookkeeping, kept in memory; the decisions are the service's own.

    Each hour's findings of a campaign are grouped (:func:`incidents.group`) and folded
    into its open incidents (:func:`incidents.fold`): a group sharing a kind with an open
    incident continues it, any other opens a new incident. An incident left quiet for
    ``quiet_hours`` hours of data resolves (:func:`alert_lifecycle.advance`).
    """

    quiet_hours: int = DEFAULT_QUIET_HOURS
    raised: list[RaisedAlert] = field(default_factory=list)
    _open: dict[UUID, list[OpenIncident[int]]] = field(default_factory=lambda: defaultdict(list))

    def observe(
        self, campaign_id: UUID, findings: Sequence[Finding], hour: datetime
    ) -> list[RaisedAlert]:
        """Record one hour's findings of a campaign; returns the incidents they opened."""
        opened = []
        for found in group(findings):
            current = self._open[campaign_id]
            folded = fold(current, found, hour, self.quiet_hours)
            assert folded.step.state is not None
            gone = {id(o) for o in folded.resolved}
            if folded.step.transition is Transition.OPEN:
                ref = len(self.raised)
                alert = RaisedAlert(campaign_id, found.kind, hour, found.kinds)
                self.raised.append(alert)
                opened.append(alert)
            else:
                assert folded.continued is not None
                ref = folded.continued.ref
                gone.add(id(folded.continued))
            self._open[campaign_id] = [
                *(o for o in current if id(o) not in gone),
                OpenIncident(ref, folded.step.state, folded.incident),
            ]
        return opened

    def open_incidents(self, campaign_id: UUID) -> list[OpenIncident[int]]:
        """The campaign's incidents open now (what a cycle would see as open alerts)."""
        return list(self._open[campaign_id])

    def quiet(self, campaign_id: UUID, hour: datetime) -> None:
        """``hour`` is the campaign's newest hour: resolve its incidents quiet long enough."""
        self._open[campaign_id] = [
            o
            for o in self._open[campaign_id]
            if advance(o.state, QuietHour(hour), self.quiet_hours).transition
            is not Transition.RESOLVE
        ]


@dataclass(frozen=True, slots=True)
class QualityScore:
    alert_precision: float
    alert_recall: float
    alerts: int
    true_alerts: int
    injected: int
    detected: int
    median_detection_delay_hours: float | None
    recall_by_kind: dict[str, float]
    alerts_by_kind: dict[str, int]
    false_alerts_by_kind: dict[str, int]
    # Campaigns with nothing injected, and the incidents per week each got.
    quiet_campaigns: int = 0
    alerts_per_campaign_week: float | None = None


def _attribution_end(anomaly: InjectedAnomaly, alert: RaisedAlert, grace_hours: int) -> datetime:
    end = anomaly.end_hour + grace_hours * HOUR
    if (alert.kinds or {alert.kind}) & DAY_TO_DATE_KINDS:
        last_hour = anomaly.end_hour - HOUR
        end_of_day = datetime.combine(last_hour.date(), datetime.min.time(), UTC) + 24 * HOUR
        end = max(end, end_of_day)
    return end


def alert_matches(alert: RaisedAlert, anomaly: InjectedAnomaly, grace_hours: int) -> bool:
    return (
        alert.campaign_id == anomaly.campaign_id
        and anomaly.start_hour <= alert.hour < _attribution_end(anomaly, alert, grace_hours)
    )


def score(
    alerts: Sequence[RaisedAlert],
    ground_truth: Sequence[InjectedAnomaly],
    grace_hours: int = DEFAULT_GRACE_HOURS,
    campaigns: Sequence[UUID] = (),
    weeks: float = 0.0,
) -> QualityScore:
    """Precision and recall of raised alerts (incidents) against injected anomalies.

    An alert is true when it is raised on the anomaly's campaign between its
    start and ``grace_hours`` after its end (for day-to-date pacing kinds, at
    least until that UTC day ends). An anomaly is detected when at least one
    alert is true for it; the delay is from its start to the first such alert.
    With no alerts precision is 1.0, with nothing injected recall is 1.0.
    ``alerts_per_campaign_week`` is over the ``campaigns`` with nothing injected, each
    watched for ``weeks``; None without such campaigns.
    """
    true_alerts = 0
    by_kind: dict[str, int] = defaultdict(int)
    false_by_kind: dict[str, int] = defaultdict(int)
    for alert in alerts:
        by_kind[alert.kind] += 1
        if any(alert_matches(alert, anomaly, grace_hours) for anomaly in ground_truth):
            true_alerts += 1
        else:
            false_by_kind[alert.kind] += 1

    delays: list[float] = []
    found_by_kind: dict[str, list[bool]] = defaultdict(list)
    for anomaly in ground_truth:
        hits = [alert.hour for alert in alerts if alert_matches(alert, anomaly, grace_hours)]
        found_by_kind[anomaly.kind].append(bool(hits))
        if hits:
            delays.append((min(hits) - anomaly.start_hour) / HOUR)

    injected_on = {anomaly.campaign_id for anomaly in ground_truth}
    quiet = [c for c in campaigns if c not in injected_on]
    on_quiet = sum(1 for alert in alerts if alert.campaign_id not in injected_on)
    per_week = on_quiet / (len(quiet) * weeks) if quiet and weeks > 0 else None

    return QualityScore(
        alert_precision=true_alerts / len(alerts) if alerts else 1.0,
        alert_recall=len(delays) / len(ground_truth) if ground_truth else 1.0,
        alerts=len(alerts),
        true_alerts=true_alerts,
        injected=len(ground_truth),
        detected=len(delays),
        median_detection_delay_hours=statistics.median(delays) if delays else None,
        recall_by_kind={
            kind: sum(found) / len(found) for kind, found in sorted(found_by_kind.items())
        },
        alerts_by_kind=dict(sorted(by_kind.items())),
        false_alerts_by_kind=dict(sorted(false_by_kind.items())),
        quiet_campaigns=len(quiet),
        alerts_per_campaign_week=per_week,
    )


def run(
    seed: int,
    campaigns: int = 20,
    days: int = 14,
    anomalies: int | None = None,
    params: DetectorParams = DEFAULT_PARAMS,
    grace_hours: int = DEFAULT_GRACE_HOURS,
    quiet_hours: int = DEFAULT_QUIET_HOURS,
    on_hour: Callable[[], None] | None = None,
) -> QualityScore:
    """Simulate, detect hour by hour and score; ``anomalies`` defaults to two per campaign.
    ``on_hour`` hears of each simulated hour once it is detected."""
    hours = days * 24
    count = 2 * campaigns if anomalies is None else anomalies
    probe = CampaignSimulator(campaigns, seed, START)
    schedule = random_schedule(probe.campaign_ids, START, hours, seed, count)
    simulator = CampaignSimulator(campaigns, seed, START, schedule)

    # The alerts service's own path: the same findings for each hour, the same quiet period.
    keep = (params.seasonal_lookback_days + 1) * 24 + max(params.window_hours)
    history: dict[UUID, deque[HourlyMetrics]] = defaultdict(lambda: deque(maxlen=keep))
    tracker = IncidentTracker(quiet_hours)

    for step in range(hours):
        hour = START + step * HOUR
        for row in simulator.simulate_hour(hour):
            series = history[row.campaign_id]
            series.append(row)
            tracker.observe(row.campaign_id, findings_at(list(series), hour, params), hour)
            tracker.quiet(row.campaign_id, hour)
        if on_hour is not None:
            on_hour()
    # Weeks in which the detector judges more than outages (it first waits for
    # seasonal_min_days of history); alerts of the warm-up still count, so the
    # rate errs high rather than low.
    judged = max(0, hours - params.seasonal_min_days * 24)
    return score(
        tracker.raised,
        simulator.ground_truth,
        grace_hours,
        campaigns=simulator.campaign_ids,
        weeks=judged / (7 * 24),
    )


def _figures(result: QualityScore) -> dict[str, object]:
    # The same keys on every run, so results of different seeds line up.
    figures: dict[str, object] = {
        "alert_precision": round(result.alert_precision, 4),
        "alert_recall": round(result.alert_recall, 4),
        "alerts": result.alerts,
        "true_alerts": result.true_alerts,
        "false_alerts": result.alerts - result.true_alerts,
        "injected": result.injected,
        "detected": result.detected,
        "median_detection_delay_hours": result.median_detection_delay_hours,
        "pacing_alerts": sum(result.alerts_by_kind.get(k, 0) for k in DAY_TO_DATE_KINDS),
        "false_pacing_alerts": sum(
            result.false_alerts_by_kind.get(k, 0) for k in DAY_TO_DATE_KINDS
        ),
        "quiet_campaigns": result.quiet_campaigns,
        "alerts_per_campaign_week": (
            None
            if result.alerts_per_campaign_week is None
            else round(result.alerts_per_campaign_week, 4)
        ),
    }
    for kind in ANOMALY_KINDS:
        recall = result.recall_by_kind.get(kind)
        figures[f"recall_{kind}"] = None if recall is None else round(recall, 4)
    return figures


# The other areas' figures, each from its own module (run alone with ``--area``).
AREAS = ("alerts", "plan", "forecast", "experiments", "learning")


def _area_figures(area: str, seed: int) -> dict[str, object]:
    # Imported on demand: each area pulls in what it measures (statsmodels, the policy...).
    module = importlib.import_module(f"bench.quality_{area}")
    figures: dict[str, object] = module.figures(seed)
    return figures


def combine(per_area: dict[str, dict[str, object]]) -> dict[str, object]:
    """One flat set of figures; a name two areas both use (``campaigns``, ``days``) is
    prefixed with its area so neither hides the other."""
    counts: dict[str, int] = defaultdict(int)
    for figures in per_area.values():
        for name in figures:
            counts[name] += 1
    combined: dict[str, object] = {}
    for area, figures in per_area.items():
        for name, value in figures.items():
            if name == "seed":
                combined["seed"] = value
            elif counts[name] > 1:
                combined[f"{area}_{name}"] = value
            else:
                combined[name] = value
    return combined


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument(
        "--area",
        choices=("all", *AREAS),
        default="all",
        help="one area's figures (default: every area)",
    )
    parser.add_argument("--campaigns", type=int, default=20, help="alerts only")
    parser.add_argument("--days", type=int, default=14, help="alerts only")
    parser.add_argument("--anomalies", type=int, default=None, help="default: 2 per campaign")
    parser.add_argument("--grace-hours", type=int, default=DEFAULT_GRACE_HOURS)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    args = parser.parse_args(argv)
    areas = AREAS if args.area == "all" else (args.area,)
    per_area: dict[str, dict[str, object]] = {}
    with progress_bar() as bar:
        # One bar per area; the alerts' moves with each simulated hour.
        tasks = {
            area: add_task(bar, area, args.days * 24 if area == "alerts" else 1) for area in areas
        }
        for area in areas:
            if area == "alerts":
                result = run(
                    args.seed,
                    campaigns=args.campaigns,
                    days=args.days,
                    anomalies=args.anomalies,
                    grace_hours=args.grace_hours,
                    on_hour=lambda: bar.advance(tasks["alerts"]),
                )
                per_area[area] = {"seed": args.seed, **_figures(result)}
            else:
                per_area[area] = _area_figures(area, args.seed)
                bar.advance(tasks[area])
    print_figures(combine(per_area), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
