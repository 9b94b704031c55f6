"""Experiment statistics: known answers from scipy, statsmodels and GrowthBook's stats engine.

GrowthBook figures are from the test suite of its Python stats engine (gbstats,
packages/stats/tests in growthbook/growthbook): frequentist/test_tests.py and
bayesian/test_tests.py, rounded there to 5 decimals.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import special, stats
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, zt_ind_solve_power
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from services.optimizer.experiments import bayes as experiment_bayes
from services.optimizer.experiments import sequential
from services.optimizer.experiments.stats import (
    Analysis,
    VariantData,
    alpha_from_confidence,
    analyze,
    compare,
    days_needed,
    holm,
    rate_moments,
    sample_size,
)


def rates(*pairs: tuple[int, int], **kwargs: object) -> Analysis:
    variants = [
        VariantData("control" if i == 0 else f"v{i}", users, conversions)
        for i, (users, conversions) in enumerate(pairs)
    ]
    return analyze(variants, metric="rate", **kwargs)  # type: ignore[arg-type]


def from_values(name: str, values: np.ndarray) -> VariantData:
    return VariantData(
        name, len(values), sum=float(values.sum()), sum_squares=float((values**2).sum())
    )


# --- frequentist, fixed horizon ----------------------------------------------------------


@pytest.mark.parametrize(
    ("control", "variant"),
    [
        ((10000, 500), (10000, 560)),
        ((2500, 37), (2711, 61)),
        ((120, 3), (95, 0)),
        ((50, 50), (60, 55)),
    ],
)
def test_rate_p_value_and_interval_match_statsmodels(
    control: tuple[int, int], variant: tuple[int, int]
) -> None:
    result = rates(control, variant, sequential=False).variants[1]
    _, p = proportions_ztest([variant[1], control[1]], [variant[0], control[0]])
    low, high = confint_proportions_2indep(
        variant[1], variant[0], control[1], control[0], method="wald", compare="diff"
    )
    assert result.p_value == pytest.approx(p, rel=1e-9, abs=1e-12)
    assert result.absolute_ci_low == pytest.approx(low, rel=1e-9, abs=1e-12)
    assert result.absolute_ci_high == pytest.approx(high, rel=1e-9, abs=1e-12)


def test_welch_matches_scipy_on_raw_data() -> None:
    rng = np.random.default_rng(3)
    a = rng.lognormal(1.0, 0.8, 700)
    b = rng.lognormal(1.1, 1.0, 450)
    result = analyze(
        [from_values("a", a), from_values("b", b)],
        metric="mean",
        sequential=False,
        alpha=0.1,
    ).variants[1]
    reference = stats.ttest_ind(b, a, equal_var=False)
    low, high = reference.confidence_interval(0.9)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-8)
    assert result.absolute_ci_low == pytest.approx(low, rel=1e-8)
    assert result.absolute_ci_high == pytest.approx(high, rel=1e-8)
    from_stats = stats.ttest_ind_from_stats(
        b.mean(), b.std(ddof=1), len(b), a.mean(), a.std(ddof=1), len(a), equal_var=False
    )
    assert result.p_value == pytest.approx(from_stats.pvalue, rel=1e-8)


def test_welch_and_delta_method_match_growthbook() -> None:
    # gbstats TestTwoSidedTTest.test_two_sided_ttest and ..._absolute
    result = analyze(
        [
            VariantData("a", 3407, sum=1396.87, sum_squares=52377.9767),
            VariantData("b", 3461, sum=2422.7, sum_squares=134698.29),
        ],
        metric="mean",
        sequential=False,
    ).variants[1]
    assert result.lift == pytest.approx(0.70732, abs=5e-6)
    assert result.ci_low == pytest.approx(-0.03526, abs=5e-6)
    assert result.ci_high == pytest.approx(1.44989, abs=5e-6)
    assert result.absolute_lift == pytest.approx(0.29, abs=5e-6)
    assert result.absolute_ci_low == pytest.approx(0.04538, abs=5e-6)
    assert result.absolute_ci_high == pytest.approx(0.53462, abs=5e-6)
    assert result.p_value == pytest.approx(0.02016, abs=5e-6)


def test_relative_lift_standard_error_matches_growthbook_for_rates() -> None:
    # gbstats test_two_sided_ttest_binom: 14/28 against 16/30, uplift stddev 0.2717. Its
    # interval uses a t quantile; ours a normal one, so compare the standard error.
    result = rates((28, 14), (30, 16), sequential=False).variants[1]
    assert result.lift == pytest.approx(0.06667, abs=5e-6)
    assert result.ci_low is not None and result.ci_high is not None
    se = (result.ci_high - result.ci_low) / (2 * stats.norm.ppf(0.975))
    assert se == pytest.approx(0.2717, abs=5e-5)


# --- sequential ---------------------------------------------------------------------------


def test_confidence_sequence_matches_growthbook_for_means() -> None:
    # gbstats TestSequentialTTest.test_sequential_test_runs (tuning parameter 1000)
    result = analyze(
        [
            VariantData("a", 3000, sum=1396.87, sum_squares=52377.9767),
            VariantData("b", 3461, sum=2422.7, sum_squares=134698.29),
        ],
        metric="mean",
        sequential_tuning=1000,
    ).variants[1]
    assert result.lift == pytest.approx(0.50336, abs=5e-6)
    assert result.ci_low == pytest.approx(-0.55844, abs=5e-6)
    assert result.ci_high == pytest.approx(1.56516, abs=5e-6)
    assert result.p_value == 1.0


def test_confidence_sequence_matches_growthbook_for_rates() -> None:
    # gbstats test_sequential_test_runs_prop (default tuning parameter 5000)
    result = rates((3000, 1396), (3461, 2422)).variants[1]
    assert result.lift == pytest.approx(0.50386, abs=5e-6)
    assert result.ci_low == pytest.approx(0.40098, abs=5e-6)
    assert result.ci_high == pytest.approx(0.60675, abs=5e-6)
    assert result.p_value == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("tuning", [500.0, 5000.0, 60000.0])
def test_anytime_p_value_is_below_alpha_exactly_when_the_sequence_excludes_zero(
    tuning: float,
) -> None:
    rng = np.random.default_rng(11)
    n = rng.integers(200, 100000, 400).astype(float)
    se = rng.uniform(0.001, 0.05, 400)
    estimate = se * rng.normal(0, 4, 400)
    for alpha in (0.01, 0.05, 0.2):
        p = sequential.p_value(estimate, se, n, alpha, tuning)
        excludes = np.abs(estimate) > sequential.width_factor(n, alpha, tuning) * se
        near = np.isclose(np.abs(estimate), sequential.width_factor(n, alpha, tuning) * se)
        assert np.array_equal((p < alpha)[~near], excludes[~near])


def test_confidence_sequence_is_wider_than_a_fixed_interval_and_tightest_near_tuning() -> None:
    n = np.array([100.0, 1000.0, 5000.0, 20000.0, 10**6])
    z = stats.norm.ppf(0.975)
    assert np.all(sequential.width_factor(n, 0.05, 5000) > z)
    # per unit of sqrt(n)-scaled standard error, the tightest point sits near the tuning
    scaled = sequential.width_factor(n, 0.05, 5000) / np.sqrt(n)
    grid = np.geomspace(100, 10**6, 400)
    best = grid[np.argmin(sequential.width_factor(grid, 0.05, 5000))]
    assert scaled[0] > scaled[-1]
    assert 500 < best  # not at the start: the boundary grows only logarithmically
    # gbstats test_sequential_test_tuning_as_expected: a tuning near n gives the tightest
    widths = [sequential.width_factor(6461.0, 0.05, t) for t in (10, 6461, 10000)]
    assert widths[1] < widths[2] < widths[0]


def test_peeking_keeps_the_error_rate_with_sequences_and_not_without() -> None:
    rng = np.random.default_rng(5)
    sims, looks, batch, rate = 1000, 20, 400, 0.05
    conv_a = np.cumsum(rng.binomial(batch, rate, (sims, looks)), axis=1)
    conv_b = np.cumsum(rng.binomial(batch, rate, (sims, looks)), axis=1)
    users = np.broadcast_to(batch * np.arange(1, looks + 1, dtype=float), (sims, looks))
    control, variant = rate_moments(conv_a, users), rate_moments(conv_b, users)
    naive = compare(control, variant, test="z_pooled", sequential=False).p_value
    anytime = compare(
        control, variant, test="z_pooled", sequential=True, sequential_tuning=2 * batch * looks
    ).p_value
    naive_rate = float(np.mean((naive < 0.05).any(axis=1)))
    sequential_rate = float(np.mean((anytime < 0.05).any(axis=1)))
    # With 1000 simulations the standard error of a rate near 0.05 is about 0.007.
    assert sequential_rate <= 0.05
    assert naive_rate > 0.1


# --- Bayesian -----------------------------------------------------------------------------


def _chance_b_beats_a_exact(a_a: int, b_a: int, a_b: int, b_b: int) -> float:
    """Closed form for integer Beta parameters (Evan Miller, "Formulas for Bayesian A/B
    testing")."""
    total = 0.0
    for i in range(a_b):
        total += math.exp(
            special.betaln(a_a + i, b_a + b_b)
            - math.log(b_b + i)
            - special.betaln(1 + i, b_b)
            - special.betaln(a_a, b_a)
        )
    return total


@pytest.mark.parametrize(
    ("control", "variant"),
    [
        ((100, 49), (100, 51)),
        ((40, 3), (35, 9)),
        ((1000, 120), (900, 95)),
        # one posterior far narrower than the other, either way round
        ((100000, 5), (3, 0)),
        ((3, 0), (100000, 5)),
    ],
)
def test_beta_chance_to_win_matches_the_closed_form(
    control: tuple[int, int], variant: tuple[int, int]
) -> None:
    (n_a, c_a), (n_b, c_b) = control, variant
    summary = experiment_bayes.beta_binomial(c_a, n_a, c_b, n_b)
    exact = _chance_b_beats_a_exact(1 + c_a, 1 + n_a - c_a, 1 + c_b, 1 + n_b - c_b)
    assert summary.chance_to_win == pytest.approx(exact, abs=1e-8)


def test_beta_risk_matches_monte_carlo_and_growthbook() -> None:
    summary = experiment_bayes.beta_binomial(49, 100, 51, 100)
    rng = np.random.default_rng(1)
    a = rng.beta(50, 52, 2_000_000)
    b = rng.beta(52, 50, 2_000_000)
    assert summary.risk_variant == pytest.approx(np.maximum(a - b, 0).mean(), abs=3e-4)
    assert summary.risk_control == pytest.approx(np.maximum(b - a, 0).mean(), abs=3e-4)
    # gbstats TestBinom.test_bayesian_binomial_ab_test: risk [0.03872, 0.01912] (control,
    # variant); its chance to win (0.61052) is a log-normal approximation of the same
    # posteriors, so it agrees to a few parts in ten thousand only.
    assert summary.risk_control == pytest.approx(0.03872, abs=5e-6)
    assert summary.risk_variant == pytest.approx(0.01912, abs=5e-6)
    assert summary.chance_to_win == pytest.approx(0.61052, abs=1e-3)


def test_beta_summary_of_narrow_posteriors_is_accurate() -> None:
    summary = experiment_bayes.beta_binomial(50_000, 1_000_000, 50_600, 1_000_000)
    # the posteriors are near normal at this size
    se = math.sqrt(0.05 * 0.95 / 1e6 + 0.0506 * 0.9494 / 1e6)
    assert summary.chance_to_win == pytest.approx(stats.norm.cdf(0.0006 / se), abs=2e-3)


def test_normal_summary_matches_growthbook() -> None:
    # gbstats TestNorm.test_bayesian_gaussian_ab_test: chance 0.92427, risk [0.51256, 0.01256]
    result = analyze(
        [
            VariantData("a", 10, sum=100, sum_squares=1002.25),
            VariantData("b", 10, sum=105, sum_squares=1111.5),
        ],
        metric="mean",
    ).variants[1]
    assert result.chance_to_win == pytest.approx(0.92427, abs=5e-6)
    assert result.risk is not None and result.risk_control is not None
    control_mean = 10.0  # risk is reported relative to the control's mean
    assert result.risk * control_mean == pytest.approx(0.01256, abs=5e-6)
    assert result.risk_control * control_mean == pytest.approx(0.51256, abs=5e-6)


def test_lower_is_better_turns_the_bayesian_summary_around() -> None:
    higher = experiment_bayes.beta_binomial(30, 100, 45, 100)
    lower = experiment_bayes.beta_binomial(30, 100, 45, 100, higher_is_better=False)
    assert lower.chance_to_win == pytest.approx(1 - higher.chance_to_win)
    assert lower.risk_variant == higher.risk_control


# --- several variants, SRM, winner --------------------------------------------------------


def test_holm_matches_statsmodels() -> None:
    rng = np.random.default_rng(2)
    for size in (1, 2, 3, 5, 8):
        p = list(rng.uniform(0, 0.2, size))
        assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]), abs=1e-12)


