"""Scoring of the alert-quality bench on tiny hand-made cases."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from uuid import UUID

import pytest

from sandbox.simulator import InjectedAnomaly
from services.alerts.anomaly import AlertContent
from services.alerts.findings import Finding

HOUR = timedelta(hours=1)
DAY = datetime(2025, 3, 12, tzinfo=UTC)
A = UUID("00000000-0000-0000-0000-00000000000a")
B = UUID("00000000-0000-0000-0000-00000000000b")


def _load_bench() -> ModuleType:
    # bench/ is a directory of scripts, not an installed package
    path = Path(__file__).resolve().parents[2] / "bench" / "quality.py"
    spec = importlib.util.spec_from_file_location("bench_quality", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


quality = _load_bench()


def _at(hour: int) -> datetime:
    return DAY + hour * HOUR


GROUND_TRUTH = [
    InjectedAnomaly(A, "conversion_drop", _at(10), _at(13), 0.2),
    InjectedAnomaly(B, "cpc_jump", _at(20), _at(22), 2.5),
]


def test_precision_recall_and_delay_by_hand() -> None:
    alerts = [
        quality.RaisedAlert(A, "cvr_down", _at(11)),  # inside: true, 1 h late
        quality.RaisedAlert(A, "roas_down", _at(15)),  # within 3 h grace: true
        quality.RaisedAlert(A, "ctr_down", _at(16)),  # grace ends at 16:00: false
        quality.RaisedAlert(A, "spend_up", _at(9)),  # before the start: false
        quality.RaisedAlert(B, "cpc_up", _at(11)),  # wrong campaign for that window: false
    ]
    result = quality.score(alerts, GROUND_TRUTH, grace_hours=3)
    assert result.alerts == 5 and result.true_alerts == 2
    assert result.alert_precision == pytest.approx(2 / 5)
    assert result.injected == 2 and result.detected == 1
    assert result.alert_recall == pytest.approx(1 / 2)
    assert result.median_detection_delay_hours == 1.0
    assert result.recall_by_kind == {"conversion_drop": 1.0, "cpc_jump": 0.0}
    assert result.false_alerts_by_kind == {"ctr_down": 1, "cpc_up": 1, "spend_up": 1}


def test_grace_is_a_parameter() -> None:
    late = [quality.RaisedAlert(B, "cpc_up", _at(23))]
    assert quality.score(late, GROUND_TRUTH, grace_hours=0).true_alerts == 0
    assert quality.score(late, GROUND_TRUTH, grace_hours=2).true_alerts == 1


def test_pacing_alerts_count_until_the_day_ends() -> None:
    exceeded_tonight = quality.RaisedAlert(A, "budget_exceeded", _at(23))
    exceeded_tomorrow = quality.RaisedAlert(A, "budget_exceeded", _at(25))
    metric_tonight = quality.RaisedAlert(A, "spend_up", _at(23))
    result = quality.score([exceeded_tonight, exceeded_tomorrow, metric_tonight], GROUND_TRUTH, 3)
    assert result.true_alerts == 1
    assert result.false_alerts_by_kind == {"budget_exceeded": 1, "spend_up": 1}


def test_empty_cases_are_defined() -> None:
    nothing = quality.score([], GROUND_TRUTH, 3)
    assert (nothing.alert_precision, nothing.alert_recall) == (1.0, 0.0)
    assert nothing.median_detection_delay_hours is None
    quiet = quality.score([quality.RaisedAlert(A, "cvr_down", _at(1))], [], 3)
    assert (quiet.alert_precision, quiet.alert_recall) == (0.0, 1.0)


def finding(kind: str, severity: str = "medium") -> Finding:
    metric = kind.rsplit("_", 1)[0]
    content = AlertContent("performance_anomaly", severity, kind, kind)  # type: ignore[arg-type]
    return Finding(kind, metric, content, {"metric": metric})


def test_one_open_incident_per_cause_and_campaign() -> None:
    tracker = quality.IncidentTracker(quiet_hours=3)
    # One cause, three findings: one incident, named for the conversions.
    opened = tracker.observe(
        A, [finding("cvr_down"), finding("roas_down"), finding("conversions_down")], _at(10)
    )
    assert [(a.kind, sorted(a.kinds)) for a in opened] == [
        ("conversions_down", ["conversions_down", "cvr_down", "roas_down"])
    ]
    assert tracker.observe(A, [finding("roas_down")], _at(11)) == []  # a symptom: still open
    assert len(tracker.observe(A, [finding("cpc_up")], _at(11))) == 1  # another cause
    assert len(tracker.observe(B, [finding("cvr_down")], _at(11))) == 1  # other campaign
    assert tracker.observe(A, [finding("cvr_down")], _at(13)) == []  # 2 quiet hours: open
    tracker.quiet(A, _at(17))  # 4 quiet hours since 13:00: both of A's incidents resolve
    assert len(tracker.observe(A, [finding("cvr_down")], _at(18))) == 1
    assert [(a.campaign_id, a.kind, a.hour) for a in tracker.raised] == [
        (A, "conversions_down", _at(10)),
        (A, "cpc_up", _at(11)),
        (B, "cvr_down", _at(11)),
        (A, "cvr_down", _at(18)),
    ]


def test_alerts_per_week_on_campaigns_with_nothing_injected() -> None:
    quiet = UUID("00000000-0000-0000-0000-00000000000c")
    alerts = [
        quality.RaisedAlert(quiet, "cvr_down", _at(5)),
        quality.RaisedAlert(A, "cpc_up", _at(1)),
    ]
    result = quality.score(alerts, GROUND_TRUTH, 3, campaigns=[A, B, quiet], weeks=2.0)
    assert result.quiet_campaigns == 1 and result.alerts_per_campaign_week == 0.5
    assert quality.score(alerts, GROUND_TRUTH, 3, campaigns=[A, B]).alerts_per_campaign_week is None


def test_command_line_prints_lines_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--seed", "5", "--area", "alerts", "--campaigns", "3", "--days", "10"]
    assert quality.main([*args, "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["injected"] == 6
    assert 0.0 <= figures["alert_precision"] <= 1.0
    assert 0.0 <= figures["alert_recall"] <= 1.0
    assert figures["alerts"] == figures["true_alerts"] + figures["false_alerts"]
    assert figures["alerts_per_campaign_week"] is None or figures["alerts_per_campaign_week"] >= 0

    assert quality.main(args) == 0
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert list(lines) == list(figures)
    assert float(lines["alert_recall"]) == figures["alert_recall"]


def test_areas_combine_into_one_set_of_figures_without_hiding_a_shared_name() -> None:
    combined = quality.combine(
        {
            "alerts": {"seed": 7, "alert_recall": 0.9, "campaigns": 20},
            "plan": {"seed": 7, "reallocation_roas_lift": 0.1, "campaigns": 6},
        }
    )
    assert combined == {
        "seed": 7,
        "alert_recall": 0.9,
        "alerts_campaigns": 20,
        "reallocation_roas_lift": 0.1,
        "plan_campaigns": 6,
    }
