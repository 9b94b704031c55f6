"""One way for every benchmark to print its figures: `name: value` lines, or one JSON object."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping
from typing import Any


def print_figures(figures: Mapping[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(dict(figures)))
        return
    for name, value in figures.items():
        print(f"{name}: {value}")


# How a benchmark's own platform runs: no rate limit in the way, few heartbeats, quiet logs.
BENCH_SETTINGS: dict[str, Any] = {
    "rate_limit_per_minute": 10**6,
    "rate_limit_burst": 10**6,
    "heartbeat_seconds": 5,
    "log_level": "WARNING",
}


def milliseconds(seconds: list[float]) -> dict[str, float]:
    """The median and the 90th percentile of ``seconds``, in milliseconds."""
    ordered = sorted(seconds)
    return {
        "median": round(statistics.median(ordered) * 1000, 3),
        "p90": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 3),
    }


def percentile(ordered: list[float], share: float) -> float | None:
    """Nearest rank of sorted ``ordered``: the smallest value with at least ``share`` of
    them at or below it; None for no values."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]
