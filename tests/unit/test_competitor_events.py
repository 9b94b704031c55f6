"""Competitor events found in daily Auction Insights (services/optimizer/competition/events.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from scipy.stats import norm

from services.optimizer.competition.events import (
    BELOW_10_STANDIN,
    REPEAT_DAYS,
    DetectedEvent,
    detect,
)

CAMPAIGN = uuid.uuid4()
DAY0 = date(2026, 1, 5)


@dataclass(frozen=True)
class Row:
    day: date | None
    domain: str
    impression_share: float | None
    position_above_rate: float | None
    impression_share_below_10: bool = False


def series(
    domain: str, shares: list[float | None], above: list[float | None] | float = 0.2
) -> list[Row]:
    """One competitor's rows, a day each from DAY0; None: not listed that day. Our own
    row is on every day, so every day has a report."""
    aboves = above if isinstance(above, list) else [above] * len(shares)
    rows = [Row(DAY0 + timedelta(days=i), "You", 0.5, None) for i in range(len(shares))]
    for i, (share, rate) in enumerate(zip(shares, aboves, strict=True)):
        if share is not None:
            below = share < 0.10
            rows.append(
                Row(DAY0 + timedelta(days=i), domain, None if below else share, rate, below)
            )
    return rows


def kinds(events: list[DetectedEvent]) -> list[tuple[str, str, date]]:
    return [(e.kind, e.competitor, e.started_on) for e in events]


def test_a_step_up_in_share_and_position_is_one_aggressive_event() -> None:
    shares = [0.30] * 14 + [0.45] * 14
    above = [0.20] * 14 + [0.35] * 14
    events = detect(CAMPAIGN, series("rival.com", shares, above))
    assert kinds(events) == [("aggressive", "rival.com", DAY0 + timedelta(days=14))]
    event = events[0]
    assert event.size == pytest.approx(15.0)
    assert event.score == pytest.approx(15.0 * 0.35)
    assert event.evidence["baseline_impression_share"] == pytest.approx(0.30)
    assert event.confidence > 0.9


def test_a_share_up_without_position_above_rising_is_no_event() -> None:
    shares = [0.30] * 14 + [0.45] * 14
    assert detect(CAMPAIGN, series("rival.com", shares, 0.2)) == []


def test_a_one_day_blip_is_no_event() -> None:
    shares = [0.30] * 14 + [0.50] + [0.30] * 13
    above = [0.20] * 14 + [0.40] + [0.20] * 13
    assert detect(CAMPAIGN, series("rival.com", shares, above)) == []


def test_a_step_down_is_a_retreat() -> None:
    shares = [0.50] * 14 + [0.30] * 14
    above = [0.40] * 14 + [0.25] * 14
    events = detect(CAMPAIGN, series("rival.com", shares, above))
    assert kinds(events) == [("retreated", "rival.com", DAY0 + timedelta(days=14))]
    assert events[0].size == pytest.approx(-20.0)


def test_a_partial_last_day_before_an_exit_is_an_exit_not_a_retreat() -> None:
    shares: list[float | None] = [0.50] * 14 + [0.12] + [None] * 5
    events = detect(CAMPAIGN, series("rival.com", shares, 0.3))
    assert kinds(events) == [("exited", "rival.com", DAY0 + timedelta(days=15))]
    assert events[0].size == pytest.approx(-12.0)


def test_entering_after_quiet_days_and_its_partial_first_day_is_no_baseline() -> None:
    # enters on day 10 for part of the day, then holds 40%: a week later the partial day
    # must not make a baseline that the full days look "aggressive" against
    shares: list[float | None] = [None] * 10 + [0.15] + [0.40] * 17
    above: list[float | None] = [None] * 10 + [0.1] + [0.3] * 17
    events = detect(CAMPAIGN, series("newcomer.com", shares, above))
    assert kinds(events) == [("entered", "newcomer.com", DAY0 + timedelta(days=10))]
    assert events[0].size == pytest.approx(15.0)


def test_a_competitor_listed_from_the_first_report_did_not_enter() -> None:
    assert detect(CAMPAIGN, series("rival.com", [0.3] * 20)) == []


def test_a_share_below_ten_percent_counts_as_the_stand_in() -> None:
    # from "< 10%" to 25%: a change of 25 - 5 points
    shares = [0.05] * 14 + [0.25] * 14
    above = [0.1] * 14 + [0.3] * 14
    rows = series("small.com", shares, above)
    assert any(r.impression_share_below_10 for r in rows)
    events = detect(CAMPAIGN, rows)
    assert kinds(events) == [("aggressive", "small.com", DAY0 + timedelta(days=14))]
    assert events[0].size == pytest.approx((0.25 - BELOW_10_STANDIN) * 100)


def test_the_same_kind_again_within_the_repeat_window_is_the_same_move() -> None:
    # up, back to normal for a few days, up again: one event within REPEAT_DAYS
    shares = [0.30] * 14 + [0.45] * 3 + [0.30] * 3 + [0.45] * 8
    above = [0.20] * 14 + [0.35] * 3 + [0.20] * 3 + [0.35] * 8
    events = detect(CAMPAIGN, series("rival.com", shares, above))
    assert len(events) == 1 and 20 - 14 < REPEAT_DAYS


def test_confidence_is_the_chance_the_step_passed_five_points() -> None:
    # too little history for a noise estimate: the default 2 points
    shares = [0.30] * 8 + [0.39] * 6
    above = [0.20] * 8 + [0.30] * 6
    events = detect(CAMPAIGN, series("rival.com", shares, above))
    assert len(events) == 1
    expected = norm.cdf((0.09 - 0.05) / 0.02)
    assert events[0].confidence == pytest.approx(round(float(expected), 3))


def test_events_on_a_day_do_not_change_as_later_days_arrive() -> None:
    shares: list[float | None] = [0.30] * 14 + [0.45] * 10 + [None] * 6
    above: list[float | None] = [0.20] * 14 + [0.35] * 10 + [None] * 6
    whole = detect(CAMPAIGN, series("rival.com", shares, above))
    for n in range(16, len(shares)):
        early = detect(CAMPAIGN, series("rival.com", shares[:n], above[:n]))
        # every event found early stands; those starting before the newest day are all found
        assert all(e in whole for e in early), n
        settled = DAY0 + timedelta(days=n - 2)
        assert [e for e in early if e.started_on <= settled] == [
            e for e in whole if e.started_on <= settled
        ], n


def test_rows_without_a_day_and_our_own_row_are_not_competitors() -> None:
    rows = [*series("rival.com", [0.3] * 10), Row(None, "undated.com", 0.5, 0.5)]
    assert {e.competitor for e in detect(CAMPAIGN, rows)} <= {"rival.com"}
