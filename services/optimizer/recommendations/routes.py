"""Routes of recommendations: a person's own, and approving one, which applies its change
through the same path as the optimizer's own changes."""

from __future__ import annotations

from functools import partial
from typing import Any
from uuid import UUID

import asyncpg
from aiohttp import web

from services.optimizer.core.execution import (
    Cause,
    Held,
    Planned,
    Unreachable,
    carry_out,
    fail_recommendation,
    plan,
)
from services.optimizer.core.recommend import UnusableAction, desire_from_action
from services.optimizer.core.tenants import tenant_policy
from shared.contracts import optimizer as c
from shared.contracts.spec import Route
from shared.crud import create_item
from shared.outbox import enqueue
from shared.resources import change_status, fetch_one
from shared.service import ServiceRuntime
from shared.web import Handler, json_response, path_id


async def plan_approved(
    conn: asyncpg.Connection,
    runtime: ServiceRuntime,
    tenant: UUID,
    rec: dict[str, Any],
    correlation: UUID | None,
) -> UUID | str | None:
    """The pending optimization's id, or why the recommendation cannot be applied."""
    changes = rec["recommended_changes"]
    campaign = rec["target_entity_id"]
    if rec["target_entity_type"] != "campaign" or campaign is None:
        return "only a change to a named campaign can be applied"
    if not isinstance(changes, dict):
        return "recommended_changes names no change"
    try:
        desire = desire_from_action(changes)
    except UnusableAction as exc:
        return f"recommended_changes cannot be applied: {exc}"
    policy = await tenant_policy(conn, tenant)
    cause = Cause(
        "recommendation",
        rec["id"],
        key=f"recommendation:{rec['id']}",
        expected=rec["expected_impact"] if isinstance(rec["expected_impact"], dict) else None,
        decision_id=rec["source_decision_id"],
        recommendation_id=rec["id"],
        by_person=True,
        correlation_id=correlation,
    )
    result = await plan(conn, runtime, tenant, campaign, desire, cause, policy.limits)
    if isinstance(result, Planned):
        if result.row["status"] == "pending":
            return UUID(str(result.row["id"]))
        return f"its change was already {result.row['status']}"
    if isinstance(result, Unreachable):
        return result.reason
    if isinstance(result, Held):
        return f"{result.refusal.reason}: {result.refusal.detail}"
    return "the change could not be planned"


async def approve(
    runtime: ServiceRuntime, request: web.Request, tenant: UUID, rec_id: UUID
) -> dict[str, Any]:
    """Approve, then apply the change through the same path as the optimizer's own; answers
    the recommendation as it then stands."""
    pending_id = await _approve_and_plan(runtime, request, tenant, rec_id)
    if pending_id is not None:
        await carry_out(runtime, tenant, pending_id, wait=True)
    async with runtime.tenant_tx(tenant) as conn:
        return await fetch_one(conn, c.RECOMMENDATIONS, tenant, rec_id)


async def _approve_and_plan(
    runtime: ServiceRuntime, request: web.Request, tenant: UUID, rec_id: UUID
) -> UUID | None:
    """Mark the recommendation approved and plan its change, in one transaction; answers
    the pending optimization, or None when it failed (and says why on the recommendation)."""
    async with runtime.tenant_tx(tenant) as conn:
        moved = await change_status(
            conn, c.RECOMMENDATIONS, tenant, rec_id, c.RECOMMENDATION_LIFECYCLE, "approve"
        )
        approved = {**moved.after, "before": {"status": moved.before["status"]}}
        await enqueue(conn, runtime.event(request, c.RECOMMENDATION_APPROVED, approved, tenant))
        correlation = request.get("correlation_id")
        reason = await plan_approved(conn, runtime, tenant, moved.after, correlation)
        if isinstance(reason, UUID):
            return reason
        if reason is not None:
            await fail_recommendation(conn, tenant, rec_id, reason)
        return None


async def approve_recommendation(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    rec_id = path_id(request, c.RECOMMENDATIONS.name)
    tenant = runtime.tenant_of(request)
    return json_response(await approve(runtime, request, tenant, rec_id))


def routes(runtime: ServiceRuntime) -> dict[Route, Handler]:
    return {
        c.CREATE_RECOMMENDATION: partial(
            create_item,
            runtime,
            c.RECOMMENDATIONS,
            c.RecommendationCreate,
            c.RECOMMENDATION_CREATED,
        ),
        c.APPROVE_RECOMMENDATION: partial(approve_recommendation, runtime),
    }
