"""Where Auction Insights come from: the sandbox platform, a report downloaded from Google
Ads or Microsoft Advertising, or Microsoft Advertising's ``GetAuctionInsightData``.

Each gives :class:`InsightRow` values: one competitor's figures in one campaign's
auctions, on one day (or over the whole report when it is not segmented by time), as
shares in [0, 1]. A source that cannot read what it was given raises
:class:`BadReport` naming every bad line and why, before anything is stored.

The report files, as the two platforms' interfaces download them:

- Google Ads (Auction insights, Search campaigns): a title line and a date-range line
  above the header; the columns "Display URL domain", "Impression share", "Overlap
  rate", "Position above rate", "Top of page rate", "Abs. Top of page rate" and
  "Outranking share" (Shopping reports have only impression share, overlap rate and
  outranking share), and, when segmented, "Campaign", "Day" or "Week" columns. Figures
  are percentages ("45.23%"); an impression share under the reporting threshold is
  "< 10%", a figure the report does not give is "--". The tenant's own row is "You".
- Microsoft Advertising (Auction insights of campaigns, ad groups or keywords): report
  lines above the header and a copyright line below the rows; the same figures, with
  "Absolute top of page rate" for Google's abbreviated column.
- Either may be downloaded as UTF-8 comma-separated text (with or without a byte order
  mark) or as the "Excel" variant: UTF-16 little-endian, tab-separated.

Microsoft's API answers ``GetAuctionInsightData`` (Ad Insight service, v13) with an
``AuctionInsightResult``: ``Segments`` (the segments asked for, such as ``Day``),
``Entries`` (an ``AuctionInsightEntry`` per display domain: ``DisplayDomain``,
``AggregatedKpi`` and, per segment value, ``SegmentedKpis``, each an
``AuctionInsightKpi`` with ``ImpressionShare``, ``OverlapRate``, ``AboveRate``,
``TopOfPageRate``, ``AbsoluteTopOfPageRate``, ``OutrankingShare`` and its
``Segments`` values) and ``UsedImpressionShare``; a call takes up to 200 entity ids.

(As the platforms document them: Google Ads Help, "Use auction insights to compare
performance", lists the six Search statistics and the three of Shopping; Microsoft
Advertising Help, "See how you compete with the auction insights report", names the
"Display url domain" column; the Ad Insight service's operations and data objects
reference describes GetAuctionInsightData and its result.)
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol
from uuid import UUID

import aiohttp

from shared.connectors import PlatformUnavailable
from shared.connectors.sandbox import SandboxConnector
from shared.contracts.competition import (
    INSIGHT_METRICS,
    MAX_IMPORT_ERRORS,
    OWN_DOMAIN,
    ImportPlatform,
    InsightSource,
)
from shared.errors import DomainError, Invalid

Period = Literal["day", "week", "range"]


@dataclass(frozen=True, slots=True)
class InsightRow:
    """One competitor's Auction Insights in one campaign's auctions on one day.

    ``day`` is None for a report not segmented by time; for a weekly report it is the
    week's first day (``period`` says which). ``campaign_name`` is the report's name for
    the campaign, until :func:`assign_campaigns` turns it into ``campaign_id``. ``line``
    is where the row stood in its file, for error messages."""

    domain: str
    campaign_id: UUID | None = None
    day: date | None = None
    impression_share: float | None = None
    overlap_rate: float | None = None
    position_above_rate: float | None = None
    top_of_page_rate: float | None = None
    abs_top_of_page_rate: float | None = None
    outranking_share: float | None = None
    impression_share_below_10: bool = False
    period: Period = "day"
    campaign_name: str | None = None
    line: int | None = None

    def data(self) -> dict[str, Any]:
        """The row's ``intelligence_data``."""
        figures: dict[str, Any] = {name: getattr(self, name) for name in INSIGHT_METRICS}
        return {
            **figures,
            "impression_share_below_10": self.impression_share_below_10,
            "period": self.period,
        }


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int | None
    reason: str


