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
    baseline_status,
    describe,
    detect,
    detect_campaign,
    median_abs_deviation,
    robust_z,
    severity_for,
)
from services.alerts.changepoint import count_score
from shared.metrics import HourlyMetrics

CAMPAIGN = UUID("00000000-0000-0000-0000-0000000000a1")
OTHER = UUID("00000000-0000-0000-0000-0000000000b2")
DAY0 = datetime(2025, 3, 3, tzinfo=UTC)
HOUR = timedelta(hours=1)
NEWEST = DAY0 + timedelta(days=10, hours=14)

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


@pytest.mark.parametrize(("observed", "mean"), [(0, 3.0), (2, 12.0), (12, 12.0), (25, 12.0)])
def test_count_score_is_the_poisson_mid_p_normal_score(observed: int, mean: float) -> None:
    mid_p = stats.poisson.cdf(observed - 1, mean) + 0.5 * stats.poisson.pmf(observed, mean)
    score = count_score(np.array([observed]), np.array([mean]), np.array([mean]))[0]
    assert score == pytest.approx(stats.norm.ppf(mid_p), abs=1e-9)


def test_count_score_of_twelve_expected_and_two_seen() -> None:
    # P(X < 2) + P(X = 2) / 2 = e^-12 (1 + 12 + 72 / 2) = 49 e^-12 = 3.0e-4
    score = count_score(np.array([2.0]), np.array([12.0]), np.array([12.0]))[0]
    assert score == pytest.approx(-3.4307, abs=1e-4)


@pytest.mark.parametrize(
    ("observed", "mean", "variance"), [(2, 12.0, 30.0), (0, 4.0, 5.0), (30, 12.0, 20.0)]
)
def test_count_score_is_the_negative_binomial_mid_p_normal_score(
    observed: int, mean: float, variance: float
) -> None:
    # scipy's nbinom(n, p) has mean n (1 - p) / p and variance n (1 - p) / p^2
    n, p = mean**2 / (variance - mean), mean / variance
    assert stats.nbinom.mean(n, p) == pytest.approx(mean)
    assert stats.nbinom.var(n, p) == pytest.approx(variance)
    mid_p = stats.nbinom.cdf(observed - 1, n, p) + 0.5 * stats.nbinom.pmf(observed, n, p)
    score = count_score(np.array([observed]), np.array([mean]), np.array([variance]))[0]
    assert score == pytest.approx(stats.norm.ppf(mid_p), abs=1e-9)


def test_count_score_keeps_far_tails_and_overdispersion_tempers_it() -> None:
    # a zero where 100 were expected: half of e^-100, far below double precision's 1 - eps
    far = count_score(np.array([0.0]), np.array([100.0]), np.array([100.0]))[0]
    assert far == pytest.approx(stats.norm.ppf(0.5 * math.exp(-100.0)), rel=1e-9)
    assert count_score(np.array([200.0]), np.array([100.0]), np.array([100.0]))[0] > 7
    # the same count is less surprising when the series is known to vary more
    poisson, spread = count_score(
        np.array([2.0, 2.0]), np.array([12.0, 12.0]), np.array([12.0, 40.0])
    )
    assert spread > poisson


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


def _campaign(
    days: int = 10,
    *,
    seed: int = 3,
    spend: float = 500.0,
    clicks: int = 1_000,
    cycle: float = 0.0,
    trend_per_day: float = 0.0,
    noise: float = 0.1,
    conversions: float | None = None,
) -> list[HourlyMetrics]:
    """Hourly rows up to NEWEST with a daily cycle, a trend and lognormal noise on spend."""
    rng = np.random.default_rng(seed)
    rows = []
    start = NEWEST - days * 24 * HOUR
    for i in range(days * 24 + 1):
        hour = start + i * HOUR
        shape = 1 + cycle * math.sin(2 * math.pi * (hour.hour - 8) / 24)
        level = (1 + trend_per_day) ** (i / 24)
        value = spend * shape * level * float(rng.lognormal(0.0, noise))
        converted = 40 if conversions is None else int(rng.poisson(conversions))
        rows.append(_row(hour, spend=round(value, 2), clicks=clicks, conversions=converted))
    return rows


def _scaled(rows: list[HourlyMetrics], hours: int, factor: float) -> list[HourlyMetrics]:
    """Multiply spend in the last ``hours`` hours by ``factor``."""
    return rows[:-hours] + [replace(r, spend=r.spend * factor) for r in rows[-hours:]]


def _kinds(rows: list[HourlyMetrics]) -> set[str]:
    return {a.kind for a in detect_campaign(rows)}


def test_normal_hours_raise_nothing() -> None:
    rows = _campaign()
    assert all(_kinds(rows[: len(rows) - back]) == set() for back in range(48))


def test_lone_spike_is_not_an_alert_unless_extreme() -> None:
    # 2x in one hour on a series that wobbles 10% an hour: ordinary enough
    assert _kinds(_scaled(_campaign(), 1, 2.0)) == set()
    # 6x in one hour is beyond anything this series does
    spike = _by_metric(detect_campaign(_scaled(_campaign(), 1, 6.0)))["spend"]
    assert (spike.kind, spike.window_hours) == ("spend_up", 1)


def test_level_shift_is_reported_after_a_few_hours() -> None:
    rows = _campaign()
    # 1.8x is no alert in its first hour, but is once it has lasted
    assert "spend_up" not in _kinds(_scaled(rows, 1, 1.8))
    shift = _by_metric(detect_campaign(_scaled(rows, 4, 1.8)))["spend"]
    assert shift.kind == "spend_up"
    assert shift.window_hours >= 2
    assert shift.relative_change == pytest.approx(0.8, abs=0.15)


