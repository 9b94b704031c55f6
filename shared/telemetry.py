"""Telemetry for Prometheus, one service at a time: requests, events, outbox. No tenant
appears in any label, so ``/metrics`` can stay open."""

from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from shared.web import Handler, Middleware


class Telemetry:
    def __init__(self, service: str) -> None:
        # A registry per service instance keeps tests that run several apps apart.
        self.registry = CollectorRegistry()
        self.service = service
        self.requests = Counter(
            "adpilot_http_requests",
            "HTTP requests answered",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "adpilot_http_request_seconds",
            "Time to answer an HTTP request",
            ["service", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.events = Counter(
            "adpilot_events",
            "Events taken from the bus, by outcome",
            ["service", "type", "outcome"],
            registry=self.registry,
        )
        self.published = Counter(
            "adpilot_outbox_published",
            "Events published from the outbox",
            ["service"],
            registry=self.registry,
        )
        self.backlog = Gauge(
            "adpilot_outbox_backlog",
            "Outbox rows not yet published (at the last heartbeat)",
            ["service"],
            registry=self.registry,
        )
        self.dead_letters = Gauge(
            "adpilot_dead_letters",
            "Messages in the service's dead-letter queue",
            ["service"],
            registry=self.registry,
        )

    def event(self, type_: str, outcome: str) -> None:
        self.events.labels(self.service, type_, outcome).inc()

    def middleware(self) -> Middleware:
        @web.middleware
        async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
            started = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                resource = request.match_info.route.resource
                route = resource.canonical if resource is not None else "unmatched"
                self.requests.labels(self.service, request.method, route, str(status)).inc()
                self.latency.labels(self.service, route).observe(time.perf_counter() - started)

        return measure

    async def handle(self, _request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )
