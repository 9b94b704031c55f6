"""Scores of the decision policy and confidence that learns, on hand-worked examples."""

from __future__ import annotations

import itertools
import math

import pytest

from services.decision.calibration import (
    Judged,
    Outcome,
    accuracy,
    brier,
    decision_quality,
    ece,
    fit_calibration,
    fit_recalibration,
    reliability,
    roi_impact,
    score,
    trend,
)
from services.decision.policy import calibrated_confidence, update_calibration
from shared.contracts.limits import DEFAULT_LIMITS


def outcomes(confidences: list[float], correct: list[int]) -> list[Outcome]:
    return [Outcome(c, bool(y)) for c, y in zip(confidences, correct, strict=True)]


# --- Brier -------------------------------------------------------------------------------


def test_brier_of_a_single_forecast_is_its_squared_miss() -> None:
    # The textbook case: 70% chance of rain, and it rains: (0.7 - 1)^2.
    assert brier([Outcome(0.7, True)]) == pytest.approx(0.09)


def test_brier_by_hand() -> None:
    # (0.1^2 + 0.2^2 + 0.3^2 + 0.6^2) / 4 = (0.01 + 0.04 + 0.09 + 0.36) / 4
    group = outcomes([0.9, 0.8, 0.3, 0.6], [1, 1, 0, 0])
    assert brier(group) == pytest.approx(0.125)
    # Skill against a constant 50% (Brier 0.25): 1 - 0.125 / 0.25 = 50%.
    assert decision_quality(group) == pytest.approx(50.0)


def test_weights_count_as_repeated_outcomes() -> None:
    weighted = [Outcome(0.9, True, weight=2.0), Outcome(0.3, False)]
    repeated = [Outcome(0.9, True), Outcome(0.9, True), Outcome(0.3, False)]
    assert brier(weighted) == pytest.approx(brier(repeated))
    assert ece(weighted) == pytest.approx(ece(repeated))
    assert accuracy(weighted) == pytest.approx(2 / 3)


# --- ECE and the reliability table ------------------------------------------------------------


def test_ece_by_hand_over_ten_bins() -> None:
    # bins (Guo et al. 2017, right-closed): 0.05 -> bin 0 (acc 0, gap 0.05 x1);
    # 0.15, 0.15 -> bin 1 (acc 0.5, gap 0.35 x2); 0.75 -> bin 7 (acc 1, gap 0.25);
    # 0.85 -> bin 8 (acc 1, gap 0.15); 0.95 x3 -> bin 9 (acc 2/3, gap 0.2833 x3).
    # ECE = (0.05 + 0.70 + 0.25 + 0.15 + 0.85) / 8 = 0.25.
    group = outcomes([0.05, 0.15, 0.15, 0.75, 0.85, 0.95, 0.95, 0.95], [0, 0, 1, 1, 1, 1, 1, 0])
    assert ece(group) == pytest.approx(0.25)
    table = reliability(group)
    assert [b.count for b in table] == [1, 2, 0, 0, 0, 0, 0, 1, 1, 3]
    assert table[9].accuracy == pytest.approx(2 / 3)
    assert table[9].mean_confidence == pytest.approx(0.95)
    assert table[3].accuracy is None


def test_bins_are_right_closed() -> None:
    table = reliability([Outcome(0.8, True), Outcome(0.0, False), Outcome(1.0, True)])
    assert table[7].count == 1  # 0.8 lies in (0.7, 0.8]
    assert table[0].count == 1  # 0 joins the first bin
    assert table[9].count == 1


def test_a_calibrated_forecaster_has_no_ece_and_an_overconfident_one_does() -> None:
    # 10 decisions at 70%, 7 right: perfectly calibrated.
    calibrated = outcomes([0.7] * 10, [1] * 7 + [0] * 3)
    assert ece(calibrated) == pytest.approx(0.0)
    overconfident = outcomes([0.95] * 10, [1] * 7 + [0] * 3)
    assert ece(overconfident) == pytest.approx(0.25)


def test_empty_groups_score_none() -> None:
    assert score([]) == {
        "accuracy": None,
        "brier": None,
        "ece": None,
        "roi_impact": 0.0,
        "decision_quality": None,
    }


def test_bad_confidence_is_refused() -> None:
    with pytest.raises(ValueError):
        brier([Outcome(1.2, True)])
    with pytest.raises(ValueError):
        ece([Outcome(math.nan, True)])


def test_roi_counts_only_what_was_carried_out() -> None:
    group = [
        Outcome(0.8, True, profit_effect=120.0),
        Outcome(0.8, False, profit_effect=-20.0),
        Outcome(0.8, True, applied=False, profit_effect=500.0),
        Outcome(0.8, False, weight=3.0),
    ]
    assert roi_impact(group) == pytest.approx(100.0)


