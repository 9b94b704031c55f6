"""What the gateway's own routes accept and answer."""

from __future__ import annotations

from datetime import datetime
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, Field, JsonValue

from services.gateway.audit import AUDIT_TRAIL
from services.gateway.keys import KEYS
from shared.models import RequestModel, ShortText
from shared.resources import Resource
from shared.schemas import ResponseModel

ApiKeyRole = Literal["viewer", "operator", "admin"]
ActorType = Literal["user", "service", "system"]
OverallStatus = Literal["operational", "degraded", "down"]


def _address_text(value: object) -> object:
    # asyncpg hands inet back as ipaddress objects; the API sends their text form.
    if isinstance(value, IPv4Address | IPv6Address | IPv4Network | IPv6Network):
        return str(value)
    return value


InetText = Annotated[str, BeforeValidator(_address_text)]


class AuditEntry(ResponseModel):
    """One event seen on the bus, as the append-only trail recorded it."""

    id: UUID
    actor_type: ActorType
    actor_id: str
    principal_id: str | None = Field(description="How the actor proved who it was, e.g. `api_key`.")
    action: str
    resource_type: str | None
    resource_id: str | None
    before_state: JsonValue | None
    after_state: JsonValue | None
    event_id: UUID | None
    event_type: str | None
    request_id: str | None
    correlation_id: UUID | None
    causation_id: UUID | None
    ip_address: InetText | None = Field(description="An address, with `/prefix` for a network.")
    status_code: int | None = Field(description="The HTTP status a request was answered with.")
    metadata: JsonValue | None
    created_at: datetime


class MetricsAccepted(ResponseModel):
    accepted: int = Field(ge=0, description="Rows in the batch.")
    campaign_hours: int = Field(
        ge=0,
        description=(
            "Rows published: one per campaign and hour, a later row in the batch replacing "
            "an earlier one for the same campaign and hour."
        ),
    )


class SystemStatus(ResponseModel):
    status: OverallStatus = Field(
        description="`operational` when every service is up, `down` when none is."
    )
    services: dict[str, dict[str, Any]] = Field(
        description="Each service's own report by name; its `status` is up, degraded or down."
    )


class ApiKeyCreate(RequestModel):
    name: ShortText
    role: ApiKeyRole


class ApiKey(ResponseModel):
    """An API key as listed: never the secret itself."""

    id: UUID
    name: str
    role: ApiKeyRole
    prefix: str = Field(description="The first characters of the key, to tell keys apart.")
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKey):
    """A new key, with its secret."""

    tenant_id: UUID
    key: str = Field(description="The secret. Shown in this answer only; store it now.")


RESPONSE_MODELS: tuple[tuple[Resource, type[BaseModel]], ...] = (
    (AUDIT_TRAIL, AuditEntry),
    (KEYS, ApiKey),
)
