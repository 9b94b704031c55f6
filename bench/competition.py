"""Competitive intelligence on the sandbox's auctions, against their ground truth.

For each seed the simulator runs campaigns in search auctions against seeded
competitors who make moves (enter, exit, jump their bids and reach, retreat) after a
two-week warm-up, with anomalies of other causes injected on the same campaigns. Then:

- **Auction Insights**: on sampled campaign-days, the six reported figures are compared
  with their definitions recomputed auction by auction from the raw auctions
  (``metrics_max_abs_error``; the report rounds to four decimals).
- **Competitor events**: the optimizer's detector (services/optimizer/competition/
  events.py) reads each campaign's daily Auction Insights; an event is right when the
  competitor made a move of that kind on that campaign within a day of its start
  (``event_precision``, ``event_recall``).
- **Incident links**: every hour of every campaign goes through the alerts service's
  detector and incident grouping (as bench/quality.py replays them), and each incident
  through the alerts service's explainer (services/alerts/explain.py) with the events
  found and the campaign's hours for the seasonality check. An incident is *caused by a
  step jump* when it opens within ``JUMP_HOURS`` of an aggressive move on its campaign
  and no injected anomaly is near; it is *caused by something else* when it matches an
  injected anomaly (bench/quality.py's rule) and no competitor moved on its campaign
  within ``CLEAR_HOURS``. ``incident_link_rate``: the share of step-jump incidents linked
  to the competitor that jumped; ``false_link_rate``: the share of the others linked to
  any competitor.

Usage: python bench/competition.py [--seeds 1,2,3] [--days 42] [--campaigns 8] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

import argparse
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import numpy as np

from adpilot.progress import add_task, progress_bar
from bench.quality import DEFAULT_GRACE_HOURS, IncidentTracker, RaisedAlert
from bench.quality import alert_matches as matches_anomaly
from bench.report import print_figures
from sandbox.auctions import TOP_SLOTS, CompetitorMove, InsightFigures, random_moves
from sandbox.simulator import CampaignSimulator, InjectedAnomaly, random_schedule
from services.alerts import explain
from services.alerts.anomaly import DEFAULT_PARAMS
from services.alerts.findings import findings_at
from services.optimizer.competition.events import DetectedEvent, detect
from shared.metrics import HourlyMetrics

HOUR = timedelta(hours=1)
START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
# A detected event may start this many days either side of the move.
DAY_TOLERANCE = 1
# Campaign-days per seed whose figures are recomputed auction by auction.
CHECKED_DAYS = 3
# An incident opening this long after an aggressive move on its campaign is the move's.
JUMP_HOURS = 36
# An incident of an injected anomaly counts as "something else" only with no competitor
# move on its campaign this near.
CLEAR_HOURS = 48
FIGURES = (
    "impression_share",
    "overlap_rate",
    "position_above_rate",
    "top_of_page_rate",
    "abs_top_of_page_rate",
    "outranking_share",
)


@dataclass(frozen=True, slots=True)
class SeedResult:
    seed: int
    moves: int
    events: int
    matched_events: int
    found_moves: int
    metrics_max_abs_error: float
    missed: list[str]
    wrong: list[str]
    jump_incidents: int = 0
    jump_linked: int = 0
    other_incidents: int = 0
    other_linked: int = 0


def build(seed: int, campaigns: int, days: int, moves: int) -> CampaignSimulator:
    probe = CampaignSimulator(campaigns, seed, START)
    anomalies = random_schedule(probe.campaign_ids, START, days * 24, seed, 2 * campaigns)
    simulator = CampaignSimulator(campaigns, seed, START, anomalies)
    for campaign_id in simulator.campaign_ids:
        market = simulator.open_market(campaign_id, competitors=max(moves, 4) + 1)
        for move in random_moves(market, START, days, count=moves):
            simulator.add_competitor_move(move)
    return simulator


def _matches(event: DetectedEvent, move: CompetitorMove) -> bool:
    return (
        event.campaign_id == move.campaign_id
        and event.competitor == move.domain
        and event.kind == move.kind
        and abs((event.started_on - move.day).days) <= DAY_TOLERANCE
    )


def definitions_error(simulator: CampaignSimulator, campaign_id: UUID, day: date) -> float:
    """The largest gap between a day's reported figures and their definitions over the
    raw auctions, recomputed here auction by auction."""
    market = simulator.market(campaign_id)
    assert market is not None
    first = datetime(day.year, day.month, day.day, tzinfo=UTC)
    logs = [simulator.auction_log(campaign_id, first + h * HOUR) for h in range(24)]
    positions = np.concatenate([log.positions for log in logs if log is not None])
    ours = positions[:, 0]
    reported = {r.domain: r for r in simulator.auction_insights(campaign_id, day)}
    worst = 0.0
    for c, domain in enumerate(market.domains):
        row = reported.get(domain)
        if row is None:
            continue
        theirs = positions[:, 1 + c]
        both = (ours > 0) & (theirs > 0)
        truth = {
            "impression_share": (theirs > 0).mean(),
            "overlap_rate": both.sum() / (ours > 0).sum(),
            "position_above_rate": (both & (theirs < ours)).sum() / both.sum(),
            "top_of_page_rate": ((theirs > 0) & (theirs <= TOP_SLOTS)).sum() / (theirs > 0).sum(),
            "abs_top_of_page_rate": (theirs == 1).sum() / (theirs > 0).sum(),
            "outranking_share": ((ours > 0) & ((theirs == 0) | (ours < theirs))).mean(),
        }
        for name in FIGURES:
            value = getattr(row, name)
            if value is None and name == "impression_share" and row.impression_share_below_10:
                value = truth[name] if truth[name] < 0.10 else float("inf")
            if value is not None:
                worst = max(worst, abs(float(value) - float(truth[name])))
    return worst


def run_seed(seed: int, campaigns: int, days: int, moves: int, on_day: object = None) -> SeedResult:
    simulator = build(seed, campaigns, days, moves)
    truth = simulator.competitor_moves
    events: list[DetectedEvent] = []
    rows_by_campaign: dict[UUID, list[InsightFigures]] = {c: [] for c in simulator.campaign_ids}
    tracker = IncidentTracker()
    hours: dict[UUID, list[HourlyMetrics]] = {c: [] for c in simulator.campaign_ids}
    for d in range(days):
        day = START.date() + timedelta(days=d)
        _detect_day(simulator, tracker, hours, d)
        for campaign_id in simulator.campaign_ids:
            rows_by_campaign[campaign_id].extend(simulator.auction_insights(campaign_id, day))
        if callable(on_day):
            on_day()
    for campaign_id, rows in rows_by_campaign.items():
        events.extend(detect(campaign_id, rows))
    links = score_links(tracker.raised, events, hours, truth, simulator.ground_truth)
    rng = np.random.default_rng(seed)
    checked = [
        (simulator.campaign_ids[int(rng.integers(campaigns))], int(rng.integers(days)))
        for _ in range(CHECKED_DAYS)
    ]
    error = max(
        definitions_error(simulator, c, START.date() + timedelta(days=d)) for c, d in checked
    )
    matched = [e for e in events if any(_matches(e, m) for m in truth)]
    found = [m for m in truth if any(_matches(e, m) for e in events)]
    return SeedResult(
        seed=seed,
        moves=len(truth),
        events=len(events),
        matched_events=len(matched),
        found_moves=len(found),
        metrics_max_abs_error=error,
        missed=[f"{m.kind} {m.domain} {m.day}" for m in truth if m not in found],
        wrong=[f"{e.kind} {e.competitor} {e.started_on}" for e in events if e not in matched],
        **links,
    )


def _detect_day(
    simulator: CampaignSimulator,
    tracker: IncidentTracker,
    hours: dict[UUID, list[HourlyMetrics]],
    day: int,
) -> None:
    """One day of hours through the alerts service's detector, as bench/quality.py does."""
    keep = (DEFAULT_PARAMS.seasonal_lookback_days + 1) * 24 + max(DEFAULT_PARAMS.window_hours)
    for h in range(24):
        hour = START + (day * 24 + h) * HOUR
        for row in simulator.simulate_hour(hour):
            series = hours[row.campaign_id]
            series.append(row)
            recent = series[-keep:]
            tracker.observe(row.campaign_id, findings_at(recent, hour, DEFAULT_PARAMS), hour)
            tracker.quiet(row.campaign_id, hour)


