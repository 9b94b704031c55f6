"""Routes of the changes themselves: rolling one back."""

from __future__ import annotations

from functools import partial

from aiohttp import web

from services.optimizer.core.execution import carry_out
from services.optimizer.core.rollback import request_rollback
from shared.contracts import optimizer as c
from shared.contracts.spec import Route
from shared.service import ServiceRuntime
from shared.web import ApiError, Handler, json_response, parse_body, path_id


async def rollback(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    optimization_id = path_id(request, "optimization")
    body = (
        await parse_body(request, c.RollbackRequest)
        if await request.read()
        else c.RollbackRequest()
    )
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        pending = await request_rollback(
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


def routes(runtime: ServiceRuntime) -> dict[Route, Handler]:
    return {c.ROLLBACK_OPTIMIZATION: partial(rollback, runtime)}
