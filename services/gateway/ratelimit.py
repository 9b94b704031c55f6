"""Per-principal rate limits: a token bucket per key, in memory per gateway replica."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    per_minute: int
    burst: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def check(self, subject: str) -> float:
        """Take one token for ``subject``. Returns 0 if allowed, else seconds to wait."""
        now = self.clock()
        rate = self.per_minute / 60.0
        bucket = self._buckets.get(subject)
        if bucket is None:
            bucket = self._buckets[subject] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        if len(self._buckets) > 100_000:
            self._forget_full(now, rate)
        return (1.0 - bucket.tokens) / rate

    def _forget_full(self, now: float, rate: float) -> None:
        # Buckets that have refilled carry no state worth keeping.
        for subject, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.updated) * rate >= self.burst:
                del self._buckets[subject]


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