# --- trend -----------------------------------------------------------------------------------


def test_trend_knows_which_way_is_better() -> None:
    assert trend("accuracy", 80.0, 70.0) == "improving"
    assert trend("accuracy", 70.0, 80.0) == "declining"
    assert trend("accuracy", 80.0, 79.0) == "stable"
    assert trend("ece", 0.05, 0.15) == "improving"
    assert trend("brier", 0.30, 0.10) == "declining"
    assert trend("accuracy", 80.0, None) is None


# --- confidence that learns ------------------------------------------------------------------


def test_no_history_leaves_confidence_at_the_evidence() -> None:
    c = fit_calibration([])
    assert c == pytest.approx(0.5)
    assert calibrated_confidence(0.8, c) == pytest.approx(80.0, abs=0.01)


def test_at_even_evidence_the_fit_is_the_beta_posterior_mean() -> None:
    history = [Judged(0.5, True)] * 7 + [Judged(0.5, False)] * 3
    assert fit_calibration(history) == pytest.approx(update_calibration(7, 10), abs=1e-6)


def test_fitted_confidence_matches_the_track_record() -> None:
    # Evidence of 0.9 that proves right only 60% of the time: after many such decisions
    # the confidence they get is about 60%, not 90%.
    history = [Judged(0.9, True)] * 120 + [Judged(0.9, False)] * 80
    c = fit_calibration(history)
    assert calibrated_confidence(0.9, c) == pytest.approx(60.0, abs=1.5)


def test_a_policy_that_keeps_being_wrong_goes_back_to_a_person() -> None:
    threshold = DEFAULT_LIMITS.min_confidence
    evidence = 0.9
    assert calibrated_confidence(evidence, fit_calibration([])) > threshold
    history: list[Judged] = []
    confidences = []
    for _ in range(12):
        history.append(Judged(evidence, False))
        confidences.append(calibrated_confidence(evidence, fit_calibration(history)))
    assert all(b < a for a, b in itertools.pairwise(confidences))
    assert confidences[-1] < threshold


def test_a_policy_that_keeps_being_right_gains_confidence() -> None:
    evidence = 0.6
    start = calibrated_confidence(evidence, fit_calibration([]))
    history = [Judged(evidence, True)] * 15
    after = calibrated_confidence(evidence, fit_calibration(history))
    assert after > start + 20
    assert after > DEFAULT_LIMITS.min_confidence


def test_a_weighted_correction_counts_as_that_many_outcomes() -> None:
    one_heavy = fit_calibration([Judged(0.8, False, weight=3.0)])
    three = fit_calibration([Judged(0.8, False)] * 3)
    assert one_heavy == pytest.approx(three, abs=1e-9)
    assert one_heavy < fit_calibration([Judged(0.8, False)])


# --- recalibration with a slope -----------------------------------------------------------


def test_recalibration_without_history_is_neutral() -> None:
    fit = fit_recalibration([])
    assert fit.calibration == pytest.approx(0.5)
    assert fit.slope == pytest.approx(1.0)


def test_evidence_that_predicts_nothing_loses_its_slope() -> None:
    # Strong and weak evidence prove right equally often (75%): confidence should say 75%
    # for both, so the slope falls and the offset carries the accuracy.
    history = (
        [Judged(0.95, True)] * 60
        + [Judged(0.95, False)] * 20
        + [Judged(0.55, True)] * 60
        + [Judged(0.55, False)] * 20
    ) * 5
    fit = fit_recalibration(history)
    assert fit.slope < 0.1
    for evidence in (0.55, 0.95):
        confidence = calibrated_confidence(evidence, fit.calibration, slope=fit.slope)
        assert confidence == pytest.approx(75.0, abs=2.0)
    assert (
        ece(
            [
                Outcome(
                    calibrated_confidence(h.evidence, fit.calibration, slope=fit.slope) / 100,
                    h.correct,
                )
                for h in history
            ]
        )
        < 0.05
    )


def test_recalibrated_policy_that_keeps_being_wrong_goes_back_to_a_person() -> None:
    threshold = DEFAULT_LIMITS.min_confidence
    history = [Judged(0.9, False)] * 10
    fit = fit_recalibration(history)
    assert calibrated_confidence(0.9, fit.calibration, slope=fit.slope) < threshold
    right = fit_recalibration([Judged(0.6, True)] * 15)
    assert calibrated_confidence(0.6, right.calibration, slope=right.slope) > threshold
