"""The gateway's contract: metrics intake, system status, the audit trail, API keys and
the tenant's autonomy preferences."""

from __future__ import annotations

from datetime import datetime
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BeforeValidator, Field, JsonValue, field_validator

from shared.contracts.benchmarks import Industry
from shared.contracts.limits import OwnLimits, SafetyLimits
from shared.contracts.spec import (
    LENIENT,
    Collection,
    EventPayload,
    EventType,
    Role,
    Route,
    ServiceContract,
)
from shared.metrics_input import MAX_BATCH, MetricRow, MetricsBatch
from shared.models import RequestModel, ShortText
from shared.resources import Resource
from shared.schemas import ResponseModel

SERVICE = "gateway"

ActorType = Literal["user", "service", "system"]
# How far the optimizer may go on its own; the CHECK constraint of
# ``ai_user_preferences.autonomy`` holds the same values.
Autonomy = Literal["observe", "recommend", "act"]
DEFAULT_AUTONOMY: Autonomy = "recommend"
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


class Session(ResponseModel):
    """Who the credential of the request is: its tenant, its role and what kind it is."""

    tenant_id: UUID
    role: Role
    kind: Literal["api_key", "jwt", "system"]
    # What the audit trail names the caller by (a key's id, a token's subject).
    subject: str


class ApiKeyCreate(RequestModel):
    name: ShortText
    role: Role


class ApiKey(ResponseModel):
    """An API key as listed: never the secret itself."""

    id: UUID
    name: str
    role: Role
    prefix: str = Field(description="The first characters of the key, to tell keys apart.")
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKey):
    """A new key, with its secret."""

    tenant_id: UUID
    key: str = Field(description="The secret. Shown in this answer only; store it now.")


AUTONOMY_MEANING = (
    "`observe`: decide and log, change nothing. `recommend`: every action waits for a "
    "person to approve it. `act`: apply what the safety limits allow, and recommend, for a "
    "person to approve, what they forbid."
)


class PreferencesUpdate(RequestModel):
    """The tenant's autonomy, and its own safety limits (omitted or null: none of its own)."""

    autonomy: Autonomy = Field(description=AUTONOMY_MEANING)
    safety_limits: SafetyLimits | None = Field(
        default=None,
        description=(
            "Limits laid over the platform's defaults, field by field; a limit not given "
            "keeps its default. Null or omitted: the defaults alone."
        ),
    )
    industry: Industry | None = Field(
        default=None,
        description=(
            "The tenant's industry: what its campaigns are benchmarked against and the peer "
            "pool it contributes to. Omitted: kept as it is; null: none."
        ),
    )


class Preferences(ResponseModel):
    """The tenant's autonomy and the limits the optimizer applies changes within."""

    autonomy: Autonomy = Field(description=AUTONOMY_MEANING)
    safety_limits: SafetyLimits | None = Field(
        description="The tenant's own limits as set, or null when it has set none."
    )
    effective_limits: SafetyLimits = Field(
        description="The platform's default limits with the tenant's own laid over them."
    )
    updated_at: datetime | None = Field(
        description="When they were last set; null while the tenant has the defaults."
    )
    industry: Industry | None = Field(
        default=None, description="The tenant's industry for benchmarks; null while unset."
    )


# --- tables ----------------------------------------------------------------------------

AUDIT_TRAIL = Resource(
    "audit entry",
    "ai_audit_trail",
    AuditEntry,
    (
        "correlation_id",
        "action",
        "actor_type",
        "actor_id",
        "resource_type",
        "resource_id",
        "event_type",
    ),
    time_filters=True,
)

KEYS = Resource("api key", "api_keys", ApiKey, ("role", "name"))


# --- events ----------------------------------------------------------------------------


class RecordedMetricRow(MetricRow):
    model_config = LENIENT

    @field_validator("hour")
    @classmethod
    def _not_in_the_future(cls, value: datetime) -> datetime:
        # The gateway judged this by its clock when it accepted the row; a consumer whose
        # clock runs a second behind must not refuse what was accepted.
        return value


class MetricsRecorded(EventPayload):
    """Hourly campaign metrics as accepted: one row per campaign and hour."""

    metrics: list[RecordedMetricRow]


METRICS_RECORDED = EventType(
    "metrics.recorded",
    MetricsRecorded,
    # The optimizer publishes the hours it pulls from a tenant's linked ad account.
    (SERVICE, "optimizer"),
    subscribers=("decision", "alerts", "optimizer"),
    summary=(
        "A batch of hourly campaign metrics from `POST /api/ai/metrics`, or pulled from a "
        "tenant's linked ad account."
    ),
)


