"""``GET`` and ``PUT /api/ai/preferences``: the tenant's autonomy and safety limits."""

from __future__ import annotations

from functools import partial

from aiohttp import web
from pydantic import ValidationError

from services.gateway.preferences import KEEP, get_preferences, set_preferences
from shared.contracts import gateway as c
from shared.contracts.spec import Route
from shared.service import ServiceRuntime
from shared.web import Handler, invalid, json_response, parse_body, validation_fields


async def read(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        return json_response(await get_preferences(conn, tenant))


async def write(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    body = await parse_body(request, c.PreferencesUpdate)
    tenant = runtime.tenant_of(request)
    try:
        async with runtime.tenant_tx(tenant) as conn:
            saved = await set_preferences(
                conn,
                tenant,
                body.autonomy,
                body.safety_limits,
                industry=body.industry if "industry" in body.model_fields_set else KEEP,
                correlation_id=request.get("correlation_id"),
            )
    except ValidationError as exc:
        fields = validation_fields(exc, ("safety_limits",))
        raise invalid("request body is invalid", fields) from exc
    return json_response(saved)


def preference_routes(runtime: ServiceRuntime) -> dict[Route, Handler]:
    return {c.GET_PREFERENCES: partial(read, runtime), c.SET_PREFERENCES: partial(write, runtime)}
