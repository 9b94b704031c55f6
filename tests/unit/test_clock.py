"""The tests' simulated clock: fixed unless moved, and refused where it would break tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.clock import DEFAULT, HEADROOM, ClockSettingError, parse

PRESENT = datetime(2026, 12, 7, 12, 34, tzinfo=UTC)


def test_a_date_or_time_is_taken_on_the_hour_in_utc() -> None:
    assert parse("2026-08-19", PRESENT) == datetime(2026, 8, 19, tzinfo=UTC)
    assert parse("2026-08-19T13:45", PRESENT) == datetime(2026, 8, 19, 13, tzinfo=UTC)
    assert parse("2026-08-19T13:45+02:00", PRESENT) == datetime(2026, 8, 19, 11, tzinfo=UTC)


@pytest.mark.parametrize("text", ["tomorrow", "2026-13-01", ""])
def test_what_is_not_a_time_is_refused_with_the_setting_named(text: str) -> None:
    with pytest.raises(ClockSettingError, match="ADPILOT_TEST_CLOCK"):
        parse(text, PRESENT)


def test_a_clock_too_near_the_present_is_refused() -> None:
    with pytest.raises(ClockSettingError, match="days before now"):
        parse((PRESENT - HEADROOM + timedelta(hours=1)).isoformat(), PRESENT)
    assert parse((PRESENT - 2 * HEADROOM).isoformat(), PRESENT) < PRESENT - HEADROOM


def test_the_default_is_a_fixed_hour_well_in_the_past() -> None:
    assert DEFAULT.minute == 0 and DEFAULT.tzinfo is UTC
    assert DEFAULT < PRESENT - HEADROOM
