"""Error rates and power of the experiment statistics, by simulation.

Every figure comes from many simulated experiments analysed with the functions the
experiments service runs (services/optimizer/experiments/stats.py: ``sample_size``,
``rate_moments``/``mean_moments``, ``compare``, ``holm``), called on numpy arrays so that
thousands of experiments and all their looks are analysed at once; a sample of them is
also put through ``analyze`` itself, which must agree.

The plan: a conversion rate of 5%, a minimum detectable effect of +10% (relative),
alpha 0.05, power 0.8, two variants; ``sample_size`` gives the users per variant. Each
experiment is looked at after every one of 20 equal batches up to that sample.

- ``aa_false_positive_rate``: A/A tests (no true difference) declared significant at any
  of the 20 looks by the sequential analysis (confidence sequences tuned to the planned
  sample). Target: at most alpha.
- ``aa_false_positive_rate_naive``: the same A/A tests with a fixed-horizon z-test at
  every look, stopping at the first p < alpha: what peeking does without a correction.
- ``aa_false_positive_rate_single_look``: fixed-horizon, one look at the planned sample
  (should sit at alpha).
- ``experiment_power``: A/B tests with a true effect of exactly the planned size, found
  (significant and positive) by a fixed-horizon test at the planned sample. Expect 0.8.
- ``experiment_power_sequential``: the same A/B tests found at any of the 20 looks by
  the sequential analysis, and ``sequential_stop_fraction_median``: the median share of
  the planned sample at which those were found.
- ``experiment_power_sequential_planned``: the same effect with the sample planned for
  the sequential analysis (``sample_size(..., sequential=True)``, about 1.9 times as
  many users), found at any of its 20 looks. Expect at least 0.8.
- ``*_mean``: the same for a mean metric (revenue per user, log-normal with a heavy
  tail: Welch's t-test, and its sequential counterpart).
- ``aa_familywise_error_holm`` and ``..._uncorrected``: A/A/A/A tests (three variants
  against a control, one look): the share with any variant significant, with and without
  Holm's correction.

Usage: python bench/quality_experiments.py --seed S [--sims N] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on the path, and its http.py would hide the
# standard library's http package: the repository's root comes first instead.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

import argparse
import math
from collections.abc import Sequence

import numpy as np

from bench.report import print_figures
from services.optimizer.experiments.stats import (
    Comparison,
    VariantData,
    analyze,
    compare,
    holm,
    mean_moments,
    rate_moments,
    sample_size,
)

ALPHA = 0.05
POWER = 0.8
LOOKS = 20
BASELINE_RATE = 0.05
MDE = 0.10
# Revenue per user: log-normal(0, 1), mean e^0.5, standard deviation sqrt((e - 1) e).
LOG_SIGMA = 1.0
REVENUE_MEAN = math.exp(LOG_SIGMA**2 / 2)
REVENUE_STD = math.sqrt((math.exp(LOG_SIGMA**2) - 1) * math.exp(LOG_SIGMA**2))
DEFAULT_SIMS = 2000
FAMILY_VARIANTS = 4
CROSS_CHECKED = 40


def _looks(users_per_variant: int) -> np.ndarray:
    """Users per variant at each look: 20 equal batches, the last at the planned sample."""
    return np.ceil(users_per_variant * np.arange(1, LOOKS + 1) / LOOKS).astype(np.int64)


def _rate_arm(rng: np.random.Generator, sims: int, looks: np.ndarray, rate: float) -> np.ndarray:
    """Cumulative conversions at each look, shape (sims, looks)."""
    batches = np.diff(looks, prepend=0)
    return np.cumsum(rng.binomial(batches, rate, (sims, len(looks))), axis=1)


def _mean_arm(
    rng: np.random.Generator, sims: int, looks: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative sum and sum of squares of revenue per user at each look."""
    batches = np.diff(looks, prepend=0)
    sums = np.empty((sims, len(looks)))
    squares = np.empty((sims, len(looks)))
    for j, batch in enumerate(batches):
        values = scale * rng.lognormal(0.0, LOG_SIGMA, (sims, int(batch)))
        sums[:, j] = values.sum(axis=1)
        squares[:, j] = (values**2).sum(axis=1)
    return np.cumsum(sums, axis=1), np.cumsum(squares, axis=1)


