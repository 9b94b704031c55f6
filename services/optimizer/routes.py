"""HTTP routes of the optimizer service."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from aiohttp import web
from pydantic import ValidationError

from services.optimizer.execution import (
    Cause,
    Held,
    Planned,
    Unreachable,
    carry_out,
    fail_recommendation,
    plan,
)
from services.optimizer.experiment_routes import experiment_routes
from services.optimizer.forecasts import NoMetrics, UnknownCampaigns, make_forecasts
from services.optimizer.limits import merge_limits
from services.optimizer.recommend import UnusableAction, desire_from_action
from services.optimizer.rule_runner import actions_path, parse_rule, preview
from services.optimizer.tenants import tenant_policy
from services.optimizer.undo import plan_undo
from shared.contracts import optimizer as c
from shared.contracts.spec import InvalidTransition, Route
from shared.outbox import enqueue
from shared.resources import fetch_one, insert
from shared.service import ServiceRuntime
from shared.web import ApiError, Handler, invalid, json_response, parse_body, path_id


def _rule_errors(exc: ValidationError, actions_prefix: str) -> list[dict[str, Any]]:
    """Rule-language errors with paths into the request body."""
    fields = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = [str(p) for p in err["loc"]]
        if loc and loc[0] == "conditions":
            loc[0] = "trigger_conditions"
        elif loc and loc[0] == "actions":
            loc[0] = actions_prefix
        fields.append(
            {"field": ".".join(loc) or "body", "message": err["msg"], "type": err["type"]}
        )
    return fields


async def _checked_rule(conn: asyncpg.Connection, tenant: UUID, values: dict[str, Any]) -> None:
    """422 unless the rule parses and its limits fit the tenant's."""
    try:
        rule, prefix = parse_rule(
            values["trigger_conditions"], values["action_parameters"], values.get("safety_limits")
        )
    except ValidationError as exc:
        path = actions_path(values["action_parameters"])
        raise invalid("the rule is invalid", _rule_errors(exc, path)) from exc
    policy = await tenant_policy(conn, tenant)
    try:
        merge_limits(policy.limits, rule.safety_limits)
    except ValidationError as exc:
        raise invalid(
            "the rule's safety limits contradict the tenant's",
            [{**f, "field": f"safety_limits.{f['field']}"} for f in _rule_errors(exc, prefix)],
        ) from exc


