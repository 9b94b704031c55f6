"""Small helpers shared by integration and end-to-end tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from shared.consumer import Subscriptions
from shared.events import Envelope

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], within: float = 5.0) -> tuple[T, float]:
    """Poll ``probe`` until it returns something truthy; return it and the seconds it took."""
    start = time.monotonic()
    while True:
        result = await probe()
        if result:
            return result, time.monotonic() - start
        if time.monotonic() - start > within:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.05)


async def deliver(conn: Any, subscriptions: Subscriptions, envelope: Envelope) -> None:
    """Hand ``envelope`` to the handler its service would run it with, as the consumer does
    (typed payload included), inside the caller's transaction."""
    resolved = subscriptions.resolve(envelope)
    assert resolved is not None, f"nobody handles {envelope.type}"
    handler, payload = resolved
    await handler(conn, envelope, payload)
