"""The settings and wiring of campaign_metrics' month partitions, without a database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from annotated_types import Le
from pydantic import ValidationError

from adpilot.registry import KEEP_CAMPAIGN_METRICS, spec_of
from services.alerts.findings import lookback
from services.decision import cycles, learning
from services.optimizer.forecasts.store import CONFIG
from services.optimizer.pools.curves import WINDOW_DAYS
from services.optimizer.rules.rule import LastDays, LastHours
from shared.config import METRICS_RETENTION_FLOOR_DAYS, Settings
from shared.contracts import SERVICES
from shared.housekeeping import metric_partitions


def _most(model: type, name: str) -> int:
    (bound,) = [m.le for m in model.model_fields[name].metadata if isinstance(m, Le)]
    return int(bound)


def test_the_shortest_retention_outlasts_every_window_a_service_reads() -> None:
    windows = {
        "alert detection": lookback(),
        "decision cycle": cycles.HISTORY,
        "decision curves": timedelta(days=cycles.CURVE_DAYS + 1),
        "decision validation": learning.LOOKBACK,
        "forecasts": timedelta(hours=CONFIG.window_hours),
        "pool curves": timedelta(days=WINDOW_DAYS),
        "rules, in days": timedelta(days=_most(LastDays, "last_days")),
        "rules, in hours": timedelta(hours=_most(LastHours, "last_hours")),
    }
    floor = timedelta(days=METRICS_RETENTION_FLOOR_DAYS)
    assert {name: w for name, w in windows.items() if w >= floor} == {}


def test_metrics_are_kept_for_ever_unless_a_retention_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ADPILOT_METRICS_RETENTION_DAYS", raising=False)
    assert Settings().metrics_retention is None
    monkeypatch.setenv("ADPILOT_METRICS_RETENTION_DAYS", "400")
    assert Settings().metrics_retention == timedelta(days=400)
    monkeypatch.setenv("ADPILOT_METRICS_RETENTION_DAYS", str(METRICS_RETENTION_FLOOR_DAYS - 1))
    with pytest.raises(ValidationError, match="metrics_retention_days"):
        Settings()
    monkeypatch.setenv("ADPILOT_METRICS_PARTITIONS_AHEAD", "0")
    monkeypatch.delenv("ADPILOT_METRICS_RETENTION_DAYS")
    with pytest.raises(ValidationError, match="metrics_partitions_ahead"):
        Settings()


def test_the_services_that_keep_campaign_metrics_keep_its_partitions() -> None:
    keeping = {name for name in SERVICES if metric_partitions in spec_of(name).upkeep}
    assert keeping == KEEP_CAMPAIGN_METRICS
