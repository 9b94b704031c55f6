"""Ad-platform connections: the ad account a tenant links, and the credentials the
optimizer reaches it with. Admins only; credentials are write-only (sealed at rest,
never answered).

Part of the optimizer's contract (its ``CONTRACT`` lists these routes)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import SecretStr, StringConstraints

from shared.contracts.spec import Collection, Role, Route
from shared.models import RequestModel
from shared.resources import Resource
from shared.schemas import ResponseModel

SERVICE = "optimizer"

Platform = Literal["sandbox", "google_ads", "meta"]
ConnectionStatus = Literal["ok", "auth_failed", "rate_limited", "disabled"]
_Id = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
_Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
_Zone = Annotated[str, StringConstraints(min_length=1, max_length=64)]
_Secret = Annotated[SecretStr, StringConstraints(min_length=1, max_length=4096)]


class GoogleAdsCredentials(RequestModel):
    developer_token: _Secret
    client_id: _Secret
    client_secret: _Secret
    refresh_token: _Secret
    login_customer_id: _Secret


class MetaCredentials(RequestModel):
    """A system user's access token with ``ads_management`` on the ad account."""

    access_token: _Secret


class SandboxCredentials(RequestModel):
    """The sandbox needs none."""


# What each platform's ``credentials`` must hold.
CREDENTIALS: dict[str, type[RequestModel]] = {
    "sandbox": SandboxCredentials,
    "google_ads": GoogleAdsCredentials,
    "meta": MetaCredentials,
}


class Connection(ResponseModel):
    """A linked ad account. ``status`` follows the calls made through it: ``ok``,
    ``auth_failed`` (link it again with new credentials), ``rate_limited`` (calls resume
    after the platform's delay) or ``disabled`` (by an admin: nothing is read or sent)."""

    id: UUID
    platform: Platform
    account_id: str
    time_zone: str
    currency: str
    status: ConnectionStatus
    status_reason: str | None
    credentials_key_id: str | None
    checked_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ConnectionCreate(RequestModel):
    platform: Platform
    account_id: _Id
    time_zone: _Zone = "UTC"
    currency: _Currency = "USD"
    # Checked against the platform's own list (CREDENTIALS); never answered.
    credentials: dict[str, _Secret] = {}


class ConnectionUpdate(RequestModel):
    """Fields to change (left out: kept). New ``credentials`` replace the old ones whole
    and are checked again; ``status`` ``disabled`` stops every call, ``ok`` resumes
    (after a check)."""

    account_id: _Id | None = None
    time_zone: _Zone | None = None
    currency: _Currency | None = None
    credentials: dict[str, _Secret] | None = None
    status: Literal["ok", "disabled"] | None = None


CONNECTIONS = Resource(
    "connection",
    "ad_connections",
    Connection,
    ("platform", "status"),
    updatable=(
        "account_id",
        "time_zone",
        "currency",
        "status",
        "status_reason",
        "credentials_key_id",
        "checked_at",
    ),
)

_connections = Collection(
    SERVICE,
    "connections",
    CONNECTIONS,
    "ad platform connections",
    read_role=Role.ADMIN,
    write_role=Role.ADMIN,
)
CREATE_CONNECTION = _connections.create(
    ConnectionCreate,
    conflict=True,
    description=(
        "Links an ad account: `platform`, `account_id`, `time_zone`, `currency` and the "
        "platform's `credentials` (Google Ads: `developer_token`, `client_id`, "
        "`client_secret`, `refresh_token`, `login_customer_id`; Meta: a system user's "
        "`access_token`; sandbox: none). A missing or unknown credential is 422 naming "
        "`credentials.<name>`. The account is checked with one read through its "
        "connector; the answer's `status` says how that went. Credentials are sealed at "
        "rest and never answered. 409 when the tenant already has a connection."
    ),
)
UPDATE_CONNECTION = Route(
    "PATCH",
    "/api/ai/connections/{id}",
    "update_connection",
    "Change an ad platform connection",
    SERVICE,
    Role.ADMIN,
    Connection,
    request=ConnectionUpdate,
    resource=CONNECTIONS,
    description="Fields not given are kept; new credentials replace the old and are checked.",
)
DELETE_CONNECTION = Route(
    "DELETE",
    "/api/ai/connections/{id}",
    "delete_connection",
    "Remove an ad platform connection",
    SERVICE,
    Role.ADMIN,
    Connection,
    resource=CONNECTIONS,
    description="The tenant goes back to the default connector; its credentials are erased.",
)
CHECK_CONNECTION = Route(
    "POST",
    "/api/ai/connections/{id}/check",
    "check_connection",
    "Check an ad platform connection now",
    SERVICE,
    Role.ADMIN,
    Connection,
    resource=CONNECTIONS,
    description="One cheap read through the connector; answers the connection's new `status`.",
)

ROUTES = (
    *_connections.read(),
    CREATE_CONNECTION,
    UPDATE_CONNECTION,
    DELETE_CONNECTION,
    CHECK_CONNECTION,
)
