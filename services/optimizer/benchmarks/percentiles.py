"""The numbers benchmarks are made of: a campaign's (or a tenant's) metrics over a window,
and percentiles across many of them.

Every metric is a ratio of totals over the window, never a mean of hourly ratios, so an
hour with few impressions weighs what it is worth:

- ``ctr`` = clicks / impressions, ``cvr`` = conversions / clicks (fractions)
- ``cpc`` = spend / clicks, ``cpl`` = ``cpa`` = spend / conversions (money)

A metric whose denominator is zero has no value (None).

A tenant's own percentiles are numpy's default (linear interpolation between order
statistics, ``method="linear"``, Hyndman and Fan's type 7): for values 1..10 the 10th
percentile is 1.9 and the median 5.5. A peer pool's are Harrell-Davis estimates
(:func:`pooled_percentiles`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats.mstats import hdquantiles

from shared.contracts.benchmarks import PERCENTILES


@dataclass(frozen=True, slots=True)
class Totals:
    impressions: float
    clicks: float
    conversions: float
    spend: float


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def metric_values(totals: Totals) -> dict[str, float | None]:
    """Each metric of ``totals``; None where its denominator is zero."""
    per_conversion = _ratio(totals.spend, totals.conversions)
    return {
        "ctr": _ratio(totals.clicks, totals.impressions),
        "cvr": _ratio(totals.conversions, totals.clicks),
        "cpc": _ratio(totals.spend, totals.clicks),
        "cpl": per_conversion,
        "cpa": per_conversion,
    }


def percentiles(values: Sequence[float]) -> dict[int, float]:
    """The 10th, 25th, 50th, 75th and 90th percentiles of ``values`` (at least one)."""
    if not values:
        raise ValueError("percentiles of no values")
    found = np.percentile(np.asarray(values, dtype=float), PERCENTILES)
    return {p: float(v) for p, v in zip(PERCENTILES, found, strict=True)}


def pooled_percentiles(values: Sequence[float]) -> dict[int, float]:
    """The percentiles of a peer pool: the Harrell-Davis estimator (scipy's
    ``mstats.hdquantiles``), a weighted mean of every contributor's value, so a pooled
    figure is no one tenant's own value as an order statistic would be (the median of 11
    values by linear interpolation is the sixth tenant's); it is also steadier than
    interpolation on a few dozen values."""
    if not values:
        raise ValueError("percentiles of no values")
    found = hdquantiles(np.asarray(values, dtype=float), prob=[p / 100 for p in PERCENTILES])
    # In order, as percentiles are, also where rounding of equal values says otherwise.
    ordered = np.maximum.accumulate(np.asarray(found, dtype=float))
    return {p: float(v) for p, v in zip(PERCENTILES, ordered, strict=True)}


def by_metric(members: Iterable[Mapping[str, float | None]]) -> dict[str, list[float]]:
    """Each metric's defined values across ``members`` (campaigns or tenants)."""
    collected: dict[str, list[float]] = {}
    for values in members:
        for metric, value in values.items():
            if value is not None:
                collected.setdefault(metric, []).append(value)
    return collected
