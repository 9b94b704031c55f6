"""Search auctions for the sandbox's campaigns: a market of competitors and the
generalized second-price auctions our ads win or lose in it.

A campaign with a :class:`Market` buys its traffic query by query. Each query is an
auction among the advertisers that take part in it: their ad rank is bid times a quality
score, the best ``SLOTS`` ranks above the reserve are shown, the first ``TOP_SLOTS`` of
them at the top of the page, and each pays per click the least that keeps its position
(the next rank down divided by its own quality, plus a cent). Our campaign stops taking
part once the hour's share of its daily budget is spent.

Competitors are websites (display domains) whose bids follow a slow random walk and a
daily rhythm. Their **moves** are the ground truth of competitive intelligence: one
enters or exits the campaign's auctions, jumps its bids and reach (``aggressive``) or
cuts them (``retreated``), from a given hour on.

From the auctions come our impressions, clicks, CPC and lost impression share, and the
Auction Insights report per competitor and day, with Google Ads' definitions (over the
auctions our ad was eligible for):

- impression share: impressions ÷ eligible auctions (ours, or the competitor's shown
  ads in our eligible auctions);
- overlap rate: auctions where both ads showed ÷ our impressions;
- position above rate: auctions where both showed and theirs was higher ÷ auctions where
  both showed;
- top of page rate and absolute top of page rate: impressions at the top of the page,
  and in the first position, ÷ impressions (ours, or theirs in our eligible auctions);
- outranking share: auctions where ours showed above theirs or ours showed and theirs
  did not ÷ our eligible auctions.

Every draw comes from a generator seeded by ``(seed, stream, campaign, hour)``, like the
rest of the simulator, so an hour's auctions never depend on other hours.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import numpy as np

MoveKind = Literal["entered", "exited", "aggressive", "retreated"]
MOVE_KINDS: tuple[str, ...] = ("entered", "exited", "aggressive", "retreated")

HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SLOTS = 8
TOP_SLOTS = 4
# Our ads are bid for auction by auction to show in this position (or as near as the
# maximum bid allows): a competitor that outbids the ads around it raises our price.
TARGET_POSITION = 2
# How much less often an ad is clicked in each position than in the first.
POSITION_CTR: tuple[float, ...] = (1.0, 0.55, 0.42, 0.33, 0.13, 0.11, 0.09, 0.08)
# A move's bid and reach factors when a schedule does not say: an aggressive competitor
# triples its bids and takes part in 60% more auctions; one retreating bids and takes
# part less than half as much.
DEFAULT_MOVE_FACTORS: dict[str, tuple[float, float]] = {
    "entered": (1.0, 1.0),
    "exited": (1.0, 1.0),
    "aggressive": (3.0, 1.6),
    "retreated": (0.4, 0.45),
}
# Our own row in an Auction Insights report.
OWN_DOMAIN = "You"
# A competitor is listed on a day when it showed in at least this share of our eligible
# auctions; below, a report has too little on it to say anything.
LISTING_THRESHOLD = 0.01
# Impression shares below this are reported as "< 10%", as Google Ads does.
REPORTED_FLOOR = 0.10
# Insight figures are reported to four decimals.
REPORT_DECIMALS = 4

# Streams of their own, apart from the simulator's (1-7).
_MARKET_STREAM = 8
_AUCTION_STREAM = 9
_WALK_STREAM = 10
_MOVE_STREAM = 11

DOMAINS: tuple[str, ...] = (
    "stridegear.com",
    "runfast-outlet.com",
    "peakathletics.co",
    "trailhouse.net",
    "fitstep-store.com",
    "urbanrunner.shop",
    "marathonmart.com",
    "sprintsupply.io",
    "miles-and-more-shoes.com",
    "corefit-direct.com",
    "pacesetter.store",
    "footlab-online.com",
)


def _hour_index(hour: datetime) -> int:
    return int((hour - _EPOCH) // HOUR)


@dataclass(frozen=True, slots=True)
class Competitor:
    """An advertiser in a campaign's auctions: its bid per click (before its daily
    rhythm and random walk), its quality score, the share of our queries it takes part
    in, and how its bid moves through the day (24 multipliers)."""

    domain: str
    bid: float
    quality: float
    participation: float
    daypart: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class CompetitorMove:
    """A competitor's move in one campaign's auctions from ``start_hour`` on: the ground
    truth competitive intelligence is scored against. ``bid_factor`` and
    ``reach_factor`` multiply its bid and participation (1 for entering and exiting)."""

    campaign_id: uuid.UUID
    domain: str
    kind: MoveKind
    start_hour: datetime
    bid_factor: float = 1.0
    reach_factor: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in MOVE_KINDS:
            raise ValueError(f"unknown competitor move {self.kind!r}")
        if self.bid_factor <= 0 or self.reach_factor <= 0:
            raise ValueError("a move's factors must be positive")

    @property
    def day(self) -> date:
        return self.start_hour.astimezone(UTC).date()


@dataclass(frozen=True, slots=True)
class AuctionLog:
    """Every auction of one campaign-hour: whether our ad was eligible and took part
    (``entered``: False once the budget ran out), and each advertiser's position
    (column 0 is ours, then the competitors in the market's order; 0: not shown)."""

    entered: np.ndarray
    positions: np.ndarray
    clicks: np.ndarray
    cost: np.ndarray


@dataclass(frozen=True, slots=True)
class HourTally:
    """What one campaign-hour's auctions add to its reports."""

    eligible: int
    lost_budget: int
    lost_rank: int
    impressions: int
    top: int
    abs_top: int
    clicks: int
    spend: float
    # Per competitor, within our eligible auctions.
    shown: np.ndarray
    shown_top: np.ndarray
    shown_abs_top: np.ndarray
    both: np.ndarray
    above_us: np.ndarray
    we_outrank: np.ndarray

    @classmethod
    def of(cls, log: AuctionLog) -> HourTally:
        ours = log.positions[:, 0]
        theirs = log.positions[:, 1:]
        shown = ours > 0
        their_shown = theirs > 0
        both = shown[:, None] & their_shown
        above = both & (theirs < ours[:, None])
        return cls(
            eligible=len(ours),
            lost_budget=int((~log.entered).sum()),
            lost_rank=int((log.entered & ~shown).sum()),
            impressions=int(shown.sum()),
            top=int(((ours > 0) & (ours <= TOP_SLOTS)).sum()),
            abs_top=int((ours == 1).sum()),
            clicks=int(log.clicks.sum()),
            spend=float(log.cost.sum()),
            shown=their_shown.sum(axis=0),
            shown_top=((theirs > 0) & (theirs <= TOP_SLOTS)).sum(axis=0),
            shown_abs_top=(theirs == 1).sum(axis=0),
            both=both.sum(axis=0),
            above_us=above.sum(axis=0),
            we_outrank=(shown[:, None] & (~their_shown | (ours[:, None] < theirs))).sum(axis=0),
        )

    def __add__(self, other: HourTally) -> HourTally:
        return HourTally(
            *(getattr(self, name) + getattr(other, name) for name in self.__slots__)  # type: ignore[attr-defined]
        )


@dataclass
class Market:
    """The auctions of one campaign: its queries per day at its default settings, its
    own bid and quality, the reserve rank and the competitors, with their moves."""

    campaign_id: uuid.UUID
    index: int
    seed: int
    start: datetime
    queries_per_day: float
    bid: float
    quality: float
    reserve: float
    competitors: tuple[Competitor, ...]
    moves: list[CompetitorMove] = field(default_factory=list)
    _walks: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(c.domain for c in self.competitors)

    def add_move(self, move: CompetitorMove) -> None:
        if move.campaign_id != self.campaign_id:
            raise ValueError("the move is for another campaign")
        if move.domain not in self.domains:
            raise ValueError(f"{move.domain} does not bid in this campaign's auctions")
        self.moves.append(move)
        self.moves.sort(key=lambda m: m.start_hour)

    # ------------------------------------------------------------- competitors

    def _walk(self, day: int) -> np.ndarray:
        """Each competitor's log-bid drift on ``day``: a mean-reverting walk from the
        market's first day, one step a day."""
        first = _hour_index(self.start) // 24
        if day < first:
            day = first
        if day not in self._walks:
            walk = np.zeros(len(self.competitors))
            known = [d for d in self._walks if d < day]
            begin = max(known) if known else first - 1
            if known:
                walk = self._walks[begin].copy()
            for d in range(begin + 1, day + 1):
                rng = np.random.default_rng([self.seed, _WALK_STREAM, self.index, d])
                walk = 0.85 * walk + rng.normal(0.0, 0.025, len(self.competitors))
                self._walks[d] = walk.copy()
        return self._walks[day]

    def standing(self, hour: datetime) -> tuple[np.ndarray, np.ndarray]:
        """Each competitor's bid and participation in ``hour``, its moves applied."""
        index = _hour_index(hour)
        bids = np.array([c.bid * c.daypart[hour.hour] for c in self.competitors])
        bids *= np.exp(self._walk(index // 24))
        reach = np.array([c.participation for c in self.competitors])
        present = np.ones(len(self.competitors), dtype=bool)
        for c, competitor in enumerate(self.competitors):
            moves = [m for m in self.moves if m.domain == competitor.domain]
            entries = [m for m in moves if m.kind == "entered"]
            if entries and min(m.start_hour for m in entries) > hour:
                present[c] = False
            for move in moves:
                if move.start_hour > hour:
                    continue
                if move.kind == "exited":
                    present[c] = False
                elif move.kind in ("aggressive", "retreated"):
                    bids[c] *= move.bid_factor
                    reach[c] *= move.reach_factor
        return bids, np.where(present, np.minimum(reach, 0.97), 0.0)

    # ---------------------------------------------------------------- auctions

    def run(
        self,
        hour: datetime,
        *,
        queries: float,
        bid_multiplier: float,
        ctr: float,
        budget: float,
        price_factor: float = 1.0,
    ) -> AuctionLog:
        """The hour's auctions: about ``queries`` of them, ours at ``bid_multiplier``
        times our bid, clicked at ``ctr`` in the first position, until ``budget`` is
        spent; ``price_factor`` multiplies what a click costs (a platform-side price
        change)."""
        rng = np.random.default_rng([self.seed, _AUCTION_STREAM, self.index, _hour_index(hour)])
        n = int(rng.poisson(max(queries, 0.0)))
        bids, reach = self.standing(hour)
        k = len(self.competitors)
        takes_part = rng.random((n, k)) < reach
        quality = np.empty((n, k + 1))
        quality[:, 0] = self.quality
        quality[:, 1:] = [c.quality for c in self.competitors]
        quality *= rng.lognormal(0.0, 0.25, (n, k + 1))
        rank = np.empty((n, k + 1))
        rank[:, 1:] = np.where(takes_part, bids * quality[:, 1:], 0.0)
        # Auction-time bidding: the platform bids for us what it takes to show in the
        # target position, up to our maximum bid.
        theirs = np.sort(rank[:, 1:], axis=1)[:, ::-1]
        needed = theirs[:, TARGET_POSITION - 1] if k >= TARGET_POSITION else np.zeros(n)
        ceiling = self.bid * bid_multiplier * quality[:, 0]
        rank[:, 0] = np.minimum(np.maximum(needed * 1.001, self.reserve), ceiling)
        click_draws = rng.random(n)
        places, sorted_rank = self._rank(rank)
        ours = np.where(places[:, 0] <= SLOTS, places[:, 0], 0)
        # Second price: the rank below ours (or the reserve) over our quality, plus a cent,
        # never more than our bid.
        rows = np.arange(n)
        below = np.where(ours > 0, sorted_rank[rows, ours], 0.0)
        price = np.minimum(
            np.maximum(below, self.reserve) / quality[:, 0] + 0.01, ceiling / quality[:, 0]
        )
        click_rate = np.where(ours > 0, ctr * np.take(POSITION_CTR, np.maximum(ours, 1) - 1), 0.0)
        clicks = click_draws < np.minimum(click_rate, 1.0)
        cost = np.where(clicks, price * price_factor, 0.0)
        # Our ad stops taking part once the hour's budget is spent; in the auctions left
        # everyone ranked below it moves up a place.
        spent = np.cumsum(cost)
        entered = spent - cost < budget
        out = ~entered
        if out.any():
            mine = places[out, 0:1]
            moved = places[out]
            places[out] = np.where((moved > mine) & (mine > 0), moved - 1, moved)
            places[out, 0] = 0
            clicks &= entered
            cost = np.where(entered, cost, 0.0)
        positions = np.where(places <= SLOTS, places, 0)
        return AuctionLog(entered, positions, clicks, cost)

    def _rank(self, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each ad's place in the ranking (1-based; 0: below the reserve or absent) and
        each auction's ranks in descending order (0 past the live ones)."""
        n, width = rank.shape
        live = np.where(rank >= self.reserve, rank, 0.0)
        ordered = np.argsort(-live, axis=1, kind="stable")
        sorted_rank = np.concatenate(
            [np.take_along_axis(live, ordered, axis=1), np.zeros((n, 1))], axis=1
        )
        places = np.empty((n, width), dtype=np.int64)
        places[np.arange(n)[:, None], ordered] = np.arange(1, width + 1)
        return np.where(live > 0, places, 0), sorted_rank


# --- reports ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InsightFigures:
    """One row of an Auction Insights report: shares in [0, 1], None where the report
    shows none ("--"); an impression share under 10% is None with ``below_10``."""

    campaign_id: uuid.UUID
    day: date
    domain: str
    impression_share: float | None
    impression_share_below_10: bool
    overlap_rate: float | None
    position_above_rate: float | None
    top_of_page_rate: float | None
    abs_top_of_page_rate: float | None
    outranking_share: float | None

    def as_json(self) -> dict[str, object]:
        return {
            "campaign_id": str(self.campaign_id),
            "day": self.day.isoformat(),
            "domain": self.domain,
            "impression_share": self.impression_share,
            "impression_share_below_10": self.impression_share_below_10,
            "overlap_rate": self.overlap_rate,
            "position_above_rate": self.position_above_rate,
            "top_of_page_rate": self.top_of_page_rate,
            "abs_top_of_page_rate": self.abs_top_of_page_rate,
            "outranking_share": self.outranking_share,
        }


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, REPORT_DECIMALS) if whole > 0 else None


def _share(part: float, whole: float) -> tuple[float | None, bool]:
    share = _ratio(part, whole)
    if share is not None and share < REPORTED_FLOOR:
        return None, True
    return share, False


def insights(
    campaign_id: uuid.UUID, day: date, domains: Sequence[str], tally: HourTally
) -> list[InsightFigures]:
    """A day's Auction Insights from its auctions: our row, then every competitor seen in
    at least ``LISTING_THRESHOLD`` of our eligible auctions."""
    share, below = _share(tally.impressions, tally.eligible)
    rows = [
        InsightFigures(
            campaign_id,
            day,
            OWN_DOMAIN,
            share,
            below,
            None,
            None,
            _ratio(tally.top, tally.impressions),
            _ratio(tally.abs_top, tally.impressions),
            None,
        )
    ]
    for c, domain in enumerate(domains):
        shown = int(tally.shown[c])
        if tally.eligible == 0 or shown < LISTING_THRESHOLD * tally.eligible:
            continue
        share, below = _share(shown, tally.eligible)
        rows.append(
            InsightFigures(
                campaign_id,
                day,
                domain,
                share,
                below,
                _ratio(int(tally.both[c]), tally.impressions),
                _ratio(int(tally.above_us[c]), int(tally.both[c])),
                _ratio(int(tally.shown_top[c]), shown),
                _ratio(int(tally.shown_abs_top[c]), shown),
                _ratio(int(tally.we_outrank[c]), tally.eligible),
            )
        )
    return rows


# --- markets ---------------------------------------------------------------------------


def _daypart(rng: np.random.Generator) -> tuple[float, ...]:
    depth = rng.uniform(0.0, 0.3)
    peak = rng.uniform(8.0, 20.0)
    hours = np.arange(24)
    return tuple(float(x) for x in 1.0 + depth * np.cos(2 * np.pi * (hours - peak) / 24))


def build_market(
    campaign_id: uuid.UUID,
    index: int,
    seed: int,
    start: datetime,
    *,
    daily_budget: float,
    cpc: float,
    ctr: float,
    competitors: int | None = None,
) -> Market:
    """A seeded market for a campaign whose clicks cost about ``cpc`` and are clicked at
    ``ctr``: four to seven competitors (or ``competitors``), queries enough that the
    default budget is spent on most days, and a bid that wins about half the auctions."""
    rng = np.random.default_rng([seed, _MARKET_STREAM, index])
    count = int(rng.integers(4, 8)) if competitors is None else competitors
    if not 1 <= count <= len(DOMAINS):
        raise ValueError(f"a market has 1 to {len(DOMAINS)} competitors")
    picked = rng.choice(len(DOMAINS), size=count, replace=False)
    bid = cpc * 4.0
    rivals = tuple(
        Competitor(
            domain=DOMAINS[int(i)],
            bid=float(cpc * 1.6 * rng.lognormal(-0.15, 0.35)),
            quality=float(rng.uniform(0.6, 1.4)),
            participation=float(rng.uniform(0.25, 0.75)),
            daypart=_daypart(rng),
        )
        for i in picked
    )
    # Clicks at about half the first position's rate, at about the target CPC: queries
    # enough to spend ``demand`` times the budget if it did not run out.
    demand = rng.uniform(0.9, 1.5)
    queries = daily_budget * demand / (cpc * ctr * 0.7)
    return Market(
        campaign_id=campaign_id,
        index=index,
        seed=seed,
        start=start,
        queries_per_day=float(queries),
        bid=float(bid),
        quality=float(rng.uniform(0.8, 1.2)),
        reserve=float(cpc * 0.25),
        competitors=rivals,
    )


def random_moves(
    market: Market,
    start: datetime,
    days: int,
    *,
    count: int,
    warmup_days: int = 14,
    min_gap_days: int = 6,
) -> list[CompetitorMove]:
    """``count`` seeded moves of the market's competitors over ``days`` days from
    ``start``: none in the first ``warmup_days`` (a baseline needs history), at least
    ``min_gap_days`` apart, each competitor moving at most once, kinds dealt in turn so
    each appears. An entering competitor is absent until its move."""
    rng = np.random.default_rng([market.seed, _MOVE_STREAM, market.index])
    order = [MOVE_KINDS[int(i)] for i in rng.permutation(len(MOVE_KINDS))]
    free = list(rng.permutation(len(market.competitors)))
    first_day = (_hour_index(start) // 24) + warmup_days
    last_day = (_hour_index(start) // 24) + days - 2
    slots = last_day - first_day + 1
    if count > len(free) or (count and slots < (count - 1) * min_gap_days + 1):
        raise ValueError(f"{count} moves do not fit in {days} days of {len(free)} competitors")
    spacing = slots / max(count, 1)
    moves = []
    for m in range(count):
        kind = order[m % len(order)]
        if kind == "aggressive":
            # a close rival: the second or third strongest, the ones that set the price
            # of the position we are bid for (a step jump by a minor one changes little)
            ranked = sorted(free, key=lambda c: -_strength(market.competitors[int(c)]))
            near = ranked[1:3] or ranked
            pick = near[int(rng.integers(len(near)))]
            free.remove(pick)
        else:
            pick = free.pop()
        competitor = market.competitors[int(pick)]
        low = first_day + math.ceil(m * spacing)
        high = max(low, first_day + math.floor((m + 1) * spacing) - min_gap_days + 1)
        day = int(rng.integers(low, high + 1))
        hour = _EPOCH + (day * 24 + int(rng.integers(0, 14))) * HOUR
        bid_factor, reach_factor = _draw_factors(rng, kind, competitor)
        moves.append(
            CompetitorMove(
                market.campaign_id,
                competitor.domain,
                kind,  # type: ignore[arg-type]
                hour,
                bid_factor,
                reach_factor,
            )
        )
    return sorted(moves, key=lambda m: m.start_hour)


def _strength(competitor: Competitor) -> float:
    return competitor.bid * competitor.quality * competitor.participation


def _draw_factors(
    rng: np.random.Generator, kind: str, competitor: Competitor
) -> tuple[float, float]:
    """A move's bid and reach factors. An aggressive competitor takes part in at least
    20 more of every 100 auctions than before, so its move shows in its impression share
    and not only in its position."""
    if kind == "aggressive":
        lift = (competitor.participation + 0.2) / competitor.participation
        return float(rng.uniform(2.4, 3.6)), float(max(rng.uniform(1.3, 1.8), lift))
    if kind == "retreated":
        return float(rng.uniform(0.3, 0.5)), float(rng.uniform(0.35, 0.6))
    return 1.0, 1.0


def add_moves(market: Market, moves: Iterable[CompetitorMove]) -> None:
    for move in moves:
        market.add_move(move)
