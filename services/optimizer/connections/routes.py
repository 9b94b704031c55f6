"""HTTP routes of ad-platform connections. Credentials come in and are sealed; no answer
carries them (the resource's columns leave them out)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

import asyncpg
from aiohttp import web
from pydantic import SecretStr, ValidationError

from services.optimizer.connections.store import check, check_account, seal
from services.optimizer.core.platform import CONNECTION_ROW, open_credentials, registry_of
from shared.contracts import connections as c
from shared.contracts.spec import Route
from shared.resources import delete, fetch_one, insert, update
from shared.secrets import SecretsUnavailable
from shared.service import ServiceRuntime
from shared.web import (
    ApiError,
    Handler,
    invalid,
    json_response,
    parse_body,
    path_id,
    validation_fields,
)


def _credentials(platform: str, given: dict[str, SecretStr]) -> dict[str, str]:
    """The platform's credentials; 422 naming ``credentials.<name>`` for one missing or
    unknown. No value appears in the error."""
    try:
        c.CREDENTIALS[platform].model_validate(given)
    except ValidationError as exc:
        raise invalid(
            f"credentials for {platform} are incomplete or unknown",
            validation_fields(exc, ("credentials",)),
        ) from None
    return {name: value.get_secret_value() for name, value in given.items()}


async def create_connection(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    body = await parse_body(request, c.ConnectionCreate)
    credentials = _credentials(body.platform, body.credentials)
    check_account(body.platform, body.account_id, body.time_zone)
    tenant = runtime.tenant_of(request)
    connection_id = uuid.uuid4()
    values: dict[str, Any] = {
        "id": connection_id,
        "platform": body.platform,
        "account_id": body.account_id,
        "time_zone": body.time_zone,
        "currency": body.currency,
        **seal(tenant, connection_id, credentials),
    }
    status, reason = await check(runtime, tenant, values, credentials)
    values.update(status=status, status_reason=reason, checked_at=datetime.now(UTC))
    try:
        async with runtime.tenant_tx(tenant) as conn:
            row = await insert(conn, c.CONNECTIONS, tenant, values)
    except asyncpg.UniqueViolationError:
        raise ApiError(
            409,
            "connection_exists",
            "the tenant already has an ad platform connection; change or delete it",
        ) from None
    registry_of(runtime).forget(tenant)
    return json_response(row, status=201)


async def _stored_credentials(conn: asyncpg.Connection, tenant: uuid.UUID) -> dict[str, str]:
    row = await conn.fetchrow(CONNECTION_ROW, tenant)
    try:
        return open_credentials(row, tenant)
    except SecretsUnavailable as exc:
        raise ApiError(409, "credentials_unreadable", str(exc)) from None


async def update_connection(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    connection_id = path_id(request, c.CONNECTIONS.name)
    body = await parse_body(request, c.ConnectionUpdate)
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        current = await fetch_one(conn, c.CONNECTIONS, tenant, connection_id)
        stored = await _stored_credentials(conn, tenant)
    changes = body.model_dump(exclude_unset=True, exclude_none=True, exclude={"credentials"})
    merged = {**current, **changes}
    check_account(merged["platform"], merged["account_id"], merged["time_zone"])
    credentials = stored
    if body.credentials is not None:
        credentials = _credentials(merged["platform"], body.credentials)
        changes.update(seal(tenant, connection_id, credentials))
    if merged["status"] != "disabled":
        status, reason = await check(runtime, tenant, merged, credentials)
        changes.update(status=status, status_reason=reason, checked_at=datetime.now(UTC))
    async with runtime.tenant_tx(tenant) as conn:
        await _write(conn, tenant, connection_id, changes)
        row = await fetch_one(conn, c.CONNECTIONS, tenant, connection_id)
    registry_of(runtime).forget(tenant)
    return json_response(row)


async def _write(
    conn: asyncpg.Connection, tenant: uuid.UUID, connection_id: uuid.UUID, changes: dict[str, Any]
) -> None:
    sealed = {k: changes.pop(k) for k in ("credentials",) if k in changes}
    await update(conn, c.CONNECTIONS, tenant, connection_id, changes)
    if sealed:
        await conn.execute(
            "UPDATE ad_connections SET credentials = $3 WHERE tenant_id = $1 AND id = $2",
            tenant,
            connection_id,
            sealed["credentials"],
        )


async def delete_connection(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    connection_id = path_id(request, c.CONNECTIONS.name)
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        row = await delete(conn, c.CONNECTIONS, tenant, connection_id)
    registry_of(runtime).forget(tenant)
    return json_response(row)


async def check_connection(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    connection_id = path_id(request, c.CONNECTIONS.name)
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        current = await fetch_one(conn, c.CONNECTIONS, tenant, connection_id)
        credentials = await _stored_credentials(conn, tenant)
    if current["status"] == "disabled":
        return json_response(current)
    status, reason = await check(runtime, tenant, current, credentials)
    changes = {"status": status, "status_reason": reason, "checked_at": datetime.now(UTC)}
    async with runtime.tenant_tx(tenant) as conn:
        row = await update(conn, c.CONNECTIONS, tenant, connection_id, changes)
    registry_of(runtime).forget(tenant)
    return json_response(row)


def routes(runtime: ServiceRuntime) -> dict[Route, Handler]:
    return {
        c.CREATE_CONNECTION: partial(create_connection, runtime),
        c.UPDATE_CONNECTION: partial(update_connection, runtime),
        c.DELETE_CONNECTION: partial(delete_connection, runtime),
        c.CHECK_CONNECTION: partial(check_connection, runtime),
    }
