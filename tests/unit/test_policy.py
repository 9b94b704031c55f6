"""Decision policy on hand-built campaign views with known right answers."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from uuid import NAMESPACE_OID, UUID, uuid5

import pytest

from services.decision.calibration import Fit, prior_fit
from services.decision.policy import (
    DECISION_TYPES,
    DEFAULT_CALIBRATION,
    MODEL_NAME,
    MODEL_VERSION,
    AlertView,
    CampaignView,
    Decision,
    MetricSummary,
    PolicyParams,
    RiskView,
    WindowTotals,
    calibrated_confidence,
    decide,
    evaluate,
    summarise,
    update_calibration,
)
from shared.contracts.enums import Calibrator
from shared.metrics import HourlyMetrics

NOW = datetime(2024, 5, 8, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)
A = UUID(int=0xA)
B = UUID(int=0xB)
C = UUID(int=0xC)


def totals(
    *,
    hours: int = 24,
    spend: float = 500.0,
    roas: float = 2.0,
    cvr: float = 0.04,
    clicks: int = 1200,
    impressions: int = 24000,
) -> WindowTotals:
    return WindowTotals(
        hours=hours,
        impressions=impressions,
        clicks=clicks,
        conversions=round(clicks * cvr),
        spend=spend,
        revenue=spend * roas,
    )


def view(
    campaign_id: UUID = A,
    *,
    budget: float = 600.0,
    last: WindowTotals | None = None,
    prior: WindowTotals | None = None,
    alerts: tuple[AlertView, ...] = (),
    risks: tuple[RiskView, ...] = (),
    paused: bool = False,
) -> CampaignView:
    summary = MetricSummary(
        campaign_id=campaign_id,
        as_of=NOW,
        last_24h=last or totals(),
        prior_7d=prior or totals(hours=168, spend=3500.0, clicks=8400, impressions=168000),
    )
    return CampaignView(campaign_id, budget, summary, alerts, risks, paused)


def alert(kind: str, metric: str, severity: str, observed: float, baseline: float) -> AlertView:
    alert_id = uuid5(NAMESPACE_OID, f"{kind}/{severity}/{observed}/{baseline}")
    return AlertView(alert_id, kind, metric, severity, observed, baseline)


def only(decisions: list[Decision]) -> Decision:
    assert len(decisions) == 1, decisions
    return decisions[0]


# Conversion tracking gone: CVR 0.8% against 4.1%, still spending 24/h.
BROKEN_LAST = totals(spend=576.0, roas=0.3, cvr=0.008, clicks=1250)
CVR_CRASH = alert("cvr_down", "cvr", "critical", 0.008, 0.041)
TRACKING_HIGH = RiskView("tracking_loss", "high", 8.9)


# --- the worked cases -------------------------------------------------------------------------


def test_healthy_campaign_gets_no_decision() -> None:
    assert decide([view()]) == []


def test_critical_conversion_drop_with_tracking_risk_pauses_only_that_campaign() -> None:
    broken = view(A, last=BROKEN_LAST, alerts=(CVR_CRASH,), risks=(TRACKING_HIGH,))
    healthy = view(B)

    d = only(decide([healthy, broken]))

    assert d.campaign_id == A
    assert d.decision_type == "campaign_pause"
    assert d.action_taken == "pause_campaign"
    assert d.action["to"] == "paused"
    assert d.impact_prediction["metric"] == "spend"
    assert d.impact_prediction["expected_change"] == -1.0
    for number in ("0.80%", "4.10%", "24.00/h", "576.00", "600.00", "8.9/10"):
        assert number in d.rationale, number
    assert 0.0 <= d.confidence <= 100.0
    assert d.confidence == round(d.confidence, 2)
    assert d.context_data["trigger_alert_ids"] == [str(CVR_CRASH.alert_id)]


def test_critical_drop_without_tracking_risk_cuts_budget_by_max_step() -> None:
    p = PolicyParams()
    d = only(decide([view(A, last=BROKEN_LAST, alerts=(CVR_CRASH,))], p))

    new_budget = 600.0 * (1 - p.max_budget_step)
    assert d.decision_type == "budget_adjustment"
    assert d.action_taken == "decrease_budget"
    assert d.action == {"kind": "budget", "from": 600.0, "to": pytest.approx(new_budget)}
    assert f"{new_budget:.2f}" in d.rationale and "600.00" in d.rationale
    # Spend was 576 a day, so the 480 cap removes 96 of it, not the full 20%.
    assert d.impact_prediction["expected_change"] == pytest.approx(new_budget / 576.0 - 1, abs=1e-4)


def test_high_conversion_drop_cuts_budget_even_while_daily_roas_is_above_target() -> None:
    # An hours-old drop barely moves the 24-hour ROAS (still 3.0 against a 2.0 target);
    # the alert alone must be enough to stop paying for clicks that do not convert.
    p = PolicyParams()
    still_profitable = totals(spend=576.0, roas=3.0, cvr=0.02, clicks=1250)
    drop = alert("cvr_down", "cvr", "high", 0.012, 0.05)
    d = only(decide([view(A, last=still_profitable, alerts=(drop,)), view(B)], p))
    assert d.campaign_id == A
    assert d.action_taken == "decrease_budget"
    assert d.action["to"] == pytest.approx(600.0 * (1 - p.max_budget_step))
    assert "1.20%" in d.rationale and "5.00%" in d.rationale
    # A medium drop gets half the cut, with less confidence.
    medium = alert("cvr_down", "cvr", "medium", 0.02, 0.05)
    m = only(decide([view(A, last=still_profitable, alerts=(medium,))], p))
    assert m.action["to"] == pytest.approx(600.0 * (1 - p.max_budget_step / 2))
    assert m.confidence < d.confidence
    # A low one is left to the slower decline rule, which needs ROAS under target.
    low = alert("cvr_down", "cvr", "low", 0.024, 0.05)
    assert decide([view(A, last=still_profitable, alerts=(low,))], p) == []


def test_critical_drop_on_a_campaign_that_stopped_spending_is_left_alone() -> None:
    idle = totals(spend=5.0, roas=0.0, cvr=0.0, clicks=10)
    assert decide([view(A, last=idle, alerts=(CVR_CRASH,))]) == []


def test_paused_campaign_is_skipped() -> None:
    v = view(A, last=BROKEN_LAST, alerts=(CVR_CRASH,), risks=(TRACKING_HIGH,), paused=True)
    assert decide([v]) == []


# --- confidence and calibration -----------------------------------------------------------------


def test_confidence_stays_in_bounds_and_rises_with_calibration() -> None:
    p = PolicyParams(min_confidence=0.0)
    v = view(A, last=BROKEN_LAST, alerts=(CVR_CRASH,), risks=(TRACKING_HIGH,))
    calibrations = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]
    confidences = [only(decide([v], p, calibration=c)).confidence for c in calibrations]

    assert all(0.0 <= c <= 100.0 for c in confidences)
    assert confidences == sorted(confidences)
    assert confidences[0] < confidences[3] < confidences[-1]


def test_neutral_calibration_reports_the_evidence_itself() -> None:
    d = only(decide([view(A, last=BROKEN_LAST, alerts=(CVR_CRASH,), risks=(TRACKING_HIGH,))]))
    assert DEFAULT_CALIBRATION == 0.5
    assert d.confidence == pytest.approx(100 * d.context_data["evidence"], abs=0.01)


def test_feedback_moves_future_confidence() -> None:
    v = view(A, alerts=(alert("cpc_up", "cpc", "high", 1.3, 1.0),))
    good = only(decide([v], calibration=update_calibration(18, 20))).confidence
    bad = only(decide([v], calibration=update_calibration(5, 20))).confidence
    assert good > bad


def test_a_fitted_calibrator_sets_the_confidence_and_is_named_in_the_context() -> None:
    v = view(A, last=BROKEN_LAST, alerts=(CVR_CRASH,), risks=(TRACKING_HIGH,))
    evidence = only(decide([v])).context_data["evidence"]
    kind = only(decide([v])).decision_type
    step = Fit(0.6, 0.0, Calibrator.ISOTONIC, 100.0, ((0.0, 0.55), (1.0, 0.95)))
    d = only(decide([v], fits={kind: step}))
    assert d.confidence == pytest.approx(100 * (0.55 + 0.4 * evidence), abs=0.01)
    assert d.context_data["calibrator"] == "isotonic"
    prior = only(decide([v], fits={kind: prior_fit()}))
    assert prior.confidence == pytest.approx(
        100 / (1 + ((1 - evidence) / evidence) ** 0.5), abs=0.01
    )
    assert prior.context_data["calibrator"] == "prior"
    # A type without a fit keeps the plain calibration.
    assert only(decide([v], fits={"keyword_bid": step})).confidence == pytest.approx(
        100 * evidence, abs=0.01
    )


def test_a_decision_takes_its_rules_shift_on_the_types_curve() -> None:
    v = view(A, last=BROKEN_LAST, alerts=(CVR_CRASH,), risks=(TRACKING_HIGH,))
    plain = only(decide([v]))
    evidence, kind, rule = (
        plain.context_data["evidence"],
        plain.decision_type,
        plain.context_data["rule"],
    )
    # Platt's curve at slope 1 and calibration 0.5 is the evidence itself; the rule's
    # shift of -1 in log-odds moves it, another rule's shift does not.
    shifted = Fit(0.5, 1.0, Calibrator.PLATT, 50.0, offsets=((rule, -1.0),))
    expected = 100 / (1 + (1 - evidence) / evidence * math.e)
    assert only(decide([v], fits={kind: shifted})).confidence == pytest.approx(expected, abs=0.01)
    other = Fit(0.5, 1.0, Calibrator.PLATT, 50.0, offsets=(("some_other_rule", -1.0),))
    assert only(decide([v], fits={kind: other})).confidence == pytest.approx(
        100 * evidence, abs=0.01
    )


def test_low_calibration_drops_a_weak_decision() -> None:
    v = view(A, alerts=(alert("cpc_up", "cpc", "medium", 1.2, 1.0),))
    assert len(decide([v], calibration=0.5)) == 1
    assert decide([v], calibration=0.2) == []


def test_calibrated_confidence_is_odds_times_track_record() -> None:
    # Evidence 0.6 is odds 1.5; calibration 0.8 is odds 4 against neutral odds 1.
    assert calibrated_confidence(0.6, 0.8) == pytest.approx(100 * 6 / 7, abs=0.01)
    assert calibrated_confidence(0.6, 0.5) == pytest.approx(60.0)
    assert calibrated_confidence(1.0, 1.0) <= 100.0
    assert calibrated_confidence(0.0, 0.0) >= 0.0


def test_calibration_outside_unit_interval_is_rejected() -> None:
    with pytest.raises(ValueError):
        decide([view()], calibration=1.5)
    with pytest.raises(ValueError):
        decide([view()], calibration=math.nan)


# --- bids, overspend, decline -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "baseline", "multiplier"),
    [(1.10, 1.00, 1 / 1.10), (2.00, 1.00, 0.85), (1.02, 1.00, 0.95)],
)
def test_cpc_up_lowers_bid_towards_baseline_within_limits(
    observed: float, baseline: float, multiplier: float
) -> None:
    d = only(decide([view(A, alerts=(alert("cpc_up", "cpc", "high", observed, baseline),))]))
    assert d.decision_type == "keyword_bid"
    assert d.action_taken == "lower_bid"
    assert d.action["kind"] == "bid"
    assert d.action["multiplier"] == pytest.approx(multiplier, abs=1e-4)
    assert d.impact_prediction["metric"] == "cpc"
    assert d.impact_prediction["expected_change"] == pytest.approx(multiplier - 1, abs=1e-4)
    assert f"{observed:.2f}" in d.rationale and f"{baseline:.2f}" in d.rationale


def test_dearer_clicks_are_fine_when_roas_is_far_above_target() -> None:
    rich = totals(roas=4.0)
    assert decide([view(A, last=rich, alerts=(alert("cpc_up", "cpc", "high", 1.3, 1.0),))]) == []


def test_overspend_brings_delivery_back_to_budget() -> None:
    # 720 spent on a 600 budget: a 500 budget makes the same 1.2x overshoot land on 600.
    over = totals(spend=720.0, roas=1.5)
    d = only(decide([view(A, last=over, alerts=(alert("spend_up", "spend", "high", 30, 25),))]))
    assert d.action_taken == "decrease_budget"
    assert d.action["to"] == pytest.approx(500.0)
    assert "720.00" in d.rationale and "120%" in d.rationale


def test_spend_up_with_good_roas_is_left_alone() -> None:
    good = totals(spend=720.0, roas=2.4)
    assert decide([view(A, last=good, alerts=(alert("spend_up", "spend", "high", 30, 25),))]) == []


def test_high_overspend_risk_alone_cuts_budget() -> None:
    d = only(
        decide(
            [
                view(
                    A,
                    last=totals(spend=590.0),
                    risks=(RiskView("budget_overspend", "critical", 9.4),),
                )
            ]
        )
    )
    assert d.action_taken == "decrease_budget"
    assert d.action["to"] < 600.0


def test_decline_cut_that_would_not_bind_becomes_a_bid_cut() -> None:
    # ROAS 1.0 is 50% under target, but the campaign spends only 300 of 600.
    p = PolicyParams()
    weak = totals(spend=300.0, roas=1.0)
    d = only(
        decide([view(A, last=weak, alerts=(alert("roas_down", "roas", "high", 1.0, 2.2),))], p)
    )
    assert d.decision_type == "keyword_bid"
    assert d.action["multiplier"] == pytest.approx(1 - p.max_bid_step)
    assert "300.00" in d.rationale


def test_declining_but_still_profitable_is_left_alone() -> None:
    fine = totals(roas=2.5)
    assert (
        decide([view(A, last=fine, alerts=(alert("roas_down", "roas", "medium", 2.5, 3.2),))]) == []
    )


# --- scaling -----------------------------------------------------------------------------------


def strong(spend: float) -> tuple[WindowTotals, WindowTotals]:
    return totals(spend=spend, roas=6.0), totals(hours=168, spend=3400.0, roas=5.0, clicks=8400)


def test_budget_limited_winner_gets_budget_raised_capped_at_max_step() -> None:
    last, prior = strong(495.0)
    for max_step in (0.2, 0.1):
        p = PolicyParams(max_budget_step=max_step)
        d = only(decide([view(A, budget=500.0, last=last, prior=prior)], p))
        assert d.decision_type == "budget_adjustment"
        assert d.action_taken == "raise_budget"
        assert d.action["from"] == 500.0
        assert d.action["to"] == pytest.approx(500.0 * (1 + max_step))
        assert d.impact_prediction["metric"] == "conversions"
        assert 0 < d.impact_prediction["expected_change"] <= max_step
        assert "6.00x" in d.rationale and "5.00x" in d.rationale


def test_under_delivering_winner_gets_audience_expanded() -> None:
    last, prior = strong(200.0)
    d = only(decide([view(A, budget=500.0, last=last, prior=prior)]))
    assert d.decision_type == "audience_expansion"
    assert d.action_taken == "expand_audience"
    assert d.action == {"kind": "audience", "factor": PolicyParams().audience_factor}
    assert "40%" in d.rationale


def test_any_alert_or_elevated_risk_blocks_scaling() -> None:
    last, prior = strong(495.0)
    minor = alert("ctr_down", "ctr", "low", 0.045, 0.05)
    assert decide([view(A, budget=500.0, last=last, prior=prior, alerts=(minor,))]) == []
    risk = RiskView("performance_decline", "medium", 4.0)
    assert decide([view(A, budget=500.0, last=last, prior=prior, risks=(risk,))]) == []


def test_one_lucky_day_does_not_scale() -> None:
    last = totals(spend=495.0, roas=6.0)
    prior = totals(hours=168, spend=3400.0, roas=2.1, clicks=8400)
    assert decide([view(A, budget=500.0, last=last, prior=prior)]) == []


# --- output shape ----------------------------------------------------------------------------


def cycle() -> list[CampaignView]:
    last, prior = strong(495.0)
    return [
        view(A, budget=500.0, last=last, prior=prior),
        view(B, alerts=(alert("cpc_up", "cpc", "high", 1.3, 1.0),)),
        view(C, last=BROKEN_LAST, alerts=(CVR_CRASH,), risks=(TRACKING_HIGH,)),
        view(UUID(int=0xD)),
    ]


def test_order_is_deterministic_and_most_urgent_first() -> None:
    views = cycle()
    expected = decide(views)
    rng = random.Random(7)
    for _ in range(5):
        shuffled = views[:]
        rng.shuffle(shuffled)
        assert decide(shuffled) == expected
    assert [d.campaign_id for d in expected] == [C, B, A]
    assert [d.action_taken for d in expected] == ["pause_campaign", "lower_bid", "raise_budget"]


def test_at_most_one_decision_per_campaign_and_duplicates_rejected() -> None:
    decisions = decide(cycle())
    assert len({d.campaign_id for d in decisions}) == len(decisions)
    with pytest.raises(ValueError):
        decide([view(A), view(A)])


def test_decisions_are_json_ready() -> None:
    for d in decide(cycle()):
        assert d.decision_type in DECISION_TYPES
        payload = json.loads(json.dumps(d.as_dict(), allow_nan=False))
        assert payload["campaign_id"] == str(d.campaign_id)
        assert payload["context_data"]["campaign_id"] == str(d.campaign_id)
        assert payload["context_data"]["model"] == {"name": MODEL_NAME, "version": MODEL_VERSION}
        impact = payload["impact_prediction"]
        assert set(impact) == {"metric", "expected_change", "interval", "horizon_hours", "source"}
        assert impact["interval"]["low"] <= impact["expected_change"] < impact["interval"]["high"]
        assert impact["interval"]["level"] == 0.9


def test_params_are_recordable() -> None:
    assert MODEL_NAME == "decision_policy"
    assert MODEL_VERSION == "1.1.0"
    dumped = json.loads(json.dumps(PolicyParams(target_roas=3.0).as_dict()))
    assert dumped["target_roas"] == 3.0
    assert dumped["max_budget_step"] == PolicyParams().max_budget_step


# --- summarise --------------------------------------------------------------------------------


def hm(hour: datetime, spend: float, campaign_id: UUID = A) -> HourlyMetrics:
    return HourlyMetrics(campaign_id, hour, 100, 10, 1, spend, 2 * spend, 600.0)


def test_summarise_splits_last_day_from_prior_week() -> None:
    rows = [
        hm(NOW, 1000.0),  # not yet complete: excluded
        hm(NOW - HOUR, 1.0),
        hm(NOW - 24 * HOUR, 2.0),  # first hour of the last-24h window
        hm(NOW - 25 * HOUR, 4.0),
        hm(NOW - 192 * HOUR, 8.0),  # first hour of the prior week
        hm(NOW - 193 * HOUR, 1000.0),  # too old
    ]
    s = summarise(A, rows, NOW)
    assert s.last_24h.hours == 2 and s.last_24h.spend == pytest.approx(3.0)
    assert s.prior_7d.hours == 2 and s.prior_7d.spend == pytest.approx(12.0)
    assert s.last_24h.clicks == 20 and s.last_24h.conversions == 2
    assert s.last_24h.roas == pytest.approx(2.0)
    assert s.last_24h.cvr == pytest.approx(0.1)
    assert s.last_24h.spend_per_hour == pytest.approx(1.5)


def test_summarise_empty_windows_have_no_ratios_and_reject_strangers() -> None:
    s = summarise(A, [], NOW)
    assert s.last_24h.roas is None and s.last_24h.cpc is None and s.prior_7d.ctr is None
    with pytest.raises(ValueError):
        summarise(A, [hm(NOW - HOUR, 1.0, campaign_id=B)], NOW)
    with pytest.raises(ValueError):
        summarise(A, [], NOW.replace(tzinfo=None))


# --- evaluate and update_calibration ---------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "actual", "status"),
    [
        (-0.2, -0.18, "validated"),
        (-0.2, -0.11, "validated"),  # off by 0.09, inside half of 0.2
        (-0.2, -0.05, "incorrect"),  # right way, too little
        (-0.2, 0.05, "incorrect"),  # wrong way
        (0.1, 0.14, "validated"),  # inside the 0.05 floor
        (0.1, 0.2, "incorrect"),
        (-1.0, -0.6, "validated"),
        (0.0, 0.03, "validated"),
        (0.0, -0.2, "incorrect"),
    ],
)
def test_evaluate_direction_and_tolerance(expected: float, actual: float, status: str) -> None:
    got, error = evaluate(
        {"metric": "spend", "expected_change": expected, "horizon_hours": 24},
        {"metric": "spend", "actual_change": actual},
    )
    assert got == status
    assert error == pytest.approx(abs(actual - expected))


def test_evaluate_refuses_to_compare_different_metrics() -> None:
    with pytest.raises(ValueError):
        evaluate(
            {"metric": "spend", "expected_change": -0.2},
            {"metric": "roas", "actual_change": 0.1},
        )


@pytest.mark.parametrize(
    ("correct", "total", "mean"),
    [(0, 0, 0.5), (8, 10, 10 / 14), (0, 10, 2 / 14), (10, 10, 12 / 14), (3, 3, 5 / 7)],
)
def test_beta_posterior_mean(correct: int, total: int, mean: float) -> None:
    assert update_calibration(correct, total) == pytest.approx(mean)


def test_beta_posterior_with_other_prior_and_bad_counts() -> None:
    assert update_calibration(3, 4, alpha=1.0, beta=1.0) == pytest.approx(4 / 6)
    for correct, total in [(5, 3), (-1, 3), (0, -1)]:
        with pytest.raises(ValueError):
            update_calibration(correct, total)


# --- incidents ------------------------------------------------------------------------------


def incident(
    kind: str,
    metric: str,
    severity: str,
    observed: float,
    baseline: float,
    *symptoms: str,
) -> AlertView:
    plain = alert(kind, metric, severity, observed, baseline)
    return AlertView(
        plain.alert_id, kind, metric, severity, observed, baseline, symptoms=tuple(symptoms)
    )


def test_an_incident_is_evidence_for_each_kind_it_covers() -> None:
    # A CPC rise that pushed spend over budget: the overspend rule answers the budget
    # symptom, citing the incident and naming its cause.
    cpc = incident("cpc_up", "cpc", "high", 1.2, 0.5, "spend_up", "budget_exceeded")
    over = totals(spend=720.0, roas=1.5)
    d = only(decide([view(A, last=over, alerts=(cpc,))]))
    assert d.context_data["rule"] == "overspend"
    assert d.context_data["trigger_alert_ids"] == [str(cpc.alert_id)]
    assert "cpc_up (high, with spend_up, budget_exceeded)" in d.rationale
    assert d.context_data["alerts"][0]["symptoms"] == ["spend_up", "budget_exceeded"]


def test_a_conversion_collapse_named_for_its_outage_acts_as_the_drop_did() -> None:
    collapse = incident(
        "tracking_outage", "conversions", "critical", 0, 40, "conversions_down", "cvr_down"
    )
    by_kind = decide([view(A, last=BROKEN_LAST, alerts=(CVR_CRASH,), risks=(TRACKING_HIGH,))])
    by_incident = decide([view(A, last=BROKEN_LAST, alerts=(collapse,), risks=(TRACKING_HIGH,))])
    assert only(by_incident).action_taken == only(by_kind).action_taken == "pause_campaign"
    assert "Conversion tracking looks broken" in only(by_incident).rationale
    assert (
        "tracking_outage (critical, with conversions_down, cvr_down)" in only(by_incident).rationale
    )


def test_cpc_figures_of_an_incident_are_used_only_when_cpc_is_its_cause() -> None:
    # CPC rise listed as a symptom: the incident's figures are its primary's (CTR), so
    # the bid target cannot come from them and the standard step applies.
    p = PolicyParams()
    symptom = incident("ctr_down", "ctr", "medium", 0.001, 0.05, "cpc_up")
    d = only(decide([view(A, last=totals(roas=1.9), alerts=(symptom,))], p))
    assert d.context_data["rule"] == "cpc"
    assert d.action == {"kind": "bid", "multiplier": round(1 - p.max_bid_step, 4)}
