"""HTTP routes of the optimizer service."""

from __future__ import annotations

from aiohttp import web

from services.optimizer import resources as r
from services.optimizer.lifecycle import RECOMMENDATION_LIFECYCLE
from services.optimizer.models import RecommendationCreate
from shared import events
from shared.crud import read_routes
from shared.events import to_payload
from shared.lifecycle import transition_route
from shared.outbox import enqueue
from shared.resources import insert
from shared.service import ServiceRuntime
from shared.web import json_response, parse_body


def routes(runtime: ServiceRuntime) -> list[web.RouteDef]:
    async def create_recommendation(request: web.Request) -> web.Response:
        body = await parse_body(request, RecommendationCreate)
        tenant = runtime.tenant_of(request)
        async with runtime.tenant_tx(tenant) as conn:
            row = await insert(conn, r.RECOMMENDATIONS, tenant, body.model_dump())
            await enqueue(
                conn,
                runtime.event(request, events.RECOMMENDATION_CREATED, to_payload(row), tenant),
            )
        return json_response(row, status=201)

    return [
        *read_routes(runtime, "/api/ai/recommendations", r.RECOMMENDATIONS),
        web.post("/api/ai/recommendations", create_recommendation),
        transition_route(
            runtime, "/api/ai/recommendations", r.RECOMMENDATIONS, RECOMMENDATION_LIFECYCLE
        ),
        *read_routes(runtime, "/api/ai/forecasts", r.FORECASTS),
        *read_routes(runtime, "/api/ai/automation-rules", r.AUTOMATION_RULES),
        *read_routes(runtime, "/api/ai/optimization-history", r.OPTIMIZATION_HISTORY),
        *read_routes(runtime, "/api/ai/integration-logs", r.INTEGRATION_LOGS),
    ]
