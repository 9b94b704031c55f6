"""The event envelope every message on the bus travels in, and the event types."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any
from uuid import UUID, uuid4

import orjson
from pydantic import BaseModel, ConfigDict, Field


def _now() -> datetime:
    return datetime.now(UTC)


def json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    # asyncpg returns its own UUID subclass, which orjson does not recognise.
    if isinstance(value, UUID | IPv4Address | IPv6Address | IPv4Network | IPv6Network):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def optional_uuid(value: Any) -> UUID | None:
    """A UUID from a payload field that may be missing or malformed (consumers ignore what
    they cannot read rather than fail on it)."""
    try:
        return UUID(str(value)) if value is not None else None
    except ValueError:
        return None


def to_payload(data: Mapping[str, Any]) -> dict[str, Any]:
    """A database row (UUIDs, timestamps, numerics) as plain JSON values for an event."""
    result: dict[str, Any] = orjson.loads(orjson.dumps(dict(data), default=json_default))
    return result


class Envelope(BaseModel):
    """A versioned event. Consumers ignore fields they do not know (``extra="ignore"``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: UUID = Field(default_factory=uuid4)
    type: str = Field(min_length=1, max_length=100)
    version: int = Field(default=1, ge=1)
    occurred_at: datetime = Field(default_factory=_now)
    tenant_id: UUID
    correlation_id: UUID = Field(default_factory=uuid4)
    causation_id: UUID | None = None
    # The service that emitted the event; lets the audit trail name the actor.
    source: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, body: bytes) -> Envelope:
        return cls.model_validate_json(body)

    def caused(
        self, type_: str, payload: dict[str, Any], *, source: str | None = None, version: int = 1
    ) -> Envelope:
        """A follow-up event in the same conversation: same tenant and correlation."""
        return Envelope(
            type=type_,
            version=version,
            tenant_id=self.tenant_id,
            correlation_id=self.correlation_id,
            causation_id=self.event_id,
            payload=payload,
            source=source,
        )


# Routing keys. One name per fact; the routing key is the event type.
METRICS_RECORDED = "metrics.recorded"
DECISION_MADE = "decision.made"
DECISION_VALIDATED = "decision.validated"
CYCLE_QUEUED = "cycle.queued"
CYCLE_COMPLETED = "cycle.completed"
FEEDBACK_RECORDED = "feedback.recorded"
ALERT_RAISED = "alert.raised"
ALERT_UPDATED = "alert.updated"
ALERT_ACKNOWLEDGED = "alert.acknowledged"
ALERT_RESOLVED = "alert.resolved"
ALERT_DISMISSED = "alert.dismissed"
RISK_ASSESSED = "risk.assessed"
HEALTH_REPORTED = "health.reported"
MODEL_REGISTERED = "model.registered"
RECOMMENDATION_CREATED = "recommendation.created"
RECOMMENDATION_APPROVED = "recommendation.approved"
RECOMMENDATION_REJECTED = "recommendation.rejected"
OPTIMIZATION_APPLIED = "optimization.applied"
OPTIMIZATION_ROLLED_BACK = "optimization.rolled_back"
BUDGET_REALLOCATED = "budget.reallocated"
EXPERIMENT_CONCLUDED = "experiment.concluded"
