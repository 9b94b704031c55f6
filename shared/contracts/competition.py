"""Competitive intelligence: Auction Insights per campaign, competitor and day, and the
competitor events found in them (entered, exited, aggressive, retreated).

Part of the optimizer's contract (its ``CONTRACT`` lists these routes and events)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import JsonValue

from shared.contracts.spec import LENIENT, EventType, Route
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


# --- routes ----------------------------------------------------------------------------

ROUTES: tuple[Route, ...] = ()
EVENTS = (COMPETITOR_EVENT_DETECTED,)
