"""Why an incident may have happened: the candidates, most likely first (pure; no I/O).

Given one incident and what was going on around it, :func:`explain` lists the
explanation candidates in a fixed order of precedence:

1. **Our own changes** (``own_change``): a change we made to the campaign (budget, bid,
   status, audience, creative; from ``optimization.applied``) that took effect in the
   ``OWN_CHANGE_WINDOW`` (48 hours) before the incident's first hour, up to the end of
   that hour, and that plausibly moves the incident's metric in its direction
   (``MOVES``). Nearest to the incident first.
2. **Seasonality** (``seasonality``): the same move at the same weekday and hour in prior
   weeks, as :func:`seasonal_check` measures it on the campaign's hourly rows.
3. **Competitor events** (``competitor``): only for incidents on CPC up, CPA up or lost
   impression share (rank) up (``COMPETITOR_MOVES``); a competitor of the same campaign
   that ``entered`` or turned ``aggressive`` (the kinds that push those figures up)
   with ``started_on`` from the day before the incident's first day to the day after it
   (Auction Insights are daily: a day's move shows in the auctions of that day and the
   next, and one that began late in a day may be dated to the next day). Highest
   ``score`` first. Each says it is co-occurring, not shown to be causal: the data shows
   the two at the same time, nothing more.

A candidate of an earlier kind always precedes one of a later kind, whatever their
numbers: a bid raise of ours two hours before a CPC jump is the first thing to check, a
competitor's move the same day the third.

The inputs are plain frozen dataclasses that need no database (the competition bench
builds them from the sandbox): :class:`IncidentFacts`, :class:`OwnChange`,
:class:`SeasonalCheck` (from :func:`seasonal_check` over
:class:`shared.metrics.HourlyMetrics` rows) and :class:`CompetitorEventFacts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import numpy as np

from shared.metrics import HourlyMetrics

Direction = Literal["up", "down"]
Source = Literal["own_change", "seasonality", "competitor"]

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)

# How long before an incident's first hour a change of ours counts as a candidate.
OWN_CHANGE_WINDOW = timedelta(hours=48)
# Competitor events that started from this many days before the incident's first day to
# this many days after it are candidates. After: a daily report dates a move that began
# late in a day, when too little of that day showed it, to the next day.
COMPETITOR_DAYS_BEFORE = 1
COMPETITOR_DAYS_AFTER = 1
# Seasonality: prior weeks looked at, the reference hours before each, how many of
# those hours need a value, how many weeks must show the move, and how large the move
# must be there (a share of the incident's own move; the floor when that is unknown).
SEASON_WEEKS = 4
SEASON_REFERENCE_HOURS = 24
SEASON_MIN_REFERENCE = 12
SEASON_MIN_WEEKS = 3
SEASON_SHARE_OF_MOVE = 0.5
SEASON_MIN_MOVE = 0.2

COMPETITOR_LABEL = "co-occurring, not shown to be causal"
OWN_CHANGE_LABEL = "our own change shortly before"
SEASONALITY_LABEL = "the same move at this weekday and hour in prior weeks"

# Lost impression share due to rank, and cost per acquisition: no detector of ours
# raises them today (it watches cpc), but incidents on them are eligible when raised.
LOST_IS_RANK = "lost_is_rank"
CPA = "cpa"
# The incident moves a competitor in the auctions can cause: dearer clicks, dearer
# conversions, more impressions lost to rank.
COMPETITOR_MOVES: frozenset[tuple[str, str]] = frozenset(
    {("cpc", "up"), (CPA, "up"), (LOST_IS_RANK, "up")}
)
# Competitor moves that push those figures up.
PRESSURE_KINDS: frozenset[str] = frozenset({"entered", "aggressive"})

# Which metrics a change of each setting moves. A number in the change (a budget, a bid
# multiplier) also says which way: for the metrics in ``SAME_WAY`` a raise moves them up
# and a cut down; other pairs are plausible either way.
MOVES: Mapping[str, frozenset[str]] = {
    "bid": frozenset(
        {"cpc", "spend", "ctr", "clicks", "impressions", "conversions", "roas", CPA, LOST_IS_RANK}
    ),
    "budget": frozenset({"spend", "clicks", "impressions", "conversions", "roas", CPA}),
    "status": frozenset(
        {"spend", "clicks", "impressions", "conversions", "ctr", "cvr", "cpc", "roas", CPA}
    ),
    "audience": frozenset(
        {"ctr", "cvr", "cpc", "spend", "clicks", "impressions", "conversions", "roas", CPA}
    ),
    "creative": frozenset({"ctr", "cvr", "clicks", "conversions", "roas", CPA}),
}
SAME_WAY: frozenset[tuple[str, str]] = frozenset(
    {
        ("bid", "cpc"),
        ("bid", "spend"),
        ("budget", "spend"),
        ("budget", "clicks"),
        ("budget", "impressions"),
    }
)
# A bid raise lowers the impression share lost to rank, a cut raises it.
OPPOSITE_WAY: frozenset[tuple[str, str]] = frozenset({("bid", LOST_IS_RANK)})


# --- inputs ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """What the explainer needs of an incident.

    ``kind``: its primary kind (``cpc_up``); ``metric`` and ``direction``: what moved and
    which way (``cpc``, ``up``); ``opened_hour``: its first hour (UTC, on the hour);
    ``last_hour``: the last hour it was seen in (its hours are ``opened_hour`` to
    ``last_hour``); ``change``: its primary's relative move (observed / baseline - 1,
    +0.8 for 80% dearer), None when unknown."""

    campaign_id: UUID
    kind: str
    metric: str | None
    direction: Direction | None
    opened_hour: datetime
    last_hour: datetime | None = None
    change: float | None = None

    @property
    def moves_competitors_explain(self) -> bool:
        return (self.metric, self.direction) in COMPETITOR_MOVES


@dataclass(frozen=True, slots=True)
class OwnChange:
    """A change we made to a campaign: ``setting`` (budget, bid, status, audience,
    creative) from ``before`` to ``after`` (numbers or text, as the platform took them),
    in effect from ``effective_at``."""

    change_id: UUID
    campaign_id: UUID
    setting: str
    before: Any
    after: Any
    effective_at: datetime


@dataclass(frozen=True, slots=True)
class SeasonalCheck:
    """Did the incident's move happen at the same weekday and hour in prior weeks?

    ``moves`` holds, per prior week (1 week back first), the metric's relative move at
    that hour against the median of the ``SEASON_REFERENCE_HOURS`` hours before it, None
    where the rows cannot say; ``weeks_checked`` counts the weeks that could say and
    ``weeks_moved`` those that moved the incident's way by at least ``threshold``."""

    metric: str
    direction: Direction
    moves: tuple[float | None, ...]
    weeks_checked: int
    weeks_moved: int
    threshold: float

    @property
    def seasonal(self) -> bool:
        return self.weeks_moved >= SEASON_MIN_WEEKS


