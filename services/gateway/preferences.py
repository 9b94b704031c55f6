"""A tenant's autonomy and safety limits: stored by the gateway, sent to the optimizer.

The tenant-wide settings are the ``ai_user_preferences`` row with ``user_id = '*'``.
:func:`set_preferences` writes it and enqueues ``preferences.updated`` in the caller's
transaction, so the optimizer's copy follows every change that commits, and no other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, get_args
from uuid import UUID

import asyncpg

from shared.contracts.benchmarks import INDUSTRIES
from shared.contracts.gateway import (
    DEFAULT_AUTONOMY,
    PREFERENCES_UPDATED,
    SERVICE,
    Autonomy,
)
from shared.contracts.limits import DEFAULT_LIMITS, SafetyLimits, merge_limits, own_limits
from shared.outbox import enqueue

# The row that holds the tenant-wide settings.
TENANT_WIDE = "*"
AUTONOMY_LEVELS: tuple[str, ...] = get_args(Autonomy)


# ``set_preferences(industry=KEEP)``: the tenant's industry stays as it is.
KEEP = "keep"


def answer(
    autonomy: str,
    own: dict[str, Any] | None,
    updated_at: datetime | None,
    industry: str | None = None,
) -> dict[str, Any]:
    """The ``Preferences`` answer for what is stored."""
    stored = SafetyLimits.model_validate(own) if own is not None else None
    return {
        "autonomy": autonomy,
        "safety_limits": own,
        "effective_limits": merge_limits(DEFAULT_LIMITS, stored).model_dump(mode="json"),
        "updated_at": updated_at,
        "industry": industry,
    }


async def get_preferences(conn: asyncpg.Connection, tenant_id: UUID) -> dict[str, Any]:
    """The tenant's preferences; the defaults while it has set none."""
    row = await conn.fetchrow(
        """SELECT autonomy, safety_limits, updated_at, industry FROM ai_user_preferences
           WHERE tenant_id = $1 AND user_id = $2""",
        tenant_id,
        TENANT_WIDE,
    )
    if row is None:
        return answer(DEFAULT_AUTONOMY, None, None)
    return answer(row["autonomy"], row["safety_limits"], row["updated_at"], row["industry"])


async def set_preferences(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    autonomy: str,
    safety_limits: SafetyLimits | None,
    *,
    industry: str | None = KEEP,
    correlation_id: UUID | None = None,
) -> dict[str, Any]:
    """Set the tenant's autonomy and its own limits (None: the defaults alone) and enqueue
    ``preferences.updated``. Call inside a transaction; returns the ``Preferences`` answer.

    Raises ``ValueError`` for an unknown autonomy, and pydantic's ``ValidationError`` when
    the limits contradict the defaults they are laid over (its locations are within
    ``safety_limits``), or for an unknown industry. ``industry``: the tenant's industry,
    None for none, :data:`KEEP` to leave it as it is."""
    if autonomy not in AUTONOMY_LEVELS:
        raise ValueError(f"autonomy must be one of {', '.join(AUTONOMY_LEVELS)}")
    if industry is not None and industry != KEEP and industry not in INDUSTRIES:
        raise ValueError(f"unknown industry {industry!r}")
    merge_limits(DEFAULT_LIMITS, safety_limits)  # refused now, not when the optimizer reads it
    own = own_limits(safety_limits)
    # The clock, not the transaction's start: a later change always gets a later stamp, so
    # the optimizer, which keeps the newest, ends with what the gateway ends with.
    row = await conn.fetchrow(
        """INSERT INTO ai_user_preferences (tenant_id, user_id, autonomy, safety_limits,
                                            industry, updated_at)
           VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN NULL ELSE $6 END, clock_timestamp())
           ON CONFLICT (tenant_id, user_id) DO UPDATE
              SET autonomy = EXCLUDED.autonomy,
                  safety_limits = EXCLUDED.safety_limits,
                  industry = CASE WHEN $5 THEN ai_user_preferences.industry
                                  ELSE EXCLUDED.industry END,
                  updated_at = greatest(clock_timestamp(),
                                        ai_user_preferences.updated_at + interval '1 microsecond')
           RETURNING autonomy, safety_limits, updated_at, industry""",
        tenant_id,
        TENANT_WIDE,
        autonomy,
        own,
        industry == KEEP,
        None if industry == KEEP else industry,
    )
    assert row is not None
    # The event carries the industry as it now stands, so the optimizer's copy is whole.
    await enqueue(
        conn,
        PREFERENCES_UPDATED.envelope(
            {
                "autonomy": autonomy,
                "safety_limits": own,
                "updated_at": row["updated_at"],
                "industry": row["industry"],
            },
            tenant_id=tenant_id,
            source=SERVICE,
            correlation_id=correlation_id,
        ),
    )
    return answer(row["autonomy"], row["safety_limits"], row["updated_at"], row["industry"])
