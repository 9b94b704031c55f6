"""The sandbox's search auctions: second-price mechanics, Auction Insights by their
definitions over the raw auctions, and competitors' moves showing in the figures."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from sandbox.auctions import (
    OWN_DOMAIN,
    SLOTS,
    TOP_SLOTS,
    AuctionLog,
    Competitor,
    CompetitorMove,
    HourTally,
    Market,
    insights,
    random_moves,
)
from sandbox.server import create_app
from sandbox.simulator import CampaignSimulator

START = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
FLAT = tuple([1.0] * 24)


def small_market(**overrides: object) -> Market:
    """A hand-made market of three competitors, small enough to check auction by auction."""
    fields: dict[str, object] = {
        "campaign_id": uuid.uuid4(),
        "index": 0,
        "seed": 11,
        "start": START,
        "queries_per_day": 24 * 400.0,
        "bid": 1.0,
        "quality": 1.0,
        "reserve": 0.2,
        "competitors": (
            Competitor("a.example", 1.2, 1.0, 0.7, FLAT),
            Competitor("b.example", 0.8, 1.1, 0.5, FLAT),
            Competitor("c.example", 0.5, 0.9, 0.3, FLAT),
        ),
    }
    fields.update(overrides)
    return Market(**fields)  # type: ignore[arg-type]


def day_logs(market: Market, day: date, budget: float = 1e9) -> list[AuctionLog]:
    first = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return [
        market.run(first + h * HOUR, queries=400, bid_multiplier=1.0, ctr=0.05, budget=budget)
        for h in range(24)
    ]


def definitions(logs: list[AuctionLog], competitor: int) -> dict[str, float | None]:
    """The six Auction Insights figures of one competitor, auction by auction, as Google
    Ads defines them over the auctions our ad was eligible for."""
    eligible = shown = both = above = outrank = 0
    their_shown = their_top = their_abs = 0
    for log in logs:
        for row in log.positions:
            ours, theirs = int(row[0]), int(row[1 + competitor])
            eligible += 1
            shown += ours > 0
            their_shown += theirs > 0
            their_top += 0 < theirs <= TOP_SLOTS
            their_abs += theirs == 1
            if ours > 0 and theirs > 0:
                both += 1
                above += theirs < ours
            outrank += ours > 0 and (theirs == 0 or ours < theirs)
    return {
        "impression_share": their_shown / eligible,
        "overlap_rate": both / shown,
        "position_above_rate": above / both,
        "top_of_page_rate": their_top / their_shown,
        "abs_top_of_page_rate": their_abs / their_shown,
        "outranking_share": outrank / eligible,
    }


def tally_of(logs: list[AuctionLog]) -> HourTally:
    total = HourTally.of(logs[0])
    for log in logs[1:]:
        total = total + HourTally.of(log)
    return total


def test_insights_equal_their_definitions_over_the_raw_auctions() -> None:
    market = small_market()
    logs = day_logs(market, START.date(), budget=6.0)
    rows = {
        r.domain: r
        for r in insights(market.campaign_id, START.date(), market.domains, tally_of(logs))
    }
    assert set(rows) == {OWN_DOMAIN, *market.domains}
    for c, domain in enumerate(market.domains):
        expected = definitions(logs, c)
        row = rows[domain]
        for name, value in expected.items():
            reported = getattr(row, name)
            if name == "impression_share" and row.impression_share_below_10:
                assert value is not None and value < 0.10
                continue
            assert reported == pytest.approx(value, abs=5e-5), (domain, name)
    ours = rows[OWN_DOMAIN]
    eligible = sum(len(log.entered) for log in logs)
    impressions = sum(int((log.positions[:, 0] > 0).sum()) for log in logs)
    assert ours.impression_share == pytest.approx(impressions / eligible, abs=5e-5)
    assert ours.overlap_rate is None and ours.position_above_rate is None


def test_each_auction_is_a_generalized_second_price_auction() -> None:
    market = small_market()
    log = market.run(START, queries=2000, bid_multiplier=1.0, ctr=1.0, budget=1e9)
    for row in log.positions:
        places = row[row > 0]
        assert len(places) <= SLOTS
        assert sorted(places.tolist()) == list(range(1, len(places) + 1))
    # every shown ad is clicked at ctr 1 in the first place; a click never costs more
    # than the bid, and at least the reserve over our quality
    first = log.positions[:, 0] == 1
    assert log.clicks[first].all()
    paid = log.cost[log.clicks]
    assert paid.max() <= market.bid + 1e-9
    assert paid.min() > 0


def test_the_budget_stops_our_ad_and_the_rest_move_up() -> None:
    market = small_market()
    free = market.run(START, queries=400, bid_multiplier=1.0, ctr=0.05, budget=1e9)
    capped = market.run(START, queries=400, bid_multiplier=1.0, ctr=0.05, budget=1.0)
    assert capped.cost.sum() <= 1.0 + market.bid
    assert (~capped.entered).sum() > 0
    out = ~capped.entered
    assert (capped.positions[out, 0] == 0).all()
    # without us, nobody ranks lower than they did with us
    assert (
        capped.positions[out, 1:]
        <= np.where(free.positions[out, 1:] == 0, 99, free.positions[out, 1:])
    ).all()
    tally = HourTally.of(capped)
    assert tally.lost_budget == int(out.sum())
    assert tally.impressions + tally.lost_budget + tally.lost_rank == tally.eligible


def test_a_small_share_is_reported_as_below_ten_percent() -> None:
    market = small_market(
        competitors=(
            Competitor("big.example", 1.2, 1.0, 0.8, FLAT),
            Competitor("tiny.example", 0.9, 1.0, 0.05, FLAT),
        )
    )
    rows = insights(
        market.campaign_id, START.date(), market.domains, tally_of(day_logs(market, START.date()))
    )
    tiny = next(r for r in rows if r.domain == "tiny.example")
    assert tiny.impression_share is None and tiny.impression_share_below_10
    assert tiny.as_json()["impression_share"] is None


def _share(
    sim: CampaignSimulator, campaign: uuid.UUID, day: date, domain: str
) -> tuple[float, float]:
    row = next((r for r in sim.auction_insights(campaign, day) if r.domain == domain), None)
    if row is None:
        return 0.0, 0.0
    return (row.impression_share or 0.05), (row.position_above_rate or 0.0)


def test_moves_show_in_the_competitors_figures() -> None:
    sim = CampaignSimulator(2, 4, START)
    campaign = sim.campaign_ids[0]
    market = sim.open_market(campaign, competitors=4)
    a, b, c, d = market.domains
    jump = START + (3 * 24 + 10) * HOUR
    for kind, domain in (("aggressive", a), ("retreated", b), ("entered", c), ("exited", d)):
        factors = {"aggressive": (2.2, 1.6), "retreated": (0.4, 0.45)}.get(kind, (1.0, 1.0))
        sim.add_competitor_move(CompetitorMove(campaign, domain, kind, jump, *factors))  # type: ignore[arg-type]
    before, after = START.date() + timedelta(days=1), START.date() + timedelta(days=5)
    share_a0, above_a0 = _share(sim, campaign, before, a)
    share_a1, above_a1 = _share(sim, campaign, after, a)
    assert share_a1 - share_a0 >= 0.05 and above_a1 > above_a0
    share_b0, above_b0 = _share(sim, campaign, before, b)
    share_b1, above_b1 = _share(sim, campaign, after, b)
    assert share_b0 - share_b1 >= 0.05 and above_b1 < above_b0
    assert c not in {r.domain for r in sim.auction_insights(campaign, before)}
    assert c in {r.domain for r in sim.auction_insights(campaign, after)}
    assert d in {r.domain for r in sim.auction_insights(campaign, before)}
    assert d not in {r.domain for r in sim.auction_insights(campaign, after)}
    assert sorted(m.kind for m in sim.competitor_moves) == [
        "aggressive",
        "entered",
        "exited",
        "retreated",
    ]


def _day_cpc(sim: CampaignSimulator) -> float:
    rows = [sim.simulate_hour(START + h * HOUR)[0] for h in range(10, 16)]
    return sum(r.spend for r in rows) / sum(r.clicks for r in rows)


def test_competitors_jumping_raise_our_cost_per_click_on_average() -> None:
    # We are bid for the second position, up to a maximum bid: a competitor that outbids
    # the ads around us makes keeping our place cost more (unless it outbids our maximum
    # too, when we drop a place and pay less), so most jumps raise our CPC.
    ratios = []
    for seed in range(1, 5):
        calm = CampaignSimulator(1, seed, START)
        campaign = calm.campaign_ids[0]
        market = calm.open_market(campaign)
        for competitor in market.competitors:
            jumpy = CampaignSimulator(1, seed, START)
            jumpy.open_market(campaign)
            jumpy.add_competitor_move(
                CompetitorMove(campaign, competitor.domain, "aggressive", START, 2.2, 1.5)
            )
            ratios.append(_day_cpc(jumpy) / _day_cpc(calm))
    assert float(np.median(ratios)) > 1.03, ratios


def test_campaigns_outside_auctions_are_simulated_as_before() -> None:
    plain = CampaignSimulator(3, 21, START)
    mixed = CampaignSimulator(3, 21, START)
    mixed.open_market(mixed.campaign_ids[0])
    for h in range(30):
        a, b = plain.simulate_hour(START + h * HOUR), mixed.simulate_hour(START + h * HOUR)
        assert a[1:] == b[1:]
        assert a[0] != b[0] or a[0].spend == 0


def test_auctions_are_seeded() -> None:
    def figures() -> list[object]:
        sim = CampaignSimulator(1, 33, START)
        market = sim.open_market(sim.campaign_ids[0])
        for move in random_moves(market, START, 30, count=3):
            sim.add_competitor_move(move)
        return [
            sim.auction_insights(sim.campaign_ids[0], START.date() + timedelta(days=d))
            for d in (0, 20)
        ]

    assert figures() == figures()


def test_random_moves_are_spread_after_the_warm_up_and_cover_each_kind() -> None:
    sim = CampaignSimulator(1, 5, START)
    market = sim.open_market(sim.campaign_ids[0], competitors=6)
    moves = random_moves(market, START, 60, count=4, warmup_days=14, min_gap_days=6)
    assert sorted(m.kind for m in moves) == ["aggressive", "entered", "exited", "retreated"]
    assert min(m.start_hour for m in moves) >= START + 14 * 24 * HOUR
    assert len({m.domain for m in moves}) == 4
    starts = sorted(m.start_hour for m in moves)
    assert all(b - a >= timedelta(days=5) for a, b in itertools.pairwise(starts))


async def test_the_sandbox_serves_auction_insights_for_finished_days() -> None:
    app: web.Application = create_app()
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        account = str(uuid.uuid4())
        body = {
            "account_id": account,
            "campaigns": 2,
            "seed": 3,
            "start": START.isoformat(),
            "backfill_hours": 50,
            "auctions": {
                "campaigns": 1,
                "competitors": 3,
                "moves": [{"kind": "aggressive", "campaign_index": 0, "start_hour": 30}],
            },
        }
        created = await client.post("/v1/accounts", json=body)
        assert created.status == 201, await created.text()
        answer = await client.get(
            f"/v1/accounts/{account}/auction-insights",
            params={"start": "2026-03-01", "end": "2026-03-10"},
        )
        rows = (await answer.json())["rows"]
        # 50 hours from midnight: two finished days, the third not yet over
        assert sorted({r["day"] for r in rows}) == ["2026-03-02", "2026-03-03"]
        assert {r["domain"] for r in rows} >= {"You"}
        moves = await (await client.get(f"/v1/accounts/{account}/competitor-moves")).json()
        assert [m["kind"] for m in moves["moves"]] == ["aggressive"]
        bad = await client.get(
            f"/v1/accounts/{account}/auction-insights", params={"start": "x", "end": "y"}
        )
        assert bad.status == 422
        wrong = dict(body, account_id=str(uuid.uuid4()))
        wrong["auctions"] = {
            "campaigns": 1,
            "moves": [{"kind": "exited", "campaign_index": 1, "start_hour": 1}],
        }
        refused = await client.post("/v1/accounts", json=wrong)
        assert refused.status == 422
        missing = await client.get(f"/v1/accounts/{wrong['account_id']}/campaigns")
        assert missing.status == 404
    finally:
        await client.close()
