"""Competitive intelligence on schedule: once a tenant's metrics reach a new day, pull the
Auction Insights of the days finished since the last pull from the ad platform (the
sandbox serves them; a real account's come by import), store them, and look for
competitor events in each campaign's recent history (:mod:`.events`). A new event is
stored once (its key is campaign, competitor, kind and first day) and published as
``competitor.event_detected``, in the same transaction. One replica at a time per tenant.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, timedelta
from uuid import UUID

import asyncpg

from services.optimizer.competition.events import DetectedEvent, detect
from services.optimizer.competition.sources import InsightRow, SandboxAuctionInsights
from services.optimizer.competition.store import AUCTION_INSIGHTS, upsert_insights
from services.optimizer.core.jobs import TenantJob, run_per_tenant
from services.optimizer.core.platform import connector_for
from shared.connectors import UnknownAccount
from shared.connectors.sandbox import SandboxConnector
from shared.contracts import competition as c
from shared.contracts.competition import InsightSource
from shared.metrics_store import newest_hour, tenants_recorded_within
from shared.outbox import enqueue
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

SWEEP_SECONDS = 300.0
COMPETITION_LOCK = 0x434F4D50
# The first pull reaches this far back; later ones start after the newest stored day.
FIRST_PULL_DAYS = 35
# Detection reads this much of a campaign's history: four weeks of baseline and spare.
HISTORY_DAYS = 42
# Per tenant, the day up to which the platform was last asked (runtime state).
_PULLED = "competition_pulled_until"


async def run_competition(runtime: ServiceRuntime) -> None:
    """Background job: woken when a tenant's metrics arrive, and sweeping every tenant with
    recent metrics now and then."""
    job = TenantJob(
        "competitive intelligence", run_tenant, _recent_tenants, SWEEP_SECONDS, COMPETITION_LOCK
    )
    await run_per_tenant(runtime, job)


async def _recent_tenants(conn: asyncpg.Connection) -> list[UUID]:
    return list(await tenants_recorded_within(conn, timedelta(days=1)))


async def run_tenant(runtime: ServiceRuntime, tenant: UUID) -> None:
    connector = await connector_for(runtime, tenant)
    # A tenant linked to the sandbox is reached through a status-keeping wrapper.
    connector = getattr(connector, "inner", connector)
    if not isinstance(connector, SandboxConnector):
        return
    async with runtime.tenant_tx(tenant) as conn:
        newest = await newest_hour(conn, tenant)
        last: date | None = await conn.fetchval(
            """SELECT max(day) FROM ai_competitive_intelligence
               WHERE tenant_id = $1 AND data_source = 'sandbox'""",
            tenant,
        )
    if newest is None:
        return
    # The days before the newest hour's are over (its own too, at its last hour).
    end = (newest + timedelta(hours=1)).date()
    pulled: dict[UUID, date] = runtime.state.setdefault(_PULLED, {})
    start = last + timedelta(days=1) if last is not None else end - timedelta(days=FIRST_PULL_DAYS)
    if start >= end or pulled.get(tenant) == end:
        return
    try:
        rows = await SandboxAuctionInsights(connector, tenant).rows(start, end)
    except UnknownAccount:
        rows = []
    pulled[tenant] = end
    if not rows:
        return
    async with runtime.tenant_tx(tenant) as conn:
        await upsert_insights(conn, tenant, "sandbox", rows)
        found = await record_events(conn, tenant, {r.campaign_id for r in rows}, "sandbox")
    log.info(
        "auction insights pulled",
        extra={"tenant": str(tenant), "rows": len(rows), "events": len(found), "until": str(end)},
    )


async def record_events(
    conn: asyncpg.Connection,
    tenant: UUID,
    campaigns: Iterable[UUID | None],
    source: InsightSource,
) -> list[asyncpg.Record]:
    """Look for competitor events in each campaign's daily rows from ``source``; store and
    publish the ones not stored before. Returns the new events' rows."""
    new: list[asyncpg.Record] = []
    for campaign_id in sorted(k for k in campaigns if k is not None):
        history = await _history(conn, tenant, campaign_id, source)
        for event in detect(campaign_id, history):
            row = await _insert(conn, tenant, event, source)
            if row is not None:
                new.append(row)
                payload = c.CompetitorEventDetected.model_validate(dict(row))
                await enqueue(
                    conn,
                    c.COMPETITOR_EVENT_DETECTED.envelope(
                        payload, tenant_id=tenant, source="optimizer"
                    ),
                )
    return new


async def _history(
    conn: asyncpg.Connection, tenant: UUID, campaign_id: UUID, source: InsightSource
) -> list[InsightRow]:
    records = await conn.fetch(
        """SELECT competitor_identifier, day, intelligence_data FROM ai_competitive_intelligence
           WHERE tenant_id = $1 AND campaign_id = $2 AND data_source = $3
             AND intelligence_type = $4 AND day IS NOT NULL
             AND coalesce(intelligence_data->>'period', 'day') = 'day'
             AND day > (SELECT max(day) FROM ai_competitive_intelligence
                        WHERE tenant_id = $1 AND campaign_id = $2 AND data_source = $3)
                       - $5::int""",
        tenant,
        campaign_id,
        source,
        AUCTION_INSIGHTS,
        HISTORY_DAYS,
    )
    return [_row(campaign_id, r) for r in records]


def _row(campaign_id: UUID, record: asyncpg.Record) -> InsightRow:
    data = record["intelligence_data"]

    def share(name: str) -> float | None:
        value = data.get(name)
        return float(value) if isinstance(value, int | float) else None

    return InsightRow(
        domain=record["competitor_identifier"],
        campaign_id=campaign_id,
        day=record["day"],
        impression_share=share("impression_share"),
        overlap_rate=share("overlap_rate"),
        position_above_rate=share("position_above_rate"),
        top_of_page_rate=share("top_of_page_rate"),
        abs_top_of_page_rate=share("abs_top_of_page_rate"),
        outranking_share=share("outranking_share"),
        impression_share_below_10=bool(data.get("impression_share_below_10", False)),
    )


async def _insert(
    conn: asyncpg.Connection, tenant: UUID, event: DetectedEvent, source: InsightSource
) -> asyncpg.Record | None:
    columns = c.COMPETITOR_EVENTS.select_list
    row: asyncpg.Record | None = await conn.fetchrow(
        f"""INSERT INTO competitor_events
                (tenant_id, campaign_id, competitor, kind, started_on, size, score,
                 confidence, evidence, data_source)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (tenant_id, campaign_id, competitor, kind, started_on) DO NOTHING
            RETURNING {columns}""",
        tenant,
        event.campaign_id,
        event.competitor,
        event.kind,
        event.started_on,
        event.size,
        event.score,
        event.confidence,
        event.evidence,
        source,
    )
    return row
