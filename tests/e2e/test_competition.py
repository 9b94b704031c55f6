"""Competitive intelligence through the gateway: importing Auction Insights reports (all or
nothing, again without duplicates, per tenant, within a size limit), listing them with
filters, and listing competitor events."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import aiohttp
import pytest

from shared.config import Settings
from shared.contracts.competition import MAX_IMPORT_BYTES
from shared.db import connect
from tests.auction_insights import GOOGLE, MICROSOFT, excel_variant
from tests.e2e.conftest import Tenant, make_tenant
from tests.e2e.platform import Platform

pytestmark = pytest.mark.e2e

PATH = "/api/ai/competitive-intelligence"


class Client:
    def __init__(self, session: aiohttp.ClientSession, tenant: Tenant) -> None:
        self.session = session
        self.tenant = tenant

    async def upload(
        self,
        body: bytes | aiohttp.FormData,
        content_type: str | None = "text/csv",
        role: str = "operator",
        **params: str,
    ) -> tuple[int, Any]:
        headers = self.tenant.headers(role)
        if content_type is not None:
            headers["Content-Type"] = content_type
        async with self.session.post(
            f"{PATH}/imports", data=body, params=params, headers=headers
        ) as r:
            return r.status, await r.json()

    async def get(self, path: str = "", status: int = 200, **params: str) -> Any:
        return await self.read(path, status, params)

    async def read(self, path: str, status: int, params: dict[str, str]) -> Any:
        async with self.session.get(
            PATH + path, params=params, headers=self.tenant.headers("viewer")
        ) as r:
            data = await r.json()
            assert r.status == status, data
            return data

    async def rows(self, **params: str) -> list[dict[str, Any]]:
        return list((await self.read("", 200, {"limit": "200", **params}))["items"])


@pytest.fixture
async def two(platform: Platform, settings: Settings) -> AsyncIterator[tuple[Client, Client]]:
    a = await make_tenant(settings, f"ci-a-{uuid.uuid4().hex[:8]}")
    b = await make_tenant(settings, f"ci-b-{uuid.uuid4().hex[:8]}")
    async with aiohttp.ClientSession(base_url=platform.gateway) as session:
        yield Client(session, a), Client(session, b)


def figures(rows: list[dict[str, Any]]) -> dict[tuple[str | None, str], dict[str, Any]]:
    return {(r["day"], r["competitor_identifier"]): r["intelligence_data"] for r in rows}


async def test_an_import_stores_each_row_once_and_a_second_import_updates_it(
    two: tuple[Client, Client],
) -> None:
    a, _ = two
    campaign = str(uuid.uuid4())
    status, first = await a.upload(GOOGLE.encode(), campaign_id=campaign)
    assert status == 200, first
    assert first == {
        "data_source": "google_ads_csv",
        "rows": 4,
        "inserted": 4,
        "updated": 0,
        "unchanged": 0,
        "campaign_ids": [campaign],
        "day_from": "2026-11-01",
        "day_to": "2026-11-02",
        "days": 2,
        "competitors": ["rival.example"],
        "events": 0,
    }
    rows = await a.rows(campaign_id=campaign)
    stored = figures(rows)
    assert stored[("2026-11-01", "rival.example")]["impression_share"] is None
    assert stored[("2026-11-01", "rival.example")]["impression_share_below_10"] is True
    assert stored[("2026-11-01", "You")]["impression_share"] == pytest.approx(0.4523)
    assert {r["intelligence_type"] for r in rows} == {"auction_insights"}

    # The same report again changes nothing; a corrected one changes only its row.
    _, again = await a.upload(GOOGLE.encode(), campaign_id=campaign)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 4)
    corrected = GOOGLE.replace("47.00%", "49.50%")
    _, fixed = await a.upload(corrected.encode(), campaign_id=campaign)
    assert (fixed["inserted"], fixed["updated"], fixed["unchanged"]) == (0, 1, 3)
    after = await a.rows(campaign_id=campaign)
    assert sorted(r["id"] for r in after) == sorted(r["id"] for r in rows)
    changed = next(
        r for r in after if (r["day"], r["competitor_identifier"]) == ("2026-11-02", "You")
    )
    assert changed["intelligence_data"]["impression_share"] == pytest.approx(0.495)
    assert changed["updated_at"] > changed["created_at"]
    one = await a.get(f"/{changed['id']}")
    assert one == changed


async def test_a_file_with_a_bad_row_imports_nothing_and_names_the_line(
    two: tuple[Client, Client],
) -> None:
    a, _ = two
    campaign = str(uuid.uuid4())
    bad = GOOGLE.replace("13.00%", "113%").replace("2026-11-01,You", "2026-11-31,You")
    status, error = await a.upload(bad.encode(), campaign_id=campaign)
    assert status == 422, error
    assert error["error"]["code"] == "invalid_report"
    rows = error["error"]["details"]["rows"]
    assert [r["line"] for r in rows] == [4, 7]
    assert "not a date" in rows[0]["reason"] and "113%" in rows[1]["reason"]
    assert await a.rows(campaign_id=campaign) == []


async def test_imports_and_rows_belong_to_one_tenant(two: tuple[Client, Client]) -> None:
    a, b = two
    campaign = str(uuid.uuid4())
    status, _ = await a.upload(GOOGLE.encode(), campaign_id=campaign)
    assert status == 200
    # The same report, of the same campaign id, in another tenant: rows of its own.
    status, theirs = await b.upload(GOOGLE.encode(), campaign_id=campaign)
    assert status == 200 and theirs["inserted"] == 4
    mine = await a.rows(campaign_id=campaign)
    other = await b.rows(campaign_id=campaign)
    assert len(mine) == len(other) == 4
    assert not {r["id"] for r in mine} & {r["id"] for r in other}
    await b.get(f"/{mine[0]['id']}", status=404)


async def test_the_excel_variant_as_a_form_field_and_a_campaign_column_by_name(
    two: tuple[Client, Client], settings: Settings
) -> None:
    a, _ = two
    brand, generic = uuid.uuid4(), uuid.uuid4()
    await _campaigns(settings, a.tenant.id, {brand: "Brand", generic: "Generic"})
    form = aiohttp.FormData()
    form.add_field("file", excel_variant(MICROSOFT), filename="auction insights.csv")
    status, summary = await a.upload(form, content_type=None)
    assert status == 200, summary
    assert summary["data_source"] == "microsoft_ads_csv"
    assert sorted(summary["campaign_ids"]) == sorted([str(brand), str(generic)])
    assert summary["days"] == 0 and summary["day_from"] is None
    generic_rows = await a.rows(campaign_id=str(generic))
    assert [(r["day"], r["competitor_identifier"]) for r in generic_rows] == [
        (None, "shop.example")
    ]
    assert generic_rows[0]["intelligence_data"]["period"] == "range"
    # Again: the rows without a day are the same rows (their key holds a null).
    _, again = await a.upload(MICROSOFT.encode())
    assert (again["inserted"], again["unchanged"]) == (0, 3)
    # A name no campaign of the tenant has is a bad row.
    status, error = await a.upload(MICROSOFT.replace("Generic", "Unknown").encode())
    assert status == 422
    assert error["error"]["details"]["rows"] == [
        {"line": 8, "reason": "no campaign of yours is named 'Unknown'"}
    ]


async def test_a_get_auction_insight_data_answer_is_imported_as_json(
    two: tuple[Client, Client],
) -> None:
    a, _ = two
    campaign = str(uuid.uuid4())
    answer = {
        "Result": {
            "Segments": ["Day"],
            "Entries": [
                {
                    "DisplayDomain": "shop.example",
                    "AggregatedKpi": {"ImpressionShare": 0.3},
                    "SegmentedKpis": [
                        {"ImpressionShare": 0.31, "AboveRate": 0.2, "Segments": ["11/5/2026"]}
                    ],
                }
            ],
        }
    }
    status, summary = await a.upload(
        json.dumps(answer).encode(), "application/json", campaign_id=campaign
    )
    assert status == 200, summary
    assert summary["data_source"] == "microsoft_ads_api" and summary["day_from"] == "2026-11-05"
    (row,) = await a.rows(campaign_id=campaign, data_source="microsoft_ads_api")
    assert row["intelligence_data"]["position_above_rate"] == pytest.approx(0.2)
    status, error = await a.upload(json.dumps(answer).encode(), "application/json")
    assert status == 422 and "campaign_id" in error["error"]["details"]["rows"][0]["reason"]


async def test_import_refusals(two: tuple[Client, Client]) -> None:
    a, _ = two
    big = GOOGLE.encode() + b"2026-11-03,x.example,1%,1%,1%,1%,1%,1%\n" * (
        MAX_IMPORT_BYTES // 38 + 10
    )
    status, error = await a.upload(big, campaign_id=str(uuid.uuid4()))
    assert status == 413, error
    assert error["error"]["code"] == "payload_too_large"
    assert error["error"]["details"]["max_bytes"] == MAX_IMPORT_BYTES
    status, error = await a.upload(GOOGLE.encode(), role="viewer", campaign_id=str(uuid.uuid4()))
    assert status == 403
    status, error = await a.upload(GOOGLE.encode(), campaign_id="nope", platform="yahoo")
    assert status == 422
    assert {f["field"] for f in error["error"]["details"]["fields"]} == {"campaign_id", "platform"}
    status, error = await a.upload(b"", campaign_id=str(uuid.uuid4()))
    assert status == 422


async def test_lists_filter_by_competitor_source_and_days(two: tuple[Client, Client]) -> None:
    a, _ = two
    campaign = str(uuid.uuid4())
    await a.upload(GOOGLE.encode(), campaign_id=campaign)
    await a.upload(GOOGLE.encode(), campaign_id=str(uuid.uuid4()))
    rival = await a.rows(campaign_id=campaign, competitor="rival.example")
    assert {r["day"] for r in rival} == {"2026-11-01", "2026-11-02"}
    assert await a.rows(campaign_id=campaign, competitor_identifier="rival.example") == rival
    second = await a.rows(campaign_id=campaign, day_from="2026-11-02")
    assert {(r["day"], r["competitor_identifier"]) for r in second} == {
        ("2026-11-02", "You"),
        ("2026-11-02", "rival.example"),
    }
    first = await a.rows(campaign_id=campaign, day_from="2026-11-01", day_to="2026-11-01")
    assert {r["day"] for r in first} == {"2026-11-01"}
    assert await a.rows(campaign_id=campaign, data_source="sandbox") == []
    # Pages: two rows at a time, all four in the end, none twice.
    page = await a.get(campaign_id=campaign, limit="2")
    rest = await a.get(campaign_id=campaign, limit="2", cursor=page["next_cursor"])
    assert len({r["id"] for r in page["items"] + rest["items"]}) == 4
    error = await a.get(status=422, day_from="yesterday", day_to="2026-11-01", color="red")
    assert {f["field"] for f in error["error"]["details"]["fields"]} == {"day_from", "color"}
    error = await a.get(status=422, day_from="2026-11-02", day_to="2026-11-01")
    assert [f["field"] for f in error["error"]["details"]["fields"]] == ["day_to"]


async def test_competitor_events_are_listed_and_got_per_tenant(
    two: tuple[Client, Client], settings: Settings
) -> None:
    a, b = two
    campaign = uuid.uuid4()
    ids = await _events(
        settings,
        a.tenant.id,
        campaign,
        [
            ("rival.example", "entered", date(2026, 11, 3)),
            ("rival.example", "aggressive", date(2026, 11, 10)),
            ("shop.example", "exited", date(2026, 11, 12)),
        ],
    )
    await _events(
        settings, b.tenant.id, campaign, [("rival.example", "entered", date(2026, 11, 3))]
    )
    everything = (await a.get("/events", campaign_id=str(campaign)))["items"]
    assert sorted(e["id"] for e in everything) == sorted(str(i) for i in ids)
    rival = (await a.get("/events", competitor="rival.example", kind="aggressive"))["items"]
    assert [(e["competitor"], e["kind"], e["started_on"]) for e in rival] == [
        ("rival.example", "aggressive", "2026-11-10")
    ]
    later = (await a.get("/events", started_from="2026-11-04", started_to="2026-11-11"))["items"]
    assert [e["kind"] for e in later] == ["aggressive"]
    one = await a.get(f"/events/{ids[0]}")
    assert one["kind"] == "entered" and one["size"] == pytest.approx(12.5)
    # An event is not an Auction Insights row, and another tenant's event is not found.
    await a.get(f"/{ids[0]}", status=404)
    await b.get(f"/events/{ids[0]}", status=404)
    error = await a.get("/events", status=422, kind="x", started_from="soon")
    assert [f["field"] for f in error["error"]["details"]["fields"]] == ["started_from"]


async def _campaigns(settings: Settings, tenant: UUID, names: dict[UUID, str]) -> None:
    conn = await connect(settings.database_url)
    try:
        await conn.executemany(
            """INSERT INTO optimizer.ad_campaigns (id, tenant_id, name, status, daily_budget,
                   bid_multiplier, audience_factor, connector, platform_as_of)
               VALUES ($1, $2, $3, 'active', 100, 1, 1, 'sandbox', now())""",
            [(cid, tenant, name) for cid, name in names.items()],
        )
    finally:
        await conn.close()


async def _events(
    settings: Settings, tenant: UUID, campaign: UUID, events: list[tuple[str, str, date]]
) -> list[UUID]:
    """Competitor events as the detection writes them."""
    conn = await connect(settings.database_url)
    try:
        return [
            await conn.fetchval(
                """INSERT INTO optimizer.competitor_events (tenant_id, campaign_id, competitor,
                       kind, started_on, size, score, confidence)
                   VALUES ($1, $2, $3, $4, $5, 12.5, 3.0, 0.8) RETURNING id""",
                tenant,
                campaign,
                competitor,
                kind,
                started_on,
            )
            for competitor, kind, started_on in events
        ]
    finally:
        await conn.close()


def daily_report(days: int, jump_day: int) -> bytes:
    """A Google Ads daily download in which rival.example takes 30% of the auctions with a
    position-above rate of 20%, then from ``jump_day`` on 45% at 35%."""
    lines = [
        "Auction insights report",
        "Day,Display URL domain,Impression share,Overlap rate,Position above rate,"
        "Top of page rate,Abs. Top of page rate,Outranking share",
    ]
    for d in range(days):
        day = date(2026, 10, 1) + timedelta(days=d)
        share, above = (45.0, 35.0) if d >= jump_day else (30.0, 20.0)
        lines.append(f"{day},You,50.00%,--,--,60.00%,20.00%,--")
        lines.append(f"{day},rival.example,{share:.2f}%,30.00%,{above:.2f}%,55.00%,10.00%,40.00%")
    return ("\n".join(lines) + "\n").encode()


async def test_an_import_finds_a_competitors_move_once(two: tuple[Client, Client]) -> None:
    a, b = two
    campaign = str(uuid.uuid4())
    status, answer = await a.upload(daily_report(21, 14), campaign_id=campaign)
    assert status == 200, answer
    assert answer["events"] == 1
    events = (await a.get("/events", campaign_id=campaign))["items"]
    assert [(e["competitor"], e["kind"], e["started_on"]) for e in events] == [
        ("rival.example", "aggressive", "2026-10-15")
    ]
    assert events[0]["size"] == pytest.approx(15.0)
    assert events[0]["data_source"] == "google_ads_csv"
    # the same report again finds nothing new; the other tenant sees none of it
    status, again = await a.upload(daily_report(21, 14), campaign_id=campaign)
    assert status == 200 and again["events"] == 0
    assert len((await a.get("/events", campaign_id=campaign))["items"]) == 1
    assert (await b.get("/events", campaign_id=campaign))["items"] == []
