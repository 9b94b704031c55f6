"""The decision cycle's daily totals for response curves, from its own metrics copy in
real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from sandbox.simulator import CampaignSimulator
from services.decision import budget_curves, cycles
from shared.config import Settings
from shared.connectors.base import Change
from shared.curves import daily_totals
from shared.db import scoped
from shared.metrics_store import upsert_metrics
from tests.conftest import schema_pool

pytestmark = pytest.mark.integration

START = datetime(2026, 9, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
async def decision_db(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await schema_pool(settings, "decision")
    yield pool
    await pool.close()


async def test_gather_sums_complete_utc_days_and_views_fit_curves_on_them(
    decision_db: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cycles, "CURVES", budget_curves.CurveCache())
    tenant = uuid.uuid4()
    sim = CampaignSimulator(2, seed=4, start=START)
    first, second = sim.campaign_ids
    for day, factor in enumerate((0.8, 1.0, 1.2, 0.9)):
        sim.apply_change_at(first, Change("budget", 4000.0 * factor), START + day * 24 * HOUR)
    # Four whole days and five hours of a fifth, in progress.
    rows = [r for hour in sim.simulate_range(START, 4 * 24 + 5) for r in hour]
    # One hour of the second campaign's second day goes missing: that day is incomplete.
    rows = [r for r in rows if not (r.campaign_id == second and r.hour == START + 30 * HOUR)]
    async with scoped(decision_db, tenant) as conn:
        await upsert_metrics(conn, tenant, rows)
        state = await cycles._gather(conn, tenant)

    by_campaign: dict[uuid.UUID, list] = {}
    for campaign_id, day in state["daily"]:
        by_campaign.setdefault(campaign_id, []).append(day)
    expected_first = daily_totals(r for r in rows if r.campaign_id == first)
    assert [d.day for d in by_campaign[first]] == [(START + i * 24 * HOUR).date() for i in range(4)]
    for got, want in zip(by_campaign[first], expected_first, strict=True):
        assert got.spend == pytest.approx(want.spend)
        assert got.conversions == want.conversions
        assert got.revenue == pytest.approx(want.revenue)
    assert [d.day for d in by_campaign[second]] == [
        START.date(),
        (START + 48 * HOUR).date(),
        (START + 72 * HOUR).date(),
    ]

    views = {v.campaign_id: v for v in cycles.build_views(state)}
    curves = views[first].curves
    assert curves is not None
    assert curves.revenue.n_days == 4 and curves.conversions.n_days == 4
    assert curves.revenue.window_end == (START + 72 * HOUR).date()
    # Four days are too few to support a curve, and the curve says so.
    assert not curves.revenue.supported and "only 4 complete days" in str(curves.revenue.reason)
