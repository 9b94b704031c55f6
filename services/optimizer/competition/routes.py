"""Routes of competitive intelligence: importing Auction Insights, listing them and the
competitor events found in them (getting one row or event is the standard get)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from functools import partial
from typing import Any, cast, get_args
from uuid import UUID

from aiohttp import BodyPartReader, web
from multidict import MultiDict, MultiMapping

from services.optimizer.competition.runner import record_events
from services.optimizer.competition.sources import (
    BadReport,
    InsightRow,
    RowProblem,
    assign_campaigns,
    read_auction_insight_result,
    read_report,
)
from services.optimizer.competition.store import (
    EVENT_DAYS,
    INSIGHT_DAYS,
    Between,
    RangedQuery,
    campaign_names,
    list_ranged,
    summary,
    upsert_insights,
)
from shared.contracts import competition as c
from shared.contracts.spec import Route
from shared.once import once
from shared.resources import Resource, parse_list_query
from shared.service import ServiceRuntime
from shared.web import ApiError, Handler, invalid, json_response, loads_exact

# Query names that stand for one of the resource's equality filters.
INSIGHT_ALIASES = {"competitor": "competitor_identifier"}
PLATFORMS: tuple[str, ...] = get_args(c.ImportPlatform)
CHUNK = 64 * 1024


def parse_ranged(
    resource: Resource,
    between: Between,
    params: MultiMapping[str],
    aliases: dict[str, str] | None = None,
) -> RangedQuery:
    """A list's query: the resource's filters and paging, ``aliases`` of its filters, and
    a range of days; every problem is answered at once (422 naming each parameter)."""
    aliases = aliases or {}
    rest: MultiDict[str] = MultiDict()
    bounds: dict[str, date] = {}
    errors: list[dict[str, Any]] = []
    for key, value in params.items():
        if key in (between.start, between.end):
            try:
                bounds[key] = _date(value)
            except ValueError as exc:
                errors.append({"field": key, "message": str(exc)})
        elif key in aliases:
            if aliases[key] in params:
                errors.append({"field": key, "message": f"give {key} or {aliases[key]}, not both"})
            rest.add(aliases[key], value)
        else:
            rest.add(key, value)
    base = None
    try:
        base = parse_list_query(resource, rest)
    except ApiError as exc:
        more = [*aliases, between.start, between.end]
        errors += [_also_allowed(f, more) for f in exc.details.get("fields", [])]
    lower, upper = bounds.get(between.start), bounds.get(between.end)
    if lower is not None and upper is not None and lower > upper:
        errors.append({"field": between.end, "message": f"is before {between.start}"})
    if errors or base is None:
        raise invalid("query parameters are invalid", errors)
    return RangedQuery(base, lower, upper)


def _also_allowed(error: dict[str, Any], more: list[str]) -> dict[str, Any]:
    """The shared parser's error, with this list's own parameters among those allowed."""
    message = str(error.get("message", ""))
    if message.startswith("unknown parameter; allowed: "):
        error = {**error, "message": f"{message}, {', '.join(more)}"}
    return error


def _date(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError("expected a date, e.g. 2026-11-03") from None


async def list_insights(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    query = parse_ranged(c.COMPETITIVE_INTELLIGENCE, INSIGHT_DAYS, request.query, INSIGHT_ALIASES)
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        page = await list_ranged(conn, c.COMPETITIVE_INTELLIGENCE, INSIGHT_DAYS, tenant, query)
    return json_response(page)


async def list_events(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    query = parse_ranged(c.COMPETITOR_EVENTS, EVENT_DAYS, request.query)
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        page = await list_ranged(conn, c.COMPETITOR_EVENTS, EVENT_DAYS, tenant, query)
    return json_response(page)


# --- imports ----------------------------------------------------------------------------


def _too_large() -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"the report is larger than {c.MAX_IMPORT_BYTES} bytes; export a shorter date range "
        "or fewer campaigns",
        {"max_bytes": c.MAX_IMPORT_BYTES},
    )


async def _read_capped(read: Callable[[int], Awaitable[bytes]]) -> bytes:
    """Everything ``read`` gives, or 413 once it passes the import's limit."""
    data = bytearray()
    while chunk := await read(CHUNK):
        data += chunk
        if len(data) > c.MAX_IMPORT_BYTES:
            raise _too_large()
    return bytes(data)


