"""The campaigns as the ad platform last reported them (``ad_campaigns``).

Written whenever the optimizer hears from the platform: a campaign listing, or the answer
to a change. Read by ``GET /api/ai/campaigns`` and by the rule runner.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.connectors import AccountSnapshot, CampaignState
from shared.db import dumps_json


async def store_states(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    connector: str,
    states: Iterable[CampaignState],
    as_of: datetime,
) -> None:
    """Upsert ``states``; a report older than the one stored is ignored."""
    rows = list(states)
    if not rows:
        return
    await conn.execute(
        """INSERT INTO ad_campaigns (tenant_id, id, name, status, daily_budget, bid_multiplier,
                                     audience_factor, audiences, connector, platform_as_of)
           SELECT $1, c.id, c.name, c.status, c.budget, c.bid, c.audience, c.audiences::jsonb,
                  $9, $10
           FROM unnest($2::uuid[], $3::text[], $4::text[], $5::float8[], $6::float8[],
                       $7::float8[], $8::text[])
                AS c(id, name, status, budget, bid, audience, audiences)
           ON CONFLICT (tenant_id, id) DO UPDATE SET
               name = EXCLUDED.name, status = EXCLUDED.status,
               daily_budget = EXCLUDED.daily_budget, bid_multiplier = EXCLUDED.bid_multiplier,
               audience_factor = EXCLUDED.audience_factor, audiences = EXCLUDED.audiences,
               connector = EXCLUDED.connector, platform_as_of = EXCLUDED.platform_as_of,
               synced_at = now()
           WHERE ad_campaigns.platform_as_of <= EXCLUDED.platform_as_of""",
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
    )


async def store_snapshot(
    conn: asyncpg.Connection, tenant_id: UUID, connector: str, snapshot: AccountSnapshot
) -> None:
    await store_states(conn, tenant_id, connector, snapshot.campaigns, snapshot.as_of)


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


def state_json(state: CampaignState) -> dict[str, Any]:
    """A campaign's settings as stored in ``before_state``/``after_state``."""
    return {
        "campaign_id": str(state.campaign_id),
        "name": state.name,
        "status": state.status,
        "daily_budget": state.daily_budget,
        "bid_multiplier": state.bid_multiplier,
        "audience_factor": state.audience_factor,
        "audiences": list(state.audiences),
    }
