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
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
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


def to_json(value: Any) -> bytes:
    """JSON as the platform writes it everywhere: rows, events, answers. Keys that are not
    plain strings (enum members, UUIDs) are written as their text."""
    return orjson.dumps(value, default=json_default, option=orjson.OPT_NON_STR_KEYS)


def to_payload(data: Mapping[str, Any]) -> dict[str, Any]:
    """A database row (UUIDs, timestamps, numerics) as plain JSON values for an event."""
    result: dict[str, Any] = orjson.loads(to_json(dict(data)))
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
