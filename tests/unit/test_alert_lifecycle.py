"""The detector alert's life, hour by hour, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.alerts.alert_lifecycle import (
    QUIET_HOURS,
    AlertState,
    QuietHour,
    Sighting,
    Step,
    Transition,
    advance,
    is_quiet,
)
from shared.contracts.enums import Severity

T0 = datetime(2025, 3, 12, 8, tzinfo=UTC)
HOUR = timedelta(hours=1)
LOW, MEDIUM, HIGH, CRITICAL = Severity


def at(hours: int) -> datetime:
    return T0 + hours * HOUR


def seen(hours: int, severity: Severity = MEDIUM) -> Sighting:
    return Sighting(at(hours), severity)


def test_a_first_finding_opens_an_alert() -> None:
    step = advance(None, seen(0, HIGH))
    assert step == Step(Transition.OPEN, AlertState(HIGH, at(0), at(0), 1))


def test_a_later_finding_repeats_the_open_alert_once_per_hour() -> None:
    opened = advance(None, seen(0)).state
    step = advance(opened, seen(2))
    assert step.transition is Transition.REPEAT
    assert step.state == AlertState(MEDIUM, at(0), at(2), 2)
    # the same hour again (re-sent metrics) is the same sighting
    again = advance(step.state, seen(2))
    assert again.transition is Transition.REPEAT and again.state == step.state
    # an older hour neither counts nor moves the last sighting back
    older = advance(step.state, seen(1))
    assert older.state == step.state


def test_a_worse_finding_escalates() -> None:
    opened = advance(None, seen(0, LOW)).state
    step = advance(opened, seen(1, CRITICAL))
    assert step.transition is Transition.ESCALATE
    assert step.state == AlertState(CRITICAL, at(0), at(1), 2)


def test_a_milder_finding_never_lowers_the_severity() -> None:
    opened = advance(None, seen(0, HIGH)).state
    for severity in (LOW, MEDIUM, HIGH):
        step = advance(opened, seen(1, severity))
        assert step.transition is Transition.REPEAT
        assert step.state is not None and step.state.severity is HIGH


def test_quiet_hours_resolve_after_six() -> None:
    state = advance(None, seen(0)).state
    assert state is not None
    for hour in range(1, QUIET_HOURS):
        step = advance(state, QuietHour(at(hour)))
        assert step == Step(Transition.NONE, state), hour
    resolved = advance(state, QuietHour(at(QUIET_HOURS)))
    assert resolved == Step(Transition.RESOLVE, None, resolved=state)
    assert is_quiet(state, at(QUIET_HOURS)) and not is_quiet(state, at(QUIET_HOURS - 1))
    # the quiet period is a parameter
    assert advance(state, QuietHour(at(2)), quiet_hours=2).transition is Transition.RESOLVE


def test_a_quiet_hour_with_nothing_open_does_nothing() -> None:
    assert advance(None, QuietHour(at(3))) == Step(Transition.NONE, None)


def test_a_finding_after_resolution_opens_a_new_alert() -> None:
    state = advance(None, seen(0, CRITICAL)).state
    closed = advance(state, QuietHour(at(QUIET_HOURS)))
    assert closed.state is None
    reopened = advance(closed.state, seen(QUIET_HOURS + 1, LOW))
    # a new alert starts over: its own first hour, count and severity
    assert reopened == Step(
        Transition.OPEN, AlertState(LOW, at(QUIET_HOURS + 1), at(QUIET_HOURS + 1), 1)
    )


def test_the_last_hour_before_resolution_still_repeats() -> None:
    state = advance(None, seen(0)).state
    step = advance(state, seen(QUIET_HOURS))
    assert step.transition is Transition.REPEAT and step.resolved is None


def test_a_finding_after_a_gap_in_the_data_closes_the_stale_alert_first() -> None:
    # no hours arrived in between to resolve it, but the quiet period has passed
    state = advance(None, seen(0, HIGH)).state
    step = advance(state, seen(QUIET_HOURS + 1, LOW))
    assert step.transition is Transition.OPEN
    assert step.resolved == state
    assert step.state == AlertState(LOW, at(QUIET_HOURS + 1), at(QUIET_HOURS + 1), 1)
