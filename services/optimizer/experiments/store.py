"""Experiments in the database: recording results, concluding, and starting on the ad
platform. Shared by the routes (a person's requests) and the runner (platform pulls)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from services.optimizer.core.act import act
from services.optimizer.core.execution import Cause
from services.optimizer.core.recommend import hold_back
from services.optimizer.core.tenants import tenant_policy
from services.optimizer.experiments import plan
from services.optimizer.experiments.stats import VariantData
from shared.connectors import Change
from shared.contracts.experiments import EXPERIMENT_CONCLUDED, EXPERIMENT_RESULTS, EXPERIMENTS
from shared.outbox import enqueue
from shared.resources import fetch_one
from shared.service import ServiceRuntime

SOURCE = "optimizer"


async def lock_experiment(
    conn: asyncpg.Connection, tenant: UUID, experiment_id: UUID
) -> dict[str, Any]:
    """The experiment, locked until the transaction ends; NotFound if unknown."""
    return await fetch_one(conn, EXPERIMENTS, tenant, experiment_id, lock=True)


async def latest_results(
    conn: asyncpg.Connection, tenant: UUID, experiment_id: UUID
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"""SELECT {EXPERIMENT_RESULTS.select_list} FROM experiment_results
            WHERE tenant_id = $1 AND experiment_id = $2 ORDER BY look DESC LIMIT 1""",
        tenant,
        experiment_id,
    )
    return dict(row) if row is not None else None


async def record_results(
    conn: asyncpg.Connection,
    tenant: UUID,
    experiment: dict[str, Any],
    data: Sequence[VariantData],
    *,
    source: str,
    platform_as_of: datetime | None = None,
) -> dict[str, Any]:
    """One more row of the results history with its analysis; the experiment keeps the
    newest analysis in ``results`` and moves to ``analyzing`` once the planned sample is
    in. The caller holds the experiment's lock."""
    setup = plan.Setup.of(experiment)
    look = int(experiment["results_count"]) + 1
    analysis = plan.run_analysis(data, setup)
    summary = plan.analysis_json(experiment["id"], look, analysis, data, setup)
    row = await conn.fetchrow(
        f"""INSERT INTO experiment_results (tenant_id, experiment_id, look, source,
                variants, platform_as_of, analysis)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            RETURNING {EXPERIMENT_RESULTS.select_list}""",
        tenant,
        experiment["id"],
        look,
        source,
        plan.stored_variants(data),
        platform_as_of,
        summary,
    )
    assert row is not None
    status = experiment["status"]
    if status == "running" and summary["planned_sample_reached"]:
        status = "analyzing"
    updated = await conn.fetchrow(
        f"""UPDATE ai_testing_experiments
            SET results_count = $3, results = $4, status = $5, updated_at = clock_timestamp()
            WHERE tenant_id = $1 AND id = $2 RETURNING {EXPERIMENTS.select_list}""",
        tenant,
        experiment["id"],
        look,
        {"analysis": summary},
        status,
    )
    assert updated is not None
    experiment.clear()
    experiment.update(dict(updated))
    return dict(row)


@dataclass(frozen=True, slots=True)
class Concluded:
    """The completed experiment, and the pending change applying its winner (carry it out
    once the transaction has committed)."""

    row: dict[str, Any]
    pending_optimization: UUID | None = None


