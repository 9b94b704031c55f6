"""A platform of a benchmark's own: its database, exchange and ports, removed afterwards."""

from __future__ import annotations

import secrets
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from adpilot.registry import migration_folders
from bench.report import BENCH_SETTINGS
from services.gateway.keys import create_key, ensure_tenant
from shared.bus import Bus
from shared.config import Settings
from shared.contracts import SERVICES
from shared.db import connect, create_pool, migrate_all, scoped
from shared.metrics import HourlyMetrics
from tests.e2e.platform import Platform
from tests.infra import private_settings

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
ROLES = ("viewer", "operator", "admin")
# The schemas that keep a copy of the metric rows (each stores what it reads).
METRIC_SCHEMAS = ("alerts", "decision", "optimizer")
METRIC_COLUMNS = (
    "tenant_id",
    "campaign_id",
    "hour",
    "impressions",
    "clicks",
    "conversions",
    "spend",
    "revenue",
    "budget",
)


@dataclass(frozen=True)
class Bench:
    settings: Settings
    platform: Platform
    tenant: uuid.UUID
    keys: dict[str, str]  # role -> API key

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


async def make_tenant(settings: Settings, name: str) -> tuple[uuid.UUID, dict[str, str]]:
    """A tenant named ``name`` with an API key per role, made as the platform makes them."""
    pool = await create_pool(settings.database_url, "gateway", min_size=1, max_size=1)
    try:
        async with scoped(pool, system=True) as conn:
            tenant = await ensure_tenant(conn, name)
            keys = {}
            for role in ROLES:
                _row, keys[role] = await create_key(conn, tenant, name, role)
    finally:
        await pool.close()
    return tenant, keys


def metric_record(
    tenant: uuid.UUID, row: HourlyMetrics, campaign: uuid.UUID | None = None
) -> tuple[Any, ...]:
    """One row of ``campaign_metrics`` in :data:`METRIC_COLUMNS` order (``campaign``: the
    row's figures under another campaign's id)."""
    return (
        tenant,
        campaign or row.campaign_id,
        row.hour,
        row.impressions,
        row.clicks,
        row.conversions,
        row.spend,
        row.revenue,
        row.budget,
    )


async def copy_history(
    settings: Settings, records: Iterable[tuple[Any, ...]], chunk: int = 50_000
) -> int:
    """Put :func:`metric_record` rows straight into every service's copy of the metrics,
    as history that was there before a benchmark starts (COPY, not the services' path:
    the time it takes is no part of any figure). Answers the rows copied per schema."""
    conn = await connect(settings.database_url)
    copied = 0
    try:
        rows = iter(records)
        while part := list(islice(rows, chunk)):
            for schema in METRIC_SCHEMAS:
                await conn.copy_records_to_table(
                    "campaign_metrics", schema_name=schema, records=part, columns=METRIC_COLUMNS
                )
            copied += len(part)
        for schema in METRIC_SCHEMAS:
            await conn.execute(f'ANALYZE "{schema}".campaign_metrics')
    finally:
        await conn.close()
    return copied


@asynccontextmanager
async def own_platform(label: str, **overrides: Any) -> AsyncIterator[Bench]:
    """Migrate a fresh database, start every service and the sandbox, and make a tenant
    with a key per role; tear it all down on the way out. ``overrides``: settings that
    differ from :data:`~bench.report.BENCH_SETTINGS`."""
    rid = secrets.token_hex(5)
    settings = private_settings(
        SERVER, Settings().amqp_url, f"bench.{rid}", **{**BENCH_SETTINGS, **overrides}
    )
    await migrate_all(settings.database_url, migration_folders())
    tenant, keys = await make_tenant(settings, f"{label}-{rid}")
    platform = Platform(settings, Path(tempfile.mkdtemp(prefix=f"adpilot-{label}-")))
    try:
        await platform.start_all()
        yield Bench(settings, platform, tenant, keys)
    finally:
        await platform.stop_all()
        bus = Bus(settings.amqp_url, settings.exchange)
        await bus.connect()
        await bus.delete_topology(SERVICES)
        await bus.close()
        admin = await connect(SERVER)
        database = settings.database_url.rsplit("/", 1)[1]
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
