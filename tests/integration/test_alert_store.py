"""The alerts store persisting the alert rule on real PostgreSQL, including under races."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.alerts import store
from services.alerts.alert_lifecycle import QUIET_HOURS
from services.alerts.anomaly import AlertContent, Severity
from services.alerts.findings import Finding
from shared.config import Settings
from shared.db import scoped
from tests.conftest import schema_pool

pytestmark = pytest.mark.integration

T0 = datetime(2026, 10, 1, 9, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
async def alerts_db(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await schema_pool(settings, "alerts")
    yield pool
    await pool.close()


def finding(severity: Severity = "medium") -> Finding:
    content = AlertContent("performance_anomaly", severity, "CVR down", "Conversions fell.")
    return Finding("cvr_down", "cvr", content, {"metric": "cvr"})


async def test_concurrent_first_findings_open_one_alert(alerts_db: asyncpg.Pool) -> None:
    tenant, campaign = uuid.uuid4(), uuid.uuid4()
    first_in = asyncio.Event()
    release = asyncio.Event()

    async def first() -> store.Raised:
        async with scoped(alerts_db, tenant) as conn:
            raised = await store.raise_or_update(conn, tenant, campaign, finding("high"), T0)
            first_in.set()
            await release.wait()
            return raised

    async def second() -> store.Raised:
        await first_in.wait()
        async with scoped(alerts_db, tenant) as conn:
            return await store.raise_or_update(conn, tenant, campaign, finding(), T0 + HOUR)

    one = asyncio.create_task(first())
    two = asyncio.create_task(second())
    entered = asyncio.ensure_future(first_in.wait())
    await asyncio.wait({one, entered}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if one.done():
        one.result()  # the first failed before it held the alert: say why, do not hang
    assert entered.done(), "the first finding never got hold of the alert"
    await asyncio.sleep(0.3)  # the second is now waiting on the first's uncommitted alert
    assert not two.done()
    release.set()
    opened, folded = await one, await two
    assert opened.created and not folded.created
    assert folded.alert["id"] == opened.alert["id"]
    assert folded.alert["occurrences"] == 2 and folded.alert["severity"] == "high"


async def test_escalation_quiet_resolution_and_a_stale_alert(alerts_db: asyncpg.Pool) -> None:
    tenant, campaign = uuid.uuid4(), uuid.uuid4()
    async with scoped(alerts_db, tenant) as conn:
        opened = await store.raise_or_update(conn, tenant, campaign, finding("low"), T0)
        up = await store.raise_or_update(conn, tenant, campaign, finding("critical"), T0 + HOUR)
        down = await store.raise_or_update(conn, tenant, campaign, finding("low"), T0 + 2 * HOUR)
        assert opened.created and up.alert["severity"] == down.alert["severity"] == "critical"
        assert down.alert["occurrences"] == 3
        last = T0 + 2 * HOUR
        assert (
            await store.resolve_quiet(conn, tenant, campaign, last + (QUIET_HOURS - 1) * HOUR) == []
        )
        # a gap in the data: the next finding comes after the quiet period
        later = last + (QUIET_HOURS + 1) * HOUR
        reopened = await store.raise_or_update(conn, tenant, campaign, finding(), later)
        assert reopened.created and reopened.resolved is not None
        assert reopened.resolved["id"] == opened.alert["id"]
        assert reopened.resolved["status"] == "resolved"
        assert reopened.resolved["evidence"]["auto_resolved"] is True
        assert reopened.alert["severity"] == "medium" and reopened.alert["occurrences"] == 1
        resolved = await store.resolve_quiet(conn, tenant, campaign, later + QUIET_HOURS * HOUR)
        assert [a["id"] for a in resolved] == [reopened.alert["id"]]
        assert await store.open_alert_keys(conn, tenant, campaign) == []
