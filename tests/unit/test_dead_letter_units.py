"""The pure parts of `adpilot dead-letters`: when a letter died, its age, the options."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adpilot.cli import build_parser, cmd_dead_letters, format_age
from shared.config import Settings
from shared.dead_letters import DeadLetter, Queue, dead_lettered_at

WHEN = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_the_time_of_death_comes_from_our_header_first() -> None:
    headers = {"x-dead-lettered-at": WHEN.isoformat(), "x-death": [{"time": datetime(2000, 1, 1)}]}
    assert dead_lettered_at(headers) == WHEN


def test_a_letter_the_broker_dead_lettered_is_dated_by_x_death_in_utc() -> None:
    naive = datetime(2025, 3, 1, 12, 0)  # the broker's AMQP timestamp, decoded without a zone
    assert dead_lettered_at({"x-death": [{"time": naive, "count": 20}]}) == WHEN


@pytest.mark.parametrize("headers", [{}, {"x-dead-lettered-at": "yesterday"}, {"x-death": []}])
def test_an_unknown_time_of_death_is_none(headers: dict[str, object]) -> None:
    assert dead_lettered_at(headers) is None


def test_the_oldest_is_the_first_in_the_queue() -> None:
    letters = [
        DeadLetter("alerts", str(n), "metrics.recorded", "bad", WHEN + timedelta(minutes=n))
        for n in range(3)
    ]
    assert Queue("alerts", 3, letters).oldest == WHEN
    assert Queue("alerts", 0).oldest is None
    assert letters[1].age(WHEN + timedelta(minutes=3)) == timedelta(minutes=2)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (42, "42s"), (192, "3m12s"), (7500, "2h05m"), (273600, "3d04h"), (-3, "0s")],
)
def test_ages_read_at_a_glance(seconds: int, shown: str) -> None:
    assert format_age(timedelta(seconds=seconds)) == shown


def test_an_unknown_age_is_a_question_mark() -> None:
    assert format_age(None) == "?"


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["dead-letters", "list", "--id", "x"], "--id goes with replay or purge"),
        (["dead-letters", "replay", "--yes"], "--yes goes with purge"),
        (["dead-letters", "--limit", "0"], "--limit must be at least 1"),
    ],
)
def test_options_that_do_not_fit_the_action_are_refused_before_connecting(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(argv)
    # A broker nobody listens on: reaching it would fail differently.
    settings = Settings.model_validate({"amqp_url": "amqp://guest:guest@127.0.0.1:1/"})
    assert cmd_dead_letters(args, settings) == 2
    assert complaint in capsys.readouterr().err


def test_list_is_the_default_and_the_older_replay_flag_still_works() -> None:
    parser = build_parser()
    assert parser.parse_args(["dead-letters"]).action == "list"
    assert parser.parse_args(["dead-letters", "--replay"]).replay is True
