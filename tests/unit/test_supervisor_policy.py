"""The restart policy of `adpilot up`: backoff and crash-loop detection, on a fake clock."""

from __future__ import annotations

import signal

from adpilot.supervisor import ExitHistory, RestartPolicy, describe_exit


def test_the_delay_doubles_from_one_second_up_to_thirty() -> None:
    policy = RestartPolicy()
    assert [policy.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_the_fifth_exit_within_a_minute_leaves_the_child_down() -> None:
    history = ExitHistory(RestartPolicy(crash_limit=5, window=60))
    delays = [history.record(now) for now in (0, 5, 10, 20, 40)]
    assert delays == [1, 2, 4, 8, None]


def test_exits_spread_over_more_than_the_window_never_give_up() -> None:
    history = ExitHistory(RestartPolicy(crash_limit=5, window=60))
    # One exit every 20 s: never more than three in any minute.
    delays = [history.record(20.0 * n) for n in range(30)]
    assert None not in delays
    assert max(d for d in delays if d is not None) == 4


def test_the_backoff_starts_over_once_old_exits_leave_the_window() -> None:
    history = ExitHistory(RestartPolicy(crash_limit=5, window=60))
    assert [history.record(now) for now in (0, 1, 2)] == [1, 2, 4]
    # A long quiet run: the next exit counts as the first again.
    assert history.record(300) == 1
    assert history.recent == 1


def test_an_exit_exactly_one_window_later_no_longer_counts() -> None:
    history = ExitHistory(RestartPolicy(crash_limit=2, window=60))
    assert history.record(0) == 1
    assert history.record(60) == 1


def test_exits_are_described_by_code_or_signal() -> None:
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(0) == "exit code 0"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