async def conclude(
    conn: asyncpg.Connection,
    runtime: ServiceRuntime,
    tenant: UUID,
    experiment: dict[str, Any],
    *,
    winner: str | None,
    chosen_by: str,
    rule: str | None,
    detail: str,
    apply: bool,
    correlation_id: UUID | None,
) -> Concluded:
    """Complete the experiment (the caller holds its lock and checked the transition):
    winner, confidence, the analysis it rests on; apply the winner if asked; publish
    ``experiment.concluded``."""
    newest = await latest_results(conn, tenant, experiment["id"])
    analysis = newest["analysis"] if newest is not None else None
    confidence = plan.winner_confidence(analysis or {}, winner)
    conclusion: dict[str, Any] = {
        "chosen_by": chosen_by,
        "rule": rule,
        "detail": detail,
        "analysis_winner": (analysis or {}).get("winner_variant"),
        "look": newest["look"] if newest is not None else None,
    }
    pending: UUID | None = None
    optimization_id: UUID | None = None
    if apply:
        applied = await _apply_winner(
            conn,
            runtime,
            tenant,
            experiment,
            winner,
            analysis,
            by_person=chosen_by == "person",
            confidence=confidence,
            correlation_id=correlation_id,
        )
        conclusion["apply"] = applied
        if applied.get("optimization_id"):
            optimization_id = UUID(applied["optimization_id"])
            if applied["outcome"] == "planned":
                pending = optimization_id
    row = await conn.fetchrow(
        f"""UPDATE ai_testing_experiments
            SET status = 'completed', winner_variant = $3, confidence_level = $4,
                results = $5, conclusion = $6, applied_optimization_id = $7,
                concluded_at = clock_timestamp(), ended_at = COALESCE(ended_at, clock_timestamp()),
                updated_at = clock_timestamp()
            WHERE tenant_id = $1 AND id = $2 RETURNING {EXPERIMENTS.select_list}""",
        tenant,
        experiment["id"],
        winner,
        confidence,
        {"analysis": analysis, "winner_variant": winner, "confidence_level": confidence},
        conclusion,
        optimization_id,
    )
    assert row is not None
    done = dict(row)
    event = EXPERIMENT_CONCLUDED.envelope(
        {**done, "before": {"status": experiment["status"]}},
        tenant_id=tenant,
        source=SOURCE,
        correlation_id=correlation_id or uuid4(),
    )
    await enqueue(conn, event)
    return Concluded(done, pending)


async def _apply_winner(
    conn: asyncpg.Connection,
    runtime: ServiceRuntime,
    tenant: UUID,
    experiment: dict[str, Any],
    winner: str | None,
    analysis: dict[str, Any] | None,
    *,
    by_person: bool,
    confidence: float | None,
    correlation_id: UUID | None,
) -> dict[str, Any]:
    """Apply the winning copy through the Act path, by the tenant's autonomy; answers what
    happened (``outcome``: planned, repeat, recommend, skip, failed)."""
    campaign = experiment["campaign_id"]
    if campaign is None or experiment["experiment_type"] != "creative":
        return {
            "outcome": "skip",
            "reason": "not_applicable",
            "detail": "only a creative experiment on a campaign can be applied on the ad platform",
        }
    if winner is None:
        return {
            "outcome": "skip",
            "reason": "no_winner",
            "detail": "no winner: the campaign keeps its control copy",
        }
    change = Change("creative", winner)
    expected = plan.winner_summary(analysis, winner)
    cause = Cause(
        "experiment",
        experiment["id"],
        key=f"experiment:{experiment['id']}",
        confidence=confidence if confidence is not None else 0.0,
        expected={**expected, "experiment_id": str(experiment["id"])},
        by_person=by_person,
        correlation_id=correlation_id,
    )
    policy = await tenant_policy(conn, tenant)
    asked = {"kind": "creative", "to": winner}
    outcome = await act(conn, runtime, tenant, campaign, lambda _s: change, cause, policy, asked)
    result: dict[str, Any] = {"outcome": outcome.kind}
    if outcome.row is not None:
        result["optimization_id"] = str(outcome.row["id"])
    if outcome.reason:
        result["reason"] = outcome.reason
        result["detail"] = outcome.detail
    if outcome.kind == "recommend":
        values = {
            "recommendation_type": "creative_testing",
            "target_entity_type": "campaign",
            "target_entity_id": campaign,
            "current_state": outcome.current_state,
            "recommended_changes": {
                "action": "creative_change",
                "experiment_id": str(experiment["id"]),
                **outcome.changes,
            },
            "expected_impact": expected,
            "confidence_level": round(confidence / 10, 1) if confidence is not None else None,
            "priority_score": max(1, min(10, round((confidence or 50) / 10))),
            "implementation_complexity": "low",
        }
        held = await hold_back(conn, tenant, values, correlation_id=correlation_id)
        result["recommendation_id"] = str(held.id)
    return result
