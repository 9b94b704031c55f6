"""The one way to wait and try again: exponential backoff with a cap and jitter.

The policy is a plain value with a pure ``delay``; ``retry`` hands it to tenacity, which
does the looping, so every retry in the platform waits, logs and gives up the same way.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_never,
)
from tenacity.wait import wait_base

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """``first`` seconds, doubling per attempt, never above ``cap``.

    Each wait is shortened by up to ``jitter`` of itself at random, so replicas that failed
    together do not all come back in the same instant.
    """

    first: float = 0.5
    cap: float = 10.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.cap or not 0 <= self.jitter < 1:
            raise ValueError("need 0 < first <= cap and 0 <= jitter < 1")

    def delay(self, attempt: int, draw: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first).

        ``draw`` returns a number in [0, 1); the default is random."""
        # The exponent is bounded so that a long outage cannot overflow the float.
        ceiling = min(self.first * 2.0 ** min(max(attempt, 1) - 1, 64), self.cap)
        return ceiling * (1.0 - self.jitter * draw())


# The platform's policy, unless a caller has reason for another.
DEFAULT = Backoff()


class _Wait(wait_base):
    def __init__(self, policy: Backoff) -> None:
        self.policy = policy

    def __call__(self, retry_state: RetryCallState) -> float:
        return self.policy.delay(retry_state.attempt_number)


def _always(_exc: BaseException) -> bool:
    return True


async def retry(
    job: Callable[[], Awaitable[T]],
    *,
    what: str,
    log: logging.Logger,
    policy: Backoff = DEFAULT,
    when: Callable[[BaseException], bool] = _always,
    on_retry: Callable[[BaseException], None] = lambda _exc: None,
    traceback: bool | Callable[[BaseException], bool] = False,
    attempts: int | None = None,
) -> T:
    """Run ``job`` until it returns, waiting by ``policy`` after each failure.

    Only exceptions for which ``when`` holds are retried; any other, and cancellation,
    propagate at once. Each retry is logged as one warning line naming ``what``; without a
    traceback unless asked, since an outage is expected and its error says enough.
    With ``attempts``, the last failure after that many tries propagates; without, it
    tries until it succeeds. ``traceback`` may also be a test of the exception: a job
    that fails for a bug keeps its traceback, one that fails for an outage need not.
    """
    if attempts is not None and attempts < 1:
        raise ValueError("attempts must be at least 1")

    def before_sleep(state: RetryCallState) -> None:
        assert state.outcome is not None
        exc = state.outcome.exception()
        assert exc is not None
        on_retry(exc)
        log.warning(
            f"{what} failed; retrying",
            extra={
                "error": repr(exc),
                "attempt": state.attempt_number,
                "in": round(state.upcoming_sleep, 3),
            },
            exc_info=exc if (traceback(exc) if callable(traceback) else traceback) else None,
        )

    retrying = AsyncRetrying(
        wait=_Wait(policy),
        # Exception only: CancelledError and KeyboardInterrupt are never retried.
        retry=retry_if_exception(
            lambda exc: isinstance(exc, Exception) and not _stopping() and when(exc)
        ),
        before_sleep=before_sleep,
        stop=stop_never if attempts is None else stop_after_attempt(attempts),
        reraise=True,
    )

    async def attempt() -> T:
        # tenacity awaits only what it recognises as a coroutine function; a lambda or a
        # partial returning an awaitable would pass through unawaited.
        try:
            return await job()
        except Exception:
            if _stopping():
                # Cleaning up after a cancellation failed: the cancellation is what counts.
                raise asyncio.CancelledError from None
            raise

    return await retrying(attempt)


def _stopping() -> bool:
    """Whether the running task has been asked to stop (cancelled, possibly since caught)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