def _first_found(significant: np.ndarray) -> np.ndarray:
    """Index of the first look that was significant per experiment, -1 if none."""
    found = significant.any(axis=1)
    return np.where(found, significant.argmax(axis=1), -1)


def _rate_figures(rng: np.random.Generator, sims: int) -> dict[str, object]:
    plan = sample_size(metric="rate", baseline=BASELINE_RATE, mde=MDE, alpha=ALPHA, power=POWER)
    looks = _looks(plan.users_per_variant)
    users = np.broadcast_to(looks.astype(np.float64), (sims, LOOKS))
    tuning = plan.total_users

    def analysed(control: np.ndarray, variant: np.ndarray, sequential: bool) -> Comparison:
        return compare(
            rate_moments(control, users),
            rate_moments(variant, users),
            test="z_pooled",
            alpha=ALPHA,
            sequential=sequential,
            sequential_tuning=tuning,
        )

    a = _rate_arm(rng, sims, looks, BASELINE_RATE)
    b = _rate_arm(rng, sims, looks, BASELINE_RATE)
    aa_seq = analysed(a, b, True)
    aa_fixed = analysed(a, b, False)
    _cross_check_rates(a, b, looks, tuning, aa_seq.p_value)

    effect = _rate_arm(rng, sims, looks, BASELINE_RATE * (1 + MDE))
    ab_seq = analysed(a, effect, True)
    ab_fixed = analysed(a, effect, False)
    found_seq = (ab_seq.p_value < ALPHA) & (ab_seq.absolute_lift > 0)
    first = _first_found(found_seq)
    stop_fraction = looks[first[first >= 0]] / plan.users_per_variant
    # The same effect, planned for the sequential analysis (a longer experiment).
    plan_seq = sample_size(
        metric="rate", baseline=BASELINE_RATE, mde=MDE, alpha=ALPHA, power=POWER, sequential=True
    )
    looks_seq = _looks(plan_seq.users_per_variant)
    users_seq = np.broadcast_to(looks_seq.astype(np.float64), (sims, LOOKS))
    planned_seq = compare(
        rate_moments(_rate_arm(rng, sims, looks_seq, BASELINE_RATE), users_seq),
        rate_moments(_rate_arm(rng, sims, looks_seq, BASELINE_RATE * (1 + MDE)), users_seq),
        test="z_pooled",
        alpha=ALPHA,
        sequential=True,
        sequential_tuning=plan_seq.sequential_tuning or plan_seq.total_users,
    )
    found_planned = ((planned_seq.p_value < ALPHA) & (planned_seq.absolute_lift > 0)).any(axis=1)
    return {
        "users_per_variant": plan.users_per_variant,
        "aa_false_positive_rate": float(np.mean((aa_seq.p_value < ALPHA).any(axis=1))),
        "aa_false_positive_rate_naive": float(np.mean((aa_fixed.p_value < ALPHA).any(axis=1))),
        "aa_false_positive_rate_single_look": float(np.mean(aa_fixed.p_value[:, -1] < ALPHA)),
        "experiment_power": float(
            np.mean((ab_fixed.p_value[:, -1] < ALPHA) & (ab_fixed.absolute_lift[:, -1] > 0))
        ),
        "experiment_power_sequential": float(np.mean(first >= 0)),
        "sequential_stop_fraction_median": (
            float(np.median(stop_fraction)) if stop_fraction.size else None
        ),
        "users_per_variant_sequential": plan_seq.users_per_variant,
        "experiment_power_sequential_planned": float(np.mean(found_planned)),
    }


