"""Are the decision policy's decisions right, and is its confidence honest?

Simulated campaigns (sandbox/simulator.py) run for ``days`` days with anomalies injected
on a seeded schedule, as in bench/quality.py. Every hour, in process and with the
services' own functions:

1. the hour's metrics go through the alerts service's detector and incident folding
   (the open incidents are the alerts a cycle sees);
2. a cycle builds the campaign views (services/decision/cycles.build_views, which also
   measures each metric's day-to-day noise for the prediction intervals) and asks the
   policy (services/decision/policy.decide) for decisions, with the per-type confidence
   the track record so far earns (services/decision/calibration.fit_recalibration), and
   the service's 24-hour guard against repeating an action;
3. each decision goes through the optimizer's safety limits (services/optimizer/limits
   .clamp with the default limits, autonomy ``act``): what passes is applied to the
   simulator from the decision's hour on; what needs approval (confidence under the
   threshold) or is refused stays undone;
4. once a decision's horizon has passed it is measured and judged
   (services/decision/validation.measure and judge), exactly as the decision service does.

Figures: ``validated_decision_accuracy`` is the share of judged decisions that were right
(validated), all cohorts; ``applied_accuracy`` and ``not_applied_accuracy`` keep the two
cohorts apart. ``calibration_ece`` is the expected calibration error (10 bins) of the
confidence the decisions were made with against their verdicts; ``brier`` likewise.
Risk assessments are not simulated (the policy sees alerts only).

Usage: python bench/quality_learning.py --seed S [--campaigns N] [--days D] [--json] [--no-truth]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on the path, and its http.py would hide the
# standard library's http package: the repository's root comes first instead.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

import argparse
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from bench.quality import DEFAULT_QUIET_HOURS, IncidentTracker
from bench.report import print_figures
from sandbox.simulator import CampaignSimulator, random_schedule
from services.alerts.anomaly import DEFAULT_PARAMS
from services.alerts.findings import findings_at
from services.decision import calibration, policy, validation
from services.decision.cycles import HISTORY, REPEAT_GUARD, build_views
from services.decision.views import _observed_and_baseline
from services.optimizer.core.limits import DEFAULT_LIMITS, AppliedChange, Apply, NoAction, clamp
from services.optimizer.core.recommend import UnusableAction, desire_from_action
from shared.connectors.base import Change
from shared.metrics import HourlyMetrics

HOUR = timedelta(hours=1)
START = datetime(2025, 1, 6, tzinfo=UTC)
# Decisions start once the seasonal baseline and the noise have a week behind them.
WARMUP_HOURS = 8 * 24


@dataclass(slots=True)
class Logged:
    decision: policy.Decision
    as_of: datetime
    applied: bool
    verdict: validation.Verdict | None = None
    change_index: int | None = None
    # The verdict on the decision's true effect (the simulator run with and without it).
    truth: str | None = None


@dataclass(slots=True)
class Run:
    logged: list[Logged] = field(default_factory=list)
    unmeasurable: int = 0
    # Every change applied, in order: (campaign, change, effective from).
    changes: list[tuple[UUID, Change, datetime]] = field(default_factory=list)


def _true_verdict(
    make: Callable[[], CampaignSimulator],
    changes: Sequence[tuple[UUID, Change, datetime]],
    item: Logged,
) -> str | None:
    """Judge the decision against its true effect over its window: the simulator with
    the decision carried out against the one without it (same seeds, same noise). An
    applied decision is replayed without its change; one never applied, with the change
    it asked for."""
    prediction = item.decision.impact_prediction
    horizon = int(prediction["horizon_hours"])
    campaign = item.decision.campaign_id
    with_it, without = make(), make()
    for index, (target, change, start) in enumerate(changes):
        with_it.apply_change_at(target, change, start)
        if index != item.change_index:
            without.apply_change_at(target, change, start)
    if not item.applied:
        try:
            desired = desire_from_action(item.decision.action)(
                with_it.state_at(campaign, item.as_of)
            )
        except UnusableAction:
            return None
        if isinstance(desired, NoAction):
            return None
        with_it.apply_change_at(campaign, desired, item.as_of)
    end = item.as_of + horizon * HOUR
    levels = []
    for sim in (with_it, without):
        rows = [
            r
            for step in range(horizon)
            for r in sim.simulate_hour(item.as_of + step * HOUR)
            if r.campaign_id == campaign
        ]
        levels.append(validation.window_level(rows, prediction["metric"], item.as_of, end))
    if levels[0] is None or not levels[1]:
        return None
    effect = levels[0] / levels[1] - 1.0
    low, high = validation.interval_of(prediction)
    expected = float(prediction["expected_change"])
    right = (expected == 0 or effect * expected > 0) and low <= effect <= high
    return validation.VALIDATED if right else validation.INCORRECT


def _alert_dicts(tracker: IncidentTracker, campaign: UUID) -> list[dict[str, Any]]:
    """The campaign's open incidents as the decision service's alert_view rows."""
    rows = []
    for index, held in enumerate(tracker.open_incidents(campaign)):
        incident = held.incident
        observed, baseline = _observed_and_baseline(dict(incident.primary.evidence))
        rows.append(
            {
                "alert_id": UUID(int=(hash((campaign, held.ref, index)) & ((1 << 128) - 1))),
                "campaign_id": campaign,
                "kind": incident.kind,
                "symptoms": incident.symptom_kinds,
                "metric": incident.primary.metric or "",
                "severity": incident.severity.value,
                "observed": observed,
                "baseline": baseline,
            }
        )
    return rows


def _calibration(logged: Sequence[Logged]) -> dict[str, calibration.Fit]:
    history: dict[str, list[calibration.Judged]] = defaultdict(list)
    for item in logged:
        if item.verdict is not None:
            context = item.decision.context_data
            history[item.decision.decision_type].append(
                calibration.Judged(
                    float(context["evidence"]),
                    item.verdict.status == validation.VALIDATED,
                    rule=str(context.get("rule", "")),
                )
            )
    return {kind: calibration.fit_type(history[kind]) for kind in policy.DECISION_TYPES}


def _act(
    sim: CampaignSimulator,
    decision: policy.Decision,
    as_of: datetime,
    applied: dict[UUID, list[AppliedChange]],
    log: list[tuple[UUID, Change, datetime]],
) -> bool:
    """The optimizer's part: the safety limits decide; what passes goes to the platform."""
    campaign = decision.campaign_id
    state = sim.state_at(campaign, as_of)
    try:
        desired = desire_from_action(decision.action)(state)
    except UnusableAction:
        return False
    if isinstance(desired, NoAction):
        return False
    day_start = as_of.replace(hour=0)
    history = applied[campaign]
    today = [c for c in history if c.applied_at >= day_start]
    last = history[-1].applied_at if history else None
    verdict = clamp(desired, state, today, last, decision.confidence, DEFAULT_LIMITS, as_of)
    if not isinstance(verdict, Apply):
        return False
    sim.apply_change_at(campaign, verdict.change, as_of)
    log.append((campaign, verdict.change, as_of))
    history.append(
        AppliedChange(
            change_id=UUID(int=len(history) + 1),
            entity_id=campaign,
            kind=verdict.change.kind,
            before=verdict.before,
            after=verdict.change.value,
            applied_at=as_of,
        )
    )
    return True


