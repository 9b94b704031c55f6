"""Routes of forecasts: forecasting on request (reading them is the standard list)."""

from __future__ import annotations

from functools import partial

from aiohttp import web

from services.optimizer.forecasts.store import NoMetrics, UnknownCampaigns, make_forecasts
from shared.contracts import optimizer as c
from shared.contracts.spec import Route
from shared.service import ServiceRuntime
from shared.web import ApiError, Handler, invalid, json_response, parse_body


async def create_forecasts(runtime: ServiceRuntime, request: web.Request) -> web.Response:
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


def routes(runtime: ServiceRuntime) -> dict[Route, Handler]:
    return {c.CREATE_FORECASTS: partial(create_forecasts, runtime)}
