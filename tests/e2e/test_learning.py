"""The decision service learns, end to end on the sandbox: decisions are judged once their
horizon has passed in simulated time, scores appear, and a policy people keep correcting
loses the confidence that lets it act alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.decision.policy import calibrated_confidence
from shared.config import Settings
from shared.contracts.limits import DEFAULT_LIMITS
from tests.e2e.platform import Platform
from tests.e2e.test_act import Account, eventually, open_account

pytestmark = pytest.mark.e2e

BACKFILL = 168


@pytest.fixture
async def collapsing(platform: Platform, settings: Settings) -> AsyncIterator[Account]:
    """A week of history, then conversions on the first campaign fall to 10%."""
    anomaly = {
        "kind": "conversion_drop",
        "campaign_index": 0,
        "start_hour": BACKFILL,
        "hours": 48,
        "magnitude": 0.1,
    }
    async for opened in open_account(
        platform, settings, seed=303, backfill_hours=BACKFILL, anomalies=[anomaly]
    ):
        yield opened


PROTECTIVE = {"decrease_budget", "pause_campaign", "lower_bid"}


async def _applied_cut(account: Account) -> dict[str, Any]:
    """The first decision that protected the collapsing campaign and was carried out."""
    campaign = str(account.campaigns[0])

    async def cut() -> dict[str, Any] | None:
        await account.advance(1)
        await asyncio.sleep(0.5)
        decisions = (await account.get("/decisions", limit="100"))["items"]
        return next(
            (
                d
                for d in decisions
                if d["context_data"].get("campaign_id") == campaign
                and d["action_taken"] in PROTECTIVE
                and (d["outcome"] or {}).get("status") == "applied"
            ),
            None,
        )

    try:
        return await eventually(cut, within=90.0, every=0.5)
    except AssertionError:
        decisions = (await account.get("/decisions", limit="20"))["items"]
        raise AssertionError(
            [(d["action_taken"], d["confidence_score"], d["outcome"]) for d in decisions]
        ) from None


async def test_decisions_are_judged_as_simulated_time_passes(collapsing: Account) -> None:
    account = collapsing
    await account.autonomy("act", {"min_confidence": 0, "cooldown_hours": 0})
    decision = await _applied_cut(account)
    prediction = decision["impact_prediction"]
    assert prediction["metric"] == "spend"
    interval = prediction["interval"]
    assert interval["level"] == 0.9
    assert interval["low"] <= prediction["expected_change"] <= interval["high"]
    # Not judged before its horizon has passed in simulated time.
    assert decision["validation_status"] == "pending"
    assert decision["actual_impact"] is None

    await account.advance(prediction["horizon_hours"] + 1)

    async def judged() -> dict[str, Any] | None:
        row = await account.get(f"/decisions/{decision['id']}")
        return row if row["validation_status"] != "pending" else None

    row = await eventually(judged, within=60.0)
    actual = row["actual_impact"]
    assert row["validation_status"] in {"validated", "incorrect"}
    assert actual["applied"] is True
    assert actual["metric"] == "spend"
    # The optimizer's forecast when one covers the window, else the seasonal baseline.
    assert actual["counterfactual_source"] in {"forecast", "seasonal"}
    # The cut bound: the campaign spent less than its counterfactual.
    assert actual["effect"] < 0
    assert actual["effect"] == pytest.approx(
        actual["after"] / actual["counterfactual"] - 1, abs=1e-4
    )
    inside = interval["low"] <= actual["effect"] <= interval["high"]
    assert (row["validation_status"] == "validated") == inside
    assert row["validated_at"] is not None

    feedback = (await account.get("/learning-feedback", decision_id=decision["id"]))["items"]
    (verdict,) = [f for f in feedback if f["feedback_type"] == "outcome_validation"]
    assert verdict["feedback_value"]["status"] == row["validation_status"]
    assert "interval" in verdict["feedback_value"]["reason"]

    async def scored() -> list[dict[str, Any]] | None:
        items = (
            await account.get(
                "/performance", measurement_period="daily", cohort="applied", metric_type="ece"
            )
        )["items"]
        return items or None

    (ece, *_) = await eventually(scored, within=30.0)
    table = ece["details"]["reliability"]
    assert len(table) == 10
    assert sum(b["count"] for b in table) == pytest.approx(ece["sample_size"])


async def test_a_policy_people_keep_correcting_goes_back_to_a_person(
    collapsing: Account,
) -> None:
    account = collapsing
    await account.autonomy("act", {"min_confidence": 0, "cooldown_hours": 0})
    decision = await _applied_cut(account)
    evidence = decision["context_data"]["evidence"]
    kind = decision["decision_type"]

    # Bad input gets a clear error, not a crash.
    status, error = await account.post(
        "/learning-feedback",
        {
            "decision_id": decision["id"],
            "feedback_type": "user_correction",
            "feedback_value": {"correct": "perhaps"},
        },
        role="operator",
    )
    assert status == 422
    assert error["error"]["details"]["fields"][0]["field"] == "feedback_value.correct"

    for _ in range(3):
        await account.post(
            "/learning-feedback",
            {
                "decision_id": decision["id"],
                "feedback_type": "user_correction",
                "feedback_value": {
                    "correct": False,
                    "note": "the drop was a planned promotion ending",
                },
                "learning_weight": 5.0,
            },
            role="operator",
            status=201,
        )

    async def refit() -> dict[str, Any] | None:
        # The next cycle's gather step reports each type's fitted calibration.
        await account.post("/cycles", {"cycle_name": "after feedback", "cycle_type": "decision"})
        steps = (await account.get("/workflow-states", status="completed"))["items"]
        for step in steps:
            fits = (step.get("output_data") or {}).get("calibration") or {}
            if step["step_name"] == "gather" and kind in fits and fits[kind]["calibration"] < 0.2:
                return dict(fits[kind])
        return None

    fit = await eventually(refit, within=60.0, every=1.0)
    confidence = calibrated_confidence(evidence, fit["calibration"], slope=fit["slope"])
    assert confidence < float(decision["confidence_score"])
    assert confidence < DEFAULT_LIMITS.min_confidence

    # The corrections count in the scores of the decision's type.
    scores = (
        await account.get(
            "/performance", decision_type=kind, measurement_period="daily", metric_type="accuracy"
        )
    )["items"]
    assert scores and scores[0]["sample_size"] >= 15
    assert scores[0]["score_value"] < 50