def test_several_variants_get_holm_adjusted_p_values_and_the_best_winner() -> None:
    analysis = rates(
        (20000, 1000), (20000, 1010), (20000, 1150), (20000, 1250), (20000, 1100), sequential=False
    )
    raw = [v.p_value for v in analysis.variants[1:]]
    expected = multipletests(raw, method="holm")[1]
    assert [v.p_value_adjusted for v in analysis.variants[1:]] == pytest.approx(list(expected))
    assert analysis.winner_variant == "v3"
    assert analysis.method["correction"] == "holm"


def test_holm_can_take_away_a_win_that_a_lone_test_would_give() -> None:
    # p around 0.03 alone: significant at 0.05, not after adjusting over four variants.
    alone = rates((10000, 500), (10000, 570), sequential=False)
    assert alone.winner_variant == "v1"
    crowd = rates(
        (10000, 500), (10000, 570), (10000, 500), (10000, 505), (10000, 495), sequential=False
    )
    assert crowd.variants[1].p_value == pytest.approx(alone.variants[1].p_value)
    assert crowd.variants[1].p_value_adjusted is not None
    assert crowd.variants[1].p_value_adjusted > 0.05
    assert crowd.winner_variant is None


def test_srm_matches_scipy_and_a_failing_check_blocks_the_winner() -> None:
    clear_win = ((10000, 500), (9000, 700))
    analysis = rates(*clear_win, sequential=False)
    assert analysis.srm_p_value == pytest.approx(stats.chisquare([10000, 9000]).pvalue)
    assert not analysis.srm_ok
    assert analysis.variants[1].significant
    assert analysis.winner_variant is None
    planned = rates(*clear_win, sequential=False, planned_split=[10, 9])
    assert planned.srm_ok and planned.srm_p_value == pytest.approx(1.0)
    assert planned.winner_variant == "v1"


