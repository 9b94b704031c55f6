"""Checking and sealing a connection's credentials; the errors here are the domain's."""

from __future__ import annotations

from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg

from services.optimizer.core.platform import seal_context, status_of
from shared.connectors import ConnectorError, connector_for_account
from shared.connectors.meta import account_number
from shared.errors import Invalid
from shared.secrets import Keyring, Sealed, SecretsUnavailable
from shared.service import ServiceRuntime


def check_account(platform: str, account_id: str, time_zone: str) -> None:
    problems = []
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append({"field": "time_zone", "message": f"unknown time zone {time_zone!r}"})
    if platform == "meta":
        try:
            account_number(account_id)
        except ValueError as exc:
            problems.append({"field": "account_id", "message": str(exc)})
    if platform == "google_ads" and not account_id.replace("-", "").isdigit():
        problems.append(
            {
                "field": "account_id",
                "message": "a Google Ads customer id is digits (dashes allowed)",
            }
        )
    if problems:
        raise Invalid("the connection is invalid", problems)


def seal(tenant: UUID, connection_id: UUID, credentials: dict[str, str]) -> dict[str, Any]:
    """The columns that hold ``credentials`` sealed (none for a platform without any)."""
    if not credentials:
        return {"credentials": None, "credentials_key_id": None}
    try:
        sealed = Keyring.from_env().seal(credentials, seal_context(tenant, connection_id))
    except SecretsUnavailable as exc:
        raise Invalid(
            "credentials cannot be stored", [{"field": "credentials", "message": str(exc)}]
        ) from None
    return {"credentials": sealed.blob, "credentials_key_id": sealed.key_id}


async def check(
    runtime: ServiceRuntime,
    tenant: UUID,
    values: dict[str, Any],
    credentials: dict[str, str],
) -> tuple[str, str | None]:
    """One cheap read through the account's connector: its status and why."""
    try:
        connector = connector_for_account(
            values["platform"],
            values["account_id"],
            values["time_zone"],
            credentials,
            runtime.settings,
            currency=values["currency"],
            account=tenant,
        )
    except KeyError as exc:  # credentials of another platform (the platform was changed)
        raise Invalid(
            "the connection is invalid",
            [{"field": "credentials", "message": f"{values['platform']} needs {exc}"}],
        ) from None
    except ValueError as exc:
        raise Invalid(
            "the connection is invalid", [{"field": "account_id", "message": str(exc)}]
        ) from None
    try:
        await connector.list_campaigns(tenant)
    except ConnectorError as exc:
        return status_of(exc) or "ok", f"check failed: {exc}"[:500]
    finally:
        await connector.close()
    return "ok", None


async def rotate_secrets(conn: asyncpg.Connection, keyring: Keyring) -> tuple[int, int]:
    """Seal every stored credential again with ``keyring``'s current key (in a
    system-scoped transaction: every tenant's). Answers how many were sealed again and
    how many already were under the current key."""
    rows = await conn.fetch(
        """SELECT tenant_id, id, credentials, credentials_key_id FROM ad_connections
           WHERE credentials IS NOT NULL FOR UPDATE"""
    )
    resealed = 0
    for row in rows:
        context = seal_context(row["tenant_id"], row["id"])
        fresh = keyring.reseal(
            Sealed(row["credentials_key_id"], bytes(row["credentials"])), context
        )
        if fresh is None:
            continue
        await conn.execute(
            """UPDATE ad_connections SET credentials = $2, credentials_key_id = $3
               WHERE id = $1""",
            row["id"],
            fresh.blob,
            fresh.key_id,
        )
        resealed += 1
    return resealed, len(rows) - resealed
