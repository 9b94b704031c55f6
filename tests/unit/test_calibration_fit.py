"""The calibrators a decision type's track record can earn (prior, Platt, isotonic),
against scikit-learn's and hand-worked answers, and how one is chosen."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from services.decision.calibration import (
    PRIOR_UNTIL,
    Fit,
    Judged,
    cross_validated_loss,
    fit_isotonic,
    fit_recalibration,
    fit_type,
    log_loss,
    prior_fit,
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
    assert fit == fit_recalibration(history)


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