class BadReport(Invalid):
    """Rows that cannot be read (answered 422 ``invalid_report``): each bad line and why,
    at most :data:`MAX_IMPORT_ERRORS` of them; ``more`` counts the others."""

    def __init__(self, problems: Sequence[RowProblem]) -> None:
        shown = list(problems[:MAX_IMPORT_ERRORS])
        DomainError.__init__(
            self,
            "invalid_report",
            f"the report has {len(problems)} problem(s); nothing was imported",
            {
                "rows": [{"line": p.line, "reason": p.reason} for p in shown],
                "more": len(problems) - len(shown),
            },
        )
        self.problems = list(problems)


class AuctionInsightsSource(Protocol):
    """Auction Insights of an account, wherever they come from."""

    @property
    def data_source(self) -> InsightSource: ...

    async def rows(
        self, start: date, end: date, campaign_id: UUID | None = None
    ) -> list[InsightRow]:
        """The rows of the days from ``start`` up to, not including, ``end`` (rows of a
        report not segmented by time are always included), of one campaign or all."""
        ...


def _within(
    rows: Iterable[InsightRow], start: date, end: date, campaign_id: UUID | None
) -> list[InsightRow]:
    return [
        r
        for r in rows
        if (r.day is None or start <= r.day < end)
        and (campaign_id is None or r.campaign_id == campaign_id)
    ]


# --- figures ---------------------------------------------------------------------------

NOT_GIVEN = frozenset({"", "--", "-", "—", "n/a"})
_BELOW_10 = re.compile(r"^<\s*10(?:[.,]0+)?\s*%$")


class FigureError(ValueError):
    pass


def parse_share(text: str, below_10_allowed: bool) -> tuple[float | None, bool]:
    """A report's percentage as a share in [0, 1], and whether it was "< 10%".

    "45.23%" is 0.4523; "--" is None; thousands separators are dropped ("1,000.5" is
    1000.5, which is out of range); a lone comma with other than three digits after it
    is a decimal comma ("45,23%"). A number without a percent sign is read as a
    percentage too, as the reports show them."""
    raw = text.strip().replace("\u00a0", " ")
    if raw.lower() in NOT_GIVEN:
        return None, False
    if _BELOW_10.match(raw):
        if not below_10_allowed:
            raise FigureError(f"{raw!r} is only given for impression share")
        return None, True
    number = raw.removesuffix("%").strip()
    if "," in number:
        head, _, tail = number.rpartition(",")
        if "." not in number and number.count(",") == 1 and len(tail) != 3:
            number = f"{head}.{tail}"
        else:
            number = number.replace(",", "")
    try:
        value = float(number)
    except ValueError:
        raise FigureError(f"{raw!r} is not a percentage") from None
    if not 0.0 <= value <= 100.0:
        raise FigureError(f"{raw!r} is not between 0% and 100%")
    return value / 100.0, False


_DAY_FORMATS = (
    "%Y-%m-%d",
    "%m/%d/%Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%a, %b %d, %Y",
    "%A, %B %d, %Y",
    "%Y/%m/%d",
)


def parse_day(text: str) -> date:
    """A day as the reports write it: ``2026-11-03``, ``11/3/2026``, ``Nov 3, 2026``,
    ``Tuesday, November 3, 2026``; a week may be written ``Week of Nov 2, 2026``."""
    raw = " ".join(text.split())
    raw = re.sub(r"(?i)^week of\s+", "", raw)
    raw = raw.split("T", 1)[0] if re.match(r"^\d{4}-\d{2}-\d{2}T", raw) else raw
    for fmt in _DAY_FORMATS:
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    raise FigureError(f"{text!r} is not a date")


def normalize_domain(text: str) -> str:
    domain = text.strip()
    if domain.lower() == OWN_DOMAIN.lower():
        return OWN_DOMAIN
    return domain.lower()


# --- report files ----------------------------------------------------------------------

