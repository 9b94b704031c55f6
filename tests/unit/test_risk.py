"""Risk scorer against hand-made hourly series whose answers are known in advance."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import numpy as np
import pytest
from scipy import stats

from services.alerts.risk import (
    MODEL_NAME,
    MODEL_VERSION,
    RISK_LEVELS,
    RISK_TYPES,
    RiskAssessment,
    RiskParams,
    assess,
    level_for,
)
from shared.metrics import HourlyMetrics

CID = UUID(int=1)
NOW = datetime(2024, 5, 8, 12, tzinfo=UTC)
DAY_START = datetime(2024, 5, 8, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def row(
    hour: datetime,
    *,
    impressions: int = 1000,
    clicks: int = 50,
    conversions: int = 3,
    spend: float = 25.0,
    revenue: float = 75.0,
    budget: float = 800.0,
) -> HourlyMetrics:
    return HourlyMetrics(CID, hour, impressions, clicks, conversions, spend, revenue, budget)


def hours(start: datetime, end: datetime) -> list[datetime]:
    out = []
    h = start
    while h < end:
        out.append(h)
        h += HOUR
    return out


def series(
    start: datetime, end: datetime, make: Callable[[datetime], HourlyMetrics]
) -> list[HourlyMetrics]:
    return [make(h) for h in hours(start, end)]


def by_type(assessments: list[RiskAssessment]) -> dict[str, RiskAssessment]:
    return {a.risk_type: a for a in assessments}


def steady_week(budget: float = 800.0) -> list[HourlyMetrics]:
    return series(DAY_START - 7 * DAY, NOW, lambda h: row(h, budget=budget))


# --- contract -----------------------------------------------------------------------


def test_steady_campaign_has_every_risk_low_in_fixed_order() -> None:
    result = assess(CID, steady_week(), NOW)

    assert [a.risk_type for a in result] == list(RISK_TYPES)
    for a in result:
        assert a.campaign_id == CID
        assert a.risk_level == "low", (a.risk_type, a.probability_score)
        assert 0.0 <= a.probability_score <= 10.0
        assert a.probability_score == round(a.probability_score, 1)
        assert a.mitigation_actions == []
        assert a.risk_indicators["sufficient_data"] is True
        json.dumps(a.as_dict(), allow_nan=False)


def test_level_follows_score_thresholds() -> None:
    p = RiskParams()
    assert level_for(p.medium_at - 0.1, p) == "low"
    assert level_for(p.medium_at, p) == "medium"
    assert level_for(p.high_at, p) == "high"
    assert level_for(p.critical_at, p) == "critical"
    for a in assess(CID, steady_week(), NOW, {"tracking_outage", "spend_up", "cvr_down"}):
        assert a.risk_level == level_for(a.probability_score, p)
        assert a.risk_level in RISK_LEVELS


def test_empty_history_still_returns_all_three_low() -> None:
    result = assess(CID, [], NOW)
    assert [a.risk_type for a in result] == list(RISK_TYPES)
    assert all(a.risk_level == "low" for a in result)
    assert all(a.risk_indicators["sufficient_data"] is False for a in result)


def test_rejects_other_campaigns_rows_and_naive_time() -> None:
    stranger = HourlyMetrics(UUID(int=2), NOW - HOUR, 1, 1, 1, 1.0, 1.0, 10.0)
    with pytest.raises(ValueError):
        assess(CID, [*steady_week(), stranger], NOW)
    with pytest.raises(ValueError):
        assess(CID, steady_week(), NOW.replace(tzinfo=None))


def test_rows_at_or_after_now_are_ignored() -> None:
    future = series(NOW, NOW + 6 * HOUR, lambda h: row(h, spend=5000.0))
    with_future = by_type(assess(CID, [*steady_week(), *future], NOW))
    without = by_type(assess(CID, steady_week(), NOW))
    assert with_future["budget_overspend"] == without["budget_overspend"]


def test_params_are_recordable() -> None:
    params = RiskParams()
    assert MODEL_NAME == "risk_scorer"
    assert MODEL_VERSION == "1.1.0"
    dumped = json.loads(json.dumps(params.as_dict()))
    assert dumped["tracking_prior"] == params.tracking_prior
    assert dumped["overspend_midpoint"] == params.overspend_midpoint


# --- budget_overspend -----------------------------------------------------------------


def test_double_pace_projects_overspend_as_high() -> None:
    budget = 600.0
    history = series(DAY_START - 7 * DAY, DAY_START, lambda h: row(h, budget=budget))
    today = series(DAY_START, NOW, lambda h: row(h, spend=50.0, budget=budget))
    risk = by_type(assess(CID, history + today, NOW))["budget_overspend"]
    ind = risk.risk_indicators

    # Uniform history makes the learned profile flat, so noon is half the day.
    assert ind["profile"] == "learned"
    assert ind["expected_day_fraction"] == pytest.approx(0.5)
    # By hand: 600 spent, today's pace 1200/day, history 600/day, today weighted
    # 0.5 / (0.5 + 0.1); the remaining half day at the blended pace of 1100.
    w = 0.5 / (0.5 + RiskParams().pace_prior_weight)
    expected = 600.0 + 0.5 * (w * 1200.0 + (1 - w) * 600.0)
    assert expected == pytest.approx(1150.0)
    assert ind["projected_spend"] == pytest.approx(expected)
    assert risk.risk_level in {"high", "critical"}
    assert risk.impact_assessment["estimated_daily_loss"] == pytest.approx(expected - budget)
    assert risk.impact_assessment["horizon_hours"] == 12
    assert "decrease_budget" in [m["action"] for m in risk.mitigation_actions]


def test_spending_exactly_the_budget_is_low() -> None:
    history = series(DAY_START - 7 * DAY, NOW, lambda h: row(h, budget=600.0))
    risk = by_type(assess(CID, history, NOW))["budget_overspend"]
    assert risk.risk_indicators["projected_ratio"] == pytest.approx(1.0)
    assert risk.risk_level == "low"


def test_already_over_budget_in_the_morning_is_critical() -> None:
    now = DAY_START + 8 * HOUR
    history = series(DAY_START - 7 * DAY, DAY_START, lambda h: row(h, budget=600.0))
    today = series(DAY_START, now, lambda h: row(h, spend=90.0, budget=600.0))
    risk = by_type(assess(CID, history + today, now))["budget_overspend"]
    assert risk.risk_indicators["spend_today"] == pytest.approx(720.0)
    assert risk.risk_level == "critical"


def dayparted(h: datetime) -> HourlyMetrics:
    # Delivers only 08:00-19:59, 50/h: 600 a day.
    on = 8 <= h.hour < 20
    return row(h, spend=50.0 if on else 0.0, impressions=1000 if on else 0, budget=600.0)


def test_hour_of_day_profile_keeps_dayparted_campaign_on_track() -> None:
    now = DAY_START + 14 * HOUR
    rows = series(DAY_START - 7 * DAY, now, dayparted)
    risk = by_type(assess(CID, rows, now))["budget_overspend"]
    ind = risk.risk_indicators

    # Six of its twelve delivery hours are done; shrunk 20% towards the flat 14/24.
    s = RiskParams().profile_shrinkage
    assert ind["profile"] == "learned"
    assert ind["expected_day_fraction"] == pytest.approx((1 - s) * 0.5 + s * 14 / 24, abs=1e-4)
    assert ind["spend_today"] == pytest.approx(300.0)
    assert ind["projected_ratio"] == pytest.approx(1.0, abs=0.05)
    assert risk.risk_level == "low"


def test_short_history_falls_back_to_flat_profile() -> None:
    now = DAY_START + 14 * HOUR
    rows = series(DAY_START - 2 * DAY, now, dayparted)
    ind = by_type(assess(CID, rows, now))["budget_overspend"].risk_indicators
    assert ind["profile"] == "flat"
    assert ind["history_days"] == 2
    assert ind["expected_day_fraction"] == pytest.approx(14 / 24, abs=1e-4)


# --- tracking_loss ----------------------------------------------------------------------


def posterior(expected_missing: float, prior: float) -> float:
    # Bayes: broken tracking always gives zero, healthy gives zero w.p. exp(-L).
    return prior / (prior + (1 - prior) * math.exp(-expected_missing))


@pytest.mark.parametrize("zero_hours", [1, 2, 3, 6])
def test_zero_conversion_run_matches_poisson_reasoning(zero_hours: int) -> None:
    # Baseline 50 clicks/h at 6% CVR: 3 conversions an hour, so n silent hours
    # have probability exp(-3n) under healthy tracking.
    cutoff = NOW - zero_hours * HOUR
    rows = series(DAY_START - 7 * DAY, NOW, lambda h: row(h, conversions=0 if h >= cutoff else 3))
    risk = by_type(assess(CID, rows, NOW))["tracking_loss"]
    ind = risk.risk_indicators
    prior = RiskParams().tracking_prior

    assert ind["baseline_conversions_per_hour"] == pytest.approx(3.0)
    assert ind["zero_conversion_hours"] == zero_hours
    assert ind["expected_conversions_missing"] == pytest.approx(3.0 * zero_hours)
    assert ind["p_zero_if_healthy"] == pytest.approx(math.exp(-3.0 * zero_hours), rel=1e-3)
    assert risk.probability_score == round(10 * posterior(3.0 * zero_hours, prior), 1)


def test_one_silent_hour_is_not_an_outage_but_six_are() -> None:
    def run(n: int) -> RiskAssessment:
        cutoff = NOW - n * HOUR
        rows = series(
            DAY_START - 7 * DAY, NOW, lambda h: row(h, conversions=0 if h >= cutoff else 3)
        )
        return by_type(assess(CID, rows, NOW))["tracking_loss"]

    assert run(1).risk_level == "low"
    six = run(6)
    assert six.risk_level in {"high", "critical"}
    assert six.risk_indicators["driver"] == "conversions"
    assert six.impact_assessment["estimated_daily_loss"] == pytest.approx(25.0 * 24)
    assert "verify_tracking" in [m["action"] for m in six.mitigation_actions]


def test_only_the_trailing_run_counts() -> None:
    silent = {NOW - 5 * HOUR, NOW - 4 * HOUR, NOW - 2 * HOUR, NOW - HOUR}
    rows = series(DAY_START - 7 * DAY, NOW, lambda h: row(h, conversions=0 if h in silent else 3))
    ind = by_type(assess(CID, rows, NOW))["tracking_loss"].risk_indicators
    assert ind["zero_conversion_hours"] == 2
    assert ind["zero_conversion_share"] == pytest.approx(4 / 24, abs=1e-4)


def test_paid_impressions_without_clicks_flag_click_tracking() -> None:
    cutoff = NOW - 3 * HOUR
    rows = series(
        DAY_START - 7 * DAY,
        NOW,
        lambda h: row(h, clicks=0, conversions=0) if h >= cutoff else row(h),
    )
    risk = by_type(assess(CID, rows, NOW))["tracking_loss"]
    # 1000 impressions at a 5% baseline CTR: 50 clicks missing per hour.
    assert risk.risk_indicators["expected_clicks_missing"] == pytest.approx(150.0)
    assert risk.risk_indicators["driver"] == "clicks"
    assert risk.risk_level == "critical"


def test_hours_without_delivery_are_not_evidence() -> None:
    cutoff = NOW - 5 * HOUR
    rows = series(
        DAY_START - 7 * DAY,
        NOW,
        lambda h: (
            row(h, impressions=0, clicks=0, conversions=0, spend=0.0, revenue=0.0)
            if h >= cutoff
            else row(h)
        ),
    )
    risk = by_type(assess(CID, rows, NOW))["tracking_loss"]
    assert risk.risk_indicators["zero_conversion_hours"] == 0
    assert risk.risk_level == "low"


def test_campaign_that_never_converts_cannot_lose_conversion_tracking() -> None:
    rows = series(DAY_START - 7 * DAY, NOW, lambda h: row(h, conversions=0, revenue=0.0))
    risk = by_type(assess(CID, rows, NOW))["tracking_loss"]
    assert risk.risk_indicators["conversion_channel"] is False
    assert risk.risk_indicators["zero_conversion_hours"] == 0
    assert risk.risk_level == "low"


# --- performance_decline ------------------------------------------------------------------


def daily_roas_rows(roas_by_day: list[float]) -> list[HourlyMetrics]:
    """Hourly rows whose rolling 24h buckets ending at NOW have the given ROAS, oldest first."""
    n = len(roas_by_day)

    def make(h: datetime) -> HourlyMetrics:
        bucket = n - 1 - int((NOW - h - HOUR) / DAY)
        return row(h, revenue=25.0 * roas_by_day[bucket])

    return series(NOW - n * DAY, NOW, make)


def test_theil_sen_slope_agrees_with_scipy() -> None:
    roas = [3.0, 2.9, 3.2, 2.5, 2.3, 2.4, 1.8]
    risk = by_type(assess(CID, daily_roas_rows(roas), NOW))["performance_decline"]
    ind = risk.risk_indicators
    fit = stats.theilslopes(roas, np.arange(len(roas)))

    assert ind["days_observed"] == 7
    assert ind["roas_slope_per_day"] == pytest.approx(fit.slope, abs=1e-6)
    assert ind["roas_slope_ci"] == pytest.approx([fit.low_slope, fit.high_slope], abs=1e-6)
    assert ind["roas_relative_change_per_day"] == pytest.approx(
        fit.slope / np.median(roas), abs=1e-4
    )
    assert ind["driver"] == "roas"
    assert risk.risk_level in {"high", "critical"}
    # Lost revenue: (prior four days' ROAS - latest day's) x latest day's spend of 600.
    prior_roas = sum(roas[:4]) / 4
    assert risk.impact_assessment["estimated_daily_loss"] == pytest.approx(
        (prior_roas - roas[-1]) * 600.0, abs=0.01
    )


def test_rising_roas_is_low() -> None:
    risk = by_type(assess(CID, daily_roas_rows([2.0, 2.1, 2.2, 2.4, 2.5, 2.7, 2.8]), NOW))
    assert risk["performance_decline"].risk_level == "low"


def test_one_bad_latest_day_does_not_make_a_trend() -> None:
    roas = [3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 1.0]
    risk = by_type(assess(CID, daily_roas_rows(roas), NOW))["performance_decline"]
    # A least-squares line would call this a decline; the median of pairwise slopes does not.
    assert np.polyfit(np.arange(7), roas, 1)[0] < -0.1
    assert risk.risk_indicators["roas_slope_per_day"] == pytest.approx(0.0)
    assert risk.risk_level == "low"


def test_too_few_days_for_a_trend() -> None:
    risk = by_type(assess(CID, daily_roas_rows([3.0, 2.0, 1.0]), NOW))["performance_decline"]
    assert risk.risk_indicators["sufficient_data"] is False
    assert risk.probability_score == 0.0


# --- alert corroboration -----------------------------------------------------------------


def test_open_alert_raises_only_the_matching_risk() -> None:
    quiet = by_type(assess(CID, steady_week(), NOW))
    alerted = by_type(assess(CID, steady_week(), NOW, ["tracking_outage"]))

    weight = RiskParams().alert_evidence_weight
    base = quiet["tracking_loss"].risk_indicators["model_probability"]
    assert alerted["tracking_loss"].probability_score == round(
        10 * (1 - (1 - base) * (1 - weight)), 1
    )
    assert alerted["tracking_loss"].probability_score > quiet["tracking_loss"].probability_score
    assert alerted["tracking_loss"].risk_indicators["corroborating_alerts"] == ["tracking_outage"]
    assert alerted["budget_overspend"] == quiet["budget_overspend"]
    assert alerted["performance_decline"] == quiet["performance_decline"]
