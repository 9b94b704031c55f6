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

Usage: python bench/competition.py [--seeds 1,2,3] [--days 42] [--campaigns 4] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import numpy as np

from adpilot.progress import add_task, progress_bar
from bench.report import print_figures
from sandbox.auctions import TOP_SLOTS, CompetitorMove, InsightFigures, random_moves
from sandbox.simulator import CampaignSimulator
from services.optimizer.competition.events import DetectedEvent, detect

HOUR = timedelta(hours=1)
START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
# A detected event may start this many days either side of the move.
DAY_TOLERANCE = 1
# Campaign-days per seed whose figures are recomputed auction by auction.
CHECKED_DAYS = 3
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


def build(seed: int, campaigns: int, days: int, moves: int) -> CampaignSimulator:
    simulator = CampaignSimulator(campaigns, seed, START)
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
    for d in range(days):
        day = START.date() + timedelta(days=d)
        for campaign_id in simulator.campaign_ids:
            rows_by_campaign[campaign_id].extend(simulator.auction_insights(campaign_id, day))
        if callable(on_day):
            on_day()
    for campaign_id, rows in rows_by_campaign.items():
        events.extend(detect(campaign_id, rows))
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
    )


def combine(results: Sequence[SeedResult]) -> dict[str, object]:
    events = sum(r.events for r in results)
    moves = sum(r.moves for r in results)
    return {
        "seeds": ",".join(str(r.seed) for r in results),
        "moves": moves,
        "events": events,
        "event_precision": round(sum(r.matched_events for r in results) / events, 3)
        if events
        else 1.0,
        "event_recall": round(sum(r.found_moves for r in results) / moves, 3) if moves else 1.0,
        "metrics_max_abs_error": max(r.metrics_max_abs_error for r in results),
        "missed_moves": [m for r in results for m in r.missed],
        "wrong_events": [w for r in results for w in r.wrong],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds")
    parser.add_argument("--days", type=int, default=42)
    parser.add_argument("--campaigns", type=int, default=4)
    parser.add_argument("--moves", type=int, default=4, help="competitor moves per campaign")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    results = []
    with progress_bar() as bar:
        for seed in seeds:
            task = add_task(bar, f"seed {seed}", args.days)
            results.append(
                run_seed(seed, args.campaigns, args.days, args.moves, lambda t=task: bar.advance(t))
            )
    print_figures(combine(results), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