def run(
    seed: int,
    campaigns: int = 20,
    days: int = 21,
    anomalies: int | None = None,
    truth: bool = True,
    params: policy.PolicyParams | None = None,
) -> Run:
    hours = days * 24
    count = 2 * campaigns if anomalies is None else anomalies
    probe = CampaignSimulator(campaigns, seed, START)
    schedule = random_schedule(probe.campaign_ids, START, hours, seed, count)
    sim = CampaignSimulator(campaigns, seed, START, schedule)
    params = params or policy.PolicyParams()

    keep = (DEFAULT_PARAMS.seasonal_lookback_days + 1) * 24 + max(DEFAULT_PARAMS.window_hours)
    detector_rows: dict[UUID, deque[HourlyMetrics]] = defaultdict(lambda: deque(maxlen=keep))
    history: dict[UUID, list[HourlyMetrics]] = defaultdict(list)
    tracker = IncidentTracker(DEFAULT_QUIET_HOURS)
    applied: dict[UUID, list[AppliedChange]] = defaultdict(list)
    result = Run()
    pending: list[Logged] = []

    for step in range(hours):
        hour = START + step * HOUR
        for row in sim.simulate_hour(hour):
            series = detector_rows[row.campaign_id]
            series.append(row)
            history[row.campaign_id].append(row)
            tracker.observe(row.campaign_id, findings_at(list(series), hour, DEFAULT_PARAMS), hour)
            tracker.quiet(row.campaign_id, hour)
        as_of = hour + HOUR

        # Judge what is due, as the decision service's job does on the data clock.
        still = []
        for item in pending:
            prediction = item.decision.impact_prediction
            horizon = int(prediction["horizon_hours"])
            if item.as_of + horizon * HOUR > as_of:
                still.append(item)
                continue
            measured = validation.measure(
                history[item.decision.campaign_id], prediction["metric"], item.as_of, horizon
            )
            if measured is None:
                result.unmeasurable += 1
                continue
            item.verdict = validation.judge(prediction, measured, item.applied)
        pending = still

        if step + 1 < WARMUP_HOURS:
            continue
        since = as_of - HISTORY
        state = {
            "as_of": as_of,
            "campaigns": list(sim.campaign_ids),
            "history": [r for c in sim.campaign_ids for r in history[c] if r.hour >= since],
            "alerts": [a for c in sim.campaign_ids for a in _alert_dicts(tracker, c)],
            "risks": [],
        }
        views = build_views(state)
        recent = {
            (str(i.decision.campaign_id), i.decision.action_taken)
            for i in result.logged
            if i.as_of > as_of - REPEAT_GUARD
        }
        fits = _calibration(result.logged)
        chosen = policy.decide(views, params, fits=fits)
        for decision in chosen:
            if (str(decision.campaign_id), decision.action_taken) in recent:
                continue
            done = _act(sim, decision, as_of, applied, result.changes)
            item = Logged(
                decision, as_of, done, change_index=len(result.changes) - 1 if done else None
            )
            result.logged.append(item)
            pending.append(item)
    if truth:

        def make() -> CampaignSimulator:
            return CampaignSimulator(campaigns, seed, START, schedule)

        for item in result.logged:
            if item.verdict is not None:
                item.truth = _true_verdict(make, result.changes, item)
    return result