def test_slow_trend_is_not_an_anomaly() -> None:
    # +5% a day for two weeks: the recent level follows it
    rows = _campaign(days=14, trend_per_day=0.05)
    assert all(_kinds(rows[: len(rows) - back]) == set() for back in range(24))


def test_seasonal_peak_is_normal() -> None:
    # afternoons run at 9x the night: the daily profile expects it
    rows = _campaign(cycle=0.8)
    assert all(_kinds(rows[: len(rows) - back]) == set() for back in range(24))


def test_low_volume_conversions_raise_no_false_alert() -> None:
    # two conversions an hour: zeros and fives are Poisson noise, not news
    rows = _campaign(days=12, conversions=2.0, seed=7)
    kinds = set()
    for back in range(72):
        kinds |= _kinds(rows[: len(rows) - back])
    assert kinds.isdisjoint({"conversions_down", "cvr_down", "roas_down"})


def test_low_volume_conversion_collapse_is_seen_in_the_summed_count() -> None:
    # four conversions an hour, then none for six hours: no single hour can fall far on
    # the log scale, but 0 where about 24 were expected is plain once the hours are summed
    rows = _campaign(days=12, conversions=4.0, seed=7)
    collapsed = rows[:-6] + [replace(r, conversions=0, revenue=0.0) for r in rows[-6:]]
    without_counts = DetectorParams(count_z=1e9, count_single_hour_z=1e9)
    assert detect_campaign(collapsed, without_counts) == []
    drop = _by_metric(detect_campaign(collapsed))["conversions"]
    assert (drop.kind, drop.window_hours) == ("conversions_down", 6)
    assert drop.relative_change == -1.0
    assert drop.baseline == pytest.approx(4.0, rel=0.25)
    # a lone empty hour, or one where a fifth of the usual came in, is ordinary at this volume
    for tail in ([0], [1, 0, 1]):
        k = len(tail)
        tail_rows = zip(rows[-k:], tail, strict=True)
        quiet = rows[:-k] + [replace(r, conversions=c) for r, c in tail_rows]
        assert _kinds(quiet) == set()


def test_too_little_history_is_warming_up() -> None:
    rows = _scaled(_campaign(days=3), 4, 6.0)
    assert detect_campaign(rows) == []
    status = baseline_status(rows)
    assert status.warming_up
    assert status.history_hours > 0
    assert not baseline_status(_campaign()).warming_up


def test_evidence_says_how_much_history_backs_the_baseline() -> None:
    shift = _by_metric(detect_campaign(_scaled(_campaign(), 4, 3.0)))["spend"]
    evidence = shift.evidence()
    assert evidence["warming_up"] is False
    assert evidence["baseline_days"] >= 5
    assert int(evidence["history_hours"]) > 200  # type: ignore[call-overload]
    assert float(evidence["threshold"]) > 0  # type: ignore[arg-type]


def test_improvements_are_not_reported() -> None:
    rows = _campaign()
    cheaper = rows[:-4] + [replace(r, spend=r.spend / 3) for r in rows[-4:]]
    assert _kinds(cheaper) == set()


def test_budget_increase_is_not_a_spend_anomaly() -> None:
    rows = _campaign()
    planned = rows[:-4] + [replace(r, spend=r.spend * 3, budget=r.budget * 3) for r in rows[-4:]]
    assert "spend_up" not in _kinds(planned)
    assert "spend_up" in _kinds(_scaled(rows, 4, 3.0))


def test_cpc_jump_is_reported_as_cpc_up() -> None:
    rows = _campaign()
    jumped = rows[:-4] + [replace(r, clicks=400, conversions=16) for r in rows[-4:]]
    cpc = _by_metric(detect_campaign(jumped))["cpc"]
    assert cpc.kind == "cpc_up"
    assert cpc.relative_change == pytest.approx(1.5, rel=0.2)


def test_sustained_conversion_drop() -> None:
    rows = _campaign()
    dropped = rows[:-4] + [replace(r, conversions=8, revenue=400.0) for r in rows[-4:]]
    found = _by_metric(detect_campaign(dropped))
    assert found["conversions"].kind == "conversions_down"
    assert found["cvr"].kind == "cvr_down"


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


def test_paused_hour_raises_nothing() -> None:
    assert detect_campaign(_history(impressions=0, clicks=0, conversions=0, spend=0.0)) == []


def test_detect_handles_several_campaigns() -> None:
    rows = _scaled(_campaign(), 4, 3.0) + [replace(r, campaign_id=OTHER) for r in _campaign()]
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

    assert "spend_up" in kinds_at(spike_at + 2 * HOUR)
    assert kinds_at(outage_at) == {"tracking_outage"}
    assert kinds_at(spike_at - HOUR) == set()


# ------------------------------------------------------------- alert content


def test_describe_names_the_numbers() -> None:
    rows = _campaign(noise=0.0)
    dropped = rows[:-4] + [replace(r, conversions=8, revenue=400.0) for r in rows[-4:]]
    cvr = _by_metric(detect_campaign(dropped))["cvr"]
    content = describe(cvr, campaign_name="Spring sale")
    assert content.alert_type == "performance_anomaly"
    assert content.severity == cvr.severity
    assert content.title.startswith("Conversion rate down")
    assert content.title.endswith("on campaign Spring sale")
    assert f"{cvr.z_score:.1f}" in content.description
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
    assert (MODEL_NAME, MODEL_VERSION) == ("anomaly_detector", "2.1.0")


def test_params_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        DetectorParams(seasonal_min_days=1)
    with pytest.raises(ValueError):
        DetectorParams(directions=(("impressions", "down"),))
    with pytest.raises(ValueError):
        DetectorParams(severity_bands=(10.0, 5.0, 20.0))