def test_srm_against_an_uneven_split_matches_scipy() -> None:
    analysis = rates((7000, 100), (2000, 30), (1000, 10), planned_split=[0.7, 0.2, 0.1])
    expected = stats.chisquare([7000, 2000, 1000], [7000, 2000, 1000]).pvalue
    assert analysis.srm_p_value == pytest.approx(expected)
    skewed = rates((7300, 100), (1800, 30), (900, 10), planned_split=[0.7, 0.2, 0.1])
    assert skewed.srm_p_value == pytest.approx(
        stats.chisquare([7300, 1800, 900], [7000, 2000, 1000]).pvalue
    )
    assert not skewed.srm_ok


def test_a_significantly_worse_variant_is_no_winner_and_lower_can_be_better() -> None:
    worse = rates((10000, 600), (10000, 450), sequential=False)
    assert worse.variants[1].significant
    assert worse.winner_variant is None
    cost = analyze(
        [
            VariantData("control", 5000, sum=50000.0, sum_squares=50000.0 * 10 + 4999 * 4.0),
            VariantData("cheap", 5000, sum=48000.0, sum_squares=48000.0 * 9.6 + 4999 * 4.0),
        ],
        metric="mean",
        sequential=False,
        higher_is_better=False,
    )
    assert cost.variants[1].absolute_lift == pytest.approx(-0.4)
    assert cost.winner_variant == "cheap"
    assert cost.variants[1].chance_to_win is not None
    assert cost.variants[1].chance_to_win > 0.99


