"""One app factory for every service: pool, bus, outbox relay, consumer, health routes."""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
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

from shared.bus import Bus, dead_letter_queue_name, queue_name
from shared.config import Settings
from shared.consumer import Consumer, Subscriptions, events_consumed
from shared.contracts.spec import EventType, Route
from shared.db import create_pool, scoped
from shared.events import Envelope
from shared.health import heartbeat
from shared.housekeeping import housekeeping
from shared.internal_auth import HEADER as INTERNAL_HEADER
from shared.internal_auth import InvalidToken, Principal, verify
from shared.outbox import OutboxRelay, backlog_age
from shared.retry import retry
from shared.routing import bind_routes
from shared.telemetry import Telemetry
from shared.web import (
    ApiError,
    Middleware,
    context_middleware,
    dependency_unavailable,
    domain_error_middleware,
    error_middleware,
    json_response,
)
from shared.web import Handler as HttpHandler

log = logging.getLogger(__name__)


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
    # Event types this service must apply one at a time per tenant, in the order they arrive.
    ordered: frozenset[str] = frozenset()
    background: Sequence[Callable[[ServiceRuntime], Awaitable[None]]] = ()
    # Upkeep of the service's own tables, run by the hourly housekeeping after its sweep
    # (shared.housekeeping.metric_partitions in the services that keep campaign_metrics).
    upkeep: Sequence[Callable[[ServiceRuntime], Awaitable[None]]] = ()
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

    async def status(self, *, queues: bool = True) -> dict[str, Any]:
        """The service's own view of its health. Every reading is bounded in time: a
        server that hangs makes its readings None (and the service degraded), never the
        report late. ``queues=False`` skips looking into the broker's queues (readiness
        needs only connectivity)."""
        bus = self.bus
        report: dict[str, Any] = {
            "service": self.name,
            "uptime_seconds": round(time.monotonic() - self.started_at, 1),
            "database": {"reachable": False},
            "broker": {"connected": bool(bus and bus.connected)},
            "outbox_backlog": None,
            "outbox_oldest_age_seconds": None,
            "consumer_lag": None,
            "events_consumed": None,
            "dead_letters": None,
            "dead_letters_oldest_age_seconds": None,
        }
        limit = self.settings.status_timeout_seconds

        async def database() -> None:
            try:
                async with asyncio.timeout(limit), self.system_tx() as conn:
                    backlog, age = await backlog_age(conn)
                    report["outbox_backlog"], report["outbox_oldest_age_seconds"] = backlog, age
                    report["events_consumed"] = await events_consumed(conn, self.name)
                report["database"]["reachable"] = True
            except Exception as exc:
                report["database"]["error"] = exc.__class__.__name__

        async def broker() -> None:
            if not queues or bus is None or self.consumer is None:
                return
            work = queue_name(bus.exchange_name, self.name)
            dead = dead_letter_queue_name(bus.exchange_name, self.name)
            try:
                async with asyncio.timeout(limit):
                    lag, count, oldest = await asyncio.gather(
                        bus.queue_depth(work), bus.queue_depth(dead), bus.oldest_age(dead)
                    )
            except TimeoutError:
                return
            report["consumer_lag"] = lag
            report["dead_letters"] = count
            report["dead_letters_oldest_age_seconds"] = oldest if count else None

        await asyncio.gather(database(), broker())
        # Connectivity once more: a connection lost while the readings were taken counts.
        report["broker"]["connected"] = bool(bus and bus.connected)
        healthy = report["database"]["reachable"] and report["broker"]["connected"]
        report["status"] = "up" if healthy else "degraded"
        self.telemetry.observe(report)
        return report


RUNTIME = web.AppKey("runtime", ServiceRuntime)


def runtime_of(request: web.Request) -> ServiceRuntime:
    return request.app[RUNTIME]


async def _healthz(request: web.Request) -> web.Response:
    return json_response({"status": "alive", "service": runtime_of(request).name})


async def _readyz(request: web.Request) -> web.Response:
    report = await runtime_of(request).status(queues=False)
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


async def _metrics(request: web.Request) -> web.Response:
    runtime = runtime_of(request)
    await runtime.status()  # the gauges show the state now, not at the last heartbeat
    return await runtime.telemetry.handle(request)


async def _guarded(name: str, job: Callable[[], Awaitable[None]]) -> None:
    """Keep a background job alive: log and restart it rather than lose it silently."""
    # A job that fails is a bug more often than an outage: keep its traceback, unless a
    # server it needs is away (then the error line says all there is to say).
    await retry(
        job,
        what=f"background job {name}",
        log=logging.getLogger(name),
        traceback=lambda exc: not dependency_unavailable(exc),
    )


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


# How long shutdown waits for each kind of work in hand before it lets go. Together they
# stay under the 10 s a supervisor (`adpilot up`, Docker, Kubernetes) gives before it kills.
REQUEST_GRACE = 2.0
MESSAGE_GRACE = 3.0
FLUSH_GRACE = 1.5
JOB_GRACE = 1.0


