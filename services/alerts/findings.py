"""From one campaign's history to the alerts it warrants in a given hour: pure."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.alerts.anomaly import (
    DEFAULT_PARAMS,
    AlertContent,
    DetectorParams,
    describe,
    detect_campaign,
)
from services.alerts.pacing import check_pacing_with_history
from shared.metrics import HourlyMetrics


@dataclass(frozen=True, slots=True)
class Finding:
    """Something worth an alert: ``key`` is the de-duplication kind ("cvr_down", ...)."""

    key: str
    metric: str | None
    content: AlertContent
    evidence: dict[str, Any]


def lookback(params: DetectorParams = DEFAULT_PARAMS) -> timedelta:
    """How much history before an hour the detector can use."""
    return timedelta(days=params.seasonal_lookback_days + 1)


def findings_at(
    series: Sequence[HourlyMetrics], hour: datetime, params: DetectorParams = DEFAULT_PARAMS
) -> list[Finding]:
    """Alerts for ``hour`` given one campaign's ``series`` (sorted by hour, any span)."""
    hours = [row.hour for row in series]
    upto = bisect.bisect_right(hours, hour)
    start = bisect.bisect_left(hours, hour - lookback(params))
    window = series[start:upto]
    if not window or window[-1].hour != hour:
        return []
    found = []
    for anomaly in detect_campaign(window, params):
        evidence = {
            "metric": anomaly.metric,
            "direction": anomaly.direction,
            "observed": anomaly.observed,
            "baseline": anomaly.baseline,
            "z_score": round(anomaly.z_score, 2),
            "baseline_kind": anomaly.baseline_kind,
            "history_size": anomaly.history_size,
            "window_hours": anomaly.window_hours,
            "hour": anomaly.hour.isoformat(),
            **anomaly.evidence(),
        }
        found.append(Finding(anomaly.kind, anomaly.metric, describe(anomaly), evidence))
    # Pacing looks at the day so far, with earlier days teaching its daily profile.
    pacing = check_pacing_with_history(window[-24 * (params.pacing_profile_min_days + 2) :], params)
    if pacing is not None:
        evidence = {
            "metric": "spend",
            "spend_to_date": round(pacing.spend_to_date, 2),
            "daily_budget": pacing.daily_budget,
            "observed_fraction": round(pacing.observed_fraction, 4),
            "expected_fraction": round(pacing.expected_fraction, 4),
            "profile_kind": pacing.profile_kind,
            "hour": pacing.hour.isoformat(),
        }
        found.append(Finding(pacing.kind, "spend", pacing.content, evidence))
    return found
