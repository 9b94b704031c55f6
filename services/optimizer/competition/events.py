"""Competitor events in a campaign's daily Auction Insights (pure; no I/O).

Four kinds, per campaign and competitor:

- **entered**: listed on a day after at least ``QUIET_DAYS`` report days without it;
- **exited**: missing on a day after at least ``QUIET_DAYS`` report days with it;
- **aggressive**: its impression share is up ``SHARE_STEP`` (5 points) or more on its
  same-weekday baseline and its position-above rate is up too, on two days running;
- **retreated**: its impression share is down 5 points or more and its position-above
  rate is down too, on two days running.

The **same-weekday baseline** of a day is the median of the competitor's figures on the
same weekday of the previous ``BASELINE_WEEKS`` weeks, leaving out the days it was
listed for part of the day only (the day it entered, its last day before exiting); a
day with none has no baseline. Confirming a shift takes the next day's report, so an
event starting on one day is found once the next day is in. A share reported only as
"< 10%" counts as ``BELOW_10_STANDIN``. A move lasts: once a competitor has moved, the
days after it that still differ from their baselines belong to the same event, and
another event of that kind for that competitor is not raised within ``REPEAT_DAYS`` of
its start.

Each event has a **size** (the change in impression share, in points of 100; for entered
and exited, the share it came with or left from), a **score** (size times its
position-above rate, what an incident ranks candidate explanations by) and a
**confidence**: for a shift, the probability that the true change passed the 5-point
step given the day-to-day noise of the competitor's share on its weekday; for entering
and exiting, how clearly its share stood above the listing threshold.

Events starting on a day depend only on the days up to the day after it, so running the
detector again over a longer history finds the same events and new ones after them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import median
from typing import Any, Protocol
from uuid import UUID

from scipy.stats import norm

from shared.contracts.competition import OWN_DOMAIN, CompetitorEventKind

SHARE_STEP = 0.05
BELOW_10_STANDIN = 0.05
QUIET_DAYS = 3
BASELINE_WEEKS = 4
REPEAT_DAYS = 21
# Noise floor of a share's weekday-to-weekday change: half a point.
MIN_SIGMA = 0.005
# A share this far above nothing is surely there (entering and exiting).
PRESENCE_SCALE = 0.05
MAX_CONFIDENCE = 0.99


class InsightLike(Protocol):
    """What the detector reads of an Auction Insights row."""

    @property
    def day(self) -> date | None: ...
    @property
    def domain(self) -> str: ...
    @property
    def impression_share(self) -> float | None: ...
    @property
    def impression_share_below_10(self) -> bool: ...
    @property
    def position_above_rate(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class DetectedEvent:
    campaign_id: UUID
    competitor: str
    kind: CompetitorEventKind
    started_on: date
    size: float
    score: float
    confidence: float
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Day:
    share: float
    above: float | None


def _share(row: InsightLike) -> float:
    if row.impression_share is not None:
        return float(row.impression_share)
    return BELOW_10_STANDIN if row.impression_share_below_10 else 0.0


def detect(campaign_id: UUID, rows: Iterable[InsightLike]) -> list[DetectedEvent]:
    """Every competitor event in one campaign's daily rows (any order; rows without a
    day are ignored). The days the campaign has a report are the days its own row, or
    any row, is on."""
    rows = [r for r in rows if r.day is not None]
    days = sorted({r.day for r in rows if r.day is not None})
    series: dict[str, dict[date, _Day]] = {}
    for row in rows:
        if row.domain != OWN_DOMAIN and row.day is not None:
            series.setdefault(row.domain, {})[row.day] = _Day(_share(row), row.position_above_rate)
    events: list[DetectedEvent] = []
    for competitor in sorted(series):
        events.extend(_presence(campaign_id, competitor, days, series[competitor]))
        events.extend(_shifts(campaign_id, competitor, days, series[competitor]))
    return sorted(events, key=lambda e: (e.started_on, e.competitor, e.kind))


def _presence(
    campaign_id: UUID, competitor: str, days: Sequence[date], listed: dict[date, _Day]
) -> list[DetectedEvent]:
    events = []
    for i in range(QUIET_DAYS, len(days)):
        before = days[i - QUIET_DAYS : i]
        here = listed.get(days[i])
        if here is not None and not any(d in listed for d in before):
            events.append(_presence_event(campaign_id, competitor, "entered", days[i], here))
        elif here is None and all(d in listed for d in before):
            last = listed[before[-1]]
            events.append(_presence_event(campaign_id, competitor, "exited", days[i], last))
    return events


def _presence_event(
    campaign_id: UUID, competitor: str, kind: CompetitorEventKind, day: date, seen: _Day
) -> DetectedEvent:
    sign = 1.0 if kind == "entered" else -1.0
    confidence = min(MAX_CONFIDENCE, max(0.5, 1.0 - math.exp(-seen.share / PRESENCE_SCALE)))
    return DetectedEvent(
        campaign_id=campaign_id,
        competitor=competitor,
        kind=kind,
        started_on=day,
        size=round(sign * seen.share * 100, 2),
        score=round(sign * seen.share * 100 * (seen.above or 0.0), 3),
        confidence=round(confidence, 3),
        evidence={
            "impression_share": seen.share,
            "position_above_rate": seen.above,
            "quiet_days": QUIET_DAYS,
        },
    )


@dataclass(frozen=True, slots=True)
class _Shift:
    day: date
    kind: CompetitorEventKind
    change: float
    above_change: float
    baseline: _Day
    now: _Day
    weeks: int


def _edges(days: Sequence[date], listed: dict[date, _Day]) -> frozenset[date]:
    """The days a competitor was listed for part of the day only, as far as the reports
    tell: the first report day, the day it came back after a day without it, and its last
    day before one without it."""
    edges = set(days[:1])
    for before, after in itertools.pairwise(days):
        if (before in listed) != (after in listed):
            edges.add(after if after in listed else before)
    return frozenset(edges)


def _baseline(
    day: date, listed: dict[date, _Day], edges: frozenset[date]
) -> tuple[_Day, int] | None:
    same = [
        listed[d]
        for w in range(1, BASELINE_WEEKS + 1)
        if (d := day - timedelta(weeks=w)) in listed and d not in edges
    ]
    if not same:
        return None
    above = [s.above for s in same if s.above is not None]
    return _Day(median(s.share for s in same), median(above) if above else None), len(same)


def _shift_on(day: date, listed: dict[date, _Day], edges: frozenset[date]) -> _Shift | None:
    now = listed.get(day)
    found = _baseline(day, listed, edges)
    if now is None or found is None:
        return None
    base, weeks = found
    change = now.share - base.share
    above_change = (now.above or 0.0) - (base.above or 0.0)
    if change >= SHARE_STEP and above_change > 0:
        return _Shift(day, "aggressive", change, above_change, base, now, weeks)
    if change <= -SHARE_STEP and above_change < 0:
        return _Shift(day, "retreated", change, above_change, base, now, weeks)
    return None


def _shifts(
    campaign_id: UUID, competitor: str, days: Sequence[date], listed: dict[date, _Day]
) -> list[DetectedEvent]:
    events: list[DetectedEvent] = []
    edges = _edges(days, listed)
    shifts = [_shift_on(day, listed, edges) for day in days]
    last_start: dict[str, date] = {}
    for i, shift in enumerate(shifts):
        # A shift is new on the day it starts, and only if it holds the next day too: a
        # one-day blip, or the partial last day of a competitor about to exit, is none.
        if shift is None or i + 1 >= len(shifts):
            continue
        previous, following = shifts[i - 1] if i else None, shifts[i + 1]
        if previous is not None and previous.kind == shift.kind:
            continue
        if following is None or following.kind != shift.kind:
            continue
        day = shift.day
        started = last_start.get(shift.kind)
        if started is not None and (day - started).days < REPEAT_DAYS:
            continue
        last_start[shift.kind] = day
        sigma = _weekday_noise(day, listed)
        confidence = norm.cdf((abs(shift.change) - SHARE_STEP) / sigma + 0.0)
        events.append(
            DetectedEvent(
                campaign_id=campaign_id,
                competitor=competitor,
                kind=shift.kind,
                started_on=day,
                size=round(shift.change * 100, 2),
                score=round(shift.change * 100 * (shift.now.above or 0.0), 3),
                confidence=round(min(MAX_CONFIDENCE, max(0.5, float(confidence))), 3),
                evidence={
                    "impression_share": shift.now.share,
                    "position_above_rate": shift.now.above,
                    "baseline_impression_share": shift.baseline.share,
                    "baseline_position_above_rate": shift.baseline.above,
                    "position_above_change": round(shift.above_change, 4),
                    "baseline_weeks": shift.weeks,
                    "noise": round(sigma, 4),
                },
            )
        )
    return events


def _weekday_noise(day: date, listed: dict[date, _Day]) -> float:
    """A robust spread of the competitor's share from one week to the next, over the
    days before ``day`` (the median absolute change, scaled to a standard deviation)."""
    changes = [
        abs(s.share - listed[d - timedelta(weeks=1)].share)
        for d, s in listed.items()
        if d < day and d - timedelta(weeks=1) in listed
    ]
    if len(changes) < 3:
        return max(MIN_SIGMA, 0.02)
    return max(MIN_SIGMA, 1.4826 * median(changes))
