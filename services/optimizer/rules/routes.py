"""Routes of automation rules: create, update, delete and preview (the list and status
routes are the standard ones)."""

from __future__ import annotations

from functools import partial
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
from shared.once import once
from shared.resources import delete, fetch_one, insert, update
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


async def create_rule(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    body = await parse_body(request, c.RuleCreate)
    tenant = runtime.tenant_of(request)
    values = body.model_dump()
    async with once(runtime, request, tenant) as write:
        if write.replay is not None:
            return write.replay
        conn = write.conn
        await _checked_rule(conn, tenant, values)
        row = await insert(conn, c.AUTOMATION_RULES, tenant, values)
        return write.answered(json_response(row, status=201))


async def update_rule(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    rule_id = path_id(request, c.AUTOMATION_RULES.name)
    body = await parse_body(request, c.RuleUpdate)
    tenant = runtime.tenant_of(request)
    changes = body.model_dump(exclude_unset=True)
    async with runtime.tenant_tx(tenant) as conn:
        current = await fetch_one(conn, c.AUTOMATION_RULES, tenant, rule_id, lock=True)
        await _checked_rule(conn, tenant, {**current, **changes})
        row = await update(conn, c.AUTOMATION_RULES, tenant, rule_id, changes)
    return json_response(row)


async def delete_rule(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    rule_id = path_id(request, c.AUTOMATION_RULES.name)
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        row = await delete(conn, c.AUTOMATION_RULES, tenant, rule_id)
    return json_response(row)


async def preview_rule(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    rule_id = path_id(request, c.AUTOMATION_RULES.name)
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


def routes(runtime: ServiceRuntime) -> dict[Route, Handler]:
    return {
        c.CREATE_RULE: partial(create_rule, runtime),
        c.UPDATE_RULE: partial(update_rule, runtime),
        c.DELETE_RULE: partial(delete_rule, runtime),
        c.PREVIEW_RULE: partial(preview_rule, runtime),
    }