def test_winner_needs_the_configured_significance() -> None:
    # p of about 0.058: a winner at 90% confidence, none at 95%.
    data = ((10000, 500), (10000, 560))
    assert rates(*data, sequential=False, alpha=alpha_from_confidence(0.90)).winner_variant == "v1"
    assert rates(*data, sequential=False, alpha=alpha_from_confidence(0.95)).winner_variant is None


def test_sequential_needs_stronger_evidence_than_a_single_look() -> None:
    data = ((10000, 500), (10000, 580))
    assert rates(*data, sequential=False).winner_variant == "v1"
    assert rates(*data, sequential=True, sequential_tuning=20000).winner_variant is None
    strong = ((10000, 500), (10000, 650))
    assert rates(*strong, sequential=True, sequential_tuning=20000).winner_variant == "v1"


# --- CUPED --------------------------------------------------------------------------------


def _correlated(rng: np.random.Generator, n: int, rho: float, shift: float) -> dict[str, float]:
    x = rng.normal(10, 2, n)
    y = 5 + shift + rho * (x - 10) / 2 * 3 + math.sqrt(1 - rho**2) * 3 * rng.normal(size=n)
    return {
        "sum": float(y.sum()),
        "sum_squares": float((y**2).sum()),
        "pre_sum": float(x.sum()),
        "pre_sum_squares": float((x**2).sum()),
        "cross_sum": float((x * y).sum()),
    }


