"""HTTP routes of the optimizer service."""

from __future__ import annotations

from aiohttp import web

from shared.contracts import optimizer as c
from shared.contracts.spec import Route
from shared.outbox import enqueue
from shared.resources import insert
from shared.service import ServiceRuntime
from shared.web import Handler, json_response, parse_body


def routes(runtime: ServiceRuntime) -> dict[Route, Handler]:
    async def create_recommendation(request: web.Request) -> web.Response:
        body = await parse_body(request, c.RecommendationCreate)
        tenant = runtime.tenant_of(request)
        async with runtime.tenant_tx(tenant) as conn:
            row = await insert(conn, c.RECOMMENDATIONS, tenant, body.model_dump())
            await enqueue(conn, runtime.event(request, c.RECOMMENDATION_CREATED, row, tenant))
        return json_response(row, status=201)

    return {c.CREATE_RECOMMENDATION: create_recommendation}