# A header as the report writes it (lower case, single spaces, no hyphens) -> our name.
HEADERS: dict[str, str] = {
    "display url domain": "domain",
    "display domain": "domain",
    "impression share": "impression_share",
    "impr. share": "impression_share",
    "overlap rate": "overlap_rate",
    "position above rate": "position_above_rate",
    "top of page rate": "top_of_page_rate",
    "abs. top of page rate": "abs_top_of_page_rate",
    "abs. top of the page rate": "abs_top_of_page_rate",
    "absolute top of page rate": "abs_top_of_page_rate",
    "absolute top of the page rate": "abs_top_of_page_rate",
    "outranking share": "outranking_share",
    "campaign": "campaign",
    "campaign name": "campaign",
    "day": "day",
    "date": "day",
    "week": "week",
}
# Headers that only one platform writes.
GOOGLE_ONLY = frozenset({"abs. top of page rate", "abs. top of the page rate"})
MICROSOFT_ONLY = frozenset({"absolute top of page rate", "absolute top of the page rate"})
SOURCE_OF: dict[ImportPlatform, InsightSource] = {
    "google_ads": "google_ads_csv",
    "microsoft_ads": "microsoft_ads_csv",
}
# The header is looked for in this many lines at the top of the file.
HEADER_WITHIN = 30


def _header_key(cell: str) -> str:
    return " ".join(cell.replace("-", " ").split()).lower()


