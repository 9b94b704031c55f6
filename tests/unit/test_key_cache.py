"""The gateway's cache of keys found good: kept for its seconds, never longer, never the
bad ones, and dropped whole on demand."""

from __future__ import annotations

import uuid

from services.gateway.keys import KeyCache
from shared.config import Settings
from shared.internal_auth import Principal


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _principal() -> Principal:
    return Principal(uuid.uuid4(), "viewer", f"key:{uuid.uuid4()}", "api_key")


def test_a_key_is_trusted_for_its_seconds_then_looked_up_again() -> None:
    clock = Clock()
    cache = KeyCache(5.0, clock=clock)
    who = _principal()
    assert cache.get("h") is None
    cache.put("h", who)
    clock.now += 4.9
    assert cache.get("h") is who
    clock.now += 0.1
    assert cache.get("h") is None
    assert cache.get("h") is None  # gone, not merely stale


def test_zero_seconds_keeps_nothing_and_forget_drops_everything() -> None:
    off = KeyCache(0.0)
    off.put("h", _principal())
    assert off.get("h") is None
    cache = KeyCache(5.0)
    cache.put("a", _principal())
    cache.put("b", _principal())
    cache.forget()
    assert cache.get("a") is None and cache.get("b") is None


def test_a_full_cache_makes_room_by_dropping_what_expired_first() -> None:
    clock = Clock()
    cache = KeyCache(5.0, limit=3, clock=clock)
    cache.put("old", _principal())
    clock.now += 3
    cache.put("a", _principal())
    cache.put("b", _principal())
    clock.now += 3  # "old" has expired; "a" and "b" have not
    cache.put("c", _principal())
    assert cache.get("old") is None
    assert all(cache.get(k) is not None for k in ("a", "b", "c"))


def test_the_default_is_a_few_seconds() -> None:
    assert Settings().key_cache_seconds == 5.0
