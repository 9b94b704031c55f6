"""HTTP routes of the decision service."""

from __future__ import annotations

from functools import partial
from uuid import UUID

import asyncpg
from aiohttp import web

from services.decision.learning import refresh_scores
from shared.contracts import decision as c
from shared.contracts.spec import Route
from shared.once import once
from shared.outbox import enqueue
from shared.resources import insert
from shared.service import ServiceRuntime
from shared.web import ApiError, Handler, invalid, json_response, parse_body


async def _require(
    conn: asyncpg.Connection, table: str, tenant_id: UUID, id_: UUID, field: str
) -> None:
    exists = await conn.fetchval(
        f"SELECT 1 FROM {table} WHERE tenant_id = $1 AND id = $2", tenant_id, id_
    )
    if not exists:
        raise invalid(f"{field} does not exist", [{"field": field, "message": "not found"}])


# Cycles someone asked for that may wait at once, per tenant.
MAX_PENDING_REQUESTED = 5
REQUEST_LOCK_CLASS = 0x41445052


async def create_cycle(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    """Queue a cycle of the caller's own; the runner picks it up like any other."""
    body = await parse_body(request, c.CycleCreate)
    tenant = runtime.tenant_of(request)
    values = {**body.model_dump(), "trigger_event": body.trigger_event or "api"}
    values["metadata"] = {**body.metadata, "triggers": [values["trigger_event"]]}
    async with once(runtime, request, tenant) as write:
        if write.replay is not None:
            return write.replay
        conn = write.conn
        # Concurrent requests take turns, so the count below is the truth when we insert.
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))", REQUEST_LOCK_CLASS, str(tenant)
        )
        waiting = await conn.fetchval(
            "SELECT count(*) FROM master_ai_cycles "
            "WHERE tenant_id = $1 AND status = 'pending' AND NOT joinable",
            tenant,
        )
        if waiting >= MAX_PENDING_REQUESTED:
            raise ApiError(
                409,
                "too_many_pending_cycles",
                f"{waiting} requested cycles are already waiting; try again when they ran",
                {"pending": waiting},
            )
        row = await insert(conn, c.CYCLES, tenant, values)
        await enqueue(conn, runtime.event(request, c.CYCLE_QUEUED, row, tenant))
        return write.answered(json_response(row, status=201))


async def create_decision(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    body = await parse_body(request, c.DecisionCreate)
    tenant = runtime.tenant_of(request)
    async with once(runtime, request, tenant) as write:
        if write.replay is not None:
            return write.replay
        conn = write.conn
        if body.cycle_id is not None:
            await _require(conn, c.CYCLES.table, tenant, body.cycle_id, "cycle_id")
        row = await insert(conn, c.DECISIONS, tenant, body.model_dump())
        await enqueue(conn, runtime.event(request, c.DECISION_MADE, row, tenant))
        return write.answered(json_response(row, status=201))


async def create_feedback(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    """Feedback on a decision. A person's correction (``user_correction``) says in
    ``feedback_value.correct`` whether the decision was right (a correction that
    does not say is taken to say it was wrong); with its
    ``learning_weight`` it counts in the scores and in the confidence of the
    decision's type from the next cycle on."""
    body = await parse_body(request, c.FeedbackCreate)
    tenant = runtime.tenant_of(request)
    values = body.model_dump()
    correction = body.feedback_type == "user_correction"
    if correction:
        if not isinstance(body.feedback_value.get("correct", False), bool):
            raise invalid(
                "a correction says whether the decision was right",
                [{"field": "feedback_value.correct", "message": "must be true or false"}],
            )
        values["integration_status"] = "integrated"
    async with once(runtime, request, tenant) as write:
        if write.replay is not None:
            return write.replay
        conn = write.conn
        await _require(conn, c.DECISIONS.table, tenant, body.decision_id, "decision_id")
        row = await insert(conn, c.FEEDBACK, tenant, values)
        if correction:
            made_for = await conn.fetchval(
                "SELECT coalesce(as_of, created_at) FROM ai_decision_logs WHERE id = $1",
                body.decision_id,
            )
            await refresh_scores(conn, tenant, [made_for])
        await enqueue(conn, runtime.event(request, c.FEEDBACK_RECORDED, row, tenant))
        return write.answered(json_response(row, status=201))


def routes(runtime: ServiceRuntime) -> dict[Route, Handler]:
    return {
        c.CREATE_CYCLE: partial(create_cycle, runtime),
        c.CREATE_DECISION: partial(create_decision, runtime),
        c.CREATE_FEEDBACK: partial(create_feedback, runtime),
    }