async def _database(runtime: ServiceRuntime, _app: web.Application) -> AsyncIterator[None]:
    settings = runtime.settings
    runtime.pool = await create_pool(
        settings.database_url,
        runtime.name,
        password=settings.service_password,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        statement_timeout_ms=settings.statement_timeout_ms,
    )
    yield
    # Everything that borrowed a connection has given it back by now; should something
    # still hold one, it is cut off rather than waited for.
    try:
        await asyncio.wait_for(runtime.pool.close(), JOB_GRACE)
    except TimeoutError:
        log.warning("database connections still in use at shutdown; closing them")
        runtime.pool.terminate()


async def _broker(runtime: ServiceRuntime, _app: web.Application) -> AsyncIterator[None]:
    runtime.bus = Bus(runtime.settings.amqp_url, runtime.settings.exchange)
    try:
        await runtime.bus.connect()
        yield
    finally:
        await runtime.bus.close()


async def _relay(runtime: ServiceRuntime, _app: web.Application) -> AsyncIterator[None]:
    assert runtime.bus is not None
    relay = runtime.relay = OutboxRelay(
        runtime.db,
        runtime.bus,
        runtime.name,
        poll_seconds=runtime.settings.outbox_poll_seconds,
        on_published=runtime.telemetry.published.labels(runtime.name).inc,
    )
    task = asyncio.create_task(relay.run(), name="outbox relay")
    yield
    relay.stop()
    await _finish(task, JOB_GRACE)
    # What the service committed before it stopped goes out now, not at its next start.
    try:
        async with asyncio.timeout(FLUSH_GRACE):
            await relay.flush()
    except Exception as exc:  # TimeoutError included: the rest waits in the outbox
        log.warning("outbox not flushed; it goes out at the next start", extra={"error": repr(exc)})


async def _lifespans(runtime: ServiceRuntime, _app: web.Application) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        for lifespan in runtime.spec.lifespans:
            await stack.enter_async_context(lifespan(runtime))
        yield


async def _consumer(runtime: ServiceRuntime, _app: web.Application) -> AsyncIterator[None]:
    subscriptions = runtime.spec.subscriptions
    if not subscriptions:
        yield
        return
    assert runtime.bus is not None
    settings = runtime.settings
    consumer = runtime.consumer = Consumer(
        runtime.bus,
        runtime.db,
        runtime.name,
        subscriptions.bind(runtime),
        prefetch_count=settings.prefetch_count,
        max_deliveries=settings.max_deliveries,
        ordered=runtime.spec.ordered,
        on_outcome=runtime.telemetry.event,
    )
    await consumer.start()
    yield
    await consumer.stop(grace=MESSAGE_GRACE)


async def _background(runtime: ServiceRuntime, _app: web.Application) -> AsyncIterator[None]:
    tasks = [
        asyncio.create_task(_guarded(job.__name__, functools.partial(job, runtime)))
        for job in (heartbeat, housekeeping, *runtime.spec.background)
    ]
    runtime.tasks.extend(tasks)
    logging.getLogger(runtime.name).info("service started")
    yield
    # Jobs hold nothing that must finish: a heartbeat or a sweep is simply done again.
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _finish(task: asyncio.Task[None], grace: float) -> None:
    """Let ``task`` return by itself within ``grace`` seconds, else cancel it."""
    _done, late = await asyncio.wait({task}, timeout=grace)
    if late:
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception as exc:
        log.warning(
            "task failed while stopping", extra={"task": task.get_name(), "error": repr(exc)}
        )


def create_app(spec: ServiceSpec, settings: Settings) -> web.Application:
    runtime = ServiceRuntime(spec=spec, settings=settings, telemetry=Telemetry(spec.name))
    own: Sequence[Any] = (spec.middlewares or internal_auth)(runtime)
    app = web.Application(
        middlewares=[
            context_middleware,
            runtime.telemetry.middleware(),
            error_middleware,
            *own,
            domain_error_middleware,
        ],
        client_max_size=settings.max_body_bytes,
    )
    app[RUNTIME] = runtime

    # One context per resource, entered in this order and left in the reverse one: jobs
    # stop first, then messages in hand finish, then the relay publishes what they wrote.
    for resource in (_database, _broker, _relay, _lifespans, _consumer, _background):
        app.cleanup_ctx.append(functools.partial(resource, runtime))
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/internal/status", _status)
    app.router.add_get("/metrics", _metrics)
    app.router.add_routes(spec.plain_routes(runtime))
    app.router.add_routes(bind_routes(runtime, spec.routes(runtime)))
    return app


async def serve(app: web.Application, host: str, port: int) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then stop it in order and return.

    The first signal starts the shutdown; later ones are noted and ignored, so a
    supervisor that signals twice cannot cut the cleanup short."""
    logger = logging.getLogger(app[RUNTIME].name)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            logger.info("already stopping", extra={"signal": sig.name})
            return
        logger.info("service stopping", extra={"signal": sig.name})
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=REQUEST_GRACE)
    try:
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        await stop.wait()
        stopping = time.monotonic()
    finally:
        # Stop listening, finish requests in hand, then leave the cleanup contexts.
        await runner.cleanup()
    logger.info("service stopped", extra={"seconds": round(time.monotonic() - stopping, 2)})
