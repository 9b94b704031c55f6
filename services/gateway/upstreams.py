"""Spreading a service's requests over its replicas (``Settings.urls_of``).

Each request goes to the next replica in turn. One that cannot be reached (its connection
refused: it died, or is restarting) is passed over for the next, and tried only after the
others for ``cooloff`` seconds, so a replica that is down costs one refused connection, not
one per request. A request that did reach a replica goes to no other unless it is a read:
a write may have been carried out before its answer was lost.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence

import aiohttp

# Requests that change nothing: sent again to another replica when the first one's
# connection broke after they were sent.
READS = frozenset({"GET", "HEAD", "OPTIONS"})
COOLOFF_SECONDS = 2.0


class Upstreams:
    """A service's replicas, taken in turn, those lately unreachable last."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        cooloff: float = COOLOFF_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("a service needs at least one address")
        self.urls = list(urls)
        self.cooloff = cooloff
        self.clock = clock
        self._turn = itertools.count()
        self._down_until: dict[str, float] = {}

    def order(self) -> list[str]:
        """Every replica, in the order to try them for the next request."""
        start = next(self._turn) % len(self.urls)
        turn = self.urls[start:] + self.urls[:start]
        if not self._down_until:
            return turn
        now = self.clock()
        # A stable sort: the replicas that answer keep their turns, the others go last.
        return sorted(turn, key=lambda url: self._down_until.get(url, 0.0) > now)

    def unreachable(self, url: str) -> None:
        self._down_until[url] = self.clock() + self.cooloff

    def answered(self, url: str) -> None:
        if self._down_until:
            self._down_until.pop(url, None)


def may_try_next(exc: aiohttp.ClientConnectionError, method: str) -> bool:
    """Whether a request that failed with ``exc`` may go to another replica: one that was
    never sent may, and so may a read."""
    return isinstance(exc, aiohttp.ClientConnectorError) or method in READS
