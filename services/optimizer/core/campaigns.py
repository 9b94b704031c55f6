"""The campaigns as the ad platform last reported them (``ad_campaigns``).

Written whenever the optimizer hears from the platform: a campaign listing, or the answer
to a change. Read by ``GET /api/ai/campaigns`` and by the rule runner.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.connectors import AccountSnapshot, AdPlatformConnector, CampaignState
from shared.db import dumps_json


async def store_states(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    connector: str,
    states: Iterable[CampaignState],
    as_of: datetime,
    observed_at: datetime,
) -> None:
    """Upsert ``states``, the platform's answer at ``observed_at`` (its clock at ``as_of``);
    an answer older than the one stored is ignored."""
    rows = list(states)
    if not rows:
        return
    await conn.execute(
        """INSERT INTO ad_campaigns (tenant_id, id, name, status, daily_budget, bid_multiplier,
                                     audience_factor, audiences, connector, platform_as_of,
                                     observed_at)
           SELECT $1, c.id, c.name, c.status, c.budget, c.bid, c.audience, c.audiences::jsonb,
                  $9, $10, $11
           FROM unnest($2::uuid[], $3::text[], $4::text[], $5::float8[], $6::float8[],
                       $7::float8[], $8::text[])
                AS c(id, name, status, budget, bid, audience, audiences)
           ON CONFLICT (tenant_id, id) DO UPDATE SET
               name = EXCLUDED.name, status = EXCLUDED.status,
               daily_budget = EXCLUDED.daily_budget, bid_multiplier = EXCLUDED.bid_multiplier,
               audience_factor = EXCLUDED.audience_factor, audiences = EXCLUDED.audiences,
               connector = EXCLUDED.connector, platform_as_of = EXCLUDED.platform_as_of,
               observed_at = EXCLUDED.observed_at, synced_at = now()
           WHERE ad_campaigns.observed_at <= EXCLUDED.observed_at""",
        tenant_id,
        [s.campaign_id for s in rows],
        [s.name for s in rows],
        [s.status for s in rows],
        [s.daily_budget for s in rows],
        [s.bid_multiplier for s in rows],
        [s.audience_factor for s in rows],
        [dumps_json(list(s.audiences)) for s in rows],
        connector,
        as_of,
        observed_at,
    )


@dataclass(frozen=True, slots=True)
class Observed:
    """An account as the platform answered, and when it answered."""

    snapshot: AccountSnapshot
    at: datetime


async def read_account(connector: AdPlatformConnector, tenant_id: UUID) -> Observed:
    """The account from the platform now (no database work: call it outside transactions
    when you can)."""
    snapshot = await connector.list_campaigns(tenant_id)
    return Observed(snapshot, datetime.now(UTC))


async def store_observed(
    conn: asyncpg.Connection, tenant_id: UUID, connector: str, observed: Observed
) -> None:
    snapshot = observed.snapshot
    await store_states(conn, tenant_id, connector, snapshot.campaigns, snapshot.as_of, observed.at)


def state_of(row: asyncpg.Record | dict[str, Any]) -> CampaignState:
    """A stored campaign as the connector's shape."""
    return CampaignState(
        campaign_id=row["id"],
        name=row["name"],
        status=row["status"],
        daily_budget=float(row["daily_budget"]),
        bid_multiplier=float(row["bid_multiplier"]),
        audience_factor=float(row["audience_factor"]),
        audiences=tuple(row["audiences"] or ()),
    )
