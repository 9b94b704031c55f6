"""The allocator's use of the curves' uncertainty: the credible gain of a move, and the
guard that holds back a move not credibly good enough."""

from __future__ import annotations

import numpy as np
import pytest

from services.optimizer.pools.allocator import (
    EXPLORE_SDS,
    EXPLORE_TURNS,
    PoolLimits,
    allocate,
    exploration,
    guard,
    reallocation,
)
from services.optimizer.pools.pool import held, held_note
from shared.curves import CurveSet


def _curves(
    top: list[float],
    scale: list[float],
    sd_top: list[float] | None = None,
    supported: list[bool] | None = None,
) -> CurveSet:
    """Curves whose only uncertainty is in ``log top`` (sd per campaign)."""
    n = len(top)
    chol = np.zeros((n, 2, 2))
    for i, sd in enumerate(sd_top or [0.0] * n):
        chol[i, 0, 0] = sd
    return CurveSet(
        np.array(top, float),
        np.array(scale, float),
        chol,
        None if supported is None else np.array(supported, dtype=bool),
    )


def test_guard_keeps_a_plan_that_is_credibly_better() -> None:
    curves = _curves([30000.0, 6000.0], [3000.0, 3000.0], [0.05, 0.05])
    even = np.array([3000.0, 3000.0])
    plan = np.array([4500.0, 1500.0])
    kept = guard(even, plan, curves, rng=np.random.default_rng(0))
    assert not kept.held
    assert kept.budgets == pytest.approx(plan)
    assert kept.plan.low > 0


def test_guard_holds_a_plan_credibly_worse_and_keeps_the_current_split() -> None:
    # Known curves: the plan moves money to the campaign that returns less.
    curves = _curves([30000.0, 6000.0], [3000.0, 3000.0])
    current = np.array([3000.0, 3000.0])
    plan = np.array([1500.0, 4500.0])
    held = guard(current, plan, curves, tolerance=0.01, rng=np.random.default_rng(0))
    assert held.held
    assert held.budgets == pytest.approx(current)
    # Known curves: the plan's interval is its one exact loss.
    loss = curves.predict(plan).sum() / curves.predict(current).sum() - 1
    assert held.plan.expected == pytest.approx(loss)
    assert held.plan.low == pytest.approx(loss) and held.plan.high == pytest.approx(loss)


def test_guard_is_paired_so_an_unmoved_uncertain_campaign_adds_nothing() -> None:
    # The second campaign's curve is very uncertain, but its budget does not move:
    # scored on the same draws, it cancels, and a plan good on the first is kept.
    curves = _curves([30000.0, 50000.0], [3000.0, 3000.0], [0.05, 1.5])
    current = np.array([1000.0, 4000.0])
    plan = np.array([1500.0, 4000.0])
    kept = guard(current, plan, curves, rng=np.random.default_rng(3))
    assert not kept.held and kept.plan.low > 0


def test_guard_holds_a_plan_good_on_average_but_uncertain() -> None:
    # The plan moves money into a campaign whose curve is barely known: its mean says a
    # little better, but the lower end of its 80% interval is more than 1% worse.
    sure = _curves([20000.0, 24000.0], [3000.0, 3000.0])
    unsure = _curves([20000.0, 24000.0], [3000.0, 3000.0], [0.0, 0.5])
    even = np.array([3000.0, 3000.0])
    plan = np.array([2500.0, 3500.0])
    assert unsure.predict(plan).sum() > unsure.predict(even).sum()
    assert not guard(even, plan, sure, rng=np.random.default_rng(0)).held
    held = guard(even, plan, unsure, rng=np.random.default_rng(0))
    assert held.held and held.budgets == pytest.approx(even)
    assert held.plan.expected > 0 > -0.01 > held.plan.low


def test_guard_tolerance_is_the_share_it_may_lose() -> None:
    curves = _curves([30000.0, 6000.0], [3000.0, 3000.0])
    even = np.array([3000.0, 3000.0])
    plan = np.array([2900.0, 3100.0])  # slightly worse, by a known share
    loss = 1 - curves.predict(plan).sum() / curves.predict(even).sum()
    assert 0 < loss < 0.05
    assert guard(even, plan, curves, tolerance=loss * 1.01).held is False
    assert guard(even, plan, curves, tolerance=loss * 0.99).held is True