async def read_upload(request: web.Request) -> bytes:
    """The file: the body itself, or the ``file`` field of a multipart form."""
    if request.content_length is not None and request.content_length > c.MAX_IMPORT_BYTES + (
        64 * 1024 if request.content_type.startswith("multipart/") else 0
    ):
        raise _too_large()
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            if isinstance(part, BodyPartReader) and part.name == "file":
                return await _read_capped(part.read_chunk)
        raise invalid("no file", [{"field": "file", "message": "the form has no file field"}])
    data = await _read_capped(request.content.read)
    if not data.strip():
        raise invalid("no report", [{"field": "body", "message": "the body is empty"}])
    return data


def _import_params(params: MultiMapping[str]) -> tuple[UUID | None, c.ImportPlatform | None]:
    errors: list[dict[str, Any]] = []
    campaign_id: UUID | None = None
    platform: c.ImportPlatform | None = None
    for key, value in params.items():
        if key == "campaign_id":
            try:
                campaign_id = UUID(value)
            except ValueError:
                errors.append({"field": key, "message": "not a valid UUID"})
        elif key == "platform":
            if value in PLATFORMS:
                platform = cast(c.ImportPlatform, value)
            else:
                errors.append({"field": key, "message": f"one of {', '.join(PLATFORMS)}"})
        else:
            errors.append(
                {"field": key, "message": "unknown parameter; allowed: campaign_id, platform"}
            )
    if errors:
        raise invalid("query parameters are invalid", errors)
    return campaign_id, platform


def _read_rows(
    data: bytes, json_body: bool, campaign_id: UUID | None, platform: c.ImportPlatform | None
) -> tuple[c.InsightSource, list[InsightRow]]:
    """The upload's source and rows, campaigns not yet assigned for report files."""
    if json_body:
        if platform not in (None, "microsoft_ads"):
            raise invalid(
                "a JSON body is Microsoft Advertising's GetAuctionInsightData answer",
                [{"field": "platform", "message": "must be microsoft_ads for a JSON body"}],
            )
        if campaign_id is None:
            raise BadReport([RowProblem(None, "pass campaign_id: the answer does not name it")])
        return "microsoft_ads_api", read_auction_insight_result(loads_exact(data), campaign_id)
    report = read_report(data, platform)
    return report.data_source, report.rows


async def import_insights(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    campaign_id, platform = _import_params(request.query)
    data = await read_upload(request)
    json_body = request.content_type == "application/json"
    source, rows = _read_rows(data, json_body, campaign_id, platform)
    tenant = runtime.tenant_of(request)
    async with once(runtime, request, tenant) as write:
        if write.replay is not None:
            return write.replay
        if not json_body:
            names = {} if campaign_id is not None else await campaign_names(write.conn, tenant)
            rows = assign_campaigns(rows, campaign_id, names)
        stored = await upsert_insights(write.conn, tenant, source, rows)
        found = await record_events(write.conn, tenant, {r.campaign_id for r in rows}, source)
        answer = {
            "data_source": source,
            "inserted": stored.inserted,
            "updated": stored.updated,
            "unchanged": stored.unchanged,
            **summary(rows),
            "events": len(found),
        }
        return write.answered(json_response(answer))


def routes(runtime: ServiceRuntime) -> dict[Route, Handler]:
    return {
        c.LIST_INSIGHTS: partial(list_insights, runtime),
        c.LIST_COMPETITOR_EVENTS: partial(list_events, runtime),
        c.IMPORT_INSIGHTS: partial(import_insights, runtime),
    }