@dataclass(frozen=True, slots=True)
class CompetitorEventFacts:
    """A competitor's move in a campaign's auctions (``competitor.event_detected``):
    ``kind`` entered/exited/aggressive/retreated from the day ``started_on``; ``size`` the
    change in its impression share in points of 100; ``score`` that change times its
    position-above rate; ``confidence`` 0-1."""

    event_id: UUID
    campaign_id: UUID
    competitor: str
    kind: str
    started_on: date
    size: float
    score: float
    confidence: float


# --- output ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """One possible explanation: its ``source``, its ``label`` and its figures."""

    source: Source
    label: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "label": self.label, **self.details}


@dataclass(frozen=True, slots=True)
class Explanation:
    """The candidates in order of precedence (see the module's docstring)."""

    incident: IncidentFacts
    candidates: tuple[Candidate, ...]

    @property
    def lead(self) -> Source | None:
        return self.candidates[0].source if self.candidates else None

    def of(self, source: Source) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.source == source)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as an incident's ``evidence.explanation`` holds it."""
        return {
            "lead": self.lead,
            "opened_hour": self.incident.opened_hour.isoformat(),
            "candidates": [c.as_dict() for c in self.candidates],
        }


# --- the explainer ---------------------------------------------------------------------


def explain(
    incident: IncidentFacts,
    own_changes: Iterable[OwnChange] = (),
    seasonality: SeasonalCheck | None = None,
    competitor_events: Iterable[CompetitorEventFacts] = (),
) -> Explanation:
    """The candidates that may explain ``incident``: our own changes, then seasonality,
    then competitor events. Inputs of other campaigns, or outside the windows, are
    ignored, so a caller may pass more than it filtered."""
    candidates = [
        *_own_candidates(incident, own_changes),
        *_seasonal_candidates(incident, seasonality),
        *_competitor_candidates(incident, competitor_events),
    ]
    return Explanation(incident, tuple(candidates))


