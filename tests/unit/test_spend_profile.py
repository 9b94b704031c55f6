"""The daily spend profile pacing and risk share, on days whose answers are known."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from services.alerts.spend_profile import (
    HOURS_PER_DAY,
    complete_days,
    expected_fraction,
    flat_profile,
    learn_profile,
    profile_for,
)
from shared.metrics import HourlyMetrics

CAMPAIGN = UUID("00000000-0000-0000-0000-0000000000c4")
DAY = datetime(2025, 3, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
# A morning at a third of the rate of the rest of the day: 8 x 1 + 16 x 3 = 56 units.
SHAPE = [1.0] * 8 + [3.0] * 16


def _day(spend: list[float], day: int) -> list[HourlyMetrics]:
    start = DAY + day * 24 * HOUR
    return [
        HourlyMetrics(CAMPAIGN, start + i * HOUR, 1000, 20, 1, amount, 50.0, 2400.0)
        for i, amount in enumerate(spend)
    ]


def _days(count: int, scale: float = 10.0) -> list[HourlyMetrics]:
    return [row for day in range(count) for row in _day([x * scale for x in SHAPE], day)]


def test_expected_fraction_of_a_flat_day() -> None:
    assert expected_fraction(0) == 0.0
    assert expected_fraction(12) == pytest.approx(0.5)
    assert expected_fraction(24) == pytest.approx(1.0)
    assert expected_fraction(1, flat_profile()) == pytest.approx(1 / 24)
    # half an hour is half that hour's share
    assert expected_fraction(0.5) == pytest.approx(1 / 48)
    for outside in (-0.1, 24.5):
        with pytest.raises(ValueError):
            expected_fraction(outside)


def test_expected_fraction_follows_a_supplied_profile() -> None:
    # any positive weights: two thirds of the day's spend after noon
    profile = [1.0] * 12 + [2.0] * 12
    assert expected_fraction(12, profile) == pytest.approx(1 / 3)
    assert expected_fraction(13.5, profile) == pytest.approx(1 / 3 + 1.5 * 2 / 36)
    with pytest.raises(ValueError):
        expected_fraction(6, [1.0] * 23)
    with pytest.raises(ValueError):
        expected_fraction(6, [0.0] * 24)


def test_learned_profile_is_the_median_share_per_hour() -> None:
    history = _days(4)
    # one day with a spike in hour 3 must not bend the profile
    spiky = [row for row in history if row.hour.date() == (DAY + 48 * HOUR).date()]
    history = [
        row if row is not spiky[3] else replace(row, spend=row.spend * 20) for row in history
    ]
    exact = learn_profile(history, shrinkage=0.0)
    assert exact is not None
    assert exact[3] == pytest.approx(1 / 56)
    assert exact[12] == pytest.approx(3 / 56)
    assert sum(exact) == pytest.approx(1.0)


def test_learned_profile_leans_a_fifth_towards_flat_by_default() -> None:
    profile = learn_profile(_days(3))
    assert profile is not None
    assert profile[0] == pytest.approx(0.8 / 56 + 0.2 / 24)
    assert profile[23] == pytest.approx(0.8 * 3 / 56 + 0.2 / 24)
    assert sum(profile) == pytest.approx(1.0)
    # 8 morning hours: 8/56 learned, 8/24 flat
    assert expected_fraction(8, profile) == pytest.approx(0.8 * 8 / 56 + 0.2 * 8 / 24)
    with pytest.raises(ValueError):
        learn_profile(_days(3), shrinkage=1.5)


def test_too_few_whole_spending_days_learn_nothing() -> None:
    history = _days(4)
    assert learn_profile(history, min_days=4) is not None
    assert learn_profile(history, min_days=5) is None
    # a window opening after midnight saw only part of its first day
    assert learn_profile(history[1:], min_days=4) is None
    assert learn_profile(history[1:], min_days=3) is not None
    # a day without spend says nothing about when the campaign spends
    idle = _day([0.0] * 24, 4)
    assert learn_profile(history + idle, min_days=5) is None
    assert profile_for(history, min_days=5) == (flat_profile(), "flat")
    learned, kind = profile_for(history, min_days=4)
    assert kind == "learned" and learned == learn_profile(history, min_days=4)


def test_an_hour_without_a_row_spent_nothing() -> None:
    # sources may leave out hours without delivery
    history = [row for row in _days(3) if row.hour.hour != 5]
    days = complete_days(history)
    assert len(days) == 3
    assert all(len(hours) == HOURS_PER_DAY and hours[5] == 0.0 for hours in days.values())
    assert sum(next(iter(days.values()))) == pytest.approx(550.0)
    profile = learn_profile(history, shrinkage=0.0)
    assert profile is not None
    assert profile[5] == 0.0
    assert profile[12] == pytest.approx(3 / 55)
