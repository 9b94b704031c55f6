"""Each tenant's autonomy and safety limits, as the optimizer applies them.

The gateway owns the settings and says when they change (``preferences.updated``); the
optimizer keeps its own copy in ``optimizer_tenant_settings`` and reads it with
:func:`tenant_policy`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

import asyncpg
from pydantic import ValidationError

from shared.consumer import Subscriptions
from shared.contracts.gateway import DEFAULT_AUTONOMY, PREFERENCES_UPDATED, PreferencesUpdated
from shared.contracts.limits import DEFAULT_LIMITS, SafetyLimits, merge_limits
from shared.events import Envelope

log = logging.getLogger(__name__)

subscriptions = Subscriptions("optimizer")


@subscriptions.subscriber(PREFERENCES_UPDATED)
async def on_preferences_updated(
    conn: asyncpg.Connection, event: Envelope, settings: PreferencesUpdated
) -> None:
    """Keep the newest settings: an event older than the stored row changes nothing, so
    out-of-order delivery cannot roll a setting back."""
    await conn.execute(
        """INSERT INTO optimizer_tenant_settings
                  (tenant_id, autonomy, safety_limits, updated_at, industry)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (tenant_id) DO UPDATE
              SET autonomy = EXCLUDED.autonomy,
                  safety_limits = EXCLUDED.safety_limits,
                  updated_at = EXCLUDED.updated_at,
                  industry = EXCLUDED.industry
              WHERE optimizer_tenant_settings.updated_at < EXCLUDED.updated_at""",
        event.tenant_id,
        settings.autonomy,
        settings.safety_limits,
        settings.updated_at,
        settings.industry,
    )


@dataclass(frozen=True)
class TenantPolicy:
    """How far the optimizer may go for a tenant: ``observe`` (decide and log, change
    nothing), ``recommend`` (every action waits for a person) or ``act`` (apply within
    ``limits``, recommend what they forbid)."""

    autonomy: str
    limits: SafetyLimits


DEFAULT_POLICY = TenantPolicy(DEFAULT_AUTONOMY, DEFAULT_LIMITS)


async def tenant_policy(conn: asyncpg.Connection, tenant_id: UUID) -> TenantPolicy:
    """The tenant's autonomy and its limits laid over the defaults; ``recommend`` and the
    default limits for a tenant that never set any.

    Stored limits that no longer fit the defaults (the defaults changed since they were
    set) cannot be trusted to mean what the tenant meant: the tenant is then treated as
    ``recommend`` with the defaults, so a person sees every change, and it is logged."""
    row = await conn.fetchrow(
        "SELECT autonomy, safety_limits FROM optimizer_tenant_settings WHERE tenant_id = $1",
        tenant_id,
    )
    if row is None:
        return DEFAULT_POLICY
    try:
        own = row["safety_limits"]
        limits = merge_limits(
            DEFAULT_LIMITS, SafetyLimits.model_validate(own) if own is not None else None
        )
    except ValidationError as exc:
        log.error(
            "stored safety limits are invalid; every change waits for a person",
            extra={"tenant_id": str(tenant_id), "error": str(exc)[:500]},
        )
        return DEFAULT_POLICY
    return TenantPolicy(row["autonomy"], limits)


async def tenant_industry(conn: asyncpg.Connection, tenant_id: UUID) -> str | None:
    """The tenant's industry as last set with its preferences; None while it has none."""
    industry: str | None = await conn.fetchval(
        "SELECT industry FROM optimizer_tenant_settings WHERE tenant_id = $1", tenant_id
    )
    return industry
