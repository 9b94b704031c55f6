"""The optimizer's way to the ad platform: one connector per process, every call logged,
and the campaigns as the platform last reported them (``ad_campaigns``).

The connector is chosen by configuration (``ADPILOT_CONNECTOR``). Each request it makes is
queued for ``ai_integration_logs`` and written by a writer of its own, so logging a call
never needs a second database connection while the caller holds one (a pool of ten would
otherwise run dry under ten concurrent callers), and a call is on record even when the work
that made it rolls back.

The campaigns are written whenever the optimizer hears from the platform: a campaign
listing, or the answer to a change. ``GET /api/ai/campaigns`` and the rule runner read them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.connectors import (
    AccountSnapshot,
    AdPlatformConnector,
    CallRecord,
    CampaignState,
    connector_from_settings,
)
from shared.db import dumps_json
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

# The conversation a platform call belongs to, for its integration log row.
CORRELATION: ContextVar[UUID | None] = ContextVar("platform_call_correlation", default=None)

_CONNECTOR = "connector"

# Calls waiting to be written; past this the oldest news is the least useful, and a call
# beyond it is dropped (and counted) rather than slowing the caller down.
LOG_QUEUE_SIZE = 10_000
LOG_BATCH = 200


class IntegrationLog:
    """Writes the connector's call records in batches, one transaction per tenant."""

    def __init__(self, runtime: ServiceRuntime, name: str) -> None:
        self._runtime = runtime
        self._name = name
        self._queue: asyncio.Queue[tuple[CallRecord, UUID | None]] = asyncio.Queue(LOG_QUEUE_SIZE)
        self.dropped = 0

    async def record(self, call: CallRecord) -> None:
        try:
            self._queue.put_nowait((call, CORRELATION.get()))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.warning("integration log is behind; %d calls not recorded", self.dropped)

    async def run(self) -> None:
        """Write until cancelled; what is queued when cancelled is written first."""
        try:
            while True:
                batch = [await self._queue.get()]
                batch += self._drain(LOG_BATCH - 1)
                await self._write(batch)
        except asyncio.CancelledError:
            await self._write(self._drain(LOG_QUEUE_SIZE))
            raise

    def _drain(self, most: int) -> list[tuple[CallRecord, UUID | None]]:
        taken: list[tuple[CallRecord, UUID | None]] = []
        while len(taken) < most and not self._queue.empty():
            taken.append(self._queue.get_nowait())
        return taken

    async def _write(self, batch: list[tuple[CallRecord, UUID | None]]) -> None:
        by_tenant: dict[UUID, list[tuple[CallRecord, UUID | None]]] = {}
        for call, correlation in batch:
            by_tenant.setdefault(call.account, []).append((call, correlation))
        for tenant, calls in by_tenant.items():
            try:
                async with self._runtime.tenant_tx(tenant) as conn:
                    await conn.executemany(
                        """INSERT INTO ai_integration_logs (tenant_id, integration_name,
                               operation, direction, request_payload, response_payload, status,
                               error_message, duration_ms, correlation_id)
                           VALUES ($1, $2, $3, 'outbound', $4, $5, $6, $7, $8, $9)""",
                        [
                            _row(tenant, self._name, call, correlation)
                            for call, correlation in calls
                        ],
                    )
            except Exception as exc:
                log.warning("could not write %d integration log rows: %s", len(calls), exc)


def _row(tenant: UUID, name: str, call: CallRecord, correlation: UUID | None) -> tuple[Any, ...]:
    return (
        tenant,
        name,
        call.operation,
        call.request,
        call.response,
        call.outcome,
        call.error,
        call.duration_ms,
        correlation,
    )


@asynccontextmanager
async def connector_lifespan(runtime: ServiceRuntime) -> AsyncIterator[None]:
    name = runtime.settings.connector
    journal = IntegrationLog(runtime, name)
    writer = asyncio.create_task(journal.run(), name="integration-log")
    connector = connector_from_settings(runtime.settings, journal.record)
    runtime.state[_CONNECTOR] = connector
    log.info("ad platform connector: %s", connector.name)
    try:
        yield
    finally:
        await connector.close()
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer


def connector_of(runtime: ServiceRuntime) -> AdPlatformConnector:
    connector: AdPlatformConnector = runtime.state[_CONNECTOR]
    return connector


# --- the campaigns as last reported ----------------------------------------------------


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
