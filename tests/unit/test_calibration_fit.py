"""The calibrators a decision type's track record can earn (prior, Platt, isotonic),
against scikit-learn's and hand-worked answers, and how one is chosen."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from services.decision.calibration import (
    HALF_LIFE,
    PRIOR_UNTIL,
    Fit,
    Judged,
    cross_validated_loss,
    fit_isotonic,
    fit_recalibration,
    fit_rule_offsets,
    fit_type,
    log_loss,
    prior_fit,
    recency_weighted,
)
from shared.contracts.enums import Calibrator


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _record(n: int, truth: object, seed: int = 0) -> list[Judged]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        e = round(rng.uniform(0.3, 0.99), 3)
        out.append(Judged(e, rng.random() < truth(e)))  # type: ignore[operator]
    return out


# --- isotonic -------------------------------------------------------------------------


def test_isotonic_pools_adjacent_violators_by_hand() -> None:
    # Verdicts 1,0,0,1,0,1 at rising evidence: the first three pool to 1/3, the next
    # two to 1/2, the last stays 1.
    verdicts = [1, 0, 0, 1, 0, 1]
    history = [Judged(0.1 * (i + 1), bool(y)) for i, y in enumerate(verdicts)]
    fit = fit_isotonic(history, floor=0.0)
    assert fit.kind == Calibrator.ISOTONIC
    assert fit.outcomes == 6
    got = [fit.probability(h.evidence) for h in history]
    assert got == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0.5, 0.5, 1.0])
    # Between blocks the fit is read on the line joining them.
    assert fit.probability(0.55) == pytest.approx(0.75)


def test_isotonic_matches_scikit_learn_with_ties_and_weights() -> None:
    rng = random.Random(7)
    history = [
        Judged(
            round(rng.uniform(0.2, 0.95), 2),
            rng.random() < 0.2 + 0.7 * i / 300,
            rng.choice([0.5, 1.0, 2.0]),
        )
        for i in range(300)
    ]
    history.sort(key=lambda h: h.evidence)
    fit = fit_isotonic(history, floor=0.0)
    reference = IsotonicRegression(out_of_bounds="clip").fit(
        [h.evidence for h in history],
        [float(h.correct) for h in history],
        sample_weight=[h.weight for h in history],
    )
    grid = np.linspace(0.0, 1.0, 401)
    ours = [fit.probability(float(x)) for x in grid]
    assert ours == pytest.approx(reference.predict(grid).tolist(), abs=1e-12)


def test_isotonic_confidence_stays_off_zero_and_one() -> None:
    history = [Judged(0.3, False)] * 5 + [Judged(0.9, True)] * 5
    fit = fit_isotonic(history, floor=0.02)
    assert fit.probability(0.3) == pytest.approx(0.02)
    assert fit.probability(0.9) == pytest.approx(0.98)
    assert fit_isotonic(history, floor=0.0).probability(0.9) == 1.0


def test_isotonic_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one weighted verdict"):
        fit_isotonic([])
    with pytest.raises(ValueError, match="evidence must lie in"):
        fit_isotonic([Judged(1.5, True)])
    with pytest.raises(ValueError, match="weight must be non-negative"):
        fit_isotonic([Judged(0.5, True, -1.0)])
    with pytest.raises(ValueError, match="floor"):
        fit_isotonic([Judged(0.5, True)], floor=0.5)


# --- Platt -----------------------------------------------------------------------------


def test_platt_without_priors_is_logistic_regression_on_the_log_odds() -> None:
    history = _record(400, lambda e: _sigmoid(0.8 * _logit(e) - 0.4), seed=3)
    fit = fit_recalibration(history, alpha=1e-9, beta=1e-9, slope_precision=1e-9)
    reference = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(
        np.array([[_logit(h.evidence)] for h in history]), [int(h.correct) for h in history]
    )
    assert fit.kind == Calibrator.PLATT
    assert fit.outcomes == 400
    assert fit.slope == pytest.approx(reference.coef_[0][0], abs=1e-5)
    assert _logit(fit.calibration) == pytest.approx(reference.intercept_[0], abs=1e-5)
    for e in (0.35, 0.6, 0.9):
        expected = reference.predict_proba([[_logit(e)]])[0][1]
        assert fit.probability(e) == pytest.approx(expected, abs=1e-6)


# --- the prior ------------------------------------------------------------------------


def test_the_prior_takes_evidence_at_half_its_log_odds() -> None:
    # Evidence 0.9 is odds 9 to 1; half the log-odds is odds 3 to 1, 75%.
    fit = prior_fit()
    assert fit.kind == Calibrator.PRIOR
    assert fit.probability(0.9) == pytest.approx(0.75)
    assert fit.probability(0.5) == pytest.approx(0.5)
    assert fit.probability(0.2) == pytest.approx(1 / 3)


def test_weighty_corrections_move_the_prior() -> None:
    # Three corrections of weight 5 saying "wrong", one verdict saying "right": under the
    # weight a slope needs, yet the type's confidence drops well under its evidence.
    history = [Judged(0.9, False, 5.0)] * 3 + [Judged(0.9, True)]
    fit = fit_type(history)
    assert fit.kind == Calibrator.PRIOR
    assert fit.outcomes == 16
    assert fit.probability(0.9) < 0.3
    # At even evidence the offset is the Beta(2, 2) posterior mean: (2 + 1) / (4 + 16).
    even = prior_fit([Judged(0.5, False, 5.0)] * 3 + [Judged(0.5, True)])
    assert even.probability(0.5) == pytest.approx(3 / 20, abs=1e-9)


def test_evidence_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="evidence must lie in"):
        prior_fit().probability(1.2)


# --- choosing ---------------------------------------------------------------------------


def test_a_type_with_few_verdicts_keeps_the_prior() -> None:
    few = [Judged(0.9, True)] * int(PRIOR_UNTIL - 1)
    fit = fit_type(few)
    assert fit.kind == Calibrator.PRIOR
    assert fit.outcomes == PRIOR_UNTIL - 1
    assert fit_type([]).kind == Calibrator.PRIOR
    assert fit_type([Judged(0.9, True)] * int(PRIOR_UNTIL)).kind == Calibrator.PLATT


def test_a_record_logistic_in_the_evidence_keeps_platt() -> None:
    history = _record(300, lambda e: _sigmoid(0.7 * _logit(e)), seed=11)
    fit = fit_type(history)
    assert fit.kind == Calibrator.PLATT
    recent = fit_recalibration(recency_weighted(history))
    assert (fit.calibration, fit.slope) == (recent.calibration, recent.slope)
    # The fit counts the verdicts' own weight, not their recency weight.
    assert fit.outcomes == 300


def test_a_record_with_a_step_earns_isotonic_regression() -> None:
    # Right one time in five under evidence 0.7, nine in ten above: no logistic curve in
    # the log-odds follows a step, a monotone step function does.
    history = _record(300, lambda e: 0.2 if e < 0.7 else 0.9, seed=5)
    fit = fit_type(history)
    assert fit.kind == Calibrator.ISOTONIC
    assert fit.outcomes == 300
    assert cross_validated_loss(history, fit_isotonic) < cross_validated_loss(
        history, fit_recalibration
    )


def test_isotonic_is_not_tried_on_a_short_record() -> None:
    history = _record(60, lambda e: 0.2 if e < 0.7 else 0.9, seed=5)
    assert fit_type(history).kind == Calibrator.PLATT


def test_cross_validation_holds_out_every_verdict_once() -> None:
    # A fitter that predicts its training set's share right: each held-out verdict is
    # scored against the other folds' share, worked out by hand for 4 verdicts, 2 folds.
    history = [Judged(0.5, True), Judged(0.5, False), Judged(0.5, True), Judged(0.5, True)]

    def share(train: list[Judged]) -> Fit:
        right = sum(h.correct for h in train) / len(train)
        return Fit(right, 0.0)

    # Fold 0 holds out verdicts 0 and 2 (both right) and trains on 1 and 3 (share 1/2);
    # fold 1 holds out 1 (wrong) and 3 (right) and trains on 0 and 2 (share 1, clipped).
    expected = (2 * -math.log(0.5) - math.log(1e-3) - math.log(1 - 1e-3)) / 4
    assert cross_validated_loss(history, share, folds=2) == pytest.approx(expected)  # type: ignore[arg-type]


def test_log_loss_and_cross_validation_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one weighted verdict"):
        log_loss(prior_fit(), [])
    with pytest.raises(ValueError, match="at least two folds"):
        cross_validated_loss([Judged(0.5, True)] * 4, fit_isotonic, folds=1)
    with pytest.raises(ValueError, match="cannot fill"):
        cross_validated_loss([Judged(0.5, True)] * 3, fit_isotonic, folds=5)
    with pytest.raises(ValueError, match="prior_until"):
        fit_type([], prior_until=50, isotonic_from=10)


# --- recency ----------------------------------------------------------------------------


def test_recency_halves_a_verdicts_weight_every_half_life() -> None:
    history = [Judged(0.8, True, 2.0), Judged(0.8, False), Judged(0.8, True), Judged(0.8, True)]
    weights = [h.weight for h in recency_weighted(history, half_life=1.5)]
    # Ages 3, 2, 1, 0: 2 * 0.5 ** 2, 0.5 ** (4 / 3), 0.5 ** (2 / 3), 1.
    assert weights == pytest.approx([0.5, 0.5 ** (4 / 3), 0.5 ** (2 / 3), 1.0])
    assert [h.weight for h in recency_weighted(history, half_life=math.inf)] == [2, 1, 1, 1]
    with pytest.raises(ValueError, match="half_life"):
        recency_weighted(history, half_life=0)


def test_recency_weighted_share_right_is_pandas_ewm_mean() -> None:
    history = _record(120, lambda e: 0.3 if e < 0.6 else 0.8, seed=2)
    recent = recency_weighted(history, half_life=20)
    share = sum(h.weight * h.correct for h in recent) / sum(h.weight for h in recent)
    reference = pd.Series([float(h.correct) for h in history]).ewm(halflife=20).mean()
    assert share == pytest.approx(reference.iloc[-1], abs=1e-12)


def test_recency_weighted_platt_is_weighted_logistic_regression() -> None:
    history = _record(300, lambda e: _sigmoid(0.9 * _logit(e) - 0.3), seed=4)
    recent = recency_weighted(history, half_life=HALF_LIFE)
    fit = fit_recalibration(recent, alpha=1e-9, beta=1e-9, slope_precision=1e-9)
    z = np.array([_logit(h.evidence) for h in history])
    reference = sm.GLM(
        np.array([float(h.correct) for h in history]),
        sm.add_constant(z),
        family=sm.families.Binomial(),
        var_weights=np.array([h.weight for h in recent]),
    ).fit(tol=1e-12)
    intercept, slope = reference.params
    assert fit.slope == pytest.approx(slope, abs=1e-5)
    assert _logit(fit.calibration) == pytest.approx(intercept, abs=1e-5)


def test_the_recent_record_outweighs_the_old_one() -> None:
    # 150 verdicts mostly wrong, then 60 mostly right at the same evidence: the type has
    # turned, and its confidence follows the recent share, not the whole record's.
    old = [Judged(0.8, i % 5 == 0) for i in range(150)]
    new = [Judged(0.8, i % 10 != 0) for i in range(60)]
    fit = fit_type(old + new)
    whole = fit_type(old + new, half_life=math.inf)
    assert fit.outcomes == whole.outcomes == 210
    assert whole.probability(0.8) < 0.5 < fit.probability(0.8)


# --- rules within a type ----------------------------------------------------------------


def test_a_rules_offset_on_a_flat_curve_is_the_beta_posterior_log_odds() -> None:
    # A curve saying 0.5 everywhere: the shift is the log-odds of the Beta(5, 5)
    # posterior mean of the rule's record, (5 + right) / (10 + n).
    flat = Fit(0.5, 0.0)
    history = [Judged(0.7, True, rule="scale")] * 6 + [Judged(0.9, False, rule="scale")] * 2
    history += [Judged(0.9, False, rule="overspend")] * 3
    offsets = dict(fit_rule_offsets(flat, history, half_life=math.inf))
    assert offsets["scale"] == pytest.approx(_logit(11 / 18), abs=1e-9)
    assert offsets["overspend"] == pytest.approx(_logit(5 / 13), abs=1e-9)
    assert flat.offset("tracking") == 0.0


def test_a_rules_offset_without_its_prior_is_an_offset_logistic_regression() -> None:
    curve = Fit(0.6, 0.8)
    history = [
        Judged(h.evidence, h.correct, rule="scale")
        for h in _record(300, lambda e: _sigmoid(0.8 * _logit(e) + _logit(0.6) - 0.7), seed=8)
    ]
    recent = recency_weighted(history)
    (rule, shift), *_ = fit_rule_offsets(curve, history, strength=1e-9)
    reference = sm.GLM(
        np.array([float(h.correct) for h in history]),
        np.ones((len(history), 1)),
        family=sm.families.Binomial(),
        offset=np.array([_logit(curve.probability(h.evidence)) for h in history]),
        var_weights=np.array([h.weight for h in recent]),
    ).fit(tol=1e-12)
    assert rule == "scale"
    assert shift == pytest.approx(reference.params[0], abs=1e-6)


def test_rules_with_different_records_part_at_the_same_evidence() -> None:
    # Two rules of one type at overlapping evidence, one right 9 times in 10, the other
    # 4 in 10: no curve in the evidence parts them, the rules' shifts do.
    good = [Judged(0.9 if i % 2 else 0.85, i % 10 != 0, rule="scale") for i in range(120)]
    poor = [Judged(0.9 if i % 2 else 0.85, i % 5 < 2, rule="overspend") for i in range(40)]
    history = [h for pair in zip(good[:40], poor, strict=True) for h in pair] + good[40:]
    fit = fit_type(history)
    assert fit.offset("scale") > 0 > fit.offset("overspend")
    assert (
        fit.probability(0.9, "overspend")
        < 0.6
        < fit.probability(0.9)
        < fit.probability(0.9, "scale")
    )
    assert fit.probability(0.9, "tracking") == fit.probability(0.9)
