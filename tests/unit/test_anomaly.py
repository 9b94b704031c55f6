"""The anomaly detector on hand-made series with answers worked out by hand."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import numpy as np
import pytest
from scipy import stats

from sandbox.simulator import CampaignSimulator, InjectedAnomaly
from services.alerts.anomaly import (
    MAD_TO_SIGMA,
    MODEL_NAME,
    MODEL_VERSION,
    Anomaly,
    DetectorParams,
    describe,
    detect,
    detect_campaign,
    median_abs_deviation,
    robust_z,
    severity_for,
)
from shared.metrics import HourlyMetrics

CAMPAIGN = UUID("00000000-0000-0000-0000-0000000000a1")
OTHER = UUID("00000000-0000-0000-0000-0000000000b2")
DAY0 = datetime(2025, 3, 3, tzinfo=UTC)
HOUR = timedelta(hours=1)
NEWEST = DAY0 + timedelta(days=10, hours=14)
SINGLE_HOUR = DetectorParams(window_hours=(1,))

# Conversions at 14:00 on the ten days before NEWEST: median 40, MAD 1.
PAST_CONVERSIONS = [40, 42, 38, 41, 39, 40, 43, 37, 40, 41]


def _row(
    hour: datetime,
    *,
    campaign_id: UUID = CAMPAIGN,
    impressions: int = 50_000,
    clicks: int = 1_000,
    conversions: int = 40,
    spend: float = 500.0,
    revenue: float | None = None,
    budget: float = 12_000.0,
) -> HourlyMetrics:
    return HourlyMetrics(
        campaign_id=campaign_id,
        hour=hour,
        impressions=impressions,
        clicks=clicks,
        conversions=conversions,
        spend=spend,
        revenue=conversions * 50.0 if revenue is None else revenue,
        budget=budget,
    )


def _history(days: int = 10, campaign_id: UUID = CAMPAIGN, **newest: float) -> list[HourlyMetrics]:
    """Hourly rows up to NEWEST; 14:00 rows follow PAST_CONVERSIONS, the newest takes ``newest``."""
    rows = []
    hour = NEWEST - days * 24 * HOUR
    while hour < NEWEST:
        conversions = 40
        if hour.hour == 14:
            conversions = PAST_CONVERSIONS[(NEWEST - hour).days - 1]
        rows.append(_row(hour, campaign_id=campaign_id, conversions=conversions))
        hour += HOUR
    rows.append(_row(NEWEST, campaign_id=campaign_id, **newest))  # type: ignore[arg-type]
    return rows


def _by_metric(anomalies: list[Anomaly]) -> dict[str, Anomaly]:
    return {a.metric: a for a in anomalies}


# ---------------------------------------------------------------- statistics


def test_mad_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    for size in (5, 8, 31):
        values = rng.lognormal(2.0, 0.7, size).tolist()
        expected = stats.median_abs_deviation(values, scale="normal")
        assert MAD_TO_SIGMA * median_abs_deviation(values) == pytest.approx(expected, rel=1e-9)
        assert robust_z(0.0, values).scale == pytest.approx(expected, rel=1e-9)


def test_mad_scale_matches_statsmodels() -> None:
    from statsmodels.robust.scale import mad

    values = [3.1, 4.7, 2.2, 9.8, 5.5, 4.4, 3.9, 6.0]
    # statsmodels scales by 1/Phi^-1(3/4) around the median, as our robust z does.
    assert robust_z(0.0, values).scale == pytest.approx(mad(values, center=np.median(values)))


def test_robust_z_known_answer() -> None:
    # median 11; absolute deviations 1, 1, 0, 2, 2 -> MAD 1
    score = robust_z(20.0, [10.0, 12.0, 11.0, 13.0, 9.0])
    assert score.median == 11.0
    assert score.z == pytest.approx(9.0 / 1.4826, rel=1e-4)


def test_robust_z_floor_replaces_a_zero_mad() -> None:
    assert robust_z(6.0, [5.0, 5.0, 5.0, 5.0], floor=0.5).z == pytest.approx(2.0)
    assert robust_z(6.0, [5.0, 5.0, 5.0, 5.0]).z == math.inf
    assert robust_z(5.0, [5.0, 5.0, 5.0, 5.0]).z == 0.0


@pytest.mark.parametrize(
    ("z", "expected"),
    [
        (3.6, "low"),
        (-4.9, "low"),
        (5.0, "medium"),
        (-8.0, "high"),
        (14.9, "high"),
        (-15, "critical"),
    ],
)
def test_severity_bands(z: float, expected: str) -> None:
    assert severity_for(z) == expected


# ---------------------------------------------------------------- detection


def test_conversion_drop_known_answer() -> None:
    anomalies = _by_metric(detect_campaign(_history(conversions=10), SINGLE_HOUR))
    drop = anomalies["conversions"]
    # MAD scale 1.48 and 5% floor (2.0) lose to the Poisson floor sqrt(40)
    assert drop.z_score == pytest.approx((10 - 40) / math.sqrt(40))
    assert (drop.observed, drop.baseline) == (10.0, 40.0)
    assert (drop.direction, drop.kind, drop.baseline_kind) == (
        "down",
        "conversions_down",
        "seasonal",
    )
    assert drop.history_size == 10
    assert drop.severity == "low"
    # cvr: 0.01 against a median of 0.04; the binomial floor over 1000 clicks wins
    cvr = anomalies["cvr"]
    assert cvr.z_score == pytest.approx((0.01 - 0.04) / math.sqrt(0.04 * 0.96 / 1000))
    assert cvr.kind == "cvr_down"
    # roas 1.0 against 4.0, but order values vary: the floor 4 * sqrt(2 / 40)
    # puts it at z = -3.35, short of the 3.5 threshold
    assert "roas" not in anomalies
    assert {"ctr", "cpc", "spend"}.isdisjoint(anomalies)


def test_normal_hour_raises_nothing() -> None:
    assert detect_campaign(_history(conversions=41)) == []


def test_too_little_history_raises_nothing() -> None:
    rows = _history(days=10, conversions=0, clicks=0)
    assert detect_campaign(rows[-12:]) == []


def test_short_history_falls_back_to_recent_hours_for_rates_only() -> None:
    anomalies = _by_metric(detect_campaign(_history(days=4, conversions=10), SINGLE_HOUR))
    # four same-hour days are too few for the seasonal baseline: no volume metrics
    assert "conversions" not in anomalies
    assert anomalies["cvr"].baseline_kind == "recent"
    assert anomalies["cvr"].history_size == 48


def test_improvements_are_not_reported() -> None:
    anomalies = detect_campaign(_history(conversions=120, revenue=6000.0, spend=200.0))
    # cheaper clicks, more conversions, better ROAS: nothing to act on
    assert anomalies == []


def test_small_moves_are_not_material() -> None:
    # 30% fewer conversions: improbable at this volume, but below the materiality bar
    anomalies = _by_metric(detect_campaign(_history(conversions=28), SINGLE_HOUR))
    assert "conversions" not in anomalies
    lower_bar = DetectorParams(window_hours=(1,), min_relative_change=0.2, z_threshold=1.5)
    assert "conversions" in _by_metric(detect_campaign(_history(conversions=28), lower_bar))


def test_spend_spike_is_reported_but_a_budget_increase_is_not() -> None:
    spike = _by_metric(detect_campaign(_history(spend=1500.0)))
    assert spike["spend"].kind == "spend_up"
    assert spike["spend"].severity == "critical"
    # the budget tripled too: spend tripling is what was asked for
    planned = _by_metric(detect_campaign(_history(spend=1500.0, budget=36_000.0)))
    assert "spend" not in planned


def test_cpc_jump_is_reported_as_cpc_up() -> None:
    anomalies = _by_metric(detect_campaign(_history(clicks=400, conversions=16)))
    assert anomalies["cpc"].kind == "cpc_up"
    assert anomalies["cpc"].observed == pytest.approx(1.25)
    assert anomalies["cpc"].baseline == pytest.approx(0.5)
    assert anomalies["cpc"].z_score > 3.5


def test_click_tracking_outage_is_one_critical_alert() -> None:
    anomalies = detect_campaign(_history(clicks=0, conversions=0, revenue=0.0))
    assert len(anomalies) == 1
    outage = anomalies[0]
    assert (outage.kind, outage.metric, outage.severity) == (
        "tracking_outage",
        "clicks",
        "critical",
    )
    # 50,000 impressions at the usual 2% CTR
    assert outage.baseline == pytest.approx(1000.0)
    assert outage.z_score == pytest.approx(-math.sqrt(1000.0))


def test_conversion_tracking_outage() -> None:
    anomalies = detect_campaign(_history(conversions=0, revenue=0.0))
    assert [(a.kind, a.metric) for a in anomalies] == [("tracking_outage", "conversions")]
    assert anomalies[0].baseline == pytest.approx(40.0)


def test_zero_clicks_on_tiny_traffic_is_not_an_outage() -> None:
    rows = [replace(r, impressions=100, clicks=2, conversions=0, revenue=0.0) for r in _history()]
    rows[-1] = replace(rows[-1], clicks=0)
    assert [a.kind for a in detect_campaign(rows)] == []


def test_paused_hour_raises_nothing() -> None:
    assert detect_campaign(_history(impressions=0, clicks=0, conversions=0, spend=0.0)) == []


def test_three_hour_window_catches_a_drop_no_single_hour_proves() -> None:
    # 16 conversions an hour normally; 5 in each of the last three hours
    rows = [replace(r, clicks=400, conversions=16, revenue=800.0) for r in _history()]
    for i in (-3, -2, -1):
        rows[i] = replace(rows[i], conversions=5, revenue=250.0)
    assert detect_campaign(rows, SINGLE_HOUR) == []
    anomalies = _by_metric(detect_campaign(rows))
    assert anomalies["conversions"].window_hours == 3
    assert anomalies["conversions"].observed == 15.0
    assert anomalies["conversions"].baseline == 48.0
    assert anomalies["conversions"].z_score == pytest.approx((15 - 48) / math.sqrt(48))
    assert anomalies["cvr"].window_hours == 3


def test_detect_handles_several_campaigns() -> None:
    rows = _history(conversions=10) + _history(campaign_id=OTHER)
    anomalies = detect(rows)
    assert anomalies
    assert {a.campaign_id for a in anomalies} == {CAMPAIGN}
    assert all(a.hour == NEWEST for a in anomalies)


def test_detects_anomalies_injected_into_the_simulator() -> None:
    start = datetime(2025, 3, 3, tzinfo=UTC)
    probe = CampaignSimulator(3, seed=12, start=start)
    target = probe.campaign_ids[2]
    spike_at = start + timedelta(days=8, hours=15)
    outage_at = start + timedelta(days=10, hours=13)
    sim = CampaignSimulator(
        3,
        seed=12,
        start=start,
        anomalies=[
            InjectedAnomaly(target, "spend_spike", spike_at, spike_at + 3 * HOUR, 3.0),
            InjectedAnomaly(target, "tracking_outage", outage_at, outage_at + 2 * HOUR, 0.0),
        ],
    )
    history = [hour[2] for hour in sim.simulate_range(start, 11 * 24)]

    def kinds_at(hour: datetime) -> set[str]:
        return {a.kind for a in detect_campaign([r for r in history if r.hour <= hour])}

    assert "spend_up" in kinds_at(spike_at)
    assert kinds_at(outage_at) == {"tracking_outage"}
    assert kinds_at(spike_at - HOUR) == set()


# ------------------------------------------------------------- alert content


def test_describe_names_the_numbers() -> None:
    cvr = _by_metric(detect_campaign(_history(conversions=10), SINGLE_HOUR))["cvr"]
    content = describe(cvr, campaign_name="Spring sale")
    assert content.alert_type == "performance_anomaly"
    assert content.severity == cvr.severity
    assert content.title == "Conversion rate down 75% on campaign Spring sale"
    assert "1.00%" in content.description and "4.00%" in content.description
    assert f"{cvr.z_score:.1f}" in content.description
    assert "10 previous days" in content.description
    assert content.recommended_actions
    assert all(set(item) == {"action", "reason"} for item in content.recommended_actions)


def test_describe_tracking_outage_uses_the_campaign_id_without_a_name() -> None:
    outage = detect_campaign(_history(clicks=0, conversions=0, revenue=0.0))[0]
    content = describe(outage)
    assert content.severity == "critical"
    assert content.title.startswith("Tracking outage suspected")
    assert str(CAMPAIGN) in content.title
    assert "1,000" in content.description
    assert json.loads(json.dumps(content.as_dict()))["alert_type"] == "performance_anomaly"


# ----------------------------------------------------------------- parameters


def test_params_round_trip_through_json() -> None:
    params = DetectorParams(z_threshold=4.2, window_hours=(1, 4))
    loaded = json.loads(json.dumps(params.as_dict()))
    assert loaded["z_threshold"] == 4.2
    assert DetectorParams(**loaded) == params
    assert (MODEL_NAME, MODEL_VERSION) == ("anomaly_detector", "1.0.0")


def test_params_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        DetectorParams(seasonal_min_days=1)
    with pytest.raises(ValueError):
        DetectorParams(directions=(("impressions", "down"),))
    with pytest.raises(ValueError):
        DetectorParams(severity_bands=(10.0, 5.0, 20.0))


def test_revenue_collapse_is_reported_as_roas_down() -> None:
    # 200 conversions an hour at 50 each on 2,500 spend: ROAS 4
    rows = [
        replace(r, clicks=5_000, conversions=200, revenue=10_000.0, spend=2_500.0)
        for r in _history()
    ]
    rows[-1] = replace(rows[-1], revenue=2_500.0)
    roas = _by_metric(detect_campaign(rows, SINGLE_HOUR))["roas"]
    assert roas.kind == "roas_down"
    # MAD is 0; the revenue-noise floor 4 * sqrt(2 / 200) = 0.4 sets the scale
    assert roas.z_score == pytest.approx((1.0 - 4.0) / (4.0 * math.sqrt(2 / 200)))