def own_change_window(incident: IncidentFacts) -> tuple[datetime, datetime]:
    """Changes in effect from ``[start, end)`` are candidates: up to the end of the first
    hour (a change within that hour moved it)."""
    return incident.opened_hour - OWN_CHANGE_WINDOW, incident.opened_hour + HOUR


def competitor_days(incident: IncidentFacts) -> tuple[date, date]:
    """The first and last ``started_on`` (inclusive) a competitor event may have."""
    day = incident.opened_hour.date()
    return day - COMPETITOR_DAYS_BEFORE * DAY, day + COMPETITOR_DAYS_AFTER * DAY


def plausibly_moves(change: OwnChange, metric: str | None, direction: str | None) -> bool:
    """Whether ``change`` can move ``metric`` the way ``direction`` says."""
    if metric is None or metric not in MOVES.get(change.setting, frozenset()):
        return False
    sign = _sign(change.before, change.after)
    if sign == 0 or direction not in ("up", "down"):
        return True
    wanted = 1 if direction == "up" else -1
    if (change.setting, metric) in SAME_WAY:
        return sign == wanted
    if (change.setting, metric) in OPPOSITE_WAY:
        return sign == -wanted
    return True


def _own_candidates(incident: IncidentFacts, changes: Iterable[OwnChange]) -> list[Candidate]:
    start, end = own_change_window(incident)
    chosen = [
        c
        for c in changes
        if c.campaign_id == incident.campaign_id
        and start <= c.effective_at < end
        and plausibly_moves(c, incident.metric, incident.direction)
    ]
    # Nearest to the incident first; the change id breaks ties.
    chosen.sort(key=lambda c: (-c.effective_at.timestamp(), str(c.change_id)))
    return [
        Candidate(
            "own_change",
            OWN_CHANGE_LABEL,
            {
                "change_id": str(c.change_id),
                "setting": c.setting,
                "before": c.before,
                "after": c.after,
                "effective_at": c.effective_at.isoformat(),
                "hours_before": round((incident.opened_hour - c.effective_at) / HOUR, 2),
            },
        )
        for c in chosen
    ]


def _seasonal_candidates(incident: IncidentFacts, check: SeasonalCheck | None) -> list[Candidate]:
    if check is None or not check.seasonal:
        return []
    if (check.metric, check.direction) != (incident.metric, incident.direction):
        return []
    return [
        Candidate(
            "seasonality",
            SEASONALITY_LABEL,
            {
                "metric": check.metric,
                "direction": check.direction,
                "weeks_checked": check.weeks_checked,
                "weeks_moved": check.weeks_moved,
                "threshold": round(check.threshold, 4),
                "moves": [None if m is None else round(m, 4) for m in check.moves],
            },
        )
    ]


def _competitor_candidates(
    incident: IncidentFacts, events: Iterable[CompetitorEventFacts]
) -> list[Candidate]:
    if not incident.moves_competitors_explain:
        return []
    first, last = competitor_days(incident)
    chosen = [
        e
        for e in events
        if e.campaign_id == incident.campaign_id
        and first <= e.started_on <= last
        and e.kind in PRESSURE_KINDS
    ]
    # Highest score first; then the surer, then by name and id, so the order is stable.
    chosen.sort(key=lambda e: (-e.score, -e.confidence, e.competitor, str(e.event_id)))
    return [
        Candidate(
            "competitor",
            COMPETITOR_LABEL,
            {
                "event_id": str(e.event_id),
                "competitor": e.competitor,
                "kind": e.kind,
                "started_on": e.started_on.isoformat(),
                "size": e.size,
                "score": e.score,
                "confidence": e.confidence,
            },
        )
        for e in chosen
    ]


def _sign(before: Any, after: Any) -> int:
    """+1 for a raise, -1 for a cut, 0 when the values are not two numbers. A bid change
    given as a multiplier (``{"multiplier": 1.2}``) reads as its factor against 1."""
    if isinstance(after, Mapping) and "multiplier" in after:
        before, after = 1.0, after["multiplier"]
    if isinstance(before, Mapping) or isinstance(after, Mapping):
        return 0
    if isinstance(before, bool) or isinstance(after, bool):
        return 0
    if not isinstance(before, int | float) or not isinstance(after, int | float):
        return 0
    return (after > before) - (after < before)


