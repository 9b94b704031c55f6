"""The one backoff policy, and the helper that retries by it: no server needed."""

from __future__ import annotations

import asyncio
import logging

import pytest

from shared.retry import DEFAULT, Backoff, retry

log = logging.getLogger(__name__)


def test_waits_double_from_the_first_up_to_the_cap() -> None:
    policy = Backoff(first=0.5, cap=10.0, jitter=0.2)
    waits = [policy.delay(n, draw=lambda: 0.0) for n in range(1, 8)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_jitter_only_shortens_a_wait_and_by_at_most_its_share() -> None:
    policy = Backoff(first=1.0, cap=8.0, jitter=0.25)
    for attempt in range(1, 10):
        ceiling = policy.delay(attempt, draw=lambda: 0.0)
        shortest = policy.delay(attempt, draw=lambda: 0.999999)
        assert 0.75 * ceiling <= shortest < ceiling
        assert 0.75 * ceiling <= policy.delay(attempt) <= ceiling <= 8.0


def test_a_long_outage_stays_at_the_cap() -> None:
    assert DEFAULT.delay(10_000, draw=lambda: 0.0) == DEFAULT.cap
    # Attempt numbers below one are read as the first attempt.
    assert DEFAULT.delay(0, draw=lambda: 0.0) == DEFAULT.first


@pytest.mark.parametrize(
    "first, cap, jitter", [(0.0, 1.0, 0.1), (2.0, 1.0, 0.1), (0.1, 1.0, 1.0), (0.1, 1.0, -0.1)]
)
def test_a_policy_that_makes_no_sense_is_refused(first: float, cap: float, jitter: float) -> None:
    with pytest.raises(ValueError):
        Backoff(first=first, cap=cap, jitter=jitter)


FAST = Backoff(first=0.001, cap=0.002)


async def test_retry_tries_again_until_the_job_succeeds() -> None:
    calls: list[int] = []
    seen: list[BaseException] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("not yet")
        return "done"

    assert await retry(flaky, what="flaky", log=log, policy=FAST, on_retry=seen.append) == "done"
    assert len(calls) == 3
    assert [type(e) for e in seen] == [ConnectionError, ConnectionError]


async def test_errors_it_is_not_told_to_retry_propagate_at_once() -> None:
    calls: list[int] = []

    async def broken() -> None:
        calls.append(1)
        raise ValueError("a bad event, not an outage")

    with pytest.raises(ValueError, match="bad event"):
        await retry(
            broken,
            what="broken",
            log=log,
            policy=FAST,
            when=lambda exc: isinstance(exc, ConnectionError),
        )
    assert calls == [1]


async def test_cancellation_is_never_retried() -> None:
    started = asyncio.Event()
    calls: list[int] = []

    async def slow() -> None:
        calls.append(1)
        started.set()
        await asyncio.sleep(60)

    task = asyncio.create_task(retry(slow, what="slow", log=log, policy=FAST))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls == [1]


async def test_retry_gives_up_after_the_attempts_it_is_allowed() -> None:
    calls: list[int] = []

    async def down() -> None:
        calls.append(1)
        raise ConnectionError(f"refused #{len(calls)}")

    with pytest.raises(ConnectionError, match="refused #3"):
        await retry(down, what="down", log=log, policy=FAST, attempts=3)
    assert len(calls) == 3


async def test_a_job_whose_cleanup_fails_after_a_cancel_stops_instead_of_restarting() -> None:
    started = 0
    entered = asyncio.Event()

    async def job() -> None:
        nonlocal started
        started += 1
        try:
            entered.set()
            await asyncio.sleep(3600)
        finally:
            # Cleaning up after the cancel goes wrong, as releasing a broken connection can.
            raise RuntimeError("cleanup failed")

    task = asyncio.create_task(
        retry(job, what="a job", log=logging.getLogger("test"), policy=Backoff(0.01, 0.01, 0.0))
    )
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert started == 1