@pytest.mark.parametrize("rho", [0.3, 0.7, 0.9])
def test_cuped_reduces_variance_by_rho_squared(rho: float) -> None:
    rng = np.random.default_rng(17)
    analysis = analyze(
        [
            VariantData("a", 40000, **_correlated(rng, 40000, rho, 0.0)),  # type: ignore[arg-type]
            VariantData("b", 40000, **_correlated(rng, 40000, rho, 0.05)),  # type: ignore[arg-type]
        ],
        metric="mean",
        sequential=False,
    )
    cuped = analysis.method["cuped"]
    assert cuped["variance_reduction"]["b"] == pytest.approx(rho**2, abs=0.01)
    # y = ... + rho * 1.5 * (x - 10): the regression slope is 1.5 rho
    assert cuped["theta"] == pytest.approx(1.5 * rho, abs=0.02)


def test_cuped_estimate_is_the_ancova_treatment_coefficient() -> None:
    rng = np.random.default_rng(8)
    n_a, n_b = 3000, 2600
    x_a, x_b = rng.gamma(2.0, 3.0, n_a), rng.gamma(2.0, 3.0, n_b)
    y_a = 1.0 + 0.8 * x_a + rng.normal(0, 2, n_a)
    y_b = 1.3 + 0.8 * x_b + rng.normal(0, 2, n_b)

    def data(name: str, x: np.ndarray, y: np.ndarray) -> VariantData:
        return VariantData(
            name,
            len(y),
            sum=float(y.sum()),
            sum_squares=float((y**2).sum()),
            pre_sum=float(x.sum()),
            pre_sum_squares=float((x**2).sum()),
            cross_sum=float((x * y).sum()),
        )

    result = analyze(
        [data("a", x_a, y_a), data("b", x_b, y_b)], metric="mean", sequential=False
    ).variants[1]
    y = np.concatenate([y_a, y_b])
    design = np.column_stack([np.ones(len(y)), np.r_[np.zeros(n_a), np.ones(n_b)], np.r_[x_a, x_b]])
    fit = OLS(y, design).fit()
    assert result.absolute_lift == pytest.approx(fit.params[1], rel=1e-9)
    # OLS assumes one residual variance for both arms; Welch does not: close, not equal
    half = (result.absolute_ci_high or 0) - (result.absolute_lift or 0)
    assert half / stats.t.ppf(0.975, len(y) - 3) == pytest.approx(fit.bse[1], rel=0.02)


def test_cuped_on_rates_keeps_the_estimate_and_narrows_the_interval() -> None:
    rng = np.random.default_rng(4)

    def arm(name: str, n: int, base: float) -> VariantData:
        x = rng.binomial(1, 0.3, n).astype(float)  # converted in the pre-period
        y = rng.binomial(1, np.where(x > 0, base * 10, base))
        return VariantData(
            name,
            n,
            conversions=int(y.sum()),
            pre_sum=float(x.sum()),
            pre_sum_squares=float(x.sum()),
            cross_sum=float((x * y).sum()),
        )

    with_pre = [arm("a", 20000, 0.05), arm("b", 20000, 0.06)]
    plain = [VariantData(v.name, v.users, v.conversions) for v in with_pre]
    analysis = analyze(with_pre, metric="rate", sequential=False)
    adjusted = analysis.variants[1]
    raw = analyze(plain, metric="rate", sequential=False).variants[1]
    # the true difference: 0.3 * (0.6 - 0.5) + 0.7 * (0.06 - 0.05)
    assert adjusted.absolute_lift is not None and adjusted.absolute_ci_high is not None
    se = (adjusted.absolute_ci_high - adjusted.absolute_lift) / stats.norm.ppf(0.975)
    assert abs(adjusted.absolute_lift - 0.037) < 3 * se
    # rho^2 of a 30% pre-period converter flag with a rate of 10 x base against base:
    # cov = 0.21 * 9 base, var_y = m (1 - m) with m = 0.3 * 10 base + 0.7 base.
    rho2 = [(0.21 * 9 * b) ** 2 / (0.21 * (3.7 * b) * (1 - 3.7 * b)) for b in (0.05, 0.06)]
    assert analysis.method["cuped"]["variance_reduction"]["b"] == pytest.approx(
        float(np.mean(rho2)), abs=0.03
    )
    width = lambda v: (v.absolute_ci_high or 0) - (v.absolute_ci_low or 0)  # noqa: E731
    assert width(adjusted) < 0.9 * width(raw)


# --- planning -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "mde", "alpha", "power"),
    [(0.05, 0.1, 0.05, 0.8), (0.2, 0.05, 0.01, 0.9), (0.5, -0.1, 0.1, 0.8)],
)
def test_rate_sample_size_matches_statsmodels(
    baseline: float, mde: float, alpha: float, power: float
) -> None:
    planned = sample_size(metric="rate", baseline=baseline, mde=mde, alpha=alpha, power=power)
    target = baseline * (1 + mde)
    sd = math.sqrt((baseline * (1 - baseline) + target * (1 - target)) / 2)
    n = zt_ind_solve_power(effect_size=abs(target - baseline) / sd, alpha=alpha, power=power)
    assert planned.users_per_variant == math.ceil(n)


