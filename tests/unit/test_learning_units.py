"""Periods and groups of the decision scores."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.decision.calibration import Outcome
from services.decision.learning import Scored, groups, period_start


def test_periods_start_on_the_hour_the_day_and_monday() -> None:
    moment = datetime(2026, 11, 26, 15, 42, tzinfo=UTC)  # a Thursday
    assert period_start("hourly", moment) == datetime(2026, 11, 26, 15, tzinfo=UTC)
    assert period_start("daily", moment) == datetime(2026, 11, 26, tzinfo=UTC)
    assert period_start("weekly", moment) == datetime(2026, 11, 23, tzinfo=UTC)
    with pytest.raises(ValueError):
        period_start("monthly", moment)


def test_applied_and_never_applied_decisions_are_scored_apart() -> None:
    items = [
        Scored("budget_adjustment", "1.0.0", Outcome(0.8, True, applied=True)),
        Scored("budget_adjustment", "1.0.0", Outcome(0.6, False, applied=False)),
        Scored("keyword_bid", "1.1.0", Outcome(0.7, True, applied=True)),
    ]
    found = groups(items)
    assert len(found[(None, None, "all")]) == 3
    assert [o.correct for o in found[(None, None, "applied")]] == [True, True]
    assert [o.correct for o in found[(None, None, "not_applied")]] == [False]
    assert len(found[("budget_adjustment", None, "all")]) == 2
    assert len(found[(None, "1.1.0", "all")]) == 1
