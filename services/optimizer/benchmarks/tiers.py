"""Where a value stands against a benchmark's percentiles: its tier.

Tiers rank performance, so the best band is always ``90_plus``. For a metric where lower
is better (costs), the value and the percentiles are turned around first: a CPC at or
below the 10th percentile of CPCs performs better than 90% and is ``90_plus``.

A benchmark may know only some of its percentiles (a published "average" is a median).
The tier is then the narrowest band the known ones decide: the highest known percentile
the value reached and the lowest it did not, ``below_50`` or ``50_plus`` against a median
alone. A value equal to a percentile has reached it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.contracts.benchmarks import HIGHER_IS_BETTER, PERCENTILES


@dataclass(frozen=True, slots=True)
class Tier:
    """The band ``[low, high)`` of performance percentiles the value falls in, and the
    percentiles that decided it."""

    low: int
    high: int
    decided_by: tuple[int, ...]

    @property
    def name(self) -> str:
        if self.low == 0:
            return f"below_{self.high}"
        if self.high == 100:
            return f"{self.low}_plus"
        return f"{self.low}_{self.high}"


def band(value: float, cuts: Mapping[int, float]) -> Tier:
    """The band of ``value`` where higher is better, against the known ``cuts``
    (percentile -> value; at least one)."""
    if not cuts:
        raise ValueError("a tier needs at least one known percentile")
    reached = [p for p in sorted(cuts) if value >= cuts[p]]
    missed = [p for p in sorted(cuts) if value < cuts[p]]
    low = reached[-1] if reached else 0
    high = missed[0] if missed else 100
    return Tier(low, high, tuple(sorted(cuts)))


def tier(metric: str, value: float, percentiles: Mapping[int, float | None]) -> Tier | None:
    """The tier of ``value`` of ``metric`` against a benchmark's percentiles (None where
    unknown); None when the benchmark knows none of them."""
    cuts = {p: v for p, v in percentiles.items() if v is not None and p in PERCENTILES}
    if not cuts:
        return None
    if HIGHER_IS_BETTER[metric]:
        return band(value, cuts)
    # Lower is better: the p-th percentile of costs is the (100 - p)-th of performance,
    # and a cost at or below it has reached that.
    turned = band(-value, {100 - p: -v for p, v in cuts.items()})
    return Tier(turned.low, turned.high, tuple(sorted(cuts)))
