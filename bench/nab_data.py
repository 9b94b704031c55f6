"""NAB's real ad-exchange series as campaigns, and alerts scored against their windows: pure.

Shared by the benchmarks that feed the series somewhere (``bench/nab.py`` through the
platform, ``bench/nab_offline.py`` in process) so both build the same rows and score the
same way.

Each series becomes one campaign whose volume is constant, so the price series alone
moves spend: 100,000 impressions and 1,000 clicks an hour (CTR 1%) and 50 conversions
(CVR 5%); spend = CPC x clicks, or CPM x impressions / 1000 for a CPM series; revenue =
4 x spend (ROAS 4); the daily budget is three times the median daily spend.

The files' quirks: exchange-2 reports on ``:00:01`` and exchange-3 on ``:15:01`` past
each hour (both floored to the hour), hours are missing (left missing), and exchange-2
repeats ``2011-08-24 12:00:01`` with two values (the later one wins, as an upsert of the
same hour would have it).
"""

from __future__ import annotations

import csv
import json
import statistics
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from shared.metrics import HourlyMetrics

NAB_DIR = Path("/work/shared/data/nab")
NAB_SERIES = (
    "exchange-2_cpc_results.csv",
    "exchange-2_cpm_results.csv",
    "exchange-3_cpc_results.csv",
    "exchange-3_cpm_results.csv",
)
# The key a series has in NAB's label files.
LABEL_FOLDER = "realAdExchange"
# Constant volumes of the mapped campaigns: the price series decides spend.
NAB_IMPRESSIONS = 100_000
NAB_CLICKS = 1_000
NAB_CONVERSIONS = 50
NAB_ROAS = 4.0
BUDGET_DAYS = 3.0
_NAMESPACE = uuid.UUID("0c6b3c3e-8d4f-4a8e-9d55-6a3f0b1c2d7e")

Window = tuple[datetime, datetime]


def parse_hour(stamp: str) -> datetime:
    """A NAB timestamp (no zone, read as UTC) floored to the start of its hour."""
    moment = datetime.fromisoformat(stamp.strip()).replace(tzinfo=UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def read_prices(lines: Iterable[str]) -> dict[datetime, float]:
    """``timestamp,value`` CSV lines as price per hour; a repeated hour keeps the later value."""
    prices: dict[datetime, float] = {}
    for record in csv.DictReader(lines):
        prices[parse_hour(record["timestamp"])] = float(record["value"])
    return prices


def campaign_id_of(name: str) -> uuid.UUID:
    """The campaign a series stands for: the same id in every run."""
    return uuid.uuid5(_NAMESPACE, name)


def is_per_thousand(name: str) -> bool:
    return "_cpm_" in name


def daily_budget(spends: Mapping[datetime, float]) -> float:
    """Three times the median of the series' daily spends (days as UTC dates)."""
    daily: dict[date, float] = {}
    for hour, spend in spends.items():
        daily[hour.date()] = daily.get(hour.date(), 0.0) + spend
    return round(BUDGET_DAYS * statistics.median(daily.values()), 2)


def metric_rows(
    campaign_id: uuid.UUID, prices: Mapping[datetime, float], *, per_thousand: bool
) -> list[HourlyMetrics]:
    """One campaign's hourly rows, oldest first, from its price (CPC, or CPM) per hour."""
    volume = NAB_IMPRESSIONS / 1000 if per_thousand else NAB_CLICKS
    spends = {hour: price * volume for hour, price in prices.items()}
    if not spends:
        return []
    budget = daily_budget(spends)
    return [
        HourlyMetrics(
            campaign_id=campaign_id,
            hour=hour,
            impressions=NAB_IMPRESSIONS,
            clicks=NAB_CLICKS,
            conversions=NAB_CONVERSIONS,
            spend=round(spend, 4),
            revenue=round(NAB_ROAS * spend, 4),
            budget=budget,
        )
        for hour, spend in sorted(spends.items())
    ]


@dataclass(frozen=True, slots=True)
class NabSeries:
    name: str
    campaign_id: uuid.UUID
    rows: list[HourlyMetrics]
    windows: list[Window]


def load_nab(directory: Path = NAB_DIR, names: Sequence[str] = NAB_SERIES) -> list[NabSeries]:
    """The series as campaigns, with their labelled windows (bounds floored to the hour)."""
    windows = json.loads((directory / "combined_windows.json").read_text())
    found = []
    for name in names:
        with (directory / name).open() as handle:
            prices = read_prices(handle)
        campaign = campaign_id_of(name)
        rows = metric_rows(campaign, prices, per_thousand=is_per_thousand(name))
        spans = [(parse_hour(a), parse_hour(b)) for a, b in windows[f"{LABEL_FOLDER}/{name}"]]
        found.append(NabSeries(name, campaign, rows, spans))
    return found


# ---------------------------------------------------------------------------- scoring

# One alert as scored: its kind and the hour it was first seen in.
Opened = tuple[str, datetime]


def inside(hour: datetime, windows: Sequence[Window]) -> bool:
    """Whether ``hour`` falls in one of the windows (both ends included)."""
    return any(start <= hour <= end for start, end in windows)


@dataclass(frozen=True, slots=True)
class NabScore:
    precision: float
    recall: float
    alerts: int
    true_alerts: int
    windows: int
    windows_found: int
    per_series: dict[str, dict[str, object]]


def score_nab(data: Sequence[NabSeries], opened: Mapping[str, Sequence[Opened]]) -> NabScore:
    """Precision and recall of the alerts opened on each series (by name) against its windows.

    An alert is true when its first hour falls inside a window of its series; a window is
    found when at least one alert of its series first fell inside it. Each alert counts
    once, however often it repeated. With no alerts precision is 1.0, with no windows
    recall is 1.0.
    """
    alerts = true_alerts = windows = found = 0
    per_series: dict[str, dict[str, object]] = {}
    for series in data:
        raised = sorted(opened.get(series.name, ()), key=lambda a: (a[1], a[0]))
        hits = [inside(hour, series.windows) for _, hour in raised]
        seen = [any(a <= hour <= b for _, hour in raised) for a, b in series.windows]
        alerts += len(raised)
        true_alerts += sum(hits)
        windows += len(series.windows)
        found += sum(seen)
        per_series[series.name] = {
            "alerts": len(raised),
            "true": sum(hits),
            "windows_found": f"{sum(seen)}/{len(seen)}",
            "opened": [
                f"{kind}@{hour:%m-%d %H}{'*' if ok else ''}"
                for (kind, hour), ok in zip(raised, hits, strict=True)
            ],
        }
    return NabScore(
        precision=true_alerts / alerts if alerts else 1.0,
        recall=found / windows if windows else 1.0,
        alerts=alerts,
        true_alerts=true_alerts,
        windows=windows,
        windows_found=found,
        per_series=per_series,
    )


def series_label(name: str) -> str:
    """``exchange-2_cpc_results.csv`` -> ``exchange_2_cpc``, for figure names."""
    return name.removesuffix("_results.csv").replace("-", "_")
