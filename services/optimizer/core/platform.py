"""The optimizer's way to the ad platforms: a connector per tenant, every call logged,
and the campaigns as the platform last reported them (``ad_campaigns``).

A tenant with a connection (``ad_connections``) is reached through a connector built
from it (:class:`ConnectorRegistry`, ``connector_for``); every other tenant through the
process-wide connector configuration chooses (``ADPILOT_CONNECTOR``, ``connector_of``).
Each request a connector makes is queued for ``ai_integration_logs`` and written by a
writer of its own, so logging a call never needs a second database connection while the
caller holds one (a pool of ten would otherwise run dry under ten concurrent callers), and
a call is on record even when the work that made it rolls back.

The campaigns are written whenever the optimizer hears from the platform: a campaign
listing, or the answer to a change. ``GET /api/ai/campaigns`` and the rule runner read them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import asyncpg

from shared.connectors import (
    AccountSnapshot,
    AdPlatformConnector,
    AuthFailed,
    CallRecord,
    CampaignState,
    Change,
    ChangeReceipt,
    ChangeRefused,
    ConnectorError,
    ExperimentArm,
    PlatformExperiment,
    PlatformUnavailable,
    RateLimited,
    connector_for_account,
    connector_from_settings,
)
from shared.connectors.base import platform_rules
from shared.db import dumps_json
from shared.metrics import HourlyMetrics
from shared.secrets import Keyring, Sealed, SecretsUnavailable
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

# The conversation a platform call belongs to, for its integration log row.
CORRELATION: ContextVar[UUID | None] = ContextVar("platform_call_correlation", default=None)

_CONNECTOR = "connector"
_REGISTRY = "connectors"
_JOURNAL = "integration_log"
# How long a tenant's connector is used before its connection is read again (another
# replica may have changed it; this one forgets at once when it changes it itself).
CONNECTION_TTL_SECONDS = 30.0
T = TypeVar("T")

# Calls waiting to be written; past this the oldest news is the least useful, and a call
# beyond it is dropped (and counted) rather than slowing the caller down.
LOG_QUEUE_SIZE = 10_000
LOG_BATCH = 200


# A call, the conversation it belongs to, and the connector that made it.
_Queued = tuple[CallRecord, UUID | None, str]


class IntegrationLog:
    """Writes the connector's call records in batches, one transaction per tenant."""

    def __init__(self, runtime: ServiceRuntime, name: str) -> None:
        self._runtime = runtime
        self._name = name
        self._queue: asyncio.Queue[_Queued] = asyncio.Queue(LOG_QUEUE_SIZE)
        self.dropped = 0

    async def record(self, call: CallRecord) -> None:
        await self._put(call, self._name)

    def recorder_for(self, name: str) -> Callable[[CallRecord], Awaitable[None]]:
        """A recorder whose calls are logged under ``name`` (a tenant's own connector)."""

        async def record(call: CallRecord) -> None:
            await self._put(call, name)

        return record

    async def _put(self, call: CallRecord, name: str) -> None:
        try:
            self._queue.put_nowait((call, CORRELATION.get(), name))
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

    def _drain(self, most: int) -> list[_Queued]:
        taken: list[_Queued] = []
        while len(taken) < most and not self._queue.empty():
            taken.append(self._queue.get_nowait())
        return taken

    async def _write(self, batch: list[_Queued]) -> None:
        by_tenant: dict[UUID, list[_Queued]] = {}
        for queued in batch:
            by_tenant.setdefault(queued[0].account, []).append(queued)
        for tenant, calls in by_tenant.items():
            try:
                async with self._runtime.tenant_tx(tenant) as conn:
                    await conn.executemany(
                        """INSERT INTO ai_integration_logs (tenant_id, integration_name,
                               operation, direction, request_payload, response_payload, status,
                               error_message, duration_ms, correlation_id)
                           VALUES ($1, $2, $3, 'outbound', $4, $5, $6, $7, $8, $9)""",
                        [
                            _row(tenant, name, call, correlation)
                            for call, correlation, name in calls
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
    runtime.state[_JOURNAL] = journal
    registry = ConnectorRegistry(runtime, connector)
    runtime.state[_REGISTRY] = registry
    log.info("ad platform connector: %s", connector.name)
    try:
        yield
    finally:
        await registry.close()
        await connector.close()
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer


def connector_of(runtime: ServiceRuntime) -> AdPlatformConnector:
    """The process-wide connector: for tenants without a connection of their own."""
    connector: AdPlatformConnector = runtime.state[_CONNECTOR]
    return connector


async def connector_for(
    runtime: ServiceRuntime, tenant: UUID, conn: asyncpg.Connection | None = None
) -> AdPlatformConnector:
    """The tenant's connector: built from its connection, else the process-wide one.
    ``conn`` (a transaction of the tenant's) saves a second connection when the
    connection must be read."""
    registry: ConnectorRegistry | None = runtime.state.get(_REGISTRY)
    if registry is None:
        return connector_of(runtime)
    return await registry.for_tenant(tenant, conn)


def registry_of(runtime: ServiceRuntime) -> ConnectorRegistry:
    registry: ConnectorRegistry = runtime.state[_REGISTRY]
    return registry


# --- a connector per tenant ----------------------------------------------------------

CONNECTION_ROW = """SELECT id, platform, account_id, time_zone, currency, credentials,
                           credentials_key_id, status
                    FROM ad_connections WHERE tenant_id = $1"""


# Budget changes applied in the last hour: a new connector counts them against the
# platform's hourly limits (Meta's four per ad set), across restarts and replicas' builds.
RECENT_BUDGET_CHANGES = """SELECT target_entity_id, applied_at FROM ai_optimization_history
                           WHERE tenant_id = $1 AND setting = 'budget' AND status = 'applied'
                             AND applied_at > now() - interval '1 hour'"""


async def _connection(
    conn: asyncpg.Connection, tenant: UUID
) -> tuple[asyncpg.Record | None, list[tuple[UUID, float]]]:
    row = await conn.fetchrow(CONNECTION_ROW, tenant)
    if row is None or row["platform"] == "sandbox":
        return row, []
    recent = await conn.fetch(RECENT_BUDGET_CHANGES, tenant)
    return row, [(r["target_entity_id"], r["applied_at"].timestamp()) for r in recent]


def seal_context(tenant: UUID, connection_id: UUID) -> bytes:
    """What a connection's sealed credentials are bound to: a ciphertext copied to
    another row does not open."""
    return f"ad_connections:{tenant}:{connection_id}".encode()


def open_credentials(row: asyncpg.Record | dict[str, Any], tenant: UUID) -> dict[str, str]:
    if row["credentials"] is None:
        return {}
    sealed = Sealed(row["credentials_key_id"], bytes(row["credentials"]))
    return Keyring.from_env().open(sealed, seal_context(tenant, row["id"]))


def _fingerprint(row: asyncpg.Record) -> str:
    digest = hashlib.sha256()
    parts = (row["platform"], row["account_id"], row["time_zone"], row["currency"])
    for part in (*parts, row["status"] == "disabled"):
        digest.update(repr(part).encode())
    digest.update(bytes(row["credentials"] or b""))
    return digest.hexdigest()


@dataclass
class _Entry:
    connector: AdPlatformConnector | None  # None: the tenant has no connection
    fingerprint: str | None
    read_at: float


class ConnectorRegistry:
    """Tenants' connectors, built from their connections and kept while the connection
    stays the same (so a connector's own counts, such as Meta's budget changes per hour,
    survive), read again every ``CONNECTION_TTL_SECONDS``."""

    def __init__(self, runtime: ServiceRuntime, default: AdPlatformConnector) -> None:
        self._runtime = runtime
        self.default = default
        self._entries: dict[UUID, _Entry] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def for_tenant(
        self, tenant: UUID, conn: asyncpg.Connection | None = None
    ) -> AdPlatformConnector:
        entry = self._entries.get(tenant)
        if entry is not None and time.monotonic() - entry.read_at < CONNECTION_TTL_SECONDS:
            return entry.connector or self.default
        if conn is not None:
            row, recent = await _connection(conn, tenant)
        else:
            async with self._runtime.tenant_tx(tenant) as own:
                row, recent = await _connection(own, tenant)
        async with self._lock:
            return await self._settle(tenant, row, recent)

    async def _settle(
        self, tenant: UUID, row: asyncpg.Record | None, recent: list[tuple[UUID, float]]
    ) -> AdPlatformConnector:
        entry = self._entries.get(tenant)
        fingerprint = None if row is None else _fingerprint(row)
        if entry is not None and entry.fingerprint == fingerprint:
            entry.read_at = time.monotonic()
            return entry.connector or self.default
        if entry is not None and entry.connector is not None:
            await entry.connector.close()
        connector = None if row is None else self._build(tenant, row, recent)
        self._entries[tenant] = _Entry(connector, fingerprint, time.monotonic())
        return connector or self.default

    def _build(
        self, tenant: UUID, row: asyncpg.Record, recent: list[tuple[UUID, float]]
    ) -> AdPlatformConnector:
        if row["status"] == "disabled":
            return Unreachable(
                "the tenant's ad platform connection is disabled", "connection_disabled"
            )
        journal: IntegrationLog | None = self._runtime.state.get(_JOURNAL)
        try:
            inner = connector_for_account(
                row["platform"],
                row["account_id"],
                row["time_zone"],
                open_credentials(row, tenant),
                self._runtime.settings,
                journal.recorder_for(row["platform"]) if journal is not None else None,
                currency=row["currency"],
                account=tenant,
            )
        except (SecretsUnavailable, ValueError, KeyError) as exc:
            log.warning("tenant %s: connection %s unusable: %s", tenant, row["id"], exc)
            return Unreachable(f"the connection cannot be used: {exc}", "connection_unusable")
        remember = getattr(inner, "remember_budget_changes", None)
        if remember is not None:
            remember(recent)
        return Tracked(inner, tenant, self._status_changed, row["status"])

    def forget(self, tenant: UUID) -> None:
        """Read the tenant's connection again on its next call (it was just changed)."""
        entry = self._entries.pop(tenant, None)
        if entry is not None and entry.connector is not None:
            task = asyncio.create_task(entry.connector.close())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _status_changed(self, tenant: UUID, status: str, reason: str | None) -> None:
        task = asyncio.create_task(self._write_status(tenant, status, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write_status(self, tenant: UUID, status: str, reason: str | None) -> None:
        try:
            async with self._runtime.tenant_tx(tenant) as conn:
                await conn.execute(
                    """UPDATE ad_connections SET status = $2, status_reason = $3,
                              checked_at = now()
                       WHERE tenant_id = $1 AND status <> 'disabled' AND status <> $2""",
                    tenant,
                    status,
                    reason,
                )
        except Exception as exc:
            log.warning("tenant %s: connection status not recorded: %s", tenant, exc)

    async def close(self) -> None:
        for entry in self._entries.values():
            if entry.connector is not None:
                await entry.connector.close()
        self._entries.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def status_of(exc: BaseException) -> str | None:
    """The connection status a connector error shows (None: not the connection's fault)."""
    if isinstance(exc, AuthFailed):
        return "auth_failed"
    if isinstance(exc, RateLimited):
        return "rate_limited"
    return None


class Tracked:
    """A tenant's connector whose calls keep its connection's ``status`` up to date."""

    def __init__(
        self,
        inner: AdPlatformConnector,
        tenant: UUID,
        changed: Callable[[UUID, str, str | None], None],
        status: str = "ok",
    ) -> None:
        self.inner = inner
        self.name = inner.name
        # The rules its platform enforces, which the safety limits keep too.
        self.rules = platform_rules(inner)
        self._tenant = tenant
        self._changed = changed
        # As the connection last said: a success after a failure writes ``ok`` again.
        self._status = status

    async def _watch(self, call: Awaitable[T]) -> T:
        try:
            result = await call
        except ConnectorError as exc:
            status = status_of(exc)
            if status is not None and status != self._status:
                self._status = status
                self._changed(self._tenant, status, str(exc)[:500])
            raise
        if self._status != "ok":
            self._status = "ok"
            self._changed(self._tenant, "ok", None)
        return result

    async def list_campaigns(self, account: UUID) -> AccountSnapshot:
        return await self._watch(self.inner.list_campaigns(account))

    async def apply_change(
        self, account: UUID, campaign_id: UUID, change: Change, change_id: UUID
    ) -> ChangeReceipt:
        return await self._watch(self.inner.apply_change(account, campaign_id, change, change_id))

    async def preview_change(
        self, account: UUID, campaign_id: UUID, change: Change
    ) -> CampaignState:
        preview = getattr(self.inner, "preview_change", None)
        if preview is None:
            raise ChangeRefused("preview_unsupported", f"{self.name} cannot preview a change")
        found: CampaignState = await self._watch(preview(account, campaign_id, change))
        return found

    async def hourly_report(
        self, account: UUID, start: datetime, end: datetime
    ) -> list[HourlyMetrics]:
        return await self._watch(self.inner.hourly_report(account, start, end))

    async def start_experiment(
        self,
        account: UUID,
        campaign_id: UUID,
        experiment_id: UUID,
        arms: Sequence[ExperimentArm],
    ) -> PlatformExperiment:
        return await self._watch(
            self.inner.start_experiment(account, campaign_id, experiment_id, arms)
        )

    async def experiment_results(
        self, account: UUID, campaign_id: UUID, experiment_id: UUID
    ) -> PlatformExperiment:
        return await self._watch(self.inner.experiment_results(account, campaign_id, experiment_id))

    async def close(self) -> None:
        await self.inner.close()


class Unreachable:
    """The connector of a tenant whose connection cannot be used (disabled, or its
    credentials cannot be opened): reads are unavailable, changes refused."""

    name = "unreachable"

    def __init__(self, reason: str, code: str) -> None:
        self.reason = reason
        self.code = code

    async def list_campaigns(self, account: UUID) -> AccountSnapshot:
        raise PlatformUnavailable(self.reason)

    async def apply_change(
        self, account: UUID, campaign_id: UUID, change: Change, change_id: UUID
    ) -> ChangeReceipt:
        raise ChangeRefused(self.code, self.reason)

    async def hourly_report(
        self, account: UUID, start: datetime, end: datetime
    ) -> list[HourlyMetrics]:
        raise PlatformUnavailable(self.reason)

    async def start_experiment(
        self,
        account: UUID,
        campaign_id: UUID,
        experiment_id: UUID,
        arms: Sequence[ExperimentArm],
    ) -> PlatformExperiment:
        raise ChangeRefused(self.code, self.reason)

    async def experiment_results(
        self, account: UUID, campaign_id: UUID, experiment_id: UUID
    ) -> PlatformExperiment:
        raise PlatformUnavailable(self.reason)

    async def close(self) -> None:
        return None


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