def _linked(
    incident: RaisedAlert, events: Sequence[DetectedEvent], rows: Sequence[HourlyMetrics]
) -> set[str]:
    """The competitors the alerts service's explainer links the incident to."""
    facts = explain.incident_facts(incident.campaign_id, incident.kind, None, incident.hour)
    seasonal = None
    if facts.metric is not None and facts.direction is not None:
        seasonal = explain.seasonal_check(rows, facts.metric, facts.direction, incident.hour)
    found = [
        explain.CompetitorEventFacts(
            UUID(int=i),
            e.campaign_id,
            e.competitor,
            e.kind,
            e.started_on,
            e.size,
            e.score,
            e.confidence,
        )
        for i, e in enumerate(events)
        if e.campaign_id == incident.campaign_id
    ]
    explanation = explain.explain(facts, (), seasonal, found)
    return {str(c.details["competitor"]) for c in explanation.of("competitor")}


def score_links(
    incidents: Sequence[RaisedAlert],
    events: Sequence[DetectedEvent],
    hours: dict[UUID, list[HourlyMetrics]],
    moves: Sequence[CompetitorMove],
    anomalies: Sequence[InjectedAnomaly],
) -> dict[str, int]:
    counts = {"jump_incidents": 0, "jump_linked": 0, "other_incidents": 0, "other_linked": 0}
    for incident in incidents:
        here = [m for m in moves if m.campaign_id == incident.campaign_id]
        since = [(incident.hour - m.start_hour) / HOUR for m in here]
        jumps = [
            m
            for m, h in zip(here, since, strict=True)
            if m.kind == "aggressive" and 0 <= h < JUMP_HOURS
        ]
        caused = [a for a in anomalies if matches_anomaly(incident, a, DEFAULT_GRACE_HOURS)]
        near = [
            a
            for a in anomalies
            if a.campaign_id == incident.campaign_id
            and abs((incident.hour - a.start_hour) / HOUR) < CLEAR_HOURS
        ]
        linked = _linked(incident, events, hours[incident.campaign_id])
        if jumps and not near:
            counts["jump_incidents"] += 1
            counts["jump_linked"] += any(m.domain in linked for m in jumps)
        elif caused and not any(abs(h) < CLEAR_HOURS for h in since):
            counts["other_incidents"] += 1
            counts["other_linked"] += bool(linked)
    return counts


