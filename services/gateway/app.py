"""The gateway: the only public door. Serves ``/api/ai`` and keeps the audit trail."""

from pathlib import Path

from services.gateway.audit import subscriptions
from services.gateway.idempotency import forget_expired_keys, idempotency
from services.gateway.proxy import http_client
from services.gateway.routes import documents, routes
from services.gateway.security import gateway_middlewares
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="gateway",
    migrations=Path(__file__).parent / "migrations",
    routes=routes,
    subscriptions=subscriptions,
    plain_routes=documents,
    lifespans=(http_client,),
    middlewares=lambda runtime: [*gateway_middlewares(runtime), idempotency(runtime)],
    background=(forget_expired_keys,),
)
