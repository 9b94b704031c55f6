"""The life of a detector alert, as a plain function of its state and the next hour (pure).

One alert stays open per campaign and kind. A finding of that kind in a later hour
repeats it, counted once per distinct hour; a worse severity escalates it and a milder
one never lowers it. After ``QUIET_HOURS`` hours of data without the finding it is
resolved, and the next finding opens a new alert. The alerts store persists what this
module decides, and the quality bench replays it, so both follow one rule. (What a
person may do to an alert is in ``lifecycle.py``.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from shared.contracts.enums import Severity

# An alert the detector has not re-confirmed for this many hours of data is resolved.
QUIET_HOURS = 6
HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class AlertState:
    """What the rule needs to know of an open alert."""

    severity: Severity
    first_seen_hour: datetime
    last_seen_hour: datetime
    # Distinct hours the finding was seen in.
    occurrences: int = 1


@dataclass(frozen=True, slots=True)
class Sighting:
    """The detector found the alert's kind in ``hour``, at ``severity``."""

    hour: datetime
    severity: Severity


@dataclass(frozen=True, slots=True)
class QuietHour:
    """``hour`` is the newest hour of data and did not show the alert's kind."""

    hour: datetime


class Transition(StrEnum):
    OPEN = "open"
    REPEAT = "repeat"
    ESCALATE = "escalate"
    RESOLVE = "resolve"
    # A quiet hour that changes nothing: too soon to resolve, or nothing open.
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Step:
    """The outcome of one hour for one campaign and kind.

    ``state`` is the open alert afterwards (None when nothing is open); ``resolved`` is
    the alert this step closed. A sighting that finds the open alert already past its
    quiet period closes it and opens a new one: both are set.
    """

    transition: Transition
    state: AlertState | None
    resolved: AlertState | None = None


def is_quiet(state: AlertState, hour: datetime, quiet_hours: int = QUIET_HOURS) -> bool:
    """True when the hours of data up to ``hour`` have not shown the alert for long enough."""
    return hour - state.last_seen_hour >= quiet_hours * HOUR


def advance(
    state: AlertState | None,
    event: Sighting | QuietHour,
    quiet_hours: int = QUIET_HOURS,
) -> Step:
    """The next state of one campaign's alert of one kind, given what ``event`` says."""
    if isinstance(event, QuietHour):
        if state is not None and is_quiet(state, event.hour, quiet_hours):
            return Step(Transition.RESOLVE, None, resolved=state)
        return Step(Transition.NONE, state)

    severity = Severity(event.severity)
    # Had the hour before this one been processed, it would have resolved the alert.
    if state is not None and is_quiet(state, event.hour - HOUR, quiet_hours):
        return Step(Transition.OPEN, _opened(event), resolved=state)
    if state is None:
        return Step(Transition.OPEN, _opened(event))

    newer = event.hour > state.last_seen_hour
    after = replace(
        state,
        severity=Severity.worst(state.severity, severity),
        last_seen_hour=max(state.last_seen_hour, event.hour),
        # A re-sent hour is the same sighting, not another one.
        occurrences=state.occurrences + (1 if newer else 0),
    )
    if after.severity.rank > Severity(state.severity).rank:
        return Step(Transition.ESCALATE, after)
    return Step(Transition.REPEAT, after)


def _opened(event: Sighting) -> AlertState:
    return AlertState(Severity(event.severity), event.hour, event.hour, 1)
