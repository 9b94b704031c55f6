"""Telemetry for Prometheus, one service at a time: requests, events, outbox. No tenant
appears in any label, so ``/metrics`` can stay open."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

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
        # The gauges below hold the service's last status report (taken at every scrape,
        # readiness check and heartbeat). An age is 0 when there is nothing waiting.
        self.backlog = Gauge(
            "adpilot_outbox_backlog",
            "Outbox rows not yet published",
            ["service"],
            registry=self.registry,
        )
        self.backlog_age = Gauge(
            "adpilot_outbox_oldest_age_seconds",
            "Age of the oldest outbox row not yet published",
            ["service"],
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "adpilot_consumer_lag",
            "Messages waiting in the service's queue",
            ["service"],
            registry=self.registry,
        )
        self.dead_letters = Gauge(
            "adpilot_dead_letters",
            "Messages in the service's dead-letter queue",
            ["service"],
            registry=self.registry,
        )
        self.dead_letters_age = Gauge(
            "adpilot_dead_letters_oldest_age_seconds",
            "Age of the oldest message in the service's dead-letter queue",
            ["service"],
            registry=self.registry,
        )
        self.broker_connected = Gauge(
            "adpilot_broker_connected",
            "1 while the connection to RabbitMQ is up, 0 while it is lost or reconnecting",
            ["service"],
            registry=self.registry,
        )
        self.database_reachable = Gauge(
            "adpilot_database_reachable",
            "1 if PostgreSQL answered the last status check, else 0",
            ["service"],
            registry=self.registry,
        )

    def observe(self, report: Mapping[str, Any]) -> None:
        """Carry a status report (see ``ServiceRuntime.status``) into the gauges. A reading
        that could not be taken keeps its last value; connectivity is always current."""
        readings = {
            self.backlog: report.get("outbox_backlog"),
            self.backlog_age: report.get("outbox_oldest_age_seconds"),
            self.consumer_lag: report.get("consumer_lag"),
            self.dead_letters: report.get("dead_letters"),
            self.dead_letters_age: report.get("dead_letters_oldest_age_seconds"),
        }
        for gauge, value in readings.items():
            if value is not None:
                gauge.labels(self.service).set(value)
        if report.get("outbox_backlog") == 0:
            self.backlog_age.labels(self.service).set(0)
        if report.get("dead_letters") == 0:
            self.dead_letters_age.labels(self.service).set(0)
        self.broker_connected.labels(self.service).set(int(report["broker"]["connected"]))
        self.database_reachable.labels(self.service).set(int(report["database"]["reachable"]))

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