def test_mean_sample_size_matches_statsmodels_and_splits_alpha_over_variants() -> None:
    planned = sample_size(
        metric="mean", baseline=40.0, mde=2.0, mde_kind="absolute", std=25.0, variants=4
    )
    n = NormalIndPower().solve_power(effect_size=2.0 / 25.0, alpha=0.05 / 3, power=0.8)
    assert planned.users_per_variant == math.ceil(n)
    assert planned.alpha_per_comparison == pytest.approx(0.05 / 3)
    assert planned.total_users == 4 * planned.users_per_variant
    assert planned.mde_relative == pytest.approx(0.05)
    wider = sample_size(
        metric="mean", baseline=40.0, mde=2.0, mde_kind="absolute", std=25.0, variant_std=35.0
    )
    # unequal variances: the effect size of the z-test is mde / sqrt((s1^2 + s2^2) / 2)
    n = NormalIndPower().solve_power(
        effect_size=2.0 / math.sqrt((25.0**2 + 35.0**2) / 2), alpha=0.05, power=0.8
    )
    assert wider.users_per_variant == math.ceil(n)


def test_a_sequential_plan_gives_the_power_at_its_last_look() -> None:
    fixed = sample_size(metric="rate", baseline=0.05, mde=0.1)
    plan = sample_size(metric="rate", baseline=0.05, mde=0.1, sequential=True)
    n = plan.users_per_variant
    assert plan.sequential_tuning == 2 * n
    # at alpha 0.05 the sequence's width at its tuning point is about 3.03 standard errors
    ratio = ((3.035 + stats.norm.ppf(0.8)) / (stats.norm.ppf(0.975) + stats.norm.ppf(0.8))) ** 2
    assert n / fixed.users_per_variant == pytest.approx(ratio, rel=2e-3)
    # an estimate exactly at the effect sits z[power] standard errors above the boundary
    result = compare(
        rate_moments(0.05 * n, n),
        rate_moments(0.055 * n, n),
        test="z_pooled",
        sequential=True,
        sequential_tuning=plan.sequential_tuning,
    )
    boundary = float(result.absolute_ci_low)
    se = float(result.absolute_se)
    assert boundary / se == pytest.approx(stats.norm.ppf(0.8), abs=0.01)


def test_days_needed_at_the_current_traffic() -> None:
    planned = sample_size(metric="rate", baseline=0.05, mde=0.1, daily_users=3000)
    assert planned.days == math.ceil(planned.users_per_variant * 2 / 3000)
    assert days_needed(1000, 3, 1000) == 3
    assert days_needed(1000, 3, 999) == 4
    assert days_needed(10, 2, 10**6) == 1


def test_alpha_from_confidence() -> None:
    assert alpha_from_confidence(0.95) == 0.05
    assert alpha_from_confidence(0.99) == 0.01
    for bad in (95, 0.5, 1.0, float("nan")):
        with pytest.raises(ValueError, match="confidence"):
            alpha_from_confidence(bad)


# --- output and bad input -----------------------------------------------------------------


def test_as_json_is_plain_json_with_every_field() -> None:
    analysis = rates((1000, 0), (1000, 12), (1000, 0))
    data = json.loads(json.dumps(analysis.as_json(), allow_nan=False))
    assert {"srm_p_value", "srm_ok", "winner_variant", "variants", "method"} <= set(data)
    for entry in data["variants"][1:]:
        assert {"name", "lift", "ci_low", "ci_high", "p_value", "chance_to_win", "risk"} <= set(
            entry
        )
    # a control without conversions has no relative lift or relative risk
    assert data["variants"][1]["lift"] is None
    assert data["variants"][1]["risk"] is None
    assert data["variants"][1]["absolute_lift"] == pytest.approx(0.012)
    # nothing against nothing: no difference, p of 1
    assert data["variants"][2]["p_value"] == 1.0


def test_from_json_reads_the_results_shape() -> None:
    variant = VariantData.from_json({"name": "B", "users": 10000, "conversions": 560, "x": 1})
    assert variant == VariantData("B", 10000, 560)
    with pytest.raises(ValueError, match="name"):
        VariantData.from_json({"users": 3})