def _cross_check_rates(
    a: np.ndarray, b: np.ndarray, looks: np.ndarray, tuning: int, p_values: np.ndarray
) -> None:
    """The vectorised path must be the service's: ``analyze`` gives the same p-values."""
    for i in range(min(CROSS_CHECKED, len(a))):
        j = i % LOOKS
        users = int(looks[j])
        analysis = analyze(
            [VariantData("a", users, int(a[i, j])), VariantData("b", users, int(b[i, j]))],
            metric="rate",
            alpha=ALPHA,
            sequential=True,
            sequential_tuning=tuning,
        )
        p = analysis.variants[1].p_value
        if p is None or not math.isclose(p, float(p_values[i, j]), rel_tol=1e-9, abs_tol=1e-12):
            raise AssertionError(f"analyze and compare disagree: {p} != {p_values[i, j]}")


def _mean_figures(rng: np.random.Generator, sims: int) -> dict[str, object]:
    plan = sample_size(
        metric="mean",
        baseline=REVENUE_MEAN,
        mde=MDE,
        std=REVENUE_STD,
        # the effect scales every user's revenue, and so its standard deviation
        variant_std=REVENUE_STD * (1 + MDE),
        alpha=ALPHA,
        power=POWER,
    )
    looks = _looks(plan.users_per_variant)
    users = np.broadcast_to(looks.astype(np.float64), (sims, LOOKS))
    tuning = plan.total_users

    def analysed(
        control: tuple[np.ndarray, np.ndarray],
        variant: tuple[np.ndarray, np.ndarray],
        sequential: bool,
    ) -> Comparison:
        return compare(
            mean_moments(users, *control),
            mean_moments(users, *variant),
            test="welch",
            alpha=ALPHA,
            sequential=sequential,
            sequential_tuning=tuning,
        )

    a = _mean_arm(rng, sims, looks, 1.0)
    b = _mean_arm(rng, sims, looks, 1.0)
    aa_seq = analysed(a, b, True)
    aa_fixed = analysed(a, b, False)
    effect = _mean_arm(rng, sims, looks, 1.0 + MDE)
    ab_seq = analysed(a, effect, True)
    ab_fixed = analysed(a, effect, False)
    found_seq = (ab_seq.p_value < ALPHA) & (ab_seq.absolute_lift > 0)
    return {
        "users_per_variant_mean": plan.users_per_variant,
        "aa_false_positive_rate_mean": float(np.mean((aa_seq.p_value < ALPHA).any(axis=1))),
        "aa_false_positive_rate_naive_mean": float(np.mean((aa_fixed.p_value < ALPHA).any(axis=1))),
        "experiment_power_mean": float(
            np.mean((ab_fixed.p_value[:, -1] < ALPHA) & (ab_fixed.absolute_lift[:, -1] > 0))
        ),
        "experiment_power_sequential_mean": float(np.mean(found_seq.any(axis=1))),
    }


def _family_figures(rng: np.random.Generator, sims: int) -> dict[str, object]:
    plan = sample_size(
        metric="rate",
        baseline=BASELINE_RATE,
        mde=MDE,
        alpha=ALPHA,
        power=POWER,
        variants=FAMILY_VARIANTS,
    )
    n = float(plan.users_per_variant)
    conversions = rng.binomial(plan.users_per_variant, BASELINE_RATE, (sims, FAMILY_VARIANTS))
    control = rate_moments(conversions[:, 0], n)
    p_values = np.column_stack(
        [
            compare(
                control, rate_moments(conversions[:, k], n), test="z_pooled", alpha=ALPHA
            ).p_value
            for k in range(1, FAMILY_VARIANTS)
        ]
    )
    adjusted = np.array([holm(list(row)) for row in p_values])
    return {
        "aa_familywise_error_holm": float(np.mean((adjusted < ALPHA).any(axis=1))),
        "aa_familywise_error_uncorrected": float(np.mean((p_values < ALPHA).any(axis=1))),
    }


def figures(seed: int, sims: int = DEFAULT_SIMS) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    result: dict[str, object] = {"seed": seed, "sims": sims, "looks": LOOKS, "alpha": ALPHA}
    result.update(_rate_figures(rng, sims))
    result.update(_mean_figures(rng, sims))
    result.update(_family_figures(rng, sims))
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--sims", type=int, default=DEFAULT_SIMS)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    args = parser.parse_args(argv)
    print_figures(figures(args.seed, args.sims), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
