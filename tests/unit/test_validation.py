"""Measuring a decision's effect against a counterfactual, and the verdict on it."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from services.decision.policy import INCORRECT, VALIDATED, evaluate
from services.decision.validation import (
    ForecastCopy,
    daily_noise,
    interval_of,
    is_applied,
    judge,
    measure,
    prediction_interval,
    seasonal_level,
)
from shared.metrics import HourlyMetrics

HOUR = timedelta(hours=1)
START = datetime(2026, 3, 2, tzinfo=UTC)
CAMPAIGN = uuid4()
# A daily cycle: spend per hour is 1 at night and 3 in the afternoon.
PROFILE = [1.0] * 8 + [2.0] * 6 + [3.0] * 6 + [1.0] * 4


def rows(days: int, factor_from: int | None = None, factor: float = 1.0) -> list[HourlyMetrics]:
    """``days`` days of a campaign repeating the same day; from hour ``factor_from`` on,
    spend (and clicks, conversions, revenue with it) is multiplied by ``factor``."""
    out = []
    for i in range(days * 24):
        f = factor if factor_from is not None and i >= factor_from else 1.0
        spend = PROFILE[i % 24] * 10 * f
        out.append(
            HourlyMetrics(
                campaign_id=CAMPAIGN,
                hour=START + i * HOUR,
                impressions=int(1000 * f),
                clicks=int(spend),
                conversions=int(spend / 5),
                spend=spend,
                revenue=spend * 2.5,
                budget=480.0,
            )
        )
    return out


def test_seasonal_baseline_is_the_same_hours_of_earlier_days() -> None:
    history = rows(9)
    as_of = START + 8 * 24 * HOUR + 14 * HOUR  # 14:00 on day 8
    # The six hours from 14:00 are the 3.0 hours: 6 x 30 = 180 on every earlier day.
    level, days = seasonal_level(history, "spend", as_of, 6)
    assert level == pytest.approx(180.0)
    assert days == 7


def test_a_daily_cycle_is_not_taken_for_an_effect() -> None:
    history = rows(9)
    as_of = START + 8 * 24 * HOUR + 14 * HOUR
    m = measure(history, "spend", as_of, 6)
    assert m is not None
    # The six hours before are 2.0 hours (120); after, 3.0 hours (180): +50% with no effect.
    assert m.actual_change == pytest.approx(0.5)
    assert m.counterfactual_change == pytest.approx(0.5)
    assert m.effect == pytest.approx(0.0)
    assert m.counterfactual_source == "seasonal"


def test_a_cut_shows_as_its_effect_against_the_counterfactual() -> None:
    as_of = START + 8 * 24 * HOUR
    history = rows(9, factor_from=8 * 24, factor=0.8)
    m = measure(history, "spend", as_of, 24)
    assert m is not None
    assert m.effect == pytest.approx(-0.2)
    # A day spends 420 at ROAS 2.5; at 0.8x the revenue lost (-0.2 x 1050 = -210) outweighs
    # the spend saved (-0.2 x 420 = -84): profit changes by -210 - (-84) = -126.
    assert m.profit_effect == pytest.approx(-126.0)
    assert m.as_json()["effect"] == pytest.approx(-0.2)


def test_a_forecast_takes_the_place_of_the_seasonal_baseline() -> None:
    as_of = START + 8 * 24 * HOUR
    history = rows(9)
    forecast = ForecastCopy(as_of, as_of + 48 * HOUR, {"spend": 2000.0, "roas": 2.0})
    m = measure(history, "spend", as_of, 24, forecast)
    assert m is not None
    assert m.counterfactual_source == "forecast"
    assert m.counterfactual == pytest.approx(1000.0)
    assert m.effect == pytest.approx(420.0 / 1000.0 - 1)
    # A metric the forecast does not give, or a window it does not cover: seasonal.
    assert measure(history, "cpc", as_of, 24, forecast).counterfactual_source == "seasonal"  # type: ignore[union-attr]
    late = ForecastCopy(as_of + HOUR, as_of + 48 * HOUR, {"spend": 2000.0})
    assert measure(history, "spend", as_of, 24, late).counterfactual_source == "seasonal"  # type: ignore[union-attr]


def test_no_measurement_until_the_horizon_has_passed() -> None:
    as_of = START + 8 * 24 * HOUR
    assert measure(rows(9)[:-1], "spend", as_of, 24) is None
    assert measure(rows(9), "unknown", as_of, 24) is None


def test_noise_of_identical_days_is_zero_and_grows_with_scatter() -> None:
    as_of = START + 8 * 24 * HOUR
    assert daily_noise(rows(9), "spend", as_of) == pytest.approx(0.0)
    scattered = [
        HourlyMetrics(
            r.campaign_id, r.hour, 1, 1, 1, r.spend * (1.2 if (i // 24) % 2 else 1.0), 1.0, 1.0
        )
        for i, r in enumerate(rows(9))
    ]
    # Days alternate between x1 and x1.2: log levels alternate 0 and log 1.2.
    noise = daily_noise(scattered, "spend", as_of)
    assert noise is not None and noise > 0.05
    assert daily_noise(rows(2), "spend", START + 2 * 24 * HOUR) is None


def test_interval_widens_with_noise_and_contains_the_prediction() -> None:
    quiet = prediction_interval(-0.2, 0.02)
    noisy = prediction_interval(-0.2, 0.3)
    assert quiet["low"] < -0.2 < quiet["high"]
    assert noisy["high"] - noisy["low"] > quiet["high"] - quiet["low"]
    # With no elasticity error and no noise the interval collapses on log(1 + expected).
    assert prediction_interval(0.0, 0.0) == {"low": 0.0, "high": 0.0, "level": 0.9}
    # 90% by default: z = 1.64485 standard deviations either side on the log scale.
    s = math.sqrt((0.5 * math.log(0.8)) ** 2 + 0.1**2 * (1 + 1 / 7))
    assert noisy["level"] == 0.9
    assert prediction_interval(-0.2, 0.1)["high"] == pytest.approx(
        math.expm1(math.log(0.8) + 1.6448536270 * s), abs=1e-4
    )
    assert prediction_interval(-1.0, 0.1)["low"] == -1.0


@pytest.mark.parametrize(
    ("level", "z"),
    # Published standard normal quantiles of central 80%, 90% and 95% intervals.
    [(0.8, 1.2815515655), (0.9, 1.6448536270), (0.95, 1.9599639845)],
)
def test_interval_is_as_wide_as_its_stated_level(level: float, z: float) -> None:
    s = math.sqrt((0.5 * math.log(0.8)) ** 2 + 0.1**2 * (1 + 1 / 7))
    interval = prediction_interval(-0.2, 0.1, level=level)
    assert interval["level"] == level
    assert interval["low"] == pytest.approx(math.expm1(math.log(0.8) - z * s), abs=1e-4)
    assert interval["high"] == pytest.approx(math.expm1(math.log(0.8) + z * s), abs=1e-4)


@pytest.mark.parametrize("level", [0.0, 1.0, -0.5, 80.0])
def test_an_interval_level_outside_zero_to_one_is_refused(level: float) -> None:
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        prediction_interval(-0.2, 0.1, level=level)


PREDICTION = {
    "metric": "spend",
    "expected_change": -0.2,
    "interval": {"low": -0.3, "high": -0.1, "level": 0.8},
    "horizon_hours": 24,
}


def test_an_applied_cut_inside_its_interval_is_validated() -> None:
    as_of = START + 8 * 24 * HOUR
    m = measure(rows(9, 8 * 24, 0.8), "spend", as_of, 24)
    assert m is not None
    verdict = judge(PREDICTION, m, applied=True)
    assert verdict.status == VALIDATED
    assert "inside the interval" in verdict.reason


def test_an_applied_cut_that_did_too_little_or_the_opposite_is_incorrect() -> None:
    as_of = START + 8 * 24 * HOUR
    small = judge(PREDICTION, measure(rows(9, 8 * 24, 0.97), "spend", as_of, 24), True)  # type: ignore[arg-type]
    assert small.status == INCORRECT and small.sign_ok and "short of" in small.reason
    wrong = judge(PREDICTION, measure(rows(9, 8 * 24, 1.1), "spend", as_of, 24), True)  # type: ignore[arg-type]
    assert wrong.status == INCORRECT and not wrong.sign_ok and "wrong direction" in wrong.reason


def test_a_decision_never_carried_out_is_judged_on_what_happened_without_it() -> None:
    as_of = START + 8 * 24 * HOUR
    # Nothing changed on its own: cutting would have done what it said.
    steady = measure(rows(9), "spend", as_of, 24)
    assert steady is not None
    held = judge(PREDICTION, steady, applied=False)
    assert held.status == VALIDATED and held.judged_effect == pytest.approx(-0.2)
    # Spend fell 20% on its own (a spike that ended): the cut was not needed.
    fell = measure(rows(9, 8 * 24, 0.8), "spend", as_of, 24)
    assert fell is not None
    assert judge(PREDICTION, fell, applied=False).status == INCORRECT


def test_outcome_status_says_whether_a_decision_was_applied() -> None:
    assert is_applied({"status": "applied"})
    assert is_applied({"status": "rolled_back"})
    assert not is_applied({"status": "recommended"})
    assert not is_applied(None)


def test_evaluate_uses_the_interval_when_there_is_one() -> None:
    assert evaluate(PREDICTION, {"metric": "spend", "actual_change": -0.12})[0] == VALIDATED
    assert evaluate(PREDICTION, {"metric": "spend", "actual_change": -0.35})[0] == INCORRECT
    assert interval_of({"expected_change": 0.2}) == pytest.approx((0.1, 0.3))