def combine(results: Sequence[SeedResult]) -> dict[str, object]:
    events = sum(r.events for r in results)
    moves = sum(r.moves for r in results)
    jump = sum(r.jump_incidents for r in results)
    other = sum(r.other_incidents for r in results)
    return {
        "seeds": ",".join(str(r.seed) for r in results),
        "moves": moves,
        "events": events,
        "event_precision": round(sum(r.matched_events for r in results) / events, 3)
        if events
        else 1.0,
        "event_recall": round(sum(r.found_moves for r in results) / moves, 3) if moves else 1.0,
        "metrics_max_abs_error": max(r.metrics_max_abs_error for r in results),
        "jump_incidents": jump,
        "incident_link_rate": round(sum(r.jump_linked for r in results) / jump, 3)
        if jump
        else None,
        "other_incidents": other,
        "false_link_rate": round(sum(r.other_linked for r in results) / other, 3)
        if other
        else None,
        "missed_moves": [m for r in results for m in r.missed],
        "wrong_events": [w for r in results for w in r.wrong],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds")
    parser.add_argument("--days", type=int, default=42)
    parser.add_argument("--campaigns", type=int, default=8)
    parser.add_argument("--moves", type=int, default=4, help="competitor moves per campaign")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    results = []
    # Seeds are independent: one process each, as many at once as there are cores.
    with progress_bar() as bar, ProcessPoolExecutor(max(1, args.workers)) as pool:
        task = add_task(bar, "seeds", len(seeds))
        runs = [
            pool.submit(run_seed, seed, args.campaigns, args.days, args.moves) for seed in seeds
        ]
        for run in as_completed(runs):
            results.append(run.result())
            bar.advance(task)
    print_figures(combine(sorted(results, key=lambda r: r.seed)), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
