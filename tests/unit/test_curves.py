"""Response curves: known-answer fits, the cautious curve when spend never varied, the
vectorised set."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from scipy import optimize, stats

from shared.curves import (
    MIN_DAYS,
    CurveSet,
    DayTotals,
    ResponseCurve,
    daily_totals,
    fit_curve,
)
from shared.metrics import HourlyMetrics

DAY0 = date(2025, 3, 3)


def _truth(spend: np.ndarray, top: float, scale: float) -> np.ndarray:
    return top * -np.expm1(-spend / scale)


def _days(spend: np.ndarray, conversions: np.ndarray, order_value: float = 50.0) -> list[DayTotals]:
    return [
        DayTotals(DAY0 + timedelta(days=i), float(s), float(c), float(c) * order_value)
        for i, (s, c) in enumerate(zip(spend, conversions, strict=True))
    ]


def _drawn(
    rng: np.random.Generator, n: int, top: float, scale: float, noise: float
) -> list[DayTotals]:
    spend = rng.uniform(0.3 * scale, 2.5 * scale, n)
    y = _truth(spend, top, scale) * (1 + noise * rng.standard_normal(n))
    return _days(spend, y)


def test_fit_recovers_known_parameters_within_their_uncertainty() -> None:
    top, scale = 400.0, 3000.0
    inside_top = inside_scale = 0
    trials = 200
    z80 = stats.norm.ppf(0.9)
    for seed in range(trials):
        curve = fit_curve(_drawn(np.random.default_rng(seed), 40, top, scale, 0.06), "conversions")
        assert curve.supported, curve.reason
        sd_top, sd_scale = math.sqrt(curve.covariance[0][0]), math.sqrt(curve.covariance[1][1])
        inside_top += abs(math.log(curve.top / top)) <= z80 * sd_top
        inside_scale += abs(math.log(curve.scale / scale)) <= z80 * sd_scale
    # 80% intervals from the Laplace posterior cover the truth about 80% of the time
    # (binomial sd over 200 trials is ~2.8 points).
    assert 0.72 <= inside_top / trials <= 0.88
    assert 0.72 <= inside_scale / trials <= 0.88


def test_fit_agrees_with_scipy_curve_fit_when_the_data_are_informative() -> None:
    rng = np.random.default_rng(11)
    days = _drawn(rng, 60, 250.0, 1500.0, 0.04)
    spend = np.array([d.spend for d in days])
    y = np.array([d.conversions for d in days])
    (ref_top, ref_scale), ref_cov = optimize.curve_fit(_truth, spend, y, p0=(200.0, 1000.0))
    curve = fit_curve(days, "conversions")
    # The prior on the bend is weak against 60 varied days: the fit is the plain one's.
    assert curve.top == pytest.approx(ref_top, rel=0.02)
    assert curve.scale == pytest.approx(ref_scale, rel=0.03)
    ref_sd_log_scale = math.sqrt(ref_cov[1, 1]) / ref_scale
    assert math.sqrt(curve.covariance[1][1]) == pytest.approx(ref_sd_log_scale, rel=0.25)
    assert curve.r_squared is not None and curve.r_squared > 0.9
    assert curve.rmse is not None and curve.rmse > 0
    assert curve.window_start == DAY0 and curve.window_end == DAY0 + timedelta(days=59)


def test_revenue_curve_marginal_is_the_derivative_of_revenue() -> None:
    days = _drawn(np.random.default_rng(3), 30, 300.0, 2000.0, 0.05)
    curve = fit_curve(days, "revenue")
    for spend in (500.0, 2000.0, 5000.0):
        h = 1e-3 * spend
        numeric = (curve.predict(spend + h) - curve.predict(spend - h)) / (2 * h)
        assert curve.marginal(spend) == pytest.approx(numeric, rel=1e-5)


def test_flat_spend_is_unsupported_but_gives_a_cautious_usable_curve() -> None:
    rng = np.random.default_rng(5)
    spend = 2000.0 * rng.lognormal(0.0, 0.01, 28)
    y = _truth(spend, 400.0, 2500.0) * rng.lognormal(0.0, 0.07, 28)
    curve = fit_curve(_days(spend, y), "revenue")
    assert not curve.supported
    assert curve.reason is not None and "spend barely varied" in curve.reason
    # It goes through the observed average return...
    average_revenue = float(np.mean(y)) * 50.0
    assert curve.predict(float(spend.mean())) == pytest.approx(average_revenue, rel=0.03)
    # ...with a marginal return below the average one (saturating), and a wide bend.
    assert 0 < curve.marginal(float(spend.mean())) < average_revenue / spend.mean()
    low, high = curve.marginal_interval(float(spend.mean()))
    assert high / low > 1.5
    # Far from where it was observed the curve is much less certain than at its point.
    near = curve.interval(float(spend.mean()), noise=False)
    far = curve.interval(3 * float(spend.mean()), noise=False)
    assert far[1] / far[0] > near[1] / near[0]


def test_varied_spend_is_supported_and_narrows_the_bend() -> None:
    rng = np.random.default_rng(6)
    varied = fit_curve(_drawn(rng, 28, 400.0, 2500.0, 0.05), "conversions")
    spend = np.full(28, 2500.0)
    flat = fit_curve(_days(spend, _truth(spend, 400.0, 2500.0) * 1.01), "conversions")
    assert varied.supported
    assert varied.covariance[1][1] < 0.25 * flat.covariance[1][1]


def test_few_days_are_unsupported_with_a_reason() -> None:
    days = _drawn(np.random.default_rng(2), MIN_DAYS - 1, 400.0, 2500.0, 0.05)
    curve = fit_curve(days, "conversions")
    assert not curve.supported
    assert curve.reason is not None and f"only {MIN_DAYS - 1} complete days" in curve.reason
    assert curve.predict(2500.0) > 0


def test_no_data_or_no_outcome_gives_a_curve_that_buys_nothing() -> None:
    empty = fit_curve([], "conversions")
    assert not empty.supported and empty.reason == "no complete day with spend"
    assert empty.predict(1000.0) == 0.0 and empty.marginal(1000.0) == 0.0
    nothing = fit_curve(_days(np.full(10, 100.0), np.zeros(10)), "revenue")
    assert nothing.reason == "no revenue in the window"
    assert nothing.interval(100.0) == (0.0, 0.0)


def test_interval_with_noise_covers_new_days_at_its_level() -> None:
    top, scale = 400.0, 2500.0
    rng = np.random.default_rng(9)
    curve = fit_curve(_drawn(rng, 40, top, scale, 0.06), "conversions")
    spend = 2000.0
    low, high = curve.interval(spend, level=0.8)
    new_days = _truth(np.full(4000, spend), top, scale) * (1 + 0.06 * rng.standard_normal(4000))
    covered = float(np.mean((new_days >= low) & (new_days <= high)))
    assert 0.7 <= covered <= 0.9


def test_json_round_trip() -> None:
    curve = fit_curve(_drawn(np.random.default_rng(1), 20, 100.0, 900.0, 0.05), "revenue")
    again = ResponseCurve.from_json(curve.as_json())
    assert again == curve


def test_daily_totals_keeps_complete_utc_days_only() -> None:
    campaign = uuid.uuid4()
    start = datetime(2025, 3, 3, 0, tzinfo=UTC)
    rows = [
        HourlyMetrics(campaign, start + timedelta(hours=h), 100, 10, 1, 2.0, 30.0, 48.0)
        for h in range(24 + 24 + 5)
    ]
    rows.append(rows[3])  # a repeated hour counts once
    totals = daily_totals(rows)
    assert [t.day for t in totals] == [date(2025, 3, 3), date(2025, 3, 4)]
    assert totals[0] == DayTotals(date(2025, 3, 3), 48.0, 24.0, 720.0)


def test_curve_set_matches_the_curves_and_inverts_its_marginal() -> None:
    rng = np.random.default_rng(4)
    curves = [
        fit_curve(_drawn(rng, 20, t, s, 0.05), "revenue") for t, s in [(100, 900), (50, 3000)]
    ]
    curve_set = CurveSet.from_curves(curves)
    spend = np.array([700.0, 4000.0])
    assert len(curve_set) == 2
    assert curve_set.predict(spend) == pytest.approx(
        [c.predict(x) for c, x in zip(curves, spend, strict=False)]
    )
    marginal = curve_set.marginal(spend)
    assert marginal == pytest.approx([c.marginal(x) for c, x in zip(curves, spend, strict=False)])
    assert curve_set.spend_at_marginal(marginal) == pytest.approx(spend)
    # A return above the first dollar's is never reached: no spend.
    assert curve_set.spend_at_marginal(np.array([1e9, 1e9])) == pytest.approx([0.0, 0.0])


def test_curve_set_samples_follow_each_curves_posterior() -> None:
    rng = np.random.default_rng(8)
    curve = fit_curve(_drawn(rng, 12, 300.0, 2000.0, 0.1), "conversions")
    curve_set = CurveSet.from_curves([curve])
    draws = [curve_set.sample(rng) for _ in range(4000)]
    logs = np.array([[math.log(d.top[0]), math.log(d.scale[0])] for d in draws])
    assert logs.mean(axis=0) == pytest.approx(
        [math.log(curve.top), math.log(curve.scale)], abs=0.02
    )
    assert np.cov(logs.T) == pytest.approx(np.asarray(curve.covariance), rel=0.1, abs=1e-5)


def test_optimistic_curve_is_the_scale_quantile_and_the_conditional_top() -> None:
    # A curve fitted on flat spend: its bend rests on the prior, and log top and log
    # scale are strongly correlated (the data pin one point of the curve).
    spend = np.full(14, 1000.0) * (1 + 0.02 * np.sin(np.arange(14)))
    curve = fit_curve(_days(spend, _truth(spend, 80.0, 1400.0)), "conversions")
    curve_set = CurveSet.from_curves([curve])
    cov = np.asarray(curve.covariance)
    assert abs(cov[0, 1]) / math.sqrt(cov[0, 0] * cov[1, 1]) > 0.5
    z = float(stats.norm.ppf(0.9))
    optimistic = curve_set.optimistic(z)
    # log scale at its 90% quantile: the log-normal's quantile (scipy).
    expected_scale = stats.lognorm(s=math.sqrt(cov[1, 1]), scale=curve.scale).ppf(0.9)
    assert optimistic.scale[0] == pytest.approx(expected_scale, rel=1e-9)
    # log top at its conditional mean given that log scale, from the precision matrix
    # (E[a | b] = mu_a - P_ab / P_aa (b - mu_b)), an independent form of the regression.
    precision = np.linalg.inv(cov)
    shift = math.log(expected_scale / curve.scale)
    expected_log_top = math.log(curve.top) - precision[0, 1] / precision[0, 0] * shift
    assert math.log(optimistic.top[0]) == pytest.approx(expected_log_top, abs=1e-6)
    # And against draws of the joint posterior (scipy): the mean log top of the draws
    # whose log scale lies near that quantile.
    logs = stats.multivariate_normal([math.log(curve.top), math.log(curve.scale)], cov).rvs(
        200_000, random_state=3
    )
    near = np.abs(logs[:, 1] - math.log(expected_scale)) < 0.02 * math.sqrt(cov[1, 1])
    assert logs[near, 0].mean() == pytest.approx(expected_log_top, abs=0.01)
    # Later saturation through the pinned point: more return past the data, about the
    # same at them.
    assert optimistic.marginal(np.array([1500.0]))[0] > curve_set.marginal(np.array([1500.0]))[0]
    assert optimistic.predict(np.array([1000.0]))[0] == pytest.approx(
        curve_set.predict(np.array([1000.0]))[0], rel=0.05
    )
    # A curve with no uncertainty, and zero optimism, do not move.
    assert curve_set.optimistic(0.0).scale == pytest.approx(curve_set.scale)
    exact = CurveSet(np.array([80.0]), np.array([1400.0]))
    assert exact.optimistic(2.0).scale == pytest.approx([1400.0])
    assert exact.optimistic(2.0).top == pytest.approx([80.0])


def test_fit_on_the_simulator_recovers_its_true_curve() -> None:
    from sandbox.simulator import CampaignSimulator
    from shared.connectors.base import Change

    start = datetime(2025, 3, 3, tzinfo=UTC)
    sim = CampaignSimulator(1, seed=3, start=start)
    (campaign,) = sim.campaign_ids
    truth = sim.true_curve(campaign)
    # Budgets varied day by day around the campaign's own, as reallocation would.
    budgets = np.random.default_rng(0).uniform(0.3, 2.0, 35) * truth.scale
    rows: list[HourlyMetrics] = []
    for day, budget in enumerate(budgets):
        first_hour = start + timedelta(days=day)
        sim.apply_change_at(campaign, Change("budget", round(float(budget), 2)), first_hour)
        rows += [hour[0] for hour in sim.simulate_range(first_hour, 24)]
    curve = fit_curve(daily_totals(rows), "revenue")
    assert curve.supported, curve.reason
    for fitted, true, index in ((curve.top, truth.top_revenue, 0), (curve.scale, truth.scale, 1)):
        sd = math.sqrt(curve.covariance[index][index])
        assert abs(math.log(fitted / true)) < 3 * sd + 0.02, (fitted, true, sd)
