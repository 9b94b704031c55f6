"""The simulated clock the tests build their sandbox accounts' history on.

Tests that open an account on the sandbox ad platform send it days of history ending at
:func:`simulated_now`, then advance the account's clock from there. The numbers the
simulator makes depend on the calendar (its weekly rhythm, the hour of the day), so a
history taken from the wall clock would make a test pass or fail with the day it runs.
The clock is fixed instead: ``ADPILOT_TEST_CLOCK`` (an ISO date or time, UTC unless it
says otherwise) moves it, to prove the suite does not depend on the date:

    ADPILOT_TEST_CLOCK=2025-08-19T13:00 make test

It must lie at least :data:`HEADROOM` before the real present: the gateway refuses hours
from the future, and the tests advance their accounts' clocks by days.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from functools import cache

ENV = "ADPILOT_TEST_CLOCK"
# A Monday at midnight: the start of a simulated week.
DEFAULT = datetime(2026, 3, 2, tzinfo=UTC)
HEADROOM = timedelta(days=30)


class ClockSettingError(ValueError):
    """``ADPILOT_TEST_CLOCK`` is not a usable time."""


def parse(text: str, present: datetime) -> datetime:
    """The simulated present that ``text`` names, on the hour; checked against the real
    ``present``."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ClockSettingError(
            f"{ENV}={text!r} is not an ISO date or time (e.g. 2025-08-19 or 2025-08-19T13:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if moment > present - HEADROOM:
        raise ClockSettingError(
            f"{ENV}={text!r} must lie at least {HEADROOM.days} days before now: the tests "
            "advance accounts by days, and the gateway refuses hours from the future"
        )
    return moment


@cache
def simulated_now() -> datetime:
    """The hour the tests' simulated histories end at (one value for the whole run)."""
    text = os.environ.get(ENV, "")
    if not text:
        return DEFAULT
    return parse(text, datetime.now(UTC))