def figures(
    seed: int,
    campaigns: int = 20,
    days: int = 21,
    params: policy.PolicyParams | None = None,
    truth: bool = True,
) -> dict[str, object]:
    result = run(seed, campaigns, days, truth=truth, params=params)
    judged = [i for i in result.logged if i.verdict is not None]

    def outcome(item: Logged) -> calibration.Outcome:
        assert item.verdict is not None
        return calibration.Outcome(
            item.decision.confidence / 100.0,
            item.verdict.status == validation.VALIDATED,
            applied=item.applied,
        )

    every = [outcome(i) for i in judged]
    truthful = [i for i in judged if i.truth is not None]
    done = [o for o in every if o.applied]
    undone = [o for o in every if not o.applied]
    figures: dict[str, object] = {
        "validated_decision_accuracy": _r(calibration.accuracy(every)),
        "calibration_ece": _r(calibration.ece(every)),
        "brier": _r(calibration.brier(every)),
        # What always saying the share right would score: p(1 - p).
        "brier_base_rate": _r(_base_rate(calibration.accuracy(every))),
        "applied_accuracy": _r(calibration.accuracy(done)),
        "applied_ece": _r(calibration.ece(done)),
        "not_applied_accuracy": _r(calibration.accuracy(undone)),
        "not_applied_ece": _r(calibration.ece(undone)),
        "decisions": len(result.logged),
        "judged": len(judged),
        "applied": len(done),
        "not_applied": len(undone),
        "validated": sum(1 for o in every if o.correct),
        "incorrect": sum(1 for o in every if not o.correct),
        "unmeasurable": result.unmeasurable,
        # How often the service's verdict (from metrics alone) agrees with the verdict on
        # the decision's true effect, which the simulator knows; and how often decisions
        # were truly right.
        "validation_agreement": _share(truthful, lambda i: i.truth == _status(i)),
        "validation_agreement_applied": _share(
            [i for i in truthful if i.applied], lambda i: i.truth == _status(i)
        ),
        "validation_agreement_not_applied": _share(
            [i for i in truthful if not i.applied], lambda i: i.truth == _status(i)
        ),
        "true_accuracy": _share(truthful, lambda i: i.truth == validation.VALIDATED),
        # Of the decisions marked validated, the share the true effect also calls right.
        "validated_precision": _share(
            [i for i in truthful if _status(i) == validation.VALIDATED],
            lambda i: i.truth == validation.VALIDATED,
        ),
        "mean_confidence": _r(sum(o.confidence for o in every) / len(every) if every else None),
    }
    by_type: dict[str, list[calibration.Outcome]] = defaultdict(list)
    for item in judged:
        by_type[item.decision.decision_type].append(outcome(item))
    fits = _calibration(result.logged)
    for kind in policy.DECISION_TYPES:
        figures[f"accuracy_{kind}"] = _r(calibration.accuracy(by_type.get(kind, [])))
        figures[f"judged_{kind}"] = len(by_type.get(kind, []))
        # The calibrator the type ends with, and the verdicts it was fitted on.
        figures[f"calibrator_{kind}"] = f"{fits[kind].kind} ({fits[kind].outcomes:g})"
    figures["reliability"] = [b.as_json() for b in calibration.reliability(every)]
    return figures


def _base_rate(share: float | None) -> float | None:
    return None if share is None else share * (1.0 - share)


def reliability_table(bins: Sequence[dict[str, float | None]]) -> str:
    """The reliability table as aligned text: each confidence bin's decisions, mean
    confidence and share right."""
    lines = [f"{'confidence':<10}{'decisions':>10}  {'mean_confidence':>15}  {'accuracy':>8}"]
    for b in bins:
        mean, right = b["mean_confidence"], b["accuracy"]
        lines.append(
            f"{b['low']:.1f}-{b['high']:.1f}   {b['count']:>10g}"
            f"  {'-' if mean is None else f'{mean:.3f}':>15}"
            f"  {'-' if right is None else f'{right:.3f}':>8}"
        )
    return "\n".join(lines)


def _status(item: Logged) -> str | None:
    return None if item.verdict is None else item.verdict.status


def _share(items: Sequence[Logged], test: Callable[[Logged], bool]) -> float | None:
    return _r(sum(1 for i in items if test(i)) / len(items)) if items else None


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    parser.add_argument(
        "--no-truth",
        action="store_true",
        help="skip replaying each decision's true effect (the validation_* and true_* "
        "figures are then empty)",
    )
    args = parser.parse_args(argv)
    result = figures(args.seed, args.campaigns, args.days, truth=not args.no_truth)
    if args.json:
        print_figures(result, True)
        return 0
    table = result.pop("reliability")
    assert isinstance(table, list)
    print_figures(result, False)
    print(reliability_table(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