class PreferencesUpdated(EventPayload):
    """A tenant's autonomy and its own safety limits, as set at ``updated_at``.

    A consumer keeps the newest by ``updated_at``: a late, older event changes nothing.
    ``safety_limits`` holds only the limits the tenant set and is checked as
    ``SafetyLimits``, so a new kind of limit is a new version of this event."""

    autonomy: Autonomy
    safety_limits: OwnLimits | None
    updated_at: datetime
    # The tenant's industry as it stands (null: none); events from before it was
    # settable lack it.
    industry: Industry | None = None


PREFERENCES_UPDATED = EventType(
    "preferences.updated",
    PreferencesUpdated,
    (SERVICE,),
    subscribers=("optimizer",),
    summary="A tenant's autonomy or safety limits were set with `PUT /api/ai/preferences`.",
)


# --- routes ----------------------------------------------------------------------------

RECORD_METRICS = Route(
    "POST",
    "/api/ai/metrics",
    "record_metrics",
    "Record hourly campaign metrics",
    SERVICE,
    Role.OPERATOR,
    MetricsAccepted,
    status=202,
    request=MetricsBatch,
    description=(
        f"1 to {MAX_BATCH} rows, each for the start of an hour. Accepted rows are "
        "published for the services to take up; the answer does not wait for them. Send "
        "hours in order: an hour more than six hours behind its campaign's newest stored "
        "hour is history (a backfill or a correction) and raises no alert."
    ),
)
SYSTEM_STATUS = Route(
    "GET",
    "/api/ai/system-status",
    "get_system_status",
    "Get the status of every service",
    SERVICE,
    Role.VIEWER,
    SystemStatus,
)
GET_SESSION = Route(
    "GET",
    "/api/ai/session",
    "get_session",
    "Get who the credential is",
    SERVICE,
    Role.VIEWER,
    Session,
    description=(
        "The tenant and role of the key or token the request carries, so a front end can "
        "offer only what the role may do. Any valid credential may ask."
    ),
)
_keys = Collection(SERVICE, "keys", KEYS, "API keys", Role.ADMIN, Role.ADMIN)
LIST_KEYS = _keys.list()
CREATE_KEY = _keys.create(ApiKeyCreate, response=ApiKeyCreated)
REVOKE_KEY = Route(
    "POST",
    "/api/ai/keys/{id}/revoke",
    "revoke_api_key",
    "Revoke an API key",
    SERVICE,
    Role.ADMIN,
    ApiKey,
    description="The key stops working at once. Revoking a revoked key changes nothing.",
)

GET_PREFERENCES = Route(
    "GET",
    "/api/ai/preferences",
    "get_preferences",
    "Get the tenant's autonomy and safety limits",
    SERVICE,
    Role.VIEWER,
    Preferences,
    description=(
        f"{AUTONOMY_MEANING} A tenant that never set its preferences is at "
        f"`{DEFAULT_AUTONOMY}` with the default limits."
    ),
)
SET_PREFERENCES = Route(
    "PUT",
    "/api/ai/preferences",
    "set_preferences",
    "Set the tenant's autonomy and safety limits",
    SERVICE,
    Role.ADMIN,
    Preferences,
    request=PreferencesUpdate,
    description=(
        f"{AUTONOMY_MEANING} Replaces both: `safety_limits` omitted or null leaves the "
        "tenant with the defaults alone. `industry` omitted keeps the tenant's industry "
        "(what benchmarks compare its campaigns with); null clears it. Limits that "
        "contradict themselves or the defaults (a floor above a ceiling) are answered 422 "
        "naming the field. The optimizer takes the change up shortly after the answer."
    ),
)

CONTRACT = ServiceContract(
    SERVICE,
    "api_gateway",
    summary="Metrics intake, system status, the audit trail, API keys and autonomy preferences.",
    routes=(
        RECORD_METRICS,
        SYSTEM_STATUS,
        GET_SESSION,
        *Collection(SERVICE, "audit-trail", AUDIT_TRAIL, "audit trail entries", Role.ADMIN).read(),
        LIST_KEYS,
        CREATE_KEY,
        REVOKE_KEY,
        GET_PREFERENCES,
        SET_PREFERENCES,
    ),
    events=(METRICS_RECORDED, PREFERENCES_UPDATED),
)