def test_a_reallocation_holds_a_bet_on_unsure_curves_but_never_an_even_split() -> None:
    # Money planned into a campaign whose curve may be far lower than its mean: held.
    unsure = _curves([20000.0, 40000.0], [3000.0, 3000.0], [0.0, 1.0])
    current = np.array([3000.0, 3000.0])
    limits = PoolLimits(max_step=0.5)
    planned, kept = reallocation(
        6000.0, current, unsure, strategy="performance_based", limits=limits
    )
    assert planned.budgets[1] > current[1]
    assert kept.held and kept.budgets == pytest.approx(current)
    # The owner's even split is applied whatever the curves say, even where the guard
    # would hold it back as a plan.
    curves = _curves([10000.0, 40000.0], [3000.0, 3000.0], [0.0, 1.0])
    start = np.array([2000.0, 4000.0])
    even = np.array([3000.0, 3000.0])
    assert guard(start, even, curves, rng=np.random.default_rng(0)).held
    planned, kept = reallocation(
        6000.0, start, curves, strategy="equal_distribution", limits=limits
    )
    assert not kept.held and kept.budgets == pytest.approx(even)


def test_bad_guard_arguments_are_refused() -> None:
    curves = _curves([1.0], [1.0])
    one = np.ones(1)
    with pytest.raises(ValueError):
        guard(one, one, curves, tolerance=-0.1)
    with pytest.raises(ValueError):
        guard(one, one, curves, level=1.0)
    with pytest.raises(ValueError):
        guard(one, one, curves, level=0.0)


def test_a_held_plan_is_explained_as_kept_budgets_with_the_plans_interval() -> None:
    curves = _curves([20000.0, 40000.0], [3000.0, 3000.0], [0.0, 1.0])
    current = np.array([3000.0, 3000.0])
    planned, kept = reallocation(
        6000.0, current, curves, strategy="performance_based", limits=PoolLimits(max_step=0.5)
    )
    assert kept.held
    shown = held(planned, kept)
    assert shown.budgets == pytest.approx(current)
    assert shown.bound_by == ["none", "none"]
    assert shown.marginal_new == pytest.approx(curves.marginal(current))
    assert shown.unallocated == pytest.approx(0.0)
    note = held_note(kept.plan, 0.01)
    assert "more than 1%" in note
    assert f"{kept.plan.low:+.1%} to {kept.plan.high:+.1%}" in note


def test_a_cut_in_the_pools_total_is_not_held_back_as_a_loss() -> None:
    # Today's budgets spend 6,000 of a pool now worth 4,800: every plan earns less than
    # today, but the guard judges only how the plan shares the 4,800 out.
    curves = _curves([30000.0, 30000.0], [3000.0, 3000.0], [0.05, 0.05])
    current = np.array([3000.0, 3000.0])
    planned, kept = reallocation(
        4800.0, current, curves, strategy="performance_based", limits=PoolLimits()
    )
    assert planned.budgets.sum() == pytest.approx(4800.0)
    assert not kept.held
    assert kept.budgets.sum() == pytest.approx(4800.0)


def test_early_reallocations_explore_the_campaign_whose_bend_is_unknown() -> None:
    # Two campaigns with the same mean curve; the second's bend rests on its prior (sd 0.5
    # on log scale, log top following it so that the curve at 3,000 stays put, as a fit on
    # flat spend has it).
    chol = np.zeros((2, 2, 2))
    chol[0] = np.linalg.cholesky(np.array([[1e-4, 0.0], [0.0, 1e-4]]))
    chol[1] = np.linalg.cholesky(np.array([[0.115, 0.168], [0.168, 0.25]]))
    curves = CurveSet(np.array([20000.0, 20000.0]), np.array([4000.0, 4000.0]), chol)
    current = np.array([3000.0, 3000.0])
    limits = PoolLimits(max_step=0.05)

    def planned(turn: int) -> np.ndarray:
        _, kept = reallocation(
            6000.0, current, curves, strategy="performance_based", limits=limits, turn=turn
        )
        assert not kept.held
        return kept.budgets

    assert exploration(0) == EXPLORE_SDS
    assert exploration(EXPLORE_TURNS // 2) == pytest.approx(EXPLORE_SDS / 2)
    assert exploration(EXPLORE_TURNS) == exploration(10 * EXPLORE_TURNS) == 0.0
    # The first turn moves money to the unknown bend, as far as the step allows.
    assert planned(0) == pytest.approx([2850.0, 3150.0])
    # Once exploring is over, the mean curves (equal) keep the even split.
    assert planned(EXPLORE_TURNS) == pytest.approx(current)
    # Optimism is for performance_based only: Thompson sampling explores by its draws.
    allocation = allocate(
        6000.0, current, curves, strategy="performance_based", limits=limits, optimism=1.5
    )
    assert allocation.budgets == pytest.approx([2850.0, 3150.0])
    assert allocation.marginal_new == pytest.approx(curves.marginal(allocation.budgets))
