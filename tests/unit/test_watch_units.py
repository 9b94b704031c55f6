"""Pure parts of the watch-and-decide loop: findings, lifecycle, health, metric input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from sandbox.driver import parse_injection, to_body
from sandbox.simulator import CampaignSimulator, InjectedAnomaly
from services.alerts.findings import findings_at
from services.alerts.health import uptime_percentage, with_liveness
from services.decision.cycles import build_views
from shared.contracts.alerts import ALERT_LIFECYCLE
from shared.contracts.gateway import METRICS_RECORDED
from shared.events import Envelope
from shared.health import classify
from shared.lifecycle import InvalidTransition
from shared.metrics_input import MetricsBatch, hourly, latest_per_hour

START = datetime(2026, 10, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _series(sim: CampaignSimulator, hours: int, campaign: uuid.UUID) -> list:
    return [
        row
        for i in range(hours)
        for row in sim.simulate_hour(START + i * HOUR)
        if row.campaign_id == campaign
    ]


def test_findings_flag_an_injected_conversion_drop_and_nothing_before_it() -> None:
    probe = CampaignSimulator(3, seed=5, start=START)
    target = probe.campaign_ids[0]
    drop = InjectedAnomaly(target, "conversion_drop", START + 190 * HOUR, START + 198 * HOUR, 0.15)
    sim = CampaignSimulator(3, seed=5, start=START, anomalies=[drop])
    series = _series(sim, 198, target)
    before = [f for h in range(180, 190) for f in findings_at(series, START + h * HOUR)]
    assert before == []
    during = {f.key for h in range(190, 196) for f in findings_at(series, START + h * HOUR)}
    assert during & {"cvr_down", "conversions_down", "roas_down"}
    finding = next(
        f
        for h in range(190, 196)
        for f in findings_at(series, START + h * HOUR)
        if f.key == "cvr_down"
    )
    assert finding.evidence["observed"] < finding.evidence["baseline"]
    assert finding.content.alert_type == "performance_anomaly"


def test_findings_need_the_hour_itself_in_the_series() -> None:
    sim = CampaignSimulator(1, seed=5, start=START)
    series = _series(sim, 48, sim.campaign_ids[0])
    assert findings_at(series, START + 100 * HOUR) == []


@pytest.mark.parametrize(
    ("action", "current", "expected"),
    [
        ("acknowledge", "active", "acknowledged"),
        ("resolve", "active", "resolved"),
        ("resolve", "acknowledged", "resolved"),
        ("dismiss", "acknowledged", "dismissed"),
    ],
)
def test_allowed_transitions(action: str, current: str, expected: str) -> None:
    assert ALERT_LIFECYCLE.next_status(action, current) == expected


@pytest.mark.parametrize(
    ("action", "current"),
    [
        ("acknowledge", "acknowledged"),
        ("acknowledge", "resolved"),
        ("resolve", "dismissed"),
        ("dismiss", "resolved"),
    ],
)
def test_refused_transitions(action: str, current: str) -> None:
    with pytest.raises(InvalidTransition):
        ALERT_LIFECYCLE.next_status(action, current)


def test_uptime_is_healthy_beats_over_expected_beats() -> None:
    now = datetime(2026, 11, 1, 12, tzinfo=UTC)
    # 10 minutes at one beat per 15 s: 41 expected beats; 37 healthy ones is 90.24 %.
    assert uptime_percentage(37, now - timedelta(minutes=10), now, 15.0) == 90.24
    assert uptime_percentage(1, now, now, 15.0) == 100.0
    # Older than a day only the last 24 h count.
    assert uptime_percentage(5761, now - timedelta(days=3), now, 15.0) == 100.0


def test_silent_components_are_offline() -> None:
    now = datetime(2026, 11, 1, 12, tzinfo=UTC)
    row = {
        "health_status": "healthy",
        "last_heartbeat": now - timedelta(seconds=50),
        "performance_metrics": {"heartbeat_seconds": 15},
    }
    assert with_liveness(row, now)["health_status"] == "offline"
    assert with_liveness(row, now - timedelta(seconds=20))["health_status"] == "healthy"


def test_health_classification() -> None:
    ok = {
        "database": {"reachable": True},
        "broker": {"connected": True},
        "outbox_backlog": 0,
        "dead_letters": 0,
    }
    assert classify(ok) == ("healthy", [])
    assert classify({**ok, "dead_letters": 2})[0] == "warning"
    status, problems = classify({**ok, "broker": {"connected": False}})
    assert status == "critical" and problems == ["broker disconnected"]


def _row(**overrides: object) -> dict:
    base = {
        "campaign_id": str(uuid.uuid4()),
        "hour": "2026-11-01T10:00:00Z",
        "impressions": 1000,
        "clicks": 50,
        "conversions": 5,
        "spend": 25.0,
        "revenue": 100.0,
        "budget": 600.0,
    }
    return {**base, **overrides}


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"clicks": -1}, "clicks"),
        ({"hour": "2026-11-01T10:30:00Z"}, "hour"),
        ({"hour": "2026-11-01T10:00:00"}, "hour"),
        ({"campaign_id": "nope"}, "campaign_id"),
        ({"spend": "NaN"}, "spend"),
        ({"clicks": 2000}, None),
        ({"hour": "2099-01-01T00:00:00Z"}, "hour"),
        ({"surplus": 1}, "surplus"),
    ],
)
def test_a_bad_row_is_named(bad: dict, field: str | None) -> None:
    with pytest.raises(ValidationError) as caught:
        MetricsBatch.model_validate({"metrics": [_row(), _row(**bad)]})
    locations = [e["loc"] for e in caught.value.errors()]
    assert all(loc[:2] == ("metrics", 1) for loc in locations)
    if field:
        assert ("metrics", 1, field) in locations


def test_batch_size_is_capped() -> None:
    with pytest.raises(ValidationError):
        MetricsBatch.model_validate({"metrics": [_row()] * 5001})
    with pytest.raises(ValidationError):
        MetricsBatch.model_validate({"metrics": []})


def test_the_last_copy_of_an_hour_wins_and_survives_the_wire() -> None:
    campaign = str(uuid.uuid4())
    batch = MetricsBatch.model_validate(
        {"metrics": [_row(campaign_id=campaign, clicks=10), _row(campaign_id=campaign, clicks=20)]}
    )
    rows = latest_per_hour(batch.metrics)
    event = METRICS_RECORDED.envelope({"metrics": rows}, tenant_id=uuid.uuid4(), source="gateway")
    received = METRICS_RECORDED.parse(Envelope.from_bytes(event.to_bytes()))
    (row,) = hourly(received.metrics)
    assert row.clicks == 20
    assert row.hour == datetime(2026, 11, 1, 10, tzinfo=UTC)


def test_simulator_rows_are_valid_api_input() -> None:
    sim = CampaignSimulator(4, seed=3, start=START)
    body = to_body(sim.simulate_hour(START + 30 * HOUR))
    assert len(MetricsBatch.model_validate(body).metrics) == 4


def test_injection_specs() -> None:
    sim = CampaignSimulator(2, seed=3, start=START)
    a = parse_injection("cpc_jump:1:200:4", sim.campaign_ids, START)
    assert a.campaign_id == sim.campaign_ids[1]
    assert a.start_hour == START + 200 * HOUR and a.end_hour == START + 204 * HOUR
    for bad in ("teleport:0:1", "cpc_jump:9:1", "cpc_jump:x:1", "cpc_jump"):
        with pytest.raises(ValueError):
            parse_injection(bad, sim.campaign_ids, START)


def test_views_carry_each_campaigns_own_alerts_and_risks() -> None:
    sim = CampaignSimulator(2, seed=3, start=START)
    a, b = sim.campaign_ids
    history = [row for i in range(48) for row in sim.simulate_hour(START + i * HOUR)]
    alert_id = uuid.uuid4()
    state = {
        "as_of": START + 48 * HOUR,
        "campaigns": [a, b],
        "history": history,
        "alerts": [
            {
                "alert_id": alert_id,
                "campaign_id": a,
                "kind": "cvr_down",
                "metric": "cvr",
                "severity": "high",
                "observed": 0.01,
                "baseline": 0.05,
            }
        ],
        "risks": [
            {
                "campaign_id": b,
                "risk_type": "tracking_loss",
                "risk_level": "low",
                "probability_score": 0.4,
            }
        ],
        "calibration": 0.5,
    }
    views = {v.campaign_id: v for v in build_views(state)}
    assert [x.alert_id for x in views[a].alerts] == [alert_id] and views[a].risks == ()
    assert views[b].alerts == () and views[b].risks[0].risk_type == "tracking_loss"
    assert views[a].metrics.last_24h.hours == 24


def test_pacing_alerts_carry_spend_against_the_days_allowance() -> None:
    from services.decision.views import _observed_and_baseline

    pacing = {"spend_to_date": 900.0, "daily_budget": 600.0, "expected_fraction": 0.5}
    assert _observed_and_baseline(pacing) == (900.0, 300.0)
    anomaly = {"observed": 0.01, "baseline": 0.05}
    assert _observed_and_baseline(anomaly) == (0.01, 0.05)
