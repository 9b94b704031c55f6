"""The alerts store persisting incidents on real PostgreSQL, including under races."""

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
from services.alerts.incidents import Incident, group
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


def finding(kind: str = "cvr_down", severity: Severity = "medium") -> Finding:
    metric = "conversions" if kind == "tracking_outage" else kind.rsplit("_", 1)[0]
    content = AlertContent("performance_anomaly", severity, f"{kind} title", f"{kind} text")
    return Finding(kind, metric, content, {"metric": metric})


def one(*findings: Finding) -> Incident:
    (incident,) = group(findings)
    return incident


async def test_concurrent_first_findings_open_one_incident(alerts_db: asyncpg.Pool) -> None:
    tenant, campaign = uuid.uuid4(), uuid.uuid4()
    first_in = asyncio.Event()
    release = asyncio.Event()

    async def first() -> store.Raised:
        async with scoped(alerts_db, tenant) as conn:
            found = one(finding("cvr_down", "high"), finding("roas_down"))
            raised = await store.raise_or_update(conn, tenant, campaign, found, T0)
            first_in.set()
            await release.wait()
            return raised

    async def second() -> store.Raised:
        await first_in.wait()
        async with scoped(alerts_db, tenant) as conn:
            # Another primary, sharing a symptom: it must wait and continue the first.
            found = one(finding("conversions_down"), finding("roas_down"))
            return await store.raise_or_update(conn, tenant, campaign, found, T0 + HOUR)

    one_task = asyncio.create_task(first())
    two = asyncio.create_task(second())
    entered = asyncio.ensure_future(first_in.wait())
    await asyncio.wait({one_task, entered}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if one_task.done():
        one_task.result()  # the first failed before it held the campaign: say why, do not hang
    assert entered.done(), "the first group never got hold of the campaign"
    await asyncio.sleep(0.3)  # the second is now waiting on the first's uncommitted incident
    assert not two.done()
    release.set()
    opened, folded = await one_task, await two
    assert opened.created and not folded.created
    assert folded.alert["id"] == opened.alert["id"]
    assert folded.alert["occurrences"] == 2 and folded.alert["severity"] == "high"
    evidence = folded.alert["evidence"]
    assert evidence["primary"] == "conversions_down"
    assert [s["kind"] for s in evidence["symptoms"]] == ["cvr_down", "roas_down"]


async def test_one_row_per_incident_escalating_upgrading_and_resolving_as_one(
    alerts_db: asyncpg.Pool,
) -> None:
    tenant, campaign = uuid.uuid4(), uuid.uuid4()
    async with scoped(alerts_db, tenant) as conn:
        opened = await store.raise_or_update(
            conn, tenant, campaign, one(finding("cvr_down", "low"), finding("roas_down")), T0
        )
        # An unrelated cause on the same campaign is an incident of its own.
        cpc = await store.raise_or_update(
            conn, tenant, campaign, one(finding("cpc_up"), finding("spend_up")), T0
        )
        assert opened.created and cpc.created and cpc.alert["id"] != opened.alert["id"]
        assert opened.alert["alert_key"] == "cvr_down" and opened.alert["severity"] == "medium"
        # The outage shows: the same incident, now named for it, and worse.
        up = await store.raise_or_update(
            conn,
            tenant,
            campaign,
            one(finding("tracking_outage", "critical"), finding("cvr_down")),
            T0 + HOUR,
        )
        assert not up.created and up.alert["id"] == opened.alert["id"]
        assert up.alert["severity"] == "critical" and up.alert["alert_key"] == "cvr_down"
        assert up.alert["title"] == "tracking_outage title"
        assert up.alert["evidence"]["primary"] == "tracking_outage"
        assert [s["kind"] for s in up.alert["evidence"]["symptoms"]] == ["cvr_down", "roas_down"]
        payload = store.event_payload(up.alert, campaign)
        assert payload["kind"] == "tracking_outage"
        assert payload["symptoms"] == ["cvr_down", "roas_down"]
        # A symptom alone, milder: the incident goes on, no less severe, text unchanged.
        down = await store.raise_or_update(
            conn, tenant, campaign, one(finding("roas_down", "low")), T0 + 2 * HOUR
        )
        assert down.alert["id"] == opened.alert["id"] and down.alert["severity"] == "critical"
        assert down.alert["occurrences"] == 3 and down.alert["title"] == "tracking_outage title"
        rows = await conn.fetch(
            "SELECT id FROM ai_smart_alerts WHERE tenant_id = $1 AND status = 'active'", tenant
        )
        assert len(rows) == 2
        assert await store.open_alert_kinds(conn, tenant, campaign) == [
            "cpc_up",
            "cvr_down",
            "roas_down",
            "spend_up",
            "tracking_outage",
        ]
        # Quiet hours with no member seen resolve each incident as one: the CPC incident
        # was last seen two hours before the other.
        last = T0 + 2 * HOUR
        early = await store.resolve_quiet(conn, tenant, campaign, last + (QUIET_HOURS - 1) * HOUR)
        assert [r["id"] for r in early] == [cpc.alert["id"]]
        resolved = await store.resolve_quiet(conn, tenant, campaign, last + QUIET_HOURS * HOUR)
        assert [r["id"] for r in resolved] == [opened.alert["id"]]
        assert resolved[0]["evidence"]["auto_resolved"] is True
        assert resolved[0]["evidence"]["primary"] == "tracking_outage"
        assert await store.open_alert_kinds(conn, tenant, campaign) == []


async def test_a_stale_incident_closes_when_its_cause_returns(alerts_db: asyncpg.Pool) -> None:
    tenant, campaign = uuid.uuid4(), uuid.uuid4()
    async with scoped(alerts_db, tenant) as conn:
        opened = await store.raise_or_update(conn, tenant, campaign, one(finding()), T0)
        # A gap in the data: the next finding comes after the quiet period.
        later = T0 + (QUIET_HOURS + 1) * HOUR
        reopened = await store.raise_or_update(conn, tenant, campaign, one(finding()), later)
        assert reopened.created
        assert [r["id"] for r in reopened.resolved] == [opened.alert["id"]]
        assert reopened.resolved[0]["status"] == "resolved"
        assert reopened.alert["severity"] == "medium" and reopened.alert["occurrences"] == 1
