"""Competitive intelligence: Auction Insights per campaign, competitor and day, and the
competitor events found in them (entered, exited, aggressive, retreated).

Part of the optimizer's contract (its ``CONTRACT`` lists these routes and events)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, get_args
from uuid import UUID

from pydantic import JsonValue

from shared.contracts.spec import (
    CURSOR,
    LENIENT,
    LIMIT,
    LIST_NOTE,
    PREFIX,
    EventType,
    QueryParam,
    Role,
    Route,
)
from shared.resources import Resource
from shared.schemas import ResponseModel

SERVICE = "optimizer"

CompetitorEventKind = Literal["entered", "exited", "aggressive", "retreated"]
# Where a row of Auction Insights came from.
InsightSource = Literal["sandbox", "google_ads_csv", "microsoft_ads_csv", "microsoft_ads_api"]
# The tenant's own row in an Auction Insights report.
OWN_DOMAIN = "You"
# The six figures of an Auction Insights row, each a share in [0, 1] or null where the
# report shows none ("--"). An impression share the report gives only as "< 10%" is
# null with ``impression_share_below_10`` true.
INSIGHT_METRICS: tuple[str, ...] = (
    "impression_share",
    "overlap_rate",
    "position_above_rate",
    "top_of_page_rate",
    "abs_top_of_page_rate",
    "outranking_share",
)


# --- rows ------------------------------------------------------------------------------


class CompetitiveIntelligence(ResponseModel):
    """One competitor's Auction Insights in one campaign's auctions on one day.

    ``intelligence_type`` is ``auction_insights``; ``intelligence_data`` holds the six
    figures of ``INSIGHT_METRICS`` and ``impression_share_below_10``."""

    id: UUID
    competitor_identifier: str | None
    intelligence_type: str
    data_source: str | None
    intelligence_data: JsonValue
    confidence_score: float | None
    actionable_insights: JsonValue | None
    created_at: datetime
    campaign_id: UUID | None = None
    day: date | None = None
    updated_at: datetime | None = None


class CompetitorEvent(ResponseModel):
    """A competitor's move in a campaign's auctions from ``started_on``.

    ``size``: the change in its impression share, in points (entered/exited: the share
    it came in with or left from); ``score``: that change times its position-above rate,
    what incidents rank candidate explanations by; ``evidence``: the baseline and the
    figures it was judged on."""

    id: UUID
    campaign_id: UUID
    competitor: str
    kind: CompetitorEventKind
    started_on: date
    size: float
    score: float
    confidence: float
    evidence: JsonValue
    data_source: str | None
    created_at: datetime


# --- tables ----------------------------------------------------------------------------

COMPETITIVE_INTELLIGENCE = Resource(
    "competitive intelligence row",
    "ai_competitive_intelligence",
    CompetitiveIntelligence,
    ("campaign_id", "competitor_identifier", "data_source", "intelligence_type"),
)
COMPETITOR_EVENTS = Resource(
    "competitor event",
    "competitor_events",
    CompetitorEvent,
    ("campaign_id", "competitor", "kind"),
)


# --- events ----------------------------------------------------------------------------


class CompetitorEventDetected(CompetitorEvent):
    model_config = LENIENT


COMPETITOR_EVENT_DETECTED = EventType(
    "competitor.event_detected",
    CompetitorEventDetected,
    (SERVICE,),
    subscribers=("alerts",),
    summary="A competitor entered, exited, became aggressive or retreated in a campaign's "
    "auctions; incidents near its start may be linked to it.",
)


# --- imports ---------------------------------------------------------------------------

# What an import may be: a report exported from Google Ads or Microsoft Advertising, or
# the answer of Microsoft Advertising's GetAuctionInsightData.
ImportPlatform = Literal["google_ads", "microsoft_ads"]
# The largest file an import takes (a year of a campaign's daily report, with twenty
# competitors, in the UTF-16 variant, is about a third of it).
MAX_IMPORT_BYTES = 2 * 1024 * 1024
# At most this many bad rows are listed in a 422; ``details.more`` counts the rest.
MAX_IMPORT_ERRORS = 50


class ImportSummary(ResponseModel):
    """What an import stored: rows new, changed and already as the file says."""

    data_source: InsightSource
    rows: int
    inserted: int
    updated: int
    unchanged: int
    campaign_ids: list[UUID]
    # The days covered; both null for a report that is not segmented by day or week.
    day_from: date | None
    day_to: date | None
    days: int
    # Competitors' display URL domains, without the tenant's own row.
    competitors: list[str]
    # Competitor events found in the imported days that were not known before.
    events: int = 0


# --- routes ----------------------------------------------------------------------------

_PATH = f"{PREFIX}/competitive-intelligence"
_DATE: dict[str, str | int] = {"type": "string", "format": "date"}
_TEXT: dict[str, str | int] = {"type": "string", "maxLength": 200}
_UUID: dict[str, str | int] = {"type": "string", "format": "uuid"}


def _equals(name: str, schema: dict[str, str | int], what: str) -> QueryParam:
    return QueryParam(name, schema, f"Only items whose `{name}` equals this{what}.")


# Read like every list's equality filters: a UUID, or any text matching what equals it.
LIST_INSIGHTS = Route(
    "GET",
    _PATH,
    "list_competitive_intelligence",
    "List Auction Insights rows",
    SERVICE,
    Role.VIEWER,
    COMPETITIVE_INTELLIGENCE.page_model,
    resource=COMPETITIVE_INTELLIGENCE,
    paginated=True,
    query=(
        LIMIT,
        CURSOR,
        _equals("campaign_id", _UUID, ""),
        _equals("competitor_identifier", _TEXT, f": a display URL domain, or `{OWN_DOMAIN}`"),
        QueryParam("competitor", _TEXT, "The same as `competitor_identifier`."),
        _equals("data_source", _TEXT, ": " + ", ".join(f"`{s}`" for s in get_args(InsightSource))),
        _equals("intelligence_type", _TEXT, ": `auction_insights`"),
        QueryParam("day_from", _DATE, "Only rows of this day or later."),
        QueryParam("day_to", _DATE, "Only rows of this day or earlier."),
    ),
    description=(
        "One row per campaign, competitor, day and source: `intelligence_data` holds the "
        "six Auction Insights figures as shares in [0, 1] (null where the report shows "
        "none), `impression_share_below_10`, and `period` (`day`, `week` for a weekly "
        "report's row, which stands on the week's first day, or `range` for a report not "
        "segmented by time, whose `day` is null). " + LIST_NOTE
    ),
)
IMPORT_INSIGHTS = Route(
    "POST",
    f"{_PATH}/imports",
    "import_competitive_intelligence",
    "Import an Auction Insights report",
    SERVICE,
    Role.OPERATOR,
    ImportSummary,
    resource=COMPETITIVE_INTELLIGENCE,
    query=(
        QueryParam(
            "campaign_id",
            {"type": "string", "format": "uuid"},
            "The campaign the report is of. Required unless the file has a `Campaign` "
            "column naming the tenant's campaigns (by name or id).",
        ),
        QueryParam(
            "platform",
            {"type": "string", "enum": ["google_ads", "microsoft_ads"]},
            "Where the report comes from; by default read from its column headers.",
        ),
    ),
    description=(
        "The body is the report as Google Ads or Microsoft Advertising download it: "
        "`text/csv` (UTF-8, with or without a byte order mark, comma-separated; or the "
        "UTF-16 tab-separated Excel variant), the same as the `file` field of a "
        "`multipart/form-data` form, or Microsoft Advertising's `GetAuctionInsightData` "
        "answer as `application/json`. Rows are keyed by campaign, competitor, day and "
        "source, so importing a report again updates its rows instead of adding to them. "
        "All or nothing: a file with bad rows is answered 422 listing each one's `line` "
        f"and `reason` (at most {MAX_IMPORT_ERRORS}), and nothing is stored. Larger than "
        f"{MAX_IMPORT_BYTES // (1024 * 1024)} MiB: 413."
    ),
)
GET_INSIGHT = Route(
    "GET",
    f"{_PATH}/{{id}}",
    "get_competitive_intelligence_row",
    "Get one Auction Insights row",
    SERVICE,
    Role.VIEWER,
    CompetitiveIntelligence,
    kind="get",
    resource=COMPETITIVE_INTELLIGENCE,
)
LIST_COMPETITOR_EVENTS = Route(
    "GET",
    f"{_PATH}/events",
    "list_competitor_events",
    "List competitor events",
    SERVICE,
    Role.VIEWER,
    COMPETITOR_EVENTS.page_model,
    resource=COMPETITOR_EVENTS,
    paginated=True,
    query=(
        LIMIT,
        CURSOR,
        _equals("campaign_id", _UUID, ""),
        _equals("competitor", _TEXT, ""),
        _equals("kind", _TEXT, ": " + ", ".join(f"`{k}`" for k in get_args(CompetitorEventKind))),
        QueryParam("started_from", _DATE, "Only events that started on this day or later."),
        QueryParam("started_to", _DATE, "Only events that started on this day or earlier."),
    ),
    description="Competitors entering, exiting, becoming aggressive or retreating. " + LIST_NOTE,
)
GET_COMPETITOR_EVENT = Route(
    "GET",
    f"{_PATH}/events/{{id}}",
    "get_competitor_event",
    "Get one competitor event",
    SERVICE,
    Role.VIEWER,
    CompetitorEvent,
    kind="get",
    resource=COMPETITOR_EVENTS,
)

# The fixed paths before `{id}`: routers match in this order.
ROUTES: tuple[Route, ...] = (
    LIST_INSIGHTS,
    IMPORT_INSIGHTS,
    LIST_COMPETITOR_EVENTS,
    GET_COMPETITOR_EVENT,
    GET_INSIGHT,
)
EVENTS: tuple[EventType[CompetitorEventDetected], ...] = (COMPETITOR_EVENT_DETECTED,)