def routes(runtime: ServiceRuntime) -> dict[Route, Handler]:
    async def create_recommendation(request: web.Request) -> web.Response:
        body = await parse_body(request, c.RecommendationCreate)
        tenant = runtime.tenant_of(request)
        async with runtime.tenant_tx(tenant) as conn:
            row = await insert(conn, c.RECOMMENDATIONS, tenant, body.model_dump())
            await enqueue(conn, runtime.event(request, c.RECOMMENDATION_CREATED, row, tenant))
        return json_response(row, status=201)

    async def approve_recommendation(request: web.Request) -> web.Response:
        """Approve, then apply the change through the same path as the optimizer's own."""
        rec_id = path_id(request, "recommendation")
        tenant = runtime.tenant_of(request)
        correlation = request.get("correlation_id")
        pending_id: UUID | None = None
        async with runtime.tenant_tx(tenant) as conn:
            await conn.execute(
                "SELECT 1 FROM ai_recommendations WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
                tenant,
                rec_id,
            )
            before = await fetch_one(conn, c.RECOMMENDATIONS, tenant, rec_id)
            try:
                c.RECOMMENDATION_LIFECYCLE.next_status("approve", before["status"])
            except InvalidTransition as exc:
                raise ApiError(
                    409, "invalid_transition", str(exc), {"status": exc.status, "action": "approve"}
                ) from exc
            row = await conn.fetchrow(
                f"""UPDATE ai_recommendations SET status = 'approved',
                        decided_at = clock_timestamp(), updated_at = clock_timestamp()
                    WHERE tenant_id = $1 AND id = $2 RETURNING {c.RECOMMENDATIONS.select_list}""",
                tenant,
                rec_id,
            )
            assert row is not None
            await enqueue(
                conn,
                runtime.event(
                    request,
                    c.RECOMMENDATION_APPROVED,
                    {**dict(row), "before": {"status": before["status"]}},
                    tenant,
                ),
            )
            reason = await _plan_approved(conn, tenant, dict(row), correlation)
            if isinstance(reason, UUID):
                pending_id = reason
            elif reason is not None:
                await fail_recommendation(conn, tenant, rec_id, reason)
        if pending_id is not None:
            await carry_out(runtime, tenant, pending_id, wait=True)
        async with runtime.tenant_tx(tenant) as conn:
            return json_response(await fetch_one(conn, c.RECOMMENDATIONS, tenant, rec_id))

    async def _plan_approved(
        conn: asyncpg.Connection, tenant: UUID, rec: dict[str, Any], correlation: UUID | None
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

    async def create_rule(request: web.Request) -> web.Response:
        body = await parse_body(request, c.RuleCreate)
        tenant = runtime.tenant_of(request)
        values = body.model_dump()
        async with runtime.tenant_tx(tenant) as conn:
            await _checked_rule(conn, tenant, values)
            row = await insert(conn, c.AUTOMATION_RULES, tenant, values)
        return json_response(row, status=201)

    async def update_rule(request: web.Request) -> web.Response:
        rule_id = path_id(request, "automation rule")
        body = await parse_body(request, c.RuleUpdate)
        tenant = runtime.tenant_of(request)
        changes = body.model_dump(exclude_unset=True)
        async with runtime.tenant_tx(tenant) as conn:
            await conn.execute(
                "SELECT 1 FROM ai_automation_rules WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
                tenant,
                rule_id,
            )
            current = await fetch_one(conn, c.AUTOMATION_RULES, tenant, rule_id)
            merged = {**current, **changes}
            await _checked_rule(conn, tenant, merged)
            if not changes:
                return json_response(current)
            names = list(changes)
            sets = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=3))
            row = await conn.fetchrow(
                f"""UPDATE ai_automation_rules SET {sets}, updated_at = clock_timestamp()
                    WHERE tenant_id = $1 AND id = $2
                    RETURNING {c.AUTOMATION_RULES.select_list}""",
                tenant,
                rule_id,
                *changes.values(),
            )
        return json_response(dict(row) if row else current)

    async def delete_rule(request: web.Request) -> web.Response:
        rule_id = path_id(request, "automation rule")
        tenant = runtime.tenant_of(request)
        async with runtime.tenant_tx(tenant) as conn:
            row = await fetch_one(conn, c.AUTOMATION_RULES, tenant, rule_id)
            await conn.execute(
                "DELETE FROM ai_automation_rules WHERE tenant_id = $1 AND id = $2", tenant, rule_id
            )
        return json_response(row)

    async def preview_rule(request: web.Request) -> web.Response:
        rule_id = path_id(request, "automation rule")
        tenant = runtime.tenant_of(request)
        async with runtime.tenant_tx(tenant) as conn:
            row = await fetch_one(conn, c.AUTOMATION_RULES, tenant, rule_id)
            try:
                result = await preview(conn, runtime, tenant, row)
            except ValidationError as exc:
                raise ApiError(
                    409,
                    "rule_invalid",
                    "the rule no longer fits the tenant's safety limits; update it",
                    {"errors": _rule_errors(exc, "action_parameters")},
                ) from exc
        return json_response(result)

    async def rollback(request: web.Request) -> web.Response:
        optimization_id = path_id(request, "optimization")
        body = (
            await parse_body(request, c.RollbackRequest)
            if await request.read()
            else c.RollbackRequest()
        )
        tenant = runtime.tenant_of(request)
        async with runtime.tenant_tx(tenant) as conn:
            pending = await plan_undo(
                conn,
                runtime,
                tenant,
                optimization_id,
                force=body.force,
                correlation_id=request.get("correlation_id"),
            )
        done = await carry_out(runtime, tenant, pending["id"], wait=True)
        assert done is not None
        if done["status"] == "failed":
            unreachable = done["failure_code"] == "platform_unavailable"
            raise ApiError(
                502 if unreachable else 409,
                "platform_unavailable" if unreachable else "platform_refused",
                str(done["failure_reason"]),
                {"optimization": done},
            )
        # Applied, or still pending while an unanswered platform is tried again.
        return json_response(done, status=201)

    async def create_forecasts(request: web.Request) -> web.Response:
        body = await parse_body(request, c.ForecastRequest)
        tenant = runtime.tenant_of(request)
        try:
            as_of, items, skipped = await make_forecasts(
                runtime,
                tenant,
                body.campaign_ids,
                sorted(set(body.horizons)),
                "request",
                request.get("correlation_id"),
            )
        except NoMetrics as exc:
            raise ApiError(
                409, "no_metrics", "no campaign of this tenant has reported metrics yet"
            ) from exc
        except UnknownCampaigns as exc:
            raise invalid(
                "no metrics for some campaigns",
                [
                    {
                        "field": f"campaign_ids.{body.campaign_ids.index(cid)}",
                        "message": "no metrics for this campaign",
                    }
                    for cid in exc.campaign_ids
                    if body.campaign_ids is not None
                ],
            ) from exc
        return json_response(
            {
                "as_of": as_of,
                "items": items,
                "skipped": [{"campaign_id": cid, "reason": why} for cid, why in skipped],
            },
            status=201,
        )

    return {
        c.CREATE_FORECASTS: create_forecasts,
        c.CREATE_RECOMMENDATION: create_recommendation,
        c.APPROVE_RECOMMENDATION: approve_recommendation,
        c.CREATE_RULE: create_rule,
        c.UPDATE_RULE: update_rule,
        c.DELETE_RULE: delete_rule,
        c.PREVIEW_RULE: preview_rule,
        c.ROLLBACK_OPTIMIZATION: rollback,
        **experiment_routes(runtime),
    }