def decode(data: bytes) -> str:
    """The file's text: UTF-16 when it starts with its byte order mark (or looks like
    UTF-16 without one), else UTF-8 with or without a BOM."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif len(data) >= 4 and data[1] == 0 and data[3] == 0 and data[0] != 0:
        encoding = "utf-16-le"
    else:
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise BadReport(
            [RowProblem(None, f"the file is not {encoding} text: {exc.reason}")]
        ) from None


@dataclass(frozen=True)
class _Layout:
    line: int  # 1-based line of the header
    delimiter: str
    columns: dict[str, int]  # our name -> position
    width: int
    platform: ImportPlatform | None


def _find_header(lines: Sequence[str]) -> _Layout:
    for index, text in enumerate(lines[:HEADER_WITHIN]):
        for delimiter in ("\t", ",", ";"):
            if delimiter not in text:
                continue
            cells = next(csv.reader([text], delimiter=delimiter))
            keys = [_header_key(c) for c in cells]
            named = {HEADERS[k]: i for i, k in enumerate(keys) if k in HEADERS}
            if "domain" not in named or not set(named) & set(INSIGHT_METRICS):
                continue
            platform: ImportPlatform | None = None
            if set(keys) & GOOGLE_ONLY:
                platform = "google_ads"
            elif set(keys) & MICROSOFT_ONLY or any("microsoft" in s.lower() for s in lines[:index]):
                platform = "microsoft_ads"
            return _Layout(index + 1, delimiter, named, len(cells), platform)
    raise BadReport(
        [
            RowProblem(
                None,
                f"no header row with a 'Display URL domain' column and Auction Insights "
                f"figures in the first {HEADER_WITHIN} lines",
            )
        ]
    )


def _footer(cells: Sequence[str]) -> bool:
    """Lines the platforms write below the rows: copyright and totals."""
    first = cells[0].strip().lower() if cells else ""
    return first.startswith(("©", "(c)", "copyright")) or first in ("total", "totals")


@dataclass(frozen=True)
class Report:
    """A report file, read: where it came from and its rows."""

    platform: ImportPlatform
    rows: list[InsightRow] = field(default_factory=list)

    @property
    def data_source(self) -> InsightSource:
        return SOURCE_OF[self.platform]


def read_report(data: bytes, platform: ImportPlatform | None = None) -> Report:
    """An Auction Insights report file as rows; :class:`BadReport` lists every bad line.

    ``platform`` says whose report it is when its headers do not."""
    text = decode(data)
    lines = text.splitlines()
    layout = _find_header(lines)
    found = platform or layout.platform
    if found is None:
        raise BadReport(
            [
                RowProblem(
                    layout.line,
                    "cannot tell whether this is a Google Ads or a Microsoft Advertising "
                    "report; say which with platform=google_ads or platform=microsoft_ads",
                )
            ]
        )
    rows: list[InsightRow] = []
    problems: list[RowProblem] = []
    seen: dict[tuple[str | None, str, date | None], int] = {}
    body = io.StringIO("\n".join(lines[layout.line :]))
    reader = csv.reader(body, delimiter=layout.delimiter)
    for cells in reader:
        line = layout.line + reader.line_num
        if not any(c.strip() for c in cells) or _footer(cells):
            continue
        try:
            row = _row(cells, layout, line)
        except FigureError as exc:
            problems.append(RowProblem(line, str(exc)))
            continue
        key = (row.campaign_name, row.domain, row.day)
        if key in seen:
            problems.append(
                RowProblem(
                    line,
                    f"{row.domain} appears twice for the same campaign and day (first on line "
                    f"{seen[key]}); a report segmented by device or network cannot be imported",
                )
            )
            continue
        seen[key] = line
        rows.append(row)
    if not rows and not problems:
        problems.append(RowProblem(layout.line, "the report has no rows below its header"))
    if problems:
        raise BadReport(problems)
    return Report(found, rows)


def _row(cells: Sequence[str], layout: _Layout, line: int) -> InsightRow:
    if len(cells) != layout.width:
        raise FigureError(f"expected {layout.width} columns, found {len(cells)}")
    col = layout.columns

    def cell(name: str) -> str | None:
        return cells[col[name]] if name in col else None

    domain = normalize_domain(cell("domain") or "")
    if not domain:
        raise FigureError("the display URL domain is empty")
    if len(domain) > 200:
        raise FigureError("the display URL domain is longer than 200 characters")
    values: dict[str, Any] = {}
    reasons = []
    for name in INSIGHT_METRICS:
        raw = cell(name)
        if raw is None:
            continue
        try:
            values[name], below = parse_share(raw, name == "impression_share")
        except FigureError as exc:
            reasons.append(f"{name.replace('_', ' ')}: {exc}")
            continue
        if below:
            values["impression_share_below_10"] = True
    period: Period = "range"
    day = None
    for name, kind in (("day", "day"), ("week", "week")):
        raw = cell(name)
        if raw is not None:
            try:
                day, period = parse_day(raw), kind  # type: ignore[assignment]
            except FigureError as exc:
                reasons.append(f"{name}: {exc}")
            break
    campaign = cell("campaign")
    if campaign is not None and not campaign.strip():
        reasons.append("campaign: empty")
    if reasons:
        raise FigureError("; ".join(reasons))
    return InsightRow(
        domain=domain,
        day=day,
        period=period,
        campaign_name=campaign.strip() if campaign is not None else None,
        line=line,
        **values,
    )


def assign_campaigns(
    rows: Sequence[InsightRow],
    campaign_id: UUID | None,
    campaigns: Mapping[str, Sequence[UUID]],
) -> list[InsightRow]:
    """Each row with its campaign: ``campaign_id`` for a report of one campaign, else the
    campaign its ``Campaign`` column names (a name of the tenant's, case aside, or an id).

    ``campaigns``: the tenant's campaign names, lower-cased, -> their ids.
    :class:`BadReport` when a row's campaign is unknown or ambiguous, or when a report of
    several campaigns is given one ``campaign_id``."""
    named = {r.campaign_name for r in rows if r.campaign_name is not None}
    if campaign_id is not None:
        if len(named) > 1:
            raise BadReport(
                [
                    RowProblem(
                        None,
                        f"the report holds {len(named)} campaigns; leave campaign_id out to "
                        "match them to your campaigns by name",
                    )
                ]
            )
        return [replace(r, campaign_id=campaign_id) for r in rows]
    out: list[InsightRow] = []
    problems: list[RowProblem] = []
    for row in rows:
        if row.campaign_name is None:
            problems.append(
                RowProblem(row.line, "no campaign: pass campaign_id, or add a Campaign column")
            )
            continue
        found = _campaign_of(row.campaign_name, campaigns)
        if isinstance(found, str):
            problems.append(RowProblem(row.line, found))
        else:
            out.append(replace(row, campaign_id=found))
    if problems:
        raise BadReport(problems)
    return out


def _campaign_of(name: str, campaigns: Mapping[str, Sequence[UUID]]) -> UUID | str:
    try:
        return UUID(name)
    except ValueError:
        pass
    ids = campaigns.get(name.lower(), ())
    if len(ids) == 1:
        return ids[0]
    if not ids:
        return f"no campaign of yours is named {name!r}"
    return f"{len(ids)} of your campaigns are named {name!r}; pass campaign_id"


class ReportFile:
    """:class:`AuctionInsightsSource` over a report file already read and assigned."""

    def __init__(self, report: Report, rows: Sequence[InsightRow]) -> None:
        self._source = report.data_source
        self._rows = list(rows)

    @property
    def data_source(self) -> InsightSource:
        return self._source

    async def rows(
        self, start: date, end: date, campaign_id: UUID | None = None
    ) -> list[InsightRow]:
        return _within(self._rows, start, end, campaign_id)


# --- Microsoft Advertising's API -------------------------------------------------------

# AuctionInsightKpi's fields -> ours.
MICROSOFT_KPIS: dict[str, str] = {
    "ImpressionShare": "impression_share",
    "OverlapRate": "overlap_rate",
    "AboveRate": "position_above_rate",
    "TopOfPageRate": "top_of_page_rate",
    "AbsoluteTopOfPageRate": "abs_top_of_page_rate",
    "OutrankingShare": "outranking_share",
}
_DAY_SEGMENT = "Day"
_WEEK_SEGMENT = "Week"


def read_auction_insight_result(body: Any, campaign_id: UUID) -> list[InsightRow]:
    """The rows of a ``GetAuctionInsightData`` answer (the ``AuctionInsightResult``, bare
    or under ``Result``), all of one campaign. Segmented by day or week, a row per
    domain and segment; otherwise a row per domain from ``AggregatedKpi``.

    The API gives figures as shares; an answer whose figures exceed 1 gives them as
    percentages and is read so. :class:`BadReport` names each unusable entry."""
    result = body.get("Result", body) if isinstance(body, Mapping) else None
    if not isinstance(result, Mapping) or not isinstance(result.get("Entries"), list):
        raise BadReport([RowProblem(None, "not an AuctionInsightResult: no Entries list")])
    segments = [str(s) for s in result.get("Segments") or []]
    scale = 100.0 if _largest_kpi(result["Entries"]) > 1.0 else 1.0
    rows: list[InsightRow] = []
    problems: list[RowProblem] = []
    for index, entry in enumerate(result["Entries"]):
        where = f"Entries[{index}]"
        try:
            rows += _entry_rows(entry, segments, scale, campaign_id, where)
        except FigureError as exc:
            problems.append(RowProblem(None, f"{where}: {exc}"))
    if not rows and not problems:
        problems.append(RowProblem(None, "the answer has no entries"))
    if problems:
        raise BadReport(problems)
    return rows


def _largest_kpi(entries: Any) -> float:
    largest = 0.0
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, Mapping):
            continue
        kpis = [entry.get("AggregatedKpi"), *(entry.get("SegmentedKpis") or [])]
        for kpi in kpis:
            if isinstance(kpi, Mapping):
                for name in MICROSOFT_KPIS:
                    value = kpi.get(name)
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        largest = max(largest, float(value))
    return largest


def _entry_rows(
    entry: Any, segments: list[str], scale: float, campaign_id: UUID, where: str
) -> list[InsightRow]:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("DisplayDomain"), str):
        raise FigureError("no DisplayDomain")
    domain = normalize_domain(entry["DisplayDomain"])
    if not domain:
        raise FigureError("DisplayDomain is empty")
    position = next(
        ((i, s) for i, s in enumerate(segments) if s in (_DAY_SEGMENT, _WEEK_SEGMENT)), None
    )
    segmented = entry.get("SegmentedKpis") or []
    if position is None or not segmented:
        kpi = entry.get("AggregatedKpi")
        return [_kpi_row(kpi, domain, None, "range", scale, campaign_id, f"{where}.AggregatedKpi")]
    at, kind = position
    rows = []
    for k, kpi in enumerate(segmented):
        path = f"{where}.SegmentedKpis[{k}]"
        values = kpi.get("Segments") if isinstance(kpi, Mapping) else None
        if not isinstance(values, list) or len(values) <= at:
            raise FigureError(f"{path}: no {kind} in Segments")
        try:
            day = parse_day(str(values[at]))
        except FigureError as exc:
            raise FigureError(f"{path}.Segments: {exc}") from None
        period: Period = "day" if kind == _DAY_SEGMENT else "week"
        rows.append(_kpi_row(kpi, domain, day, period, scale, campaign_id, path))
    return rows


def _kpi_row(
    kpi: Any,
    domain: str,
    day: date | None,
    period: Period,
    scale: float,
    campaign_id: UUID,
    path: str,
) -> InsightRow:
    if not isinstance(kpi, Mapping):
        raise FigureError(f"{path}: not an AuctionInsightKpi")
    values: dict[str, Any] = {}
    for theirs, ours in MICROSOFT_KPIS.items():
        value = kpi.get(theirs)
        if value is None:
            values[ours] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FigureError(f"{path}.{theirs}: {value!r} is not a number")
        share = float(value) / scale
        if not 0.0 <= share <= 1.0:
            raise FigureError(f"{path}.{theirs}: {value!r} is out of range")
        values[ours] = share
    return InsightRow(domain=domain, campaign_id=campaign_id, day=day, period=period, **values)


class MicrosoftAuctionInsights:
    """:class:`AuctionInsightsSource` over Microsoft Advertising's ``GetAuctionInsightData``,
    for one campaign: asks the Ad Insight service's REST endpoint ``url`` for the
    campaign's auction insights by day and reads the answer."""

    data_source: InsightSource = "microsoft_ads_api"

    def __init__(
        self,
        url: str,
        *,
        campaign_id: UUID,
        platform_campaign_id: int,
        customer_id: str,
        account_id: str,
        developer_token: str,
        access_token: str,
        session: aiohttp.ClientSession,
    ) -> None:
        self.url = url
        self.campaign_id = campaign_id
        self.platform_campaign_id = platform_campaign_id
        self._session = session
        self._headers = {
            "Authorization": f"Bearer {access_token}",
            "DeveloperToken": developer_token,
            "CustomerId": customer_id,
            "CustomerAccountId": account_id,
        }

    def request_body(self, start: date, end: date) -> dict[str, Any]:
        last = end - timedelta(days=1)  # the API's end date is inclusive

        def ymd(d: date) -> dict[str, int]:
            return {"Year": d.year, "Month": d.month, "Day": d.day}

        return {
            "EntityType": "Campaign",
            "EntityIds": [self.platform_campaign_id],
            "SearchParameters": [
                {"Type": "DateRangeSearchParameter", "StartDate": ymd(start), "EndDate": ymd(last)},
                {"Type": "AuctionSegmentSearchParameter", "Segment": _DAY_SEGMENT},
            ],
        }

    async def rows(
        self, start: date, end: date, campaign_id: UUID | None = None
    ) -> list[InsightRow]:
        if campaign_id is not None and campaign_id != self.campaign_id:
            return []
        try:
            async with self._session.post(
                self.url, json=self.request_body(start, end), headers=self._headers
            ) as response:
                body = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise PlatformUnavailable(f"GetAuctionInsightData: {exc!r}") from exc
        if status >= 400:
            raise PlatformUnavailable(f"GetAuctionInsightData answered HTTP {status}")
        return _within(read_auction_insight_result(body, self.campaign_id), start, end, None)


# --- the sandbox -----------------------------------------------------------------------


def read_sandbox_row(data: Mapping[str, Any]) -> InsightRow:
    """One row of the sandbox's ``auction-insights`` answer (shares already)."""
    values: dict[str, Any] = {}
    for name in INSIGHT_METRICS:
        value = data.get(name)
        if value is not None:
            value = float(value)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} {value} is not a share")
        values[name] = value
    return InsightRow(
        domain=normalize_domain(str(data["domain"])),
        campaign_id=UUID(str(data["campaign_id"])),
        day=date.fromisoformat(str(data["day"])),
        impression_share_below_10=bool(data.get("impression_share_below_10", False)),
        **values,
    )


class SandboxAuctionInsights:
    """:class:`AuctionInsightsSource` over the sandbox platform's account ``account``."""

    data_source: InsightSource = "sandbox"

    def __init__(self, connector: SandboxConnector, account: UUID) -> None:
        self.connector = connector
        self.account = account

    async def rows(
        self, start: date, end: date, campaign_id: UUID | None = None
    ) -> list[InsightRow]:
        raw = await self.connector.auction_insights(self.account, start, end)
        try:
            rows = [read_sandbox_row(r) for r in raw]
        except (KeyError, TypeError, ValueError) as exc:
            raise PlatformUnavailable(
                f"auction_insights: unusable answer from the platform: {exc!r}"
            ) from exc
        return _within(rows, start, end, campaign_id)