@pytest.mark.parametrize(
    ("variants", "metric", "message"),
    [
        ([VariantData("a", 100, 5)], "rate", "at least 2 variants"),
        ([VariantData("a", 100, 5), VariantData("a", 100, 5)], "rate", "unique"),
        ([VariantData("a", -5, 0), VariantData("b", 100, 5)], "rate", "users must be positive"),
        ([VariantData("a", 0, 0), VariantData("b", 100, 5)], "rate", "users must be positive"),
        ([VariantData("a", 100, 101), VariantData("b", 100, 5)], "rate", "between 0 and users"),
        ([VariantData("a", 100, -1), VariantData("b", 100, 5)], "rate", "between 0 and users"),
        ([VariantData("a", 100), VariantData("b", 100, 5)], "rate", "needs 'conversions'"),
        ([VariantData("a", 10.5, 1), VariantData("b", 100, 5)], "rate", "whole number"),  # type: ignore[arg-type]
        ([VariantData("a", 100, 5), VariantData("b", 100, 5)], "ratio", "metric"),
        ([VariantData("a", 100, sum=5.0), VariantData("b", 100, 5)], "mean", "sum_squares"),
        (
            [
                VariantData("a", 100, sum=100.0, sum_squares=50.0),
                VariantData("b", 100, sum=1.0, sum_squares=1.0),
            ],
            "mean",
            "variance would be negative",
        ),
        (
            [
                VariantData("a", 100, sum=float("nan"), sum_squares=50.0),
                VariantData("b", 100, sum=1.0, sum_squares=1.0),
            ],
            "mean",
            "finite",
        ),
        (
            [
                VariantData("a", 1, sum=1.0, sum_squares=1.0),
                VariantData("b", 100, sum=1.0, sum_squares=1.0),
            ],
            "mean",
            "at least 2 users",
        ),
        (
            [
                VariantData("a", 100, 5, pre_sum=1.0, pre_sum_squares=1.0, cross_sum=1.0),
                VariantData("b", 100, 5),
            ],
            "rate",
            "every variant or for none",
        ),
        (
            [
                VariantData("a", 100, 5, pre_sum_squares=10.0, cross_sum=5.0),
                VariantData("b", 100, 5, pre_sum_squares=10.0, cross_sum=5.0),
            ],
            "rate",
            "CUPED needs pre_sum, pre_sum_squares",
        ),
        (
            [
                VariantData("a", 100, 5, pre_sum=10.0, pre_sum_squares=10.0, cross_sum=5.0),
                VariantData("b", 100, 5, pre_sum=10.0, pre_sum_squares=10.0, cross_sum=9.0),
            ],
            "rate",
            "cross_sum is impossible",
        ),
    ],
)
def test_bad_input_is_a_clear_value_error(
    variants: list[VariantData], metric: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        analyze(variants, metric=metric)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"planned_split": [1.0]}, "one share per variant"),
        ({"planned_split": [1.0, 0.0]}, "positive"),
        ({"sequential_tuning": 0}, "sequential_tuning"),
        ({"correction": "bonferroni"}, "correction"),
    ],
)
def test_bad_options_are_a_clear_value_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rates((100, 5), (100, 6), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "rate", "baseline": 1.2, "mde": 0.1}, "between 0 and 1"),
        ({"metric": "rate", "baseline": 0.6, "mde": 0.9}, "between 0 and 1"),
        ({"metric": "rate", "baseline": 0.1, "mde": 0.0}, "must not be 0"),
        ({"metric": "mean", "baseline": 10.0, "mde": 0.1}, "std"),
        ({"metric": "mean", "baseline": 0.0, "mde": 0.1, "std": 1.0}, "non-zero baseline"),
        ({"metric": "rate", "baseline": 0.1, "mde": 0.1, "variants": 1}, "at least 2"),
        ({"metric": "rate", "baseline": 0.1, "mde": 0.1, "power": 1.0}, "power"),
        ({"metric": "rate", "baseline": 0.1, "mde": 0.1, "daily_users": 0}, "daily_users"),
    ],
)
def test_bad_sample_size_input_is_a_clear_value_error(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        sample_size(**kwargs)  # type: ignore[arg-type]
