"""The Auction Insights store on real PostgreSQL: idempotent upserts (a null day too),
counts of what changed, and lists within a range of days."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from services.optimizer.competition.sources import InsightRow
from services.optimizer.competition.store import (
    INSIGHT_DAYS,
    RangedQuery,
    Stored,
    list_ranged,
    upsert_insights,
)
from shared.config import Settings
from shared.contracts.competition import COMPETITIVE_INTELLIGENCE
from shared.db import scoped
from shared.resources import ListQuery
from tests.conftest import schema_pool

pytestmark = pytest.mark.integration


def row(campaign: uuid.UUID, domain: str, day: date | None, share: float) -> InsightRow:
    return InsightRow(domain=domain, campaign_id=campaign, day=day, impression_share=share)


async def test_upserts_count_new_changed_and_unchanged_rows(settings: Settings) -> None:
    pool = await schema_pool(settings, "optimizer")
    tenant, campaign = uuid.uuid4(), uuid.uuid4()
    d1, d2 = date(2026, 11, 1), date(2026, 11, 2)
    try:
        async with scoped(pool, tenant) as conn:
            first = [row(campaign, "You", d1, 0.4), row(campaign, "a.example", None, 0.2)]
            assert vars_of(await upsert_insights(conn, tenant, "google_ads_csv", first)) == (
                2,
                0,
                0,
            )
            again = [
                row(campaign, "You", d1, 0.4),
                row(campaign, "a.example", None, 0.25),  # the null day is the same row
                row(campaign, "You", d2, 0.5),
            ]
            assert vars_of(await upsert_insights(conn, tenant, "google_ads_csv", again)) == (
                1,
                1,
                1,
            )
            # Another source keeps rows of its own.
            assert vars_of(await upsert_insights(conn, tenant, "sandbox", first[:1])) == (1, 0, 0)
            count = await conn.fetchval(
                "SELECT count(*) FROM ai_competitive_intelligence WHERE tenant_id = $1", tenant
            )
            assert count == 4
            shares = await conn.fetchval(
                """SELECT intelligence_data->>'impression_share' FROM ai_competitive_intelligence
                   WHERE tenant_id = $1 AND day IS NULL""",
                tenant,
            )
            assert float(shares) == 0.25

            base = ListQuery(limit=10, after=None, equals={"data_source": "google_ads_csv"})
            page = await list_ranged(
                conn, COMPETITIVE_INTELLIGENCE, INSIGHT_DAYS, tenant, RangedQuery(base, d2, d2)
            )
            assert [(r["day"], r["competitor_identifier"]) for r in page["items"]] == [(d2, "You")]
            page = await list_ranged(
                conn, COMPETITIVE_INTELLIGENCE, INSIGHT_DAYS, tenant, RangedQuery(base, None, d1)
            )
            # A row without a day is in no range of days.
            assert [(r["day"], r["competitor_identifier"]) for r in page["items"]] == [(d1, "You")]
    finally:
        await pool.close()


def vars_of(stored: Stored) -> tuple[int, int, int]:
    return (stored.inserted, stored.updated, stored.unchanged)
