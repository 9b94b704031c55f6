"""Budget rules on response curves: steps sized by the curve, impact and marginal ROAS
from it, with known answers from the curve's closed form."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import numpy as np
import pytest

from services.decision import budget_curves, cycles
from services.decision.policy import (
    AlertView,
    CampaignView,
    Decision,
    MetricSummary,
    PolicyParams,
    RiskView,
    WindowTotals,
    decide,
)
from shared.curves import DayTotals, ResponseCurve
from shared.metrics import HourlyMetrics

NOW = datetime(2024, 5, 8, 12, tzinfo=UTC)
A = UUID(int=0xA)
DAY0 = date(2024, 4, 10)


def curve(
    metric: str, top: float, scale: float, var_log_scale: float = 0.04, noise_cv: float = 0.05
) -> ResponseCurve:
    return ResponseCurve(
        metric=metric,
        model="neg_exp",
        params={"top": top, "scale": scale, "noise_cv": noise_cv, "mean_spend": scale},
        covariance=((0.01, 0.005), (0.005, var_log_scale)),
        supported=True,
        reason=None,
        n_days=28,
        window_start=DAY0,
        window_end=DAY0 + timedelta(days=27),
        r_squared=0.8,
        rmse=1.0,
    )


def through(metric: str, spend: float, value: float, scale: float) -> ResponseCurve:
    """A curve of the given scale that passes through (spend, value)."""
    return curve(metric, value / -math.expm1(-spend / scale), scale)


def totals(spend: float, roas: float, hours: int = 24, clicks: int = 1200) -> WindowTotals:
    return WindowTotals(hours, clicks * 20, clicks, round(clicks * 0.04), spend, spend * roas)


def view(
    last: WindowTotals,
    prior: WindowTotals | None = None,
    *,
    budget: float = 600.0,
    curves: budget_curves.Curves | None = None,
    alerts: tuple[AlertView, ...] = (),
    risks: tuple[RiskView, ...] = (),
) -> CampaignView:
    summary = MetricSummary(
        A, NOW, last, prior or totals(3500.0, last.roas or 0.0, hours=168, clicks=8400)
    )
    return CampaignView(A, budget, summary, alerts, risks, curves=curves)


def only(decisions: list[Decision]) -> Decision:
    assert len(decisions) == 1, decisions
    return decisions[0]


# A budget-limited winner: 495 of 500 spent at ROAS 6 (5 over the prior week).
WINNER = totals(495.0, 6.0)
WINNER_PRIOR = totals(3400.0, 5.0, hours=168, clicks=8400)


def winner_curves(scale: float = 500.0) -> budget_curves.Curves:
    return budget_curves.Curves(
        revenue=through("revenue", 495.0, 495.0 * 6.0, scale),
        conversions=through("conversions", 495.0, 48.0, scale),
    )


def test_raise_stops_where_the_marginal_roas_reaches_its_floor() -> None:
    curves = winner_curves()
    rev = curves.revenue
    first_dollar = rev.top / rev.scale
    p = PolicyParams(min_marginal_roas=3.0)
    d = only(decide([view(WINNER, WINNER_PRIOR, budget=500.0, curves=curves)], p))
    # Closed form: marginal top/scale * exp(-s/scale) = 3 at s = scale * ln(top / (3 scale)).
    limit = rev.scale * math.log(first_dollar / 3.0)
    step = limit / 495.0 - 1
    assert 0.05 < step < 0.2
    assert d.action_taken == "raise_budget"
    assert d.action["to"] == pytest.approx(round(500.0 * (1 + step), 2))
    impact = d.impact_prediction
    assert impact["source"] == "curve"
    assert impact["metric"] == "conversions"
    assert impact["marginal_roas"]["old"] == pytest.approx(rev.marginal(495.0), abs=1e-3)
    assert impact["marginal_roas"]["new"] == pytest.approx(3.0, abs=1e-3)
    conv = curves.conversions
    expected = conv.predict(limit) / conv.predict(495.0) - 1
    assert impact["expected_change"] == pytest.approx(expected, abs=1e-4)
    assert impact["interval"]["low"] < impact["expected_change"] < impact["interval"]["high"]
    assert impact["interval"]["level"] == 0.9
    assert impact["curve"]["params"]["scale"] == pytest.approx(500.0)
    old, new = impact["marginal_roas"]["old"], impact["marginal_roas"]["new"]
    assert f"from {old:.2f}x to {new:.2f}x" in d.rationale
    assert "an extra dollar would return 3.00x" in d.rationale


def test_raise_takes_the_full_step_when_the_curve_has_room() -> None:
    d = only(decide([view(WINNER, WINNER_PRIOR, budget=500.0, curves=winner_curves())]))
    assert d.action["to"] == pytest.approx(600.0)
    assert "the largest step allowed" in d.rationale


def test_saturated_curve_gets_no_raise_where_fixed_steps_would_raise() -> None:
    # Intentional change: a winner on a flat stretch of its curve is left alone.
    p = PolicyParams(min_marginal_roas=4.0)
    assert winner_curves().revenue.marginal(495.0) < 4.0
    assert decide([view(WINNER, WINNER_PRIOR, budget=500.0, curves=winner_curves())], p) == []
    assert only(decide([view(WINNER, WINNER_PRIOR, budget=500.0)], p)).action_taken == (
        "raise_budget"
    )


def test_curve_is_scaled_to_the_last_days_level() -> None:
    # The curve expects twice the revenue the last day brought: its marginal ROAS halves.
    revenue = through("revenue", 495.0, 2 * 495.0 * 6.0, 500.0)
    curves = budget_curves.Curves(revenue, winner_curves().conversions)
    d = only(decide([view(WINNER, WINNER_PRIOR, budget=500.0, curves=curves)]))
    assert d.impact_prediction["marginal_roas"]["old"] == pytest.approx(
        0.5 * revenue.marginal(495.0), abs=1e-3
    )


ROAS_DOWN = AlertView(UUID(int=0xD), "roas_down", "roas", "high", 1.9, 2.4)
WEAK = totals(576.0, 1.9)


def test_decline_cut_follows_the_curve() -> None:
    # Intentional change: the cut is what brings the curve's average ROAS to target.
    flat = budget_curves.Curves(
        through("revenue", 576.0, 576.0 * 1.9, 50_000.0),
        through("conversions", 576.0, 48.0, 50_000.0),
    )
    steep = budget_curves.Curves(
        through("revenue", 576.0, 576.0 * 1.9, 200.0),
        through("conversions", 576.0, 48.0, 200.0),
    )
    fixed = only(decide([view(WEAK, alerts=(ROAS_DOWN,))]))
    on_flat = only(decide([view(WEAK, alerts=(ROAS_DOWN,), curves=flat)]))
    on_steep = only(decide([view(WEAK, alerts=(ROAS_DOWN,), curves=steep)]))
    # The shortfall rule cuts 5%; a nearly linear curve's ROAS barely rises as spend
    # falls, so the cut goes to the maximum step.
    assert fixed.action["to"] == pytest.approx(600.0 * 0.95)
    assert on_flat.action["to"] == pytest.approx(600.0 * 0.8)
    # On the steep curve the average ROAS reaches 2.0 at s where top(1-e^(-s/200)) = 2s.
    rev = steep.revenue
    s = 576.0
    for _ in range(100):
        s = rev.predict(s) / 2.0
    assert rev.predict(s) / s == pytest.approx(2.0, rel=1e-6)
    assert on_steep.action["to"] == pytest.approx(round(600.0 * (s / 576.0), 2), abs=0.02)
    impact = on_steep.impact_prediction
    assert impact["metric"] == "revenue"
    new_spend = on_steep.action["to"]
    assert impact["expected_change"] == pytest.approx(
        rev.predict(new_spend) / rev.predict(576.0) - 1, abs=1e-4
    )
    assert impact["marginal_roas"]["new"] > impact["marginal_roas"]["old"]
    assert "marginal ROAS moves from" in on_steep.rationale


def test_tracking_cut_does_not_trust_the_revenue_curve() -> None:
    broken = totals(576.0, 0.3)
    crash = AlertView(UUID(int=0xE), "cvr_down", "cvr", "high", 0.008, 0.041)
    d = only(decide([view(broken, alerts=(crash,), curves=winner_curves())], PolicyParams()))
    assert d.action_taken == "decrease_budget"
    assert d.impact_prediction["metric"] == "spend"
    assert "marginal_roas" not in d.impact_prediction


@pytest.mark.parametrize("level", [0.8, 0.9])
def test_relative_change_interval_matches_simulated_draws(level: float) -> None:
    c = curve("revenue", 3000.0, 800.0, var_log_scale=0.09, noise_cv=0.08)
    expected, low, high = budget_curves.relative_change(c, 600.0, 720.0, level)
    rng = np.random.default_rng(0)
    n = 200_000
    log_scale = math.log(800.0) + 0.3 * rng.standard_normal(n)
    scale = np.exp(log_scale)
    ratio = -np.expm1(-720.0 / scale) / -np.expm1(-600.0 / scale)
    noise = rng.lognormal(0, math.sqrt(math.log1p(0.08**2)), (2, n))
    observed = ratio * noise[0] / noise[1] - 1
    assert expected == pytest.approx(c.predict(720.0) / c.predict(600.0) - 1)
    tail = (1 - level) / 2
    assert low == pytest.approx(np.quantile(observed, tail), abs=0.01)
    assert high == pytest.approx(np.quantile(observed, 1 - tail), abs=0.01)


def test_curve_and_elasticity_impacts_state_the_policys_interval_level() -> None:
    p = PolicyParams(interval_level=0.8)
    d = only(decide([view(WINNER, WINNER_PRIOR, budget=500.0, curves=winner_curves())], p))
    impact = d.impact_prediction
    assert impact["source"] == "curve" and impact["interval"]["level"] == 0.8
    # The stated level is the width: the curve's own 80% interval, and the rationale says so.
    spend = 495.0
    new_spend = spend * d.action["to"] / d.action["from"]
    _, low, high = budget_curves.relative_change(winner_curves().conversions, spend, new_spend, 0.8)
    assert impact["interval"]["low"] == pytest.approx(low, abs=2e-3)
    assert impact["interval"]["high"] == pytest.approx(high, abs=2e-3)
    assert "(80% interval" in d.rationale
    plain = only(decide([view(WINNER, WINNER_PRIOR, budget=500.0)], p)).impact_prediction
    assert plain["source"] == "elasticity" and plain["interval"]["level"] == 0.8


def test_curve_cache_refits_only_when_the_days_change() -> None:
    cache = budget_curves.CurveCache()
    days = [
        DayTotals(DAY0 + timedelta(days=i), 500.0 + 40 * (i % 5), 40.0 + i % 3, 2000.0 + 90 * i)
        for i in range(14)
    ]
    assert cache.get(A, days, fit=False) is None
    first = cache.get(A, days, fit=True)
    assert first is not None and cache.get(A, days, fit=False) is first
    moved = [*days[1:], DayTotals(DAY0 + timedelta(days=14), 700.0, 50.0, 3000.0)]
    assert cache.get(A, moved, fit=False) is None
    second = cache.get(A, moved, fit=True)
    assert second is not None and second.revenue.window_end == DAY0 + timedelta(days=14)


def test_views_carry_curves_and_fits_per_cycle_are_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cycles, "CURVES", budget_curves.CurveCache())
    monkeypatch.setattr(cycles, "MAX_CURVE_FITS", 2)
    campaigns = [UUID(int=i) for i in range(1, 5)]
    as_of = datetime(2024, 5, 8, tzinfo=UTC)
    history = [
        HourlyMetrics(c, as_of - timedelta(hours=h), 1000, 30, 2, 20.0, 80.0, 480.0)
        for c in campaigns
        for h in range(24, 0, -1)
    ]
    daily = [
        (c, DayTotals(DAY0 + timedelta(days=i), 480.0 + 10 * (i % 4), 48.0, 1900.0 + 5 * i))
        for c in campaigns
        for i in range(20)
    ]
    state = {
        "as_of": as_of,
        "campaigns": campaigns,
        "history": history,
        "alerts": [],
        "risks": [],
        "daily": daily,
    }
    first = cycles.build_views(state)
    assert sum(v.curves is not None for v in first) == 2
    second = cycles.build_views(state)
    assert all(v.curves is not None for v in second)
    assert second[0].curves is first[0].curves
    assert second[0].curves is not None and second[0].curves.revenue.n_days == 20
