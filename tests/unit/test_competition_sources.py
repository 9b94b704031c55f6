"""Auction Insights sources: the two platforms' report files in both encodings, Microsoft
Advertising's GetAuctionInsightData answer, the sandbox's route, and bad files."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.optimizer.competition.sources import (
    BadReport,
    InsightRow,
    MicrosoftAuctionInsights,
    SandboxAuctionInsights,
    assign_campaigns,
    parse_share,
    read_auction_insight_result,
    read_report,
)
from shared.connectors import CallRecord, PlatformUnavailable
from shared.connectors.sandbox import SandboxConnector
from shared.contracts.competition import MAX_IMPORT_ERRORS
from shared.retry import Backoff
from tests.auction_insights import GOOGLE, MICROSOFT, excel_variant

CAMPAIGN = uuid.UUID("00000000-0000-0000-0000-0000000000c1")
OTHER = uuid.UUID("00000000-0000-0000-0000-0000000000c2")
ACCOUNT = uuid.UUID("00000000-0000-0000-0000-0000000000aa")


def by_key(rows: list[InsightRow]) -> dict[tuple[Any, str], InsightRow]:
    return {(r.day or r.campaign_name, r.domain): r for r in rows}


@pytest.mark.parametrize(
    "data",
    [
        GOOGLE.encode(),
        b"\xef\xbb\xbf" + GOOGLE.encode(),
        excel_variant(GOOGLE),
        excel_variant(GOOGLE)[2:],  # no byte order mark
    ],
    ids=["utf8", "utf8-bom", "utf16-tab", "utf16-no-bom"],
)
def test_a_google_report_is_read_in_every_encoding(data: bytes) -> None:
    report = read_report(data)
    assert report.platform == "google_ads" and report.data_source == "google_ads_csv"
    rows = by_key(report.rows)
    assert len(rows) == 4
    own = rows[(date(2026, 11, 1), "You")]
    assert own.impression_share == pytest.approx(0.4523)
    assert own.overlap_rate is None and own.outranking_share is None
    assert own.top_of_page_rate == pytest.approx(0.615)
    assert own.period == "day" and not own.impression_share_below_10
    rival = rows[(date(2026, 11, 1), "rival.example")]
    assert rival.impression_share is None and rival.impression_share_below_10
    assert rival.abs_top_of_page_rate == pytest.approx(0.0975)
    # Domains are case-insensitive: one competitor, whatever the case.
    assert rows[(date(2026, 11, 2), "rival.example")].impression_share == pytest.approx(0.112)
    assert rival.line == 5  # below the title, the date range and the header


@pytest.mark.parametrize("encode", [str.encode, excel_variant], ids=["utf8", "utf16-tab"])
def test_a_microsoft_report_is_read_with_its_campaign_column(encode: Any) -> None:
    report = read_report(encode(MICROSOFT))
    assert report.platform == "microsoft_ads" and report.data_source == "microsoft_ads_csv"
    rows = by_key(report.rows)
    assert set(rows) == {("Brand", "You"), ("Brand", "shop.example"), ("Generic", "shop.example")}
    brand = rows[("Brand", "shop.example")]
    # A decimal comma, and Microsoft's "Absolute top of page rate" column.
    assert brand.impression_share == pytest.approx(0.015)
    assert brand.abs_top_of_page_rate == pytest.approx(0.12)
    assert brand.day is None and brand.period == "range"


def test_row_data_holds_the_six_figures_and_the_threshold_flag() -> None:
    row = read_report(GOOGLE.encode()).rows[1]
    assert row.data() == {
        "impression_share": None,
        "overlap_rate": pytest.approx(0.124),
        "position_above_rate": pytest.approx(0.30),
        "top_of_page_rate": pytest.approx(0.551),
        "abs_top_of_page_rate": pytest.approx(0.0975),
        "outranking_share": pytest.approx(0.08),
        "impression_share_below_10": True,
        "period": "day",
    }


@pytest.mark.parametrize(
    ("text", "share", "below"),
    [
        ("45.23%", 0.4523, False),
        ("100.00%", 1.0, False),
        ("0%", 0.0, False),
        ("45,23%", 0.4523, False),
        ("--", None, False),
        ("", None, False),
        ("< 10%", None, True),
        ("<10%", None, True),
        ("12.5", 0.125, False),
    ],
)
def test_figures_are_read_as_shares(text: str, share: float | None, below: bool) -> None:
    value, flagged = parse_share(text, below_10_allowed=True)
    assert flagged is below
    assert value == (pytest.approx(share) if share is not None else None)


def test_a_report_week_segment_stands_on_the_weeks_first_day() -> None:
    text = (
        "Week,Display URL domain,Impression share,Overlap rate,Outranking share\n"
        "Nov 2; 2026,You,40%,--,--\n".replace(";", ",").replace("Nov 2, 2026", '"Nov 2, 2026"')
    )
    (row,) = read_report(text.encode(), "google_ads").rows
    assert row.day == date(2026, 11, 2) and row.period == "week"
    # Shopping's three figures only: the others are absent, not zero.
    assert row.top_of_page_rate is None


def test_a_report_with_neither_platforms_columns_needs_platform() -> None:
    text = "Display URL domain,Impression share\nYou,40%\n"
    with pytest.raises(BadReport) as caught:
        read_report(text.encode())
    assert "platform" in caught.value.details["rows"][0]["reason"]
    assert read_report(text.encode(), "microsoft_ads").data_source == "microsoft_ads_csv"


def test_bad_rows_are_each_named_by_line_and_reason() -> None:
    text = (
        "Auction insights report\n"
        "Day,Display URL domain,Impression share,Overlap rate,Position above rate,"
        "Top of page rate,Abs. Top of page rate,Outranking share\n"
        "2026-11-01,You,45%,--,--,60%,20%,--\n"  # line 3: fine
        "2026-13-01,a.example,12%,10%,10%,10%,10%,10%\n"  # line 4: no such month
        "2026-11-01,b.example,140%,10%,10%,10%,10%,10%\n"  # line 5: over 100%
        "2026-11-01,c.example,12%,lots,10%,10%,< 10%,10%\n"  # line 6: two bad figures
        "2026-11-01,d.example,12%\n"  # line 7: short
        "2026-11-01,,12%,10%,10%,10%,10%,10%\n"  # line 8: no domain
        "2026-11-01,YOU,45%,--,--,60%,20%,--\n"  # line 9: the same row again
    )
    with pytest.raises(BadReport) as caught:
        read_report(text.encode())
    error = caught.value
    assert error.code == "invalid_report"
    rows = {r["line"]: r["reason"] for r in error.details["rows"]}
    assert sorted(rows) == [4, 5, 6, 7, 8, 9]
    assert "not a date" in rows[4]
    assert "between 0% and 100%" in rows[5]
    assert "overlap rate" in rows[6] and "only given for impression share" in rows[6]
    assert "expected 8 columns, found 3" in rows[7]
    assert "empty" in rows[8]
    assert "first on line 3" in rows[9]


def test_the_list_of_bad_rows_is_capped() -> None:
    header = "Display URL domain,Impression share,Abs. Top of page rate\n"
    text = header + "".join(f"d{i}.example,bad,1%\n" for i in range(MAX_IMPORT_ERRORS + 7))
    with pytest.raises(BadReport) as caught:
        read_report(text.encode())
    assert len(caught.value.details["rows"]) == MAX_IMPORT_ERRORS
    assert caught.value.details["more"] == 7


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"just some text\nwithout a header\n", "no header row"),
        (b"Display URL domain,Impression share,Abs. Top of page rate\n", "no rows"),
        (b"Display URL domain,Impression share\n\xff\xfe\xfa,1%\n", "not utf-8"),
    ],
)
def test_files_that_are_no_report_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(BadReport) as caught:
        read_report(data, "google_ads")
    assert reason in caught.value.details["rows"][0]["reason"]


def test_campaigns_are_matched_by_name_or_id_or_given() -> None:
    rows = read_report(MICROSOFT.encode()).rows
    known = {"brand": [CAMPAIGN], "generic": [OTHER]}
    assigned = assign_campaigns(rows, None, known)
    assert {(r.campaign_name, r.campaign_id) for r in assigned} == {
        ("Brand", CAMPAIGN),
        ("Generic", OTHER),
    }
    # A report of several campaigns cannot all be one campaign's.
    with pytest.raises(BadReport, match="problem"):
        assign_campaigns(rows, CAMPAIGN, known)
    with pytest.raises(BadReport) as caught:
        assign_campaigns(rows, None, {"brand": [CAMPAIGN]})
    assert caught.value.details["rows"] == [
        {"line": 8, "reason": "no campaign of yours is named 'Generic'"}
    ]
    google = read_report(GOOGLE.encode()).rows
    assert {r.campaign_id for r in assign_campaigns(google, OTHER, {})} == {OTHER}
    with pytest.raises(BadReport, match="problem"):
        assign_campaigns(google, None, known)


# --- Microsoft Advertising's GetAuctionInsightData ---------------------------------------


def kpi(share: float | None, segments: list[str] | None = None, **more: Any) -> dict[str, Any]:
    return {
        "AboveRate": more.get("above", 0.25),
        "AbsoluteTopOfPageRate": 0.12,
        "AveragePosition": None,
        "ImpressionShare": share,
        "OutrankingShare": 0.35,
        "OverlapRate": 0.4,
        "Segments": segments,
        "TopOfPageRate": 0.65,
    }


ANSWER = {
    "Result": {
        "Entries": [
            {
                "DisplayDomain": "You",
                "AggregatedKpi": kpi(0.5),
                "SegmentedKpis": [kpi(0.52, ["11/1/2026"]), kpi(0.48, ["11/2/2026"])],
            },
            {
                "DisplayDomain": "Shop.Example",
                "AggregatedKpi": kpi(0.2),
                "SegmentedKpis": [kpi(0.21, ["11/1/2026"], above=0.3)],
            },
        ],
        "Segments": ["Day"],
        "UsedImpressionShare": True,
    }
}


def test_a_get_auction_insight_data_answer_gives_a_row_per_domain_and_day() -> None:
    rows = read_auction_insight_result(ANSWER, CAMPAIGN)
    assert {(r.domain, r.day) for r in rows} == {
        ("You", date(2026, 11, 1)),
        ("You", date(2026, 11, 2)),
        ("shop.example", date(2026, 11, 1)),
    }
    shop = next(r for r in rows if r.domain == "shop.example")
    assert shop.impression_share == pytest.approx(0.21)
    assert shop.position_above_rate == pytest.approx(0.3)
    assert shop.abs_top_of_page_rate == pytest.approx(0.12)
    assert shop.campaign_id == CAMPAIGN and shop.period == "day"


def test_an_unsegmented_answer_gives_the_aggregated_figures() -> None:
    result = {"Entries": [{"DisplayDomain": "a.example", "AggregatedKpi": kpi(0.3)}]}
    (row,) = read_auction_insight_result(result, CAMPAIGN)
    assert row.day is None and row.period == "range"
    assert row.impression_share == pytest.approx(0.3)


def test_an_answer_in_percentages_is_read_as_shares() -> None:
    result = {
        "Entries": [
            {
                "DisplayDomain": "a.example",
                "AggregatedKpi": {"ImpressionShare": 42.0, "OverlapRate": 0.5},
            }
        ]
    }
    (row,) = read_auction_insight_result(result, CAMPAIGN)
    assert row.impression_share == pytest.approx(0.42)
    assert row.overlap_rate == pytest.approx(0.005)


def test_a_bad_answer_names_each_bad_entry() -> None:
    result = {
        "Segments": ["Day"],
        "Entries": [
            {"AggregatedKpi": kpi(0.3)},
            {"DisplayDomain": "b.example", "SegmentedKpis": [kpi(0.3, ["someday"])]},
            {"DisplayDomain": "c.example", "AggregatedKpi": kpi("high")},  # type: ignore[arg-type]
        ],
    }
    with pytest.raises(BadReport) as caught:
        read_auction_insight_result(result, CAMPAIGN)
    reasons = [r["reason"] for r in caught.value.details["rows"]]
    assert reasons[0] == "Entries[0]: no DisplayDomain"
    assert reasons[1].startswith("Entries[1]: Entries[1].SegmentedKpis[0].Segments")
    assert "ImpressionShare" in reasons[2] and "not a number" in reasons[2]
    with pytest.raises(BadReport, match="problem"):
        read_auction_insight_result({"Result": None}, CAMPAIGN)


@pytest.fixture
async def fake_microsoft() -> AsyncIterator[tuple[TestServer, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def query(request: web.Request) -> web.Response:
        seen.append({"headers": dict(request.headers), "body": await request.json()})
        return web.json_response(ANSWER)

    app = web.Application()
    app.router.add_post("/AdInsight/v13/AuctionInsight/QueryData", query)
    server = TestServer(app)
    await server.start_server()
    yield server, seen
    await server.close()


async def test_the_microsoft_source_asks_by_day_and_reads_the_answer(
    fake_microsoft: tuple[TestServer, list[dict[str, Any]]],
) -> None:
    server, seen = fake_microsoft
    async with aiohttp.ClientSession() as session:
        source = MicrosoftAuctionInsights(
            str(server.make_url("/AdInsight/v13/AuctionInsight/QueryData")),
            campaign_id=CAMPAIGN,
            platform_campaign_id=7001,
            customer_id="11",
            account_id="22",
            developer_token="dev",
            access_token="token",
            session=session,
        )
        rows = await source.rows(date(2026, 11, 2), date(2026, 11, 3))
        assert await source.rows(date(2026, 11, 1), date(2026, 11, 3), OTHER) == []
    # Only the asked day: the end is exclusive here, inclusive in the API's request.
    assert [(r.domain, r.day) for r in rows] == [("You", date(2026, 11, 2))]
    (call,) = seen
    assert call["headers"]["CustomerAccountId"] == "22"
    assert call["headers"]["Authorization"] == "Bearer token"
    assert call["body"]["EntityIds"] == [7001]
    date_range = call["body"]["SearchParameters"][0]
    assert date_range["StartDate"] == {"Year": 2026, "Month": 11, "Day": 2}
    assert date_range["EndDate"] == {"Year": 2026, "Month": 11, "Day": 2}


# --- the sandbox ---------------------------------------------------------------------------


@pytest.fixture
async def fake_sandbox() -> AsyncIterator[tuple[TestServer, list[dict[str, str]]]]:
    asked: list[dict[str, str]] = []
    state = {"fail": 1}

    async def insights(request: web.Request) -> web.Response:
        asked.append({"account": request.match_info["account"], **request.query})
        if state["fail"]:
            state["fail"] -= 1
            return web.json_response({"error": {"code": "busy"}}, status=503)
        row = {
            "campaign_id": str(CAMPAIGN),
            "domain": "rival.example",
            "impression_share": None,
            "impression_share_below_10": True,
            "overlap_rate": 0.3,
            "position_above_rate": 0.2,
            "top_of_page_rate": 0.5,
            "abs_top_of_page_rate": 0.1,
            "outranking_share": 0.25,
        }
        return web.json_response(
            {
                "rows": [
                    {**row, "day": "2026-11-01"},
                    {**row, "day": "2026-11-02", "campaign_id": str(OTHER)},
                ]
            }
        )

    app = web.Application()
    app.router.add_get("/v1/accounts/{account}/auction-insights", insights)
    server = TestServer(app)
    await server.start_server()
    yield server, asked
    await server.close()


async def test_the_sandbox_source_reads_the_platforms_rows_retrying_a_5xx(
    fake_sandbox: tuple[TestServer, list[dict[str, str]]],
) -> None:
    server, asked = fake_sandbox
    calls: list[CallRecord] = []

    async def record(call: CallRecord) -> None:
        calls.append(call)

    connector = SandboxConnector(
        str(server.make_url("")), recorder=record, backoff=Backoff(first=0.01, cap=0.02)
    )
    try:
        source = SandboxAuctionInsights(connector, ACCOUNT)
        assert source.data_source == "sandbox"
        rows = await source.rows(date(2026, 11, 1), date(2026, 11, 3), CAMPAIGN)
    finally:
        await connector.close()
    (row,) = rows
    assert row.campaign_id == CAMPAIGN and row.day == date(2026, 11, 1)
    assert row.impression_share is None and row.impression_share_below_10
    assert row.outranking_share == pytest.approx(0.25)
    assert asked[-1] == {"account": str(ACCOUNT), "start": "2026-11-01", "end": "2026-11-03"}
    assert len(asked) == 2 and [c.operation for c in calls] == ["auction_insights"] * 2


async def test_an_unusable_sandbox_answer_is_the_platform_unavailable() -> None:
    async def insights(request: web.Request) -> web.Response:
        return web.json_response({"rows": [{"campaign_id": "nope", "day": "2026-11-01"}]})

    app = web.Application()
    app.router.add_get("/v1/accounts/{account}/auction-insights", insights)
    server = TestServer(app)
    await server.start_server()
    connector = SandboxConnector(str(server.make_url("")), attempts=1)
    try:
        with pytest.raises(PlatformUnavailable, match="unusable"):
            await SandboxAuctionInsights(connector, ACCOUNT).rows(
                date(2026, 11, 1), date(2026, 11, 2)
            )
    finally:
        await connector.close()
        await server.close()
