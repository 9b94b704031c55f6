"""The gateway: the only public door. Serves ``/api/ai`` and keeps the audit trail."""

from pathlib import Path

from aiohttp import web

from services.gateway.audit import subscriptions
from services.gateway.idempotency import forget_expired_keys, idempotency
from services.gateway.proxy import http_client
from services.gateway.routes import documents, routes
from services.gateway.security import gateway_middlewares
from services.gateway.static import dashboard_routes, reference_routes
from shared.service import ServiceRuntime, ServiceSpec


def plain_routes(runtime: ServiceRuntime) -> list[web.RouteDef]:
    """Everything outside the API's contract; the dashboard, which takes every path left
    over, comes last."""
    settings = runtime.settings
    return [*documents(runtime), *reference_routes(settings), *dashboard_routes(settings)]


SPEC = ServiceSpec(
    name="gateway",
    migrations=Path(__file__).parent / "migrations",
    routes=routes,
    subscriptions=subscriptions,
    plain_routes=plain_routes,
    lifespans=(http_client,),
    middlewares=lambda runtime: [*gateway_middlewares(runtime), idempotency(runtime)],
    background=(forget_expired_keys,),
)
