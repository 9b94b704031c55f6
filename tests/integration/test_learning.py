"""Judging decisions and keeping scores, against real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from sandbox.simulator import CampaignSimulator
from services.decision import learning
from shared.config import Settings
from shared.connectors.base import Change
from shared.db import scoped
from shared.metrics_store import upsert_metrics
from tests.conftest import schema_pool

pytestmark = pytest.mark.integration

START = datetime(2026, 6, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
AS_OF = START + 8 * 24 * HOUR
PREDICTION = {
    "metric": "spend",
    "expected_change": -0.2,
    "interval": {"low": -0.35, "high": -0.05, "level": 0.8},
    "horizon_hours": 24,
    "source": "elasticity",
}


@pytest.fixture(scope="module")
async def decision_db(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await schema_pool(settings, "decision")
    yield pool
    await pool.close()


async def _campaign(pool: asyncpg.Pool, tenant: uuid.UUID, cut: bool) -> uuid.UUID:
    """Nine days of one campaign; with ``cut`` its budget falls 20% from AS_OF on."""
    sim = CampaignSimulator(1, seed=11, start=START)
    (campaign,) = sim.campaign_ids
    if cut:
        budget = sim.state_at(campaign, AS_OF).daily_budget
        sim.apply_change_at(campaign, Change("budget", round(budget * 0.8, 2)), AS_OF)
    rows = [r for i in range(9 * 24) for r in sim.simulate_hour(START + i * HOUR)]
    async with scoped(pool, tenant) as conn:
        await upsert_metrics(conn, tenant, rows)
    return campaign


async def _decision(
    pool: asyncpg.Pool, tenant: uuid.UUID, campaign: uuid.UUID, outcome: dict[str, Any]
) -> uuid.UUID:
    async with scoped(pool, tenant) as conn:
        decision_id: uuid.UUID = await conn.fetchval(
            """INSERT INTO ai_decision_logs (tenant_id, decision_type, context_data,
                   confidence_score, action_taken, impact_prediction, as_of, outcome)
               VALUES ($1, 'budget_adjustment', $2, 80, 'decrease_budget', $3, $4, $5)
               RETURNING id""",
            tenant,
            {
                "campaign_id": str(campaign),
                "evidence": 0.8,
                "model": {"name": "decision_policy", "version": "1.0.0"},
            },
            PREDICTION,
            AS_OF,
            outcome,
        )
    return decision_id


async def test_an_applied_cut_is_validated_scored_and_announced(
    decision_db: asyncpg.Pool,
) -> None:
    tenant = uuid.uuid4()
    campaign = await _campaign(decision_db, tenant, cut=True)
    decision_id = await _decision(decision_db, tenant, campaign, {"status": "applied"})
    async with scoped(decision_db, tenant) as conn:
        judged = await learning.validate_due(conn, tenant)
        assert [d["id"] for d in judged] == [decision_id]
        # Judged once: a second pass finds nothing due.
        assert await learning.validate_due(conn, tenant) == []
        written = await learning.refresh_scores(conn, tenant, [AS_OF])
        row = await conn.fetchrow(
            "SELECT validation_status, actual_impact, validated_at FROM ai_decision_logs "
            "WHERE id = $1",
            decision_id,
        )
        feedback = await conn.fetch(
            "SELECT feedback_type, feedback_value FROM ai_learning_feedback WHERE decision_id = $1",
            decision_id,
        )
        events = await conn.fetch(
            "SELECT body FROM outbox WHERE tenant_id = $1 AND routing_key = 'decision.validated'",
            tenant,
        )
        scores = {
            (
                r["metric_type"],
                r["measurement_period"],
                r["cohort"],
                r["decision_type"],
                r["model_version"],
            ): r
            for r in await conn.fetch(
                "SELECT * FROM ai_performance_scores WHERE tenant_id = $1", tenant
            )
        }
    assert row is not None
    actual = row["actual_impact"]
    assert row["validation_status"] == "validated", actual["reason"]
    assert row["validated_at"] is not None
    assert actual["applied"] is True
    assert actual["counterfactual_source"] == "seasonal"
    assert actual["effect"] == pytest.approx(-0.2, abs=0.06)
    assert [f["feedback_type"] for f in feedback] == ["outcome_validation"]
    assert feedback[0]["feedback_value"]["correct"] is True
    assert len(events) == 1
    assert events[0]["body"]["payload"]["validation_status"] == "validated"
    assert written == len(scores)
    accuracy = scores[("accuracy", "daily", "applied", None, None)]
    assert accuracy["score_value"] == pytest.approx(100.0)
    assert accuracy["period_start"] == AS_OF
    assert ("accuracy", "weekly", "all", "budget_adjustment", None) in scores
    assert ("accuracy", "daily", "all", None, "1.0.0") in scores
    assert ("accuracy", "daily", "not_applied", None, None) not in scores
    # A type's rows name the calibrator its record earns now (one verdict: the prior);
    # rows over every type or a model version name none.
    by_type = scores[("accuracy", "weekly", "all", "budget_adjustment", None)]
    assert (by_type["calibrator"], by_type["calibrator_outcomes"]) == ("prior", 1.0)
    assert accuracy["calibrator"] is None and accuracy["calibrator_outcomes"] is None
    assert scores[("accuracy", "daily", "all", None, "1.0.0")]["calibrator"] is None
    ece = scores[("ece", "hourly", "all", None, None)]
    assert ece["score_value"] == pytest.approx(0.2)  # one decision at 80%, right
    assert sum(b["count"] for b in ece["details"]["reliability"]) == 1


async def test_a_forecast_is_the_counterfactual_when_the_service_keeps_one(
    decision_db: asyncpg.Pool,
) -> None:
    tenant = uuid.uuid4()
    campaign = await _campaign(decision_db, tenant, cut=False)
    decision_id = await _decision(decision_db, tenant, campaign, {"status": "recommended"})
    async with scoped(decision_db, tenant) as conn:
        await conn.execute(
            """INSERT INTO campaign_forecasts (forecast_id, tenant_id, campaign_id,
                   horizon_hours, period_start, period_end, predicted, intervals, model_name,
                   model_version)
               VALUES (gen_random_uuid(), $1, $2, 48, $3, $4, $5, '{}', 'forecast_ets', '1.0')""",
            tenant,
            campaign,
            AS_OF,
            AS_OF + 48 * HOUR,
            {"spend": 10_000.0, "conversions": 100.0, "revenue": 30_000.0, "roas": 3.0},
        )
        (judged,) = await learning.validate_due(conn, tenant)
    actual = judged["actual_impact"]
    assert judged["id"] == decision_id
    assert actual["counterfactual_source"] == "forecast"
    assert actual["counterfactual"] == pytest.approx(5_000.0)
    # Never applied: judged against what happened without it, not counted as applied.
    assert actual["applied"] is False
    assert actual["judged_effect"] == pytest.approx(
        actual["before"] * 0.8 / actual["after"] - 1, abs=1e-5
    )


async def test_a_decision_waits_until_its_horizon_has_passed(decision_db: asyncpg.Pool) -> None:
    tenant = uuid.uuid4()
    sim = CampaignSimulator(1, seed=11, start=START)
    (campaign,) = sim.campaign_ids
    # Data up to 23 hours after the decision: one hour of the window is still missing.
    rows = [r for i in range(8 * 24 + 23) for r in sim.simulate_hour(START + i * HOUR)]
    async with scoped(decision_db, tenant) as conn:
        await upsert_metrics(conn, tenant, rows)
    await _decision(decision_db, tenant, campaign, {"status": "applied"})
    async with scoped(decision_db, tenant) as conn:
        assert await learning.validate_due(conn, tenant) == []
        await upsert_metrics(conn, tenant, sim.simulate_hour(START + (8 * 24 + 23) * HOUR))
        assert len(await learning.validate_due(conn, tenant)) == 1


async def test_scores_trend_against_the_latest_earlier_period(decision_db: asyncpg.Pool) -> None:
    tenant = uuid.uuid4()
    sim = CampaignSimulator(1, seed=11, start=START)
    (campaign,) = sim.campaign_ids
    budget = sim.state_at(campaign, AS_OF).daily_budget
    sim.apply_change_at(campaign, Change("budget", round(budget * 0.8, 2)), AS_OF)
    rows = [r for i in range(10 * 24) for r in sim.simulate_hour(START + i * HOUR)]
    async with scoped(decision_db, tenant) as conn:
        await upsert_metrics(conn, tenant, rows)
    right = await _decision(decision_db, tenant, campaign, {"status": "applied"})
    # A day later, a rise of 30% that nothing brings about.
    async with scoped(decision_db, tenant) as conn:
        wrong = await conn.fetchval(
            """INSERT INTO ai_decision_logs (tenant_id, decision_type, context_data,
                   confidence_score, action_taken, impact_prediction, as_of, outcome)
               VALUES ($1, 'budget_adjustment', $2, 90, 'raise_budget', $3, $4, $5)
               RETURNING id""",
            tenant,
            {"campaign_id": str(campaign), "evidence": 0.9},
            {**PREDICTION, "expected_change": 0.3, "interval": {"low": 0.2, "high": 0.4}},
            AS_OF + 24 * HOUR,
            {"status": "applied"},
        )
        judged = {d["id"]: d for d in await learning.validate_due(conn, tenant)}
        assert judged[right]["validation_status"] == "validated"
        assert judged[wrong]["validation_status"] == "incorrect"
        assert "wrong direction" in judged[wrong]["actual_impact"]["reason"]
        await learning.refresh_scores(conn, tenant, [AS_OF])
        await learning.refresh_scores(conn, tenant, [AS_OF + 24 * HOUR])
        later = await conn.fetchrow(
            """SELECT score_value, benchmark_comparison, trend_direction
               FROM ai_performance_scores
               WHERE tenant_id = $1 AND metric_type = 'accuracy' AND measurement_period = 'daily'
                 AND cohort = 'all' AND decision_type IS NULL AND model_version IS NULL
                 AND period_start = $2""",
            tenant,
            AS_OF + 24 * HOUR,
        )
    assert later is not None
    assert later["score_value"] == pytest.approx(0.0)
    assert later["benchmark_comparison"] == pytest.approx(100.0)
    assert later["trend_direction"] == "declining"
