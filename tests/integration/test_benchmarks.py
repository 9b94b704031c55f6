"""Benchmarks on real PostgreSQL, through the optimizer's own HTTP routes: the shipped seed
set for every tenant and changed by none, a tenant's own published rows and own history
for it alone, the peer pool only from ten tenants of an industry on, and each campaign's
tiers; the tenant's industry set with its preferences."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.gateway.preferences import KEEP, set_preferences
from services.optimizer.benchmarks.percentiles import percentiles, pooled_percentiles
from services.optimizer.benchmarks.runner import pool_peers, seed_benchmarks
from services.optimizer.benchmarks.store import seed_rows
from services.optimizer.core.handlers import subscriptions
from services.optimizer.core.tenants import tenant_industry
from shared.config import Settings
from shared.contracts.benchmarks import MIN_PEER_TENANTS
from shared.db import scoped
from shared.events import Envelope
from tests.conftest import schema_pool
from tests.helpers import deliver
from tests.integration.optimizer_app import OptimizerApp, serving

pytestmark = pytest.mark.integration

NOW = datetime(2026, 6, 1, tzinfo=UTC)


Optimizer = OptimizerApp


@pytest.fixture(scope="module")
async def optimizer(settings: Settings) -> AsyncIterator[Optimizer]:
    """The optimizer's routes on a database of this module's own (the peer pool reads
    every tenant of it), with the seed loaded as at start and no background jobs."""
    async with serving(settings, "benchmarks", lifespans=(seed_benchmarks,)) as served:
        yield Optimizer(*served)


async def tenant_with(
    optimizer: Optimizer, industry: str | None, clicks: list[int], *, conversions: int = 5
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A tenant of ``industry`` with one campaign per entry of ``clicks``: ten days of
    1,000 impressions a day, that many clicks, ``conversions`` and 2.0 of spend a day."""
    tenant = uuid.uuid4()
    campaigns = [uuid.uuid4() for _ in clicks]
    pool = await schema_pool(optimizer.settings, "optimizer")
    try:
        async with scoped(pool, tenant) as conn:
            if industry is not None:
                await conn.execute(
                    """INSERT INTO optimizer_tenant_settings
                           (tenant_id, autonomy, updated_at, industry)
                       VALUES ($1, 'recommend', now(), $2)""",
                    tenant,
                    industry,
                )
            rows = [
                (tenant, campaign, NOW - timedelta(days=day), 1000, n, conversions, 2.0, 0.0, 10.0)
                for campaign, n in zip(campaigns, clicks, strict=True)
                for day in range(10)
            ]
            # An hour beyond the 90 days counts for nothing.
            rows.append((tenant, campaigns[0], NOW - timedelta(days=91), 1000, 1000, 0, 0, 0, 10))
            await conn.executemany(
                """INSERT INTO campaign_metrics (tenant_id, campaign_id, hour, impressions,
                       clicks, conversions, spend, revenue, budget)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
                rows,
            )
    finally:
        await pool.close()
    return tenant, campaigns


def fields_of(error: dict[str, Any]) -> list[str]:
    return [f["field"] for f in error["error"]["details"]["fields"]]


async def all_pages(optimizer: Optimizer, tenant: uuid.UUID, query: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        status, page = await optimizer.call("GET", f"/benchmarks?{query}{suffix}", tenant)
        assert status == 200, page
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_the_seed_set_is_shared_cited_and_read_only(optimizer: Optimizer) -> None:
    tenant = uuid.uuid4()
    shipped = [r for r in seed_rows() if r["industry"] == "travel"]
    listed = await all_pages(optimizer, tenant, "industry=travel&source_kind=published&limit=3")
    assert sorted(r["url"] for r in listed) == sorted(r["url"] for r in shipped)
    assert len({r["id"] for r in listed}) == len(shipped)
    for row in listed:
        assert row["shared"] and row["source"] and row["edition"]
        # A published average is a median; no other percentile is made up.
        assert row["p50"] is not None and row["benchmark_value"] == pytest.approx(row["p50"])
        assert row["p10"] is row["p25"] is row["p75"] is row["p90"] is None
    one = listed[0]
    status, got = await optimizer.call("GET", f"/benchmarks/{one['id']}", tenant, role="viewer")
    assert status == 200 and got == one
    for method, body in (("PATCH", {"p50": 0.5}), ("DELETE", None)):
        status, error = await optimizer.call(method, f"/benchmarks/{one['id']}", tenant, body)
        assert status == 409, error
        assert error["error"]["code"] == "read_only_benchmark"
    status, _ = await optimizer.call("GET", f"/benchmarks/{one['id']}", tenant)
    assert status == 200
    # Loading the seed again (another replica starting) adds nothing.
    system = optimizer.settings.default_tenant
    async with seed_benchmarks(optimizer.runtime):
        pass
    async with optimizer.runtime.tenant_tx(system) as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM ai_performance_benchmarks WHERE tenant_id = $1 AND shared",
            system,
        )
    assert count == len(seed_rows())


BODY = {
    "source": "Our agency's 2025 report",
    "url": "https://example.com/report",
    "edition": "2025",
    "industry": "travel",
    "platform": "google_ads",
    "metric": "ctr",
    "country": "US",
    "p25": 0.04,
    "p50": 0.06,
}


async def test_own_published_rows_are_the_tenants_alone(optimizer: Optimizer) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    bad: list[tuple[dict[str, Any], str]] = [
        ({**BODY, "p75": 0.03}, "p75"),
        ({key: v for key, v in BODY.items() if key not in ("p25", "p50")}, "p50"),
        ({**BODY, "industry": "astrology"}, "industry"),
        ({**BODY, "metric": "roas"}, "metric"),
        ({**BODY, "url": "not a url"}, "url"),
        ({**BODY, "p50": -1}, "p50"),
        ({**BODY, "country": "usa"}, "country"),
        ({**BODY, "surprise": 1}, "surprise"),
    ]
    for wrong, field in bad:
        status, error = await optimizer.call("POST", "/benchmarks", a, wrong)
        assert status == 422, (wrong, error)
        assert field in fields_of(error), (field, error)
    status, made = await optimizer.call("POST", "/benchmarks", a, BODY)
    assert status == 201, made
    assert (made["source_kind"], made["shared"], made["p50"], made["p75"]) == (
        "published",
        False,
        0.06,
        None,
    )
    path = f"/benchmarks/{made['id']}"
    assert (await optimizer.call("GET", path, b))[0] == 404
    assert made["id"] not in {r["id"] for r in await all_pages(optimizer, b, "industry=travel")}
    # Its own rows and the shared ones come in one order under one cursor, page by page.
    paged = await all_pages(optimizer, a, "industry=travel&limit=2")
    travel_seed = [r for r in seed_rows() if r["industry"] == "travel"]
    assert len(paged) == len({r["id"] for r in paged}) == len(travel_seed) + 1
    assert made["id"] in {r["id"] for r in paged}
    order = [(r["created_at"], r["id"]) for r in paged]
    assert order == sorted(order, reverse=True)
    for method in ("PATCH", "DELETE"):
        status, _ = await optimizer.call(method, path, b, {} if method == "PATCH" else None)
        assert status == 404, method

    status, error = await optimizer.call("PATCH", path, a, {"p50": 0.03})  # below p25
    assert status == 422 and fields_of(error) == ["p50"], error
    status, changed = await optimizer.call("PATCH", path, a, {"p50": 0.05, "p90": 0.09})
    assert status == 200, changed
    assert (changed["p50"], changed["p90"], changed["benchmark_value"]) == (0.05, 0.09, 0.05)
    status, changed = await optimizer.call("PATCH", path, a, {"p25": None, "url": None})
    assert status == 200 and (changed["p25"], changed["url"], changed["p50"]) == (None, None, 0.05)
    status, error = await optimizer.call("PATCH", path, a, {"metric": None, "source": None})
    assert status == 422 and sorted(fields_of(error)) == ["metric", "source"], error
    status, error = await optimizer.call("PATCH", path, a, {"p50": None, "p90": None})
    assert status == 422 and fields_of(error) == ["p50"], error  # none left
    assert (await optimizer.call("PATCH", f"/benchmarks/{uuid.uuid4()}", a, {}))[0] == 404
    status, gone = await optimizer.call("DELETE", path, a)
    assert status == 200 and gone["id"] == made["id"]
    assert (await optimizer.call("GET", path, a))[0] == 404
    status, error = await optimizer.call("GET", "/benchmarks?metric=ctr&colour=red", a)
    assert status == 422 and fields_of(error) == ["colour"]


async def test_a_campaigns_tiers_against_each_kind(optimizer: Optimizer) -> None:
    # CTRs of 2% to 12%, one campaign each.
    tenant, campaigns = await tenant_with(optimizer, "travel", [20, 40, 60, 80, 100, 120])
    other, others = await tenant_with(optimizer, "travel", [10, 10, 10, 10, 10])
    best = campaigns[-1]
    status, answer = await optimizer.call("GET", f"/campaigns/{best}/benchmarks", tenant)
    assert status == 200, answer
    assert answer["industry"] == "travel" and answer["window_days"] == 90
    assert answer["values"]["ctr"] == pytest.approx(0.12)
    assert answer["values"]["cpc"] == pytest.approx(20 / 1200)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for comparison in answer["comparisons"]:
        if comparison["metric"] == "ctr":
            by_kind.setdefault(comparison["kind"], []).append(comparison)
    (own,) = by_kind["own_history"]
    expected = percentiles([0.02, 0.04, 0.06, 0.08, 0.10, 0.12])
    assert own["benchmark"]["p50"] == pytest.approx(expected[50])
    assert own["benchmark"]["sample_size"] == 6
    assert (own["tier"], own["decided_by"]) == ("90_plus", [10, 25, 50, 75, 90])
    published = by_kind["published"]
    assert published and "peer_pool" not in by_kind  # no pool below ten tenants
    assert any(c["benchmark"]["industry"] == "travel" for c in published)
    for comparison in published:
        bench = comparison["benchmark"]
        # Each source's travel figure where it has one, else its figure across industries,
        # against its median alone.
        assert bench["industry"] in ("travel", "all") and bench["url"].startswith("https://")
        assert comparison["decided_by"] == [50]
        assert comparison["tier"] == ("50_plus" if 0.12 >= bench["p50"] else "below_50")
    cpc = [c for c in answer["comparisons"] if c["metric"] == "cpc" and c["kind"] == "own_history"]
    # The cheapest clicks of the six: lower is better, so the best band.
    assert cpc[0]["higher_is_better"] is False and cpc[0]["tier"] == "90_plus"

    # Requests at once refresh the own history one after another: one row per metric.
    calls = [optimizer.call("GET", f"/campaigns/{c}/benchmarks", tenant) for c in campaigns]
    assert {status for status, _ in await asyncio.gather(*calls)} == {200}
    metrics = [r["metric"] for r in await all_pages(optimizer, tenant, "source_kind=own_history")]
    assert sorted(metrics) == ["cpa", "cpc", "cpl", "ctr", "cvr"]

    # Each tenant sees its own history only (the other's is refreshed by its own request,
    # as the per-tenant job does when its metrics arrive).
    assert (await optimizer.call("GET", f"/campaigns/{others[0]}/benchmarks", other))[0] == 200
    mine = await all_pages(optimizer, tenant, "source_kind=own_history&metric=ctr")
    theirs = await all_pages(optimizer, other, "source_kind=own_history&metric=ctr")
    assert [r["p50"] for r in mine] == [pytest.approx(expected[50])]
    assert [r["p50"] for r in theirs] == [pytest.approx(0.01)]
    assert (await optimizer.call("GET", f"/benchmarks/{mine[0]['id']}", tenant))[0] == 200
    assert (await optimizer.call("GET", f"/benchmarks/{mine[0]['id']}", other))[0] == 404
    status, error = await optimizer.call("DELETE", f"/benchmarks/{mine[0]['id']}", tenant)
    assert status == 409 and error["error"]["code"] == "read_only_benchmark"
    status, _ = await optimizer.call("GET", f"/campaigns/{best}/benchmarks", other)
    assert status == 404
    status, _ = await optimizer.call("GET", f"/campaigns/{uuid.uuid4()}/benchmarks", tenant)
    assert status == 404


async def test_the_peer_pool_needs_ten_tenants_and_shows_none_alone(
    optimizer: Optimizer,
) -> None:
    members = []
    for i in range(MIN_PEER_TENANTS - 1):
        members.append(await tenant_with(optimizer, "furniture", [10 * (i + 1)] * 2))
    counts = await pool_peers(optimizer.runtime)
    assert counts["furniture"] == MIN_PEER_TENANTS - 1
    viewer = members[0][0]
    assert await all_pages(optimizer, viewer, "source_kind=peer_pool&industry=furniture") == []

    members.append(await tenant_with(optimizer, "furniture", [10 * MIN_PEER_TENANTS] * 2))
    await pool_peers(optimizer.runtime)
    pooled = await all_pages(optimizer, viewer, "source_kind=peer_pool&industry=furniture")
    ctr = [r for r in pooled if r["metric"] == "ctr"]
    assert len(ctr) == 1 and ctr[0]["shared"] and ctr[0]["sample_size"] == MIN_PEER_TENANTS
    contributed = [0.01 * (i + 1) for i in range(MIN_PEER_TENANTS)]
    expected = pooled_percentiles(contributed)
    stored = [ctr[0][f"p{p}"] for p in (10, 25, 50, 75, 90)]
    assert stored == pytest.approx([expected[p] for p in (10, 25, 50, 75, 90)])
    # No tenant's own figure is among what is shown.
    assert not {round(v, 9) for v in stored} & {round(v, 9) for v in contributed}
    assert set(ctr[0]["metadata"]) == {"sample_unit", "window_days"}
    # Every tenant reads it, none changes it; the members' campaigns are tiered by it.
    outsider = uuid.uuid4()
    assert [r["id"] for r in await all_pages(optimizer, outsider, "source_kind=peer_pool")] == [
        r["id"] for r in pooled
    ]
    status, error = await optimizer.call("PATCH", f"/benchmarks/{ctr[0]['id']}", outsider, {})
    assert status == 409 and error["error"]["code"] == "read_only_benchmark"
    tenant, campaigns = members[-1]
    status, answer = await optimizer.call("GET", f"/campaigns/{campaigns[0]}/benchmarks", tenant)
    assert status == 200, answer
    (peer,) = [
        c for c in answer["comparisons"] if c["kind"] == "peer_pool" and c["metric"] == "ctr"
    ]
    assert peer["tier"] == "90_plus"  # the highest CTR of the ten
    # A tenant of another industry is tiered against no furniture pool.
    travel, travel_campaigns = await tenant_with(optimizer, "travel", [30] * 5)
    status, answer = await optimizer.call(
        "GET", f"/campaigns/{travel_campaigns[0]}/benchmarks", travel
    )
    assert status == 200 and all(c["kind"] != "peer_pool" for c in answer["comparisons"])


async def test_the_industry_is_set_with_the_preferences(settings: Settings) -> None:
    gateway = await schema_pool(settings, "gateway")
    optimizer = await schema_pool(settings, "optimizer")
    tenant = uuid.uuid4()
    try:
        async with scoped(gateway, tenant) as conn:
            first = await set_preferences(conn, tenant, "act", None, industry="travel")
            kept = await set_preferences(conn, tenant, "observe", None, industry=KEEP)
            with pytest.raises(ValueError, match="industry"):
                await set_preferences(conn, tenant, "act", None, industry="astrology")
            events = await conn.fetch(
                "SELECT body FROM outbox WHERE tenant_id = $1 ORDER BY id", tenant
            )
        assert first["industry"] == kept["industry"] == "travel"
        payloads = [e["body"]["payload"] for e in events]
        assert [p["industry"] for p in payloads] == ["travel", "travel"]
        async with scoped(optimizer, tenant) as conn:
            for event in events:
                await deliver(conn, subscriptions, Envelope.model_validate(event["body"]))
            assert await tenant_industry(conn, tenant) == "travel"
        async with scoped(gateway, tenant) as conn:
            cleared = await set_preferences(conn, tenant, "observe", None, industry=None)
            last = await conn.fetchval(
                "SELECT body FROM outbox WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1", tenant
            )
        assert cleared["industry"] is None
        async with scoped(optimizer, tenant) as conn:
            await deliver(conn, subscriptions, Envelope.model_validate(last))
            assert await tenant_industry(conn, tenant) is None
    finally:
        await gateway.close()
        await optimizer.close()
