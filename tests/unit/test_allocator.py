"""The pool allocator: known optima, bounds that hold, conserved totals, exploration."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy import optimize

from services.optimizer.pools.allocator import (
    BOUNDS,
    PoolLimits,
    allocate,
    bounds,
    predict_pool,
)
from shared.curves import CurveSet


def _curves(top: list[float], scale: list[float], sd: float = 0.0) -> CurveSet:
    n = len(top)
    chol = np.tile(np.eye(2) * sd, (n, 1, 1))
    return CurveSet(np.array(top, float), np.array(scale, float), chol)


def _random_pool(n: int, seed: int) -> tuple[CurveSet, np.ndarray]:
    rng = np.random.default_rng(seed)
    scale = rng.uniform(500, 5000, n)
    top = scale * rng.uniform(1.0, 8.0, n)  # first-dollar ROAS between 1 and 8
    chol = np.tile(np.eye(2) * 0.2, (n, 1, 1))
    return CurveSet(top, scale, chol), rng.uniform(300, 4000, n)


def test_two_campaigns_optimum_equalises_marginal_roas_as_scipy_finds() -> None:
    curves = _curves([20000.0, 9000.0], [4000.0, 1500.0])
    total = 6000.0
    result = allocate(
        total, np.array([3000.0, 3000.0]), curves, strategy="performance_based", limits=PoolLimits()
    )
    reference = optimize.minimize(
        lambda x: -curves.predict(x).sum(),
        x0=np.array([3000.0, 3000.0]),
        jac=lambda x: -curves.marginal(x),
        constraints=[{"type": "eq", "fun": lambda x: x.sum() - total}],
        bounds=[(0, total), (0, total)],
        method="SLSQP",
        options={"ftol": 1e-12},
    )
    assert reference.success
    assert result.budgets == pytest.approx(reference.x, rel=1e-4)
    assert result.marginal_new[0] == pytest.approx(result.marginal_new[1], rel=1e-9)
    assert result.lam == pytest.approx(result.marginal_new[0], rel=1e-9)
    assert result.bound_by == ["none", "none"]
    assert result.budgets.sum() == pytest.approx(total, rel=1e-12)
    # It is better than where it started.
    assert curves.predict(result.budgets).sum() > curves.predict(np.array([3000.0, 3000.0])).sum()


def test_a_campaign_not_worth_its_first_dollar_gets_nothing() -> None:
    # The second campaign's first dollar returns 1.0; the first's still 2.0 at the total.
    curves = _curves([100000.0, 1000.0], [10000.0, 1000.0])
    result = allocate(
        1000.0, np.array([500.0, 500.0]), curves, strategy="performance_based", limits=PoolLimits()
    )
    assert result.budgets == pytest.approx([1000.0, 0.0])
    assert result.bound_by == ["cap", "floor"]


def test_binding_act_floors_and_caps_hold() -> None:
    curves = _curves([20000.0, 9000.0, 5000.0], [4000.0, 1500.0, 2000.0])
    current = np.array([3000.0, 3000.0, 3000.0])
    free = allocate(9000.0, current, curves, strategy="performance_based", limits=PoolLimits())
    # Cap the campaign that wants most below its optimum, floor the one that wants least above it.
    top, bottom = int(np.argmax(free.budgets)), int(np.argmin(free.budgets))
    caps = np.full(3, np.inf)
    floors = np.zeros(3)
    caps[top] = free.budgets[top] * 0.8
    floors[bottom] = free.budgets[bottom] * 1.5
    held = allocate(
        9000.0,
        current,
        curves,
        strategy="performance_based",
        limits=PoolLimits(),
        floors=floors,
        caps=caps,
    )
    assert held.budgets[top] == pytest.approx(caps[top])
    assert held.budgets[bottom] == pytest.approx(floors[bottom])
    assert held.bound_by[top] == "limit" and held.bound_by[bottom] == "limit"
    middle = 3 - top - bottom
    assert held.bound_by[middle] == "none"
    assert held.budgets.sum() == pytest.approx(9000.0, rel=1e-12)


def test_pool_shares_bind_and_are_named() -> None:
    curves = _curves([50000.0, 2000.0, 2000.0], [5000.0, 1000.0, 1000.0])
    result = allocate(
        9000.0,
        np.full(3, 3000.0),
        curves,
        strategy="performance_based",
        limits=PoolLimits(min_share=0.1, max_share=0.6),
    )
    assert result.budgets[0] == pytest.approx(0.6 * 9000.0)
    assert result.bound_by[0] == "max_share"
    assert np.all(result.budgets >= 0.1 * 9000.0 - 1e-9)
    assert result.budgets.sum() == pytest.approx(9000.0)


def test_max_step_holds_and_is_named() -> None:
    curves, current = _random_pool(500, seed=3)
    result = allocate(
        float(current.sum()),
        current,
        curves,
        strategy="performance_based",
        limits=PoolLimits(max_step=0.2),
    )
    change = result.budgets / current - 1
    assert np.all(np.abs(change) <= 0.2 + 1e-9)
    at_step = np.isclose(np.abs(change), 0.2)
    assert at_step.any()
    assert all(b == "step" for b, s in zip(result.bound_by, at_step, strict=False) if s)
    assert result.budgets.sum() == pytest.approx(current.sum(), rel=1e-12)


def test_safety_limits_win_over_the_step_and_the_step_over_shares() -> None:
    current = np.array([1000.0, 1000.0])
    b = bounds(
        2000.0,
        current,
        PoolLimits(min_share=0.45, max_step=0.2),
        floors=np.array([0.0, 0.0]),
        caps=np.array([700.0, 5000.0]),
    )
    # The cap (700) is below the step's lowest (800): the cap wins.
    assert (b.low[0], b.high[0]) == (700.0, 700.0)
    # min_share asks 900 at least; within the step's [800, 1200] that holds.
    assert (b.low[1], b.high[1]) == (900.0, 1200.0)
    assert (b.names("low")[1], b.names("high")[1]) == ("min_share", "step")


@pytest.mark.parametrize(
    "strategy", ["performance_based", "opportunity_weighted", "equal_distribution"]
)
def test_ten_thousand_campaigns_conserve_the_total_within_bounds(strategy: str) -> None:
    curves, current = _random_pool(10_000, seed=1)
    total = float(current.sum()) * 1.05
    limits = PoolLimits(min_share=0.0, max_share=0.001, max_step=0.3)
    caps = current * 1.25
    result = allocate(
        total,
        current,
        curves,
        strategy=strategy,  # type: ignore[arg-type]
        limits=limits,
        caps=caps,
        rng=np.random.default_rng(0),
    )
    assert result.budgets.sum() == pytest.approx(total, rel=1e-12)
    assert result.unallocated == pytest.approx(0.0, abs=1e-6 * total)
    b = bounds(total, current, limits, None, caps)
    assert np.all(result.budgets >= b.low - 1e-9)
    assert np.all(result.budgets <= b.high + 1e-9)
    assert set(result.bound_by) <= set(BOUNDS)
    assert np.all(result.budgets <= caps + 1e-9)
    if strategy == "performance_based":
        # Every campaign no bound holds earns the pool's common marginal return.
        free = np.array([name == "none" for name in result.bound_by])
        assert free.sum() > 100
        assert result.marginal_new[free] == pytest.approx(result.lam, rel=1e-6)


def test_performance_based_beats_other_strategies_on_its_curves() -> None:
    curves, current = _random_pool(2000, seed=2)
    total = float(current.sum())
    returns = {
        s: curves.predict(
            allocate(
                total,
                current,
                curves,
                strategy=s,  # type: ignore[arg-type]
                limits=PoolLimits(),
                rng=np.random.default_rng(1),
            ).budgets
        ).sum()
        for s in ("performance_based", "opportunity_weighted", "equal_distribution")
    }
    assert returns["performance_based"] > returns["opportunity_weighted"]
    assert returns["performance_based"] > returns["equal_distribution"]


def test_equal_distribution_splits_evenly_then_redistributes_what_bounds_free() -> None:
    curves = _curves([1.0] * 4, [1.0] * 4)
    even = allocate(
        400.0, np.full(4, 50.0), curves, strategy="equal_distribution", limits=PoolLimits()
    )
    assert even.budgets == pytest.approx([100.0] * 4)
    capped = allocate(
        400.0,
        np.full(4, 50.0),
        curves,
        strategy="equal_distribution",
        limits=PoolLimits(),
        caps=np.array([40.0, np.inf, np.inf, np.inf]),
    )
    assert capped.budgets == pytest.approx([40.0, 120.0, 120.0, 120.0])
    assert capped.bound_by[0] == "limit"


def test_infeasible_totals_report_unallocated() -> None:
    curves = _curves([1000.0, 1000.0], [500.0, 500.0])
    short = allocate(
        1000.0,
        np.array([300.0, 300.0]),
        curves,
        strategy="performance_based",
        limits=PoolLimits(),
        caps=np.array([300.0, 400.0]),
    )
    assert short.budgets == pytest.approx([300.0, 400.0])
    assert short.unallocated == pytest.approx(300.0)
    over = allocate(
        1000.0,
        np.array([300.0, 300.0]),
        curves,
        strategy="performance_based",
        limits=PoolLimits(),
        floors=np.array([600.0, 700.0]),
    )
    assert over.budgets == pytest.approx([600.0, 700.0])
    assert over.unallocated == pytest.approx(-300.0)


def test_thompson_sampling_sometimes_gives_the_uncertain_campaign_more() -> None:
    # Identical mean curves; the second is uncertain. The mean optimum splits evenly.
    top = np.array([10000.0, 10000.0])
    scale = np.array([2000.0, 2000.0])
    chol = np.stack([np.zeros((2, 2)), np.linalg.cholesky(np.array([[0.3, 0.2], [0.2, 0.3]]))])
    curves = CurveSet(top, scale, chol)
    current = np.array([2000.0, 2000.0])
    mean = allocate(4000.0, current, curves, strategy="performance_based", limits=PoolLimits())
    assert mean.budgets == pytest.approx([2000.0, 2000.0])
    rng = np.random.default_rng(7)
    shares = np.array(
        [
            allocate(
                4000.0,
                current,
                curves,
                strategy="opportunity_weighted",
                limits=PoolLimits(),
                rng=rng,
            ).budgets[1]
            / 4000.0
            for _ in range(200)
        ]
    )
    assert (shares > 0.55).mean() > 0.2
    assert (shares < 0.45).mean() > 0.2
    # The mean curves' marginal returns are reported, not the draw's.
    one = allocate(
        4000.0, current, curves, strategy="opportunity_weighted", limits=PoolLimits(), rng=rng
    )
    assert one.marginal_new == pytest.approx(curves.marginal(one.budgets))


def test_bound_names_are_counted_for_every_campaign() -> None:
    curves, current = _random_pool(300, seed=5)
    result = allocate(
        float(current.sum()),
        current,
        curves,
        strategy="performance_based",
        limits=PoolLimits(max_step=0.1, max_share=0.01),
    )
    counts = Counter(result.bound_by)
    assert sum(counts.values()) == 300
    assert counts["step"] > 0 and counts["none"] > 0


def test_pool_prediction_interval_widens_with_uncertainty() -> None:
    budgets = np.array([1000.0, 2000.0, 3000.0])
    certain = _curves([5000.0, 6000.0, 7000.0], [1000.0, 2000.0, 3000.0], sd=0.0)
    uncertain = _curves([5000.0, 6000.0, 7000.0], [1000.0, 2000.0, 3000.0], sd=0.2)
    exact = float(certain.predict(budgets).sum())
    sure = predict_pool(budgets, certain, rng=np.random.default_rng(0))
    assert sure.expected == pytest.approx(exact)
    assert sure.low == pytest.approx(exact) and sure.high == pytest.approx(exact)
    unsure = predict_pool(budgets, uncertain, level=0.8, rng=np.random.default_rng(0))
    assert unsure.low < exact < unsure.high
    # Known answer: the 80% interval of the draws' totals.
    rng = np.random.default_rng(1)
    totals = [uncertain.sample(rng).predict(budgets).sum() for _ in range(4000)]
    assert unsure.low == pytest.approx(np.quantile(totals, 0.1), rel=0.03)
    assert unsure.high == pytest.approx(np.quantile(totals, 0.9), rel=0.03)


def test_bad_input_is_refused() -> None:
    curves = _curves([1.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError):
        allocate(10.0, np.array([1.0]), curves, strategy="performance_based", limits=PoolLimits())
    with pytest.raises(ValueError):
        allocate(-1.0, np.ones(2), curves, strategy="performance_based", limits=PoolLimits())
    with pytest.raises(ValueError):
        allocate(10.0, np.ones(2), curves, strategy="nope", limits=PoolLimits())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PoolLimits(min_share=0.6, max_share=0.5)
