"""Routes of automation rules: create, update, delete and preview (the list and status
routes are the standard ones)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from aiohttp import web
from pydantic import ValidationError

from services.optimizer.core.limits import merge_limits
from services.optimizer.core.tenants import tenant_policy
from services.optimizer.rules.runner import actions_path, parse_rule, preview
from shared.contracts import optimizer as c
from shared.contracts.spec import Route
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

    return {
        c.CREATE_RULE: create_rule,
        c.UPDATE_RULE: update_rule,
        c.DELETE_RULE: delete_rule,
        c.PREVIEW_RULE: preview_rule,
    }
