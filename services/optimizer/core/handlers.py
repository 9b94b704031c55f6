"""Events the optimizer reacts to."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from services.optimizer.core import tenants
from services.optimizer.core.act import Outcome, act
from services.optimizer.core.execution import Cause
from services.optimizer.core.jobs import METRICS_CHANNEL
from services.optimizer.core.recommend import (
    UnusableAction,
    decision_action,
    decision_campaign,
    desire_from_action,
    hold_back,
    recommendation_from_decision,
)
from services.optimizer.core.tenants import tenant_policy
from shared.consumer import Subscriptions
from shared.contracts.decision import DECISION_MADE, DecisionMade
from shared.contracts.gateway import METRICS_RECORDED, MetricsRecorded
from shared.contracts.optimizer import (
    ACTION_SKIPPED,
)
from shared.events import Envelope
from shared.metrics_input import hourly
from shared.metrics_store import upsert_metrics
from shared.outbox import enqueue
from shared.service import ServiceRuntime

SOURCE = "optimizer"
OBSERVING = Outcome(
    "skip",
    reason="observe",
    detail="the tenant's autonomy is observe: decisions are logged, nothing is changed",
)
subscriptions = Subscriptions("optimizer").include(tenants.subscriptions)


@subscriptions.service_subscriber(DECISION_MADE)
async def on_decision_made(
    runtime: ServiceRuntime, conn: asyncpg.Connection, event: Envelope, decision: DecisionMade
) -> None:
    """Carry the decision out, recommend it, or say why neither (by the tenant's autonomy)."""
    if not decision.action_taken:
        return  # an observation, not an action
    tenant = event.tenant_id
    policy = await tenant_policy(conn, tenant)
    if policy.autonomy == "observe":
        await _skipped(conn, event, decision, OBSERVING)
        return
    action = decision_action(decision)
    campaign = decision_campaign(decision)
    try:
        if action is None or campaign is None:
            raise UnusableAction("the decision names no campaign and change to make")
        desire = desire_from_action(action)
    except UnusableAction as exc:
        # Nothing the platform can carry out as it stands; a person may still act on it.
        held = {"reason": "no_change_named", "detail": str(exc)}
        await _recommend(
            conn, event, decision, campaign, Outcome("recommend", changes={"held_back": held})
        )
        return
    cause = Cause(
        "decision",
        decision.id,
        key=f"decision:{decision.id}",
        confidence=decision.confidence_score if decision.confidence_score is not None else 0.0,
        expected=decision.impact_prediction
        if isinstance(decision.impact_prediction, dict)
        else None,
        decision_id=decision.id,
        correlation_id=event.correlation_id,
    )
    outcome = await act(conn, runtime, tenant, campaign, desire, cause, policy, action)
    if outcome.kind == "recommend":
        await _recommend(conn, event, decision, campaign, outcome)
    elif outcome.kind == "skip":
        await _skipped(conn, event, decision, outcome)


async def _recommend(
    conn: asyncpg.Connection,
    event: Envelope,
    decision: DecisionMade,
    campaign: UUID | None,
    outcome: Outcome,
) -> None:
    values = recommendation_from_decision(
        decision, campaign, outcome.changes, outcome.current_state
    )
    await hold_back(conn, event.tenant_id, values, caused_by=event)


async def _skipped(
    conn: asyncpg.Connection, event: Envelope, decision: DecisionMade, outcome: Outcome
) -> None:
    payload = {
        "decision_id": decision.id,
        "campaign_id": decision_campaign(decision),
        "reason": outcome.reason,
        "detail": outcome.detail,
    }
    await enqueue(conn, ACTION_SKIPPED.caused_by(event, payload, source=SOURCE))


@subscriptions.subscriber(METRICS_RECORDED)
async def on_metrics_recorded(
    conn: asyncpg.Connection, event: Envelope, recorded: MetricsRecorded
) -> None:
    """Keep the hours automation rules and forecasts read, and wake the per-tenant jobs:
    rules, pools, forecasts and the puller of platform experiments (finished hours mean
    new results)."""
    await upsert_metrics(conn, event.tenant_id, hourly(recorded.metrics))
    await conn.execute("SELECT pg_notify($1, $2)", METRICS_CHANNEL, str(event.tenant_id))
