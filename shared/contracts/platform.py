"""Events every service publishes about itself."""

from __future__ import annotations

from typing import Any

from shared.contracts.spec import EventPayload, EventType

EVERY_SERVICE = ("*",)


class HealthReported(EventPayload):
    """One heartbeat: how a service finds itself."""

    component_name: str
    health_status: str
    errors: list[str]
    heartbeat_seconds: float
    # Figures about the service itself: uptime, outbox backlog, events consumed.
    readings: dict[str, Any]


class ModelRegistered(EventPayload):
    """A model a service runs, with the parameters it runs with."""

    model_name: str
    version: str
    model_type: str
    parameters: dict[str, Any]
    service: str


HEALTH_REPORTED = EventType(
    "health.reported",
    HealthReported,
    EVERY_SERVICE,
    subscribers=("alerts",),
    summary="A service's heartbeat, every `heartbeat_seconds`.",
)
MODEL_REGISTERED = EventType(
    "model.registered",
    ModelRegistered,
    EVERY_SERVICE,
    subscribers=("decision",),
    summary="A service announces a model it runs, on start.",
)

EVENTS = (HEALTH_REPORTED, MODEL_REGISTERED)
