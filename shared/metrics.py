"""Hourly campaign performance: the one shape every service and connector shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


class Rates:
    """The ratios every performance figure derives from its counters (None when undefined).

    Shared by one hour's metrics and by totals over a window, so a rate means the same
    everywhere."""

    __slots__ = ()
    impressions: int
    clicks: int
    conversions: int
    spend: float
    revenue: float

    @property
    def ctr(self) -> float | None:
        return _ratio(self.clicks, self.impressions)

    @property
    def cvr(self) -> float | None:
        return _ratio(self.conversions, self.clicks)

    @property
    def cpc(self) -> float | None:
        return _ratio(self.spend, self.clicks)

    @property
    def roas(self) -> float | None:
        return _ratio(self.revenue, self.spend)


@dataclass(frozen=True, slots=True)
class HourlyMetrics(Rates):
    """One campaign's performance over one hour.

    ``hour`` is the start of the hour (timezone-aware UTC); ``budget`` is the
    campaign's *daily* budget in force during that hour.
    """

    campaign_id: UUID
    hour: datetime
    impressions: int
    clicks: int
    conversions: int
    spend: float
    revenue: float
    budget: float

    def value(self, metric: str) -> float | None:
        """The named metric: a raw counter or one of the derived ratios."""
        if metric in DERIVED_METRICS:
            return getattr(self, metric)
        if metric in RAW_METRICS:
            return float(getattr(self, metric))
        raise KeyError(metric)


RAW_METRICS = ("impressions", "clicks", "conversions", "spend", "revenue")
DERIVED_METRICS = ("ctr", "cvr", "cpc", "roas")
