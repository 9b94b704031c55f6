"""One app factory for every service: pool, bus, outbox relay, consumer, health routes."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from aiohttp import web
from pydantic import BaseModel

from shared.bus import Bus, dead_letter_queue_name
from shared.config import Settings
from shared.consumer import Consumer, Subscriptions, events_consumed
from shared.contracts.spec import EventType, Route
from shared.db import create_pool, scoped
from shared.events import Envelope
from shared.health import heartbeat
from shared.housekeeping import housekeeping
from shared.internal_auth import HEADER as INTERNAL_HEADER
from shared.internal_auth import InvalidToken, Principal, verify
from shared.outbox import OutboxRelay, backlog
from shared.routing import bind_routes
from shared.telemetry import Telemetry
from shared.web import (
    ApiError,
    Middleware,
    context_middleware,
    error_middleware,
    json_response,
)
from shared.web import Handler as HttpHandler


@dataclass(frozen=True)
class ServiceSpec:
    """What makes a service itself; everything else is the same for all of them."""

    name: str
    migrations: Path
    # Handlers for the contract's routes that are not the standard list, get or status
    # change; see shared.routing.
    routes: Callable[[ServiceRuntime], Mapping[Route, HttpHandler]] = lambda _rt: {}
    subscriptions: Subscriptions | None = None
    # Routes outside the API contract (the gateway's documents).
    plain_routes: Callable[[ServiceRuntime], Sequence[web.AbstractRouteDef]] = lambda _rt: ()
    # Event types this service must apply one at a time, in the order they arrive.
    ordered: frozenset[str] = frozenset()
    background: Sequence[Callable[[ServiceRuntime], Awaitable[None]]] = ()
    # Resources that live as long as the service (HTTP client sessions, connectors),
    # entered after the database and broker are up and left before they close.
    lifespans: Sequence[Callable[[ServiceRuntime], AbstractAsyncContextManager[None]]] = ()
    # How requests are authenticated. None: only requests the gateway signed are served
    # (see shared.internal_auth); the gateway brings its own credential checks.
    middlewares: Callable[[ServiceRuntime], Sequence[Middleware]] | None = None


@dataclass
class ServiceRuntime:
    spec: ServiceSpec
    settings: Settings
    pool: asyncpg.Pool | None = None
    bus: Bus | None = None
    relay: OutboxRelay | None = None
    consumer: Consumer | None = None
    started_at: float = field(default_factory=time.monotonic)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    telemetry: Telemetry = field(default_factory=lambda: Telemetry("unknown"))
    # Service-specific collaborators (HTTP client sessions, connectors, caches).
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def db(self) -> asyncpg.Pool:
        assert self.pool is not None, "runtime not started"
        return self.pool

    def tenant_tx(self, tenant_id: UUID) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """A transaction that sees only ``tenant_id``'s rows (row-level security)."""
        return scoped(self.db, tenant_id)

    def system_tx(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """A transaction for the platform's own cross-tenant work."""
        return scoped(self.db, system=True)

    def tenant_of(self, request: web.Request) -> UUID:
        """The tenant the request acts for: only ever from a verified principal."""
        return principal_of(request).tenant_id

    def event(
        self,
        request: web.Request,
        event_type: EventType[Any],
        payload: BaseModel | Mapping[str, Any],
        tenant_id: UUID,
    ) -> Envelope:
        """An event started by an HTTP request: the request's correlation id goes along."""
        return event_type.envelope(
            payload,
            tenant_id=tenant_id,
            correlation_id=request.get("correlation_id") or uuid4(),
            source=self.name,
        )

    async def status(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "service": self.name,
            "uptime_seconds": round(time.monotonic() - self.started_at, 1),
            "database": {"reachable": False},
            "broker": {"connected": bool(self.bus and self.bus.connected)},
            "outbox_backlog": None,
            "events_consumed": None,
            "dead_letters": None,
        }
        try:
            async with self.system_tx() as conn:
                report["outbox_backlog"] = await backlog(conn)
                report["events_consumed"] = await events_consumed(conn, self.name)
            report["database"]["reachable"] = True
        except Exception as exc:
            report["database"]["error"] = exc.__class__.__name__
        if self.bus is not None and self.consumer is not None:
            report["dead_letters"] = await self.bus.queue_depth(
                dead_letter_queue_name(self.bus.exchange_name, self.name)
            )
        healthy = report["database"]["reachable"] and report["broker"]["connected"]
        report["status"] = "up" if healthy else "degraded"
        return report


RUNTIME = web.AppKey("runtime", ServiceRuntime)


def runtime_of(request: web.Request) -> ServiceRuntime:
    return request.app[RUNTIME]


async def _healthz(request: web.Request) -> web.Response:
    return json_response({"status": "alive", "service": runtime_of(request).name})


async def _readyz(request: web.Request) -> web.Response:
    report = await runtime_of(request).status()
    ready = report["status"] == "up"
    return json_response(
        {
            "status": "ready" if ready else "not_ready",
            "service": report["service"],
            "database": report["database"]["reachable"],
            "broker": report["broker"]["connected"],
        },
        status=200 if ready else 503,
    )


async def _status(request: web.Request) -> web.Response:
    return json_response(await runtime_of(request).status())


async def _guarded(name: str, job: Callable[[], Awaitable[None]]) -> None:
    """Keep a background job alive: log and restart it rather than lose it silently."""
    log = logging.getLogger(name)
    while True:
        try:
            await job()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background job failed; restarting in 1s")
            await asyncio.sleep(1)


def principal_of(request: web.Request) -> Principal:
    principal: Principal | None = request.get("principal")
    if principal is None:
        raise ApiError(401, "unauthorized", "authentication required")
    return principal


# Liveness and readiness say nothing about tenants, so anyone may ask.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def internal_auth(runtime: ServiceRuntime) -> Sequence[Middleware]:
    secret = runtime.settings.require_internal_secret()

    @web.middleware
    async def only_the_gateway(request: web.Request, handler: HttpHandler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        token = request.headers.get(INTERNAL_HEADER)
        if not token:
            raise ApiError(401, "unauthorized", "this service answers only the gateway")
        try:
            request["principal"] = verify(token, secret)
        except InvalidToken as exc:
            raise ApiError(401, "unauthorized", "invalid internal credentials") from exc
        return await handler(request)

    return [only_the_gateway]


def create_app(spec: ServiceSpec, settings: Settings) -> web.Application:
    runtime = ServiceRuntime(spec=spec, settings=settings, telemetry=Telemetry(spec.name))
    own: Sequence[Any] = (spec.middlewares or internal_auth)(runtime)
    app = web.Application(
        middlewares=[
            context_middleware,
            runtime.telemetry.middleware(),
            error_middleware,
            *own,
        ],
        client_max_size=settings.max_body_bytes,
    )
    app[RUNTIME] = runtime

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        runtime.pool = await create_pool(
            settings.database_url,
            spec.name,
            password=settings.service_password,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            statement_timeout_ms=settings.statement_timeout_ms,
        )
        runtime.bus = Bus(settings.amqp_url, settings.exchange)
        stack = AsyncExitStack()
        try:
            await runtime.bus.connect()
            for lifespan in spec.lifespans:
                await stack.enter_async_context(lifespan(runtime))
            if spec.subscriptions:
                runtime.consumer = Consumer(
                    runtime.bus,
                    runtime.pool,
                    spec.name,
                    spec.subscriptions,
                    prefetch_count=settings.prefetch_count,
                    max_deliveries=settings.max_deliveries,
                    ordered=spec.ordered,
                    on_outcome=runtime.telemetry.event,
                )
                await runtime.consumer.start()
            runtime.relay = OutboxRelay(
                runtime.pool,
                runtime.bus,
                spec.name,
                poll_seconds=settings.outbox_poll_seconds,
                on_published=runtime.telemetry.published.labels(spec.name).inc,
            )
            runtime.tasks.append(asyncio.create_task(_guarded("outbox", runtime.relay.run)))
            for job in (heartbeat, housekeeping, *spec.background):
                runtime.tasks.append(
                    asyncio.create_task(_guarded(job.__name__, functools.partial(job, runtime)))
                )
            logging.getLogger(spec.name).info("service started")
            yield
        finally:
            logging.getLogger(spec.name).info("service stopping")
            for task in runtime.tasks:
                task.cancel()
            for task in runtime.tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if runtime.consumer is not None:
                with contextlib.suppress(Exception):
                    await runtime.consumer.stop()
            await stack.aclose()
            with contextlib.suppress(Exception):
                await runtime.bus.close()
            await runtime.pool.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/internal/status", _status)
    app.router.add_get("/metrics", runtime.telemetry.handle)
    app.router.add_routes(spec.plain_routes(runtime))
    app.router.add_routes(bind_routes(runtime, spec.routes(runtime)))
    return app