# --- seasonality -----------------------------------------------------------------------


def metric_value(row: HourlyMetrics, metric: str) -> float | None:
    """``metric`` of one hour: the detector's metrics, and CPA (spend per conversion).
    None where it is undefined (no clicks for CPC) or the rows do not hold it (lost
    impression share)."""
    if metric == CPA:
        return row.spend / row.conversions if row.conversions > 0 else None
    try:
        return row.value(metric)
    except KeyError:
        return None


def seasonal_check(
    rows: Sequence[HourlyMetrics],
    metric: str,
    direction: Direction,
    opened_hour: datetime,
    change: float | None = None,
    weeks: int = SEASON_WEEKS,
) -> SeasonalCheck:
    """Whether the incident's move showed at the same weekday and hour in prior weeks.

    For each prior week ``k`` (1 to ``weeks``), the hour ``opened_hour - k weeks`` is
    compared with the median of the metric over the ``SEASON_REFERENCE_HOURS`` hours
    before it (at least ``SEASON_MIN_REFERENCE`` of them with a value, and a positive
    median): its relative move is ``value / median - 1``. A week *moved* when that move
    goes the incident's way by at least ``SEASON_SHARE_OF_MOVE`` of the incident's own
    ``change`` (``SEASON_MIN_MOVE`` when that is unknown, and never less). The incident
    is seasonal when at least ``SEASON_MIN_WEEKS`` weeks moved. ``rows`` are one
    campaign's hours, in any order."""
    by_hour = {r.hour: r for r in rows}
    threshold = max(SEASON_MIN_MOVE, SEASON_SHARE_OF_MOVE * abs(change or 0.0))
    sign = 1.0 if direction == "up" else -1.0
    moves: list[float | None] = []
    for k in range(1, weeks + 1):
        slot = opened_hour - k * WEEK
        moves.append(_week_move(by_hour, metric, slot))
    checked = [m for m in moves if m is not None]
    moved = sum(1 for m in checked if sign * m >= threshold)
    return SeasonalCheck(metric, direction, tuple(moves), len(checked), moved, threshold)


def _week_move(
    by_hour: Mapping[datetime, HourlyMetrics], metric: str, slot: datetime
) -> float | None:
    row = by_hour.get(slot)
    value = None if row is None else metric_value(row, metric)
    if value is None:
        return None
    reference = [
        v
        for i in range(1, SEASON_REFERENCE_HOURS + 1)
        if (r := by_hour.get(slot - i * HOUR)) is not None
        and (v := metric_value(r, metric)) is not None
    ]
    if len(reference) < SEASON_MIN_REFERENCE:
        return None
    median = float(np.median(reference))
    if median <= 0:
        return None
    return value / median - 1.0


# --- from an incident's row ------------------------------------------------------------

# Kinds whose name does not say the move: what they mean.
_KIND_MOVES: Mapping[str, tuple[str | None, Direction]] = {
    "budget_pacing": ("spend", "up"),
    "budget_exceeded": ("spend", "up"),
    "tracking_outage": (None, "down"),
}


def incident_facts(
    campaign_id: UUID,
    kind: str,
    evidence: Mapping[str, Any] | None,
    first_seen_hour: datetime,
    last_seen_hour: datetime | None = None,
) -> IncidentFacts:
    """An incident's facts from its stored row: ``kind`` its primary kind, ``evidence``
    the primary's evidence (``metric``, ``direction``, ``observed``, ``baseline``)."""
    evidence = evidence or {}
    metric, direction = _move_of(kind)
    metric = evidence.get("metric") or metric
    said = evidence.get("direction")
    if said in ("up", "down"):
        direction = said
    observed, baseline = evidence.get("observed"), evidence.get("baseline")
    change = None
    if isinstance(observed, int | float) and isinstance(baseline, int | float) and baseline > 0:
        change = observed / baseline - 1.0
    return IncidentFacts(
        campaign_id, kind, metric, direction, first_seen_hour, last_seen_hour, change
    )


def _move_of(kind: str) -> tuple[str | None, Direction | None]:
    if kind in _KIND_MOVES:
        return _KIND_MOVES[kind]
    metric, _, direction = kind.rpartition("_")
    if direction == "up":
        return metric, "up"
    if direction == "down":
        return metric, "down"
    return None, None
