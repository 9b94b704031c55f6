"""A seeded simulator of one ad account's campaigns.

It gives the sandbox ad platform something realistic to serve without a real
ad account: traffic follows a daily cycle, clicks and conversions are
sampled, extra spend buys less and less traffic, settings changes take
effect from the next hour and anomalies can be injected on a schedule with
the ground truth kept for scoring detectors.

Every random draw comes from a generator seeded by ``(seed, stream,
campaign, time index)``, so an hour's output never depends on which other
hours were simulated before it or in which order.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import numpy as np

from sandbox.auctions import (
    AuctionLog,
    CompetitorMove,
    HourTally,
    InsightFigures,
    Market,
    build_market,
    insights,
)
from shared.connectors.base import CampaignState, Change, UnknownCampaign
from shared.metrics import HourlyMetrics

AnomalyKind = Literal["spend_spike", "conversion_drop", "tracking_outage", "cpc_jump"]
ANOMALY_KINDS: tuple[str, ...] = ("spend_spike", "conversion_drop", "tracking_outage", "cpc_jump")

# Typical strength of each kind when a schedule does not say otherwise.
DEFAULT_MAGNITUDES: dict[str, float] = {
    "spend_spike": 3.0,
    "conversion_drop": 0.2,
    "tracking_outage": 0.0,
    "cpc_jump": 2.5,
}

# Anomalies start only after this much history exists: the detector's
# same-hour-of-day baseline needs five prior days, and two spare days keep a
# single noisy day from deciding the baseline.
DEFAULT_WARMUP_HOURS = 7 * 24

HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ID_NAMESPACE = uuid.UUID("6f1d0c52-3f0e-4d55-9a43-4c5b3f3f6a11")

# A stream tag right after the seed keeps the seed sequences of different
# purposes apart even when their remaining entries coincide.
_PROFILE_STREAM = 1
_HOUR_STREAM = 2
_DAY_STREAM = 3
_SCHEDULE_STREAM = 4
_AUDIENCE_STREAM = 5
# Splitting a campaign's clicks across ad copies and drawing their conversions: a stream
# of its own, so campaigns without copies draw exactly what they always drew.
_COPY_STREAM = 6
# Varying backfilled budgets from day to day.
_BUDGET_STREAM = 7

# What campaigns target; each draws a few of these by seed and index.
AUDIENCE_NAMES: tuple[str, ...] = (
    "in-market: running shoes",
    "in-market: home fitness",
    "affinity: outdoor enthusiasts",
    "affinity: health and wellness",
    "remarketing: cart abandoners",
    "remarketing: past buyers",
    "lookalike: top customers 1%",
    "custom intent: competitor searches",
)

# The platform stops buying once an hour's spend reaches this many times the
# entry price of that hour's whole inventory (~92% of it bought, the last
# impressions at ~12x the entry price); it is what makes a low bid cap delivery.
_SATURATION_CAP = 2.5
# How bids translate into price and reach: paying more wins more auctions, but
# each impression costs more, so reach grows slower than price.
_BID_PRICE_ELASTICITY = 0.8
_BID_REACH_ELASTICITY = 0.5
# Wider audiences bring more impressions from less interested people.
_AUDIENCE_CTR_ELASTICITY = -0.3
# Mean of the delivery factor 1 - 0.12 * Beta(2, 5) that each hour's spend is drawn with.
_MEAN_DELIVERY = 1.0 - 0.12 * 2.0 / 7.0
# A campaign in auctions: clicks in the first position at this multiple of its average
# click-through rate (its ads show in the second or third position on average).
_FIRST_POSITION_CTR = 2.2
# Campaign-hours of auctions kept summed up (a month of twenty campaigns).
_TALLY_CACHE = 24 * 31 * 20
# Gamma shape per order: order values vary with a coefficient of variation of 0.5.
_ORDER_VALUE_SHAPE = 4.0


def hour_index(hour: datetime) -> int:
    """Whole hours since the Unix epoch; the time coordinate of every random stream."""
    return int((hour - _EPOCH) // HOUR)


def _normalise_hour(hour: datetime) -> datetime:
    if hour.tzinfo is None or hour.utcoffset() is None:
        raise ValueError(f"hour must be timezone-aware, got {hour!r}")
    hour = hour.astimezone(UTC)
    if (hour.minute, hour.second, hour.microsecond) != (0, 0, 0):
        raise ValueError(f"hour must be the start of an hour, got {hour.isoformat()}")
    return hour


@dataclass(frozen=True, slots=True)
class InjectedAnomaly:
    """A scheduled fault on one campaign over ``[start_hour, end_hour)``.

    ``magnitude`` multiplies spend (``spend_spike``), conversion rate
    (``conversion_drop``) or cost per click (``cpc_jump``); it is unused for
    ``tracking_outage``.
    """

    campaign_id: uuid.UUID
    kind: AnomalyKind
    start_hour: datetime
    end_hour: datetime
    magnitude: float

    def __post_init__(self) -> None:
        if self.kind not in ANOMALY_KINDS:
            raise ValueError(f"unknown anomaly kind {self.kind!r}")
        start = _normalise_hour(self.start_hour)
        end = _normalise_hour(self.end_hour)
        if end <= start:
            raise ValueError("an anomaly must end after it starts")
        if self.kind != "tracking_outage" and self.magnitude <= 0:
            raise ValueError(f"{self.kind} needs a positive magnitude")
        object.__setattr__(self, "start_hour", start)
        object.__setattr__(self, "end_hour", end)

    def covers(self, hour: datetime) -> bool:
        return self.start_hour <= hour < self.end_hour

    @property
    def hours(self) -> int:
        return int((self.end_hour - self.start_hour) // HOUR)


@dataclass(frozen=True, slots=True)
class AdCopy:
    """A named ad copy of a campaign and its true conversion rate per click."""

    name: str
    conversion_rate: float

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 100:
            raise ValueError("an ad copy needs a name of 1 to 100 characters")
        if not 0.0 <= self.conversion_rate <= 1.0:
            raise ValueError(f"{self.name}: conversion_rate must lie in [0, 1]")


@dataclass(slots=True)
class CopyTest:
    """An experiment splitting one campaign's clicks across ``copies`` by ``split`` over
    ``[start_hour, end_hour)``; ``copies[0]`` is the copy the campaign ran before. A
    ``creative`` change ends it (``end_hour``) and the campaign runs the chosen copy."""

    experiment_id: uuid.UUID
    campaign_id: uuid.UUID
    copies: tuple[AdCopy, ...]
    split: tuple[float, ...]
    start_hour: datetime
    end_hour: datetime | None = None

    def __post_init__(self) -> None:
        if len(self.copies) < 2:
            raise ValueError("an experiment needs at least two ad copies")
        names = [c.name for c in self.copies]
        if len(set(names)) != len(names):
            raise ValueError("ad copy names must be unique within an experiment")
        if len(self.split) != len(self.copies):
            raise ValueError("split needs one share per ad copy")
        if any(not math.isfinite(x) or x <= 0 for x in self.split):
            raise ValueError("every share of the split must be positive")
        total = sum(self.split)
        self.split = tuple(x / total for x in self.split)
        self.start_hour = _normalise_hour(self.start_hour)

    def covers(self, hour: datetime) -> bool:
        return self.start_hour <= hour and (self.end_hour is None or hour < self.end_hour)


# One copy's users (clicks) and conversions in one hour.
ArmCount = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class _CampaignModel:
    """The fixed traits of one simulated campaign."""

    index: int
    campaign_id: uuid.UUID
    name: str
    daily_budget: float
    hourly_share: tuple[float, ...]
    ctr_by_hour: tuple[float, ...]
    cvr_by_hour: tuple[float, ...]
    order_value: float
    impression_price: float
    daily_inventory: float
    audiences: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TrueCurve:
    """Expected daily ``top * (1 - exp(-spend / scale))`` conversions and revenue of one
    campaign; spend stops at ``max_spend`` and is ``delivery`` times the budget on
    average."""

    top_conversions: float
    top_revenue: float
    scale: float
    max_spend: float
    delivery: float


def _daily_cycle(rng: np.random.Generator) -> np.ndarray:
    """Share of a day's traffic in each UTC hour: quiet nights, an afternoon peak."""
    hours = np.arange(24)
    peak = rng.uniform(12.0, 18.0)
    width = rng.uniform(2.5, 4.5)
    night_floor = rng.uniform(0.2, 0.4)
    evening = rng.uniform(0.0, 0.3)

    def bump(centre: float, spread: float) -> np.ndarray:
        # circular distance so the curve wraps smoothly across midnight
        distance = np.abs((hours - centre + 12) % 24 - 12)
        return np.exp(-0.5 * (distance / spread) ** 2)

    weights = night_floor + bump(peak, width) + evening * bump(peak + 5.0, 2.0)
    return weights / weights.sum()


def _build_campaign(seed: int, index: int) -> _CampaignModel:
    rng = np.random.default_rng([seed, _PROFILE_STREAM, index])
    budget = round(float(math.exp(rng.uniform(math.log(3000), math.log(12000)))), -1)
    share = _daily_cycle(rng)
    peak_hour = int(np.argmax(share))
    hours = np.arange(24)
    # people click a bit more at their own peak and buy a bit more in the evening
    ctr_shape = 1 + 0.08 * np.cos(2 * np.pi * (hours - peak_hour) / 24)
    cvr_shape = 1 + 0.12 * np.cos(2 * np.pi * (hours - 20) / 24)
    base_ctr = rng.uniform(0.015, 0.04)
    base_cvr = rng.uniform(0.035, 0.08)
    order_value = rng.uniform(40.0, 160.0)
    target_cpc = rng.uniform(0.4, 1.2)
    # How far up the saturation curve the default budget sits: 0.6 already
    # shows diminishing returns, 1.0 leaves room to grow before the cap.
    saturation = rng.uniform(0.6, 1.0)
    filled = 1 - math.exp(-saturation)
    # Choose the entry price so the default budget lands on the target CPC.
    price = target_cpc * base_ctr * filled / saturation
    inventory = budget / (price * saturation)
    return _CampaignModel(
        index=index,
        campaign_id=campaign_id_for(seed, index),
        name=f"Simulated campaign {index + 1:02d}",
        daily_budget=budget,
        hourly_share=tuple(float(x) for x in share),
        ctr_by_hour=tuple(float(x * base_ctr) for x in ctr_shape),
        cvr_by_hour=tuple(float(x * base_cvr) for x in cvr_shape),
        order_value=float(order_value),
        impression_price=float(price),
        daily_inventory=float(inventory),
        audiences=audiences_for(seed, index),
    )


def audiences_for(seed: int, index: int) -> tuple[str, ...]:
    """The named audiences the ``index``-th campaign of ``seed`` targets (two to four)."""
    rng = np.random.default_rng([seed, _AUDIENCE_STREAM, index])
    count = int(rng.integers(2, 5))
    picked = rng.choice(len(AUDIENCE_NAMES), size=count, replace=False)
    return tuple(AUDIENCE_NAMES[int(i)] for i in sorted(picked))


def campaign_id_for(seed: int, index: int) -> uuid.UUID:
    """The stable id of the ``index``-th campaign of a simulator seeded with ``seed``."""
    return uuid.uuid5(_ID_NAMESPACE, f"{seed}:{index}")


class CampaignSimulator:
    """Seeded simulator of ``campaigns`` campaigns, starting at hour ``start``.

    It keeps no clock: :meth:`apply_change_at` says from which hour a change holds, and
    whoever serves the numbers (the sandbox platform) chooses an hour not yet reported,
    so reported hours never change. An hour's numbers depend only on the seed, the
    campaign, the hour and the settings and anomalies covering it.
    """

    def __init__(
        self,
        campaigns: int,
        seed: int,
        start: datetime,
        anomalies: Iterable[InjectedAnomaly] = (),
    ) -> None:
        if campaigns < 1:
            raise ValueError("the simulator needs at least one campaign")
        if seed < 0:
            raise ValueError("seed must be non-negative")
        self.seed = seed
        self.start = _normalise_hour(start)
        self._models = [_build_campaign(seed, i) for i in range(campaigns)]
        self._by_id = {model.campaign_id: model for model in self._models}
        # Per campaign: the initial settings and every change as (effective hour, change),
        # kept in application order so states can be rebuilt for any hour.
        self._initial: dict[uuid.UUID, CampaignState] = {
            model.campaign_id: CampaignState(
                campaign_id=model.campaign_id,
                name=model.name,
                status="active",
                daily_budget=model.daily_budget,
                bid_multiplier=1.0,
                audience_factor=1.0,
                audiences=model.audiences,
            )
            for model in self._models
        }
        self._changes: dict[uuid.UUID, list[tuple[datetime, Change]]] = {
            model.campaign_id: [] for model in self._models
        }
        self._anomalies: dict[uuid.UUID, list[InjectedAnomaly]] = {
            m.campaign_id: [] for m in self._models
        }
        self._ground_truth: list[InjectedAnomaly] = []
        # Ad copies by campaign, and the experiments splitting traffic across them.
        self._copies: dict[uuid.UUID, dict[str, float]] = {}
        self._tests: dict[uuid.UUID, list[CopyTest]] = {}
        for anomaly in anomalies:
            self.inject(anomaly)
        self._day_factors: dict[tuple[int, int], float] = {}
        # Campaigns that buy their traffic in search auctions against competitors.
        self._markets: dict[uuid.UUID, Market] = {}
        self._tallies: dict[tuple[object, ...], HourTally] = {}

    # ----------------------------------------------------------------- setup

    @property
    def campaign_ids(self) -> tuple[uuid.UUID, ...]:
        return tuple(model.campaign_id for model in self._models)

    @property
    def ground_truth(self) -> list[InjectedAnomaly]:
        """Every injected anomaly, ordered by start hour."""
        return sorted(self._ground_truth, key=lambda a: (a.start_hour, str(a.campaign_id)))

    def inject(self, anomaly: InjectedAnomaly) -> None:
        """Schedule ``anomaly``; it changes every hour it covers, past or future."""
        self._model(anomaly.campaign_id)
        self._anomalies[anomaly.campaign_id].append(anomaly)
        self._ground_truth.append(anomaly)

    def daily_profile(self, campaign_id: uuid.UUID) -> tuple[float, ...]:
        """The campaign's planned share of daily spend in each UTC hour (sums to 1)."""
        return self._model(campaign_id).hourly_share

    def true_curve(self, campaign_id: uuid.UUID) -> TrueCurve:
        """The campaign's expected daily response to its daily spend at default bids and
        audience, with no anomalies and no day-to-day drift: the ground truth a fitted
        response curve estimates."""
        model = self._model(campaign_id)
        per_impression = sum(
            share * ctr * cvr
            for share, ctr, cvr in zip(
                model.hourly_share, model.ctr_by_hour, model.cvr_by_hour, strict=True
            )
        )
        scale = model.impression_price * model.daily_inventory
        return TrueCurve(
            top_conversions=model.daily_inventory * per_impression,
            top_revenue=model.daily_inventory * per_impression * model.order_value,
            scale=scale,
            max_spend=_SATURATION_CAP * scale,
            delivery=_MEAN_DELIVERY,
        )

    def _model(self, campaign_id: uuid.UUID) -> _CampaignModel:
        try:
            return self._by_id[campaign_id]
        except KeyError:
            raise UnknownCampaign(campaign_id) from None

    # ------------------------------------------------------------- ad copies

    def start_copy_test(self, test: CopyTest) -> None:
        """Split the campaign's clicks across the test's copies from its start hour on.

        Raises ValueError when another test still runs on the campaign, or when a copy's
        name is already the campaign's with another conversion rate.
        """
        self._model(test.campaign_id)
        for other in self._tests.get(test.campaign_id, []):
            if other.end_hour is None or other.end_hour > test.start_hour:
                raise ValueError(f"experiment {other.experiment_id} is running on the campaign")
        known = self._copies.setdefault(test.campaign_id, {})
        for copy in test.copies:
            rate = known.get(copy.name)
            if rate is not None and rate != copy.conversion_rate:
                raise ValueError(f"the campaign's copy {copy.name!r} has another conversion rate")
        for copy in test.copies:
            known[copy.name] = copy.conversion_rate
        self._tests.setdefault(test.campaign_id, []).append(test)

    def has_copy(self, campaign_id: uuid.UUID, name: str) -> bool:
        return name in self._copies.get(campaign_id, {})

    def _running_test(self, campaign_id: uuid.UUID, hour: datetime) -> CopyTest | None:
        for test in self._tests.get(campaign_id, ()):
            if test.covers(hour):
                return test
        return None

    # ---------------------------------------------------------------- states

    def state_at(self, campaign_id: uuid.UUID, hour: datetime) -> CampaignState:
        """Settings in force during ``hour``."""
        self._model(campaign_id)
        hour = _normalise_hour(hour)
        state = self._initial[campaign_id]
        for effective_from, change in self._changes[campaign_id]:
            if effective_from <= hour:
                state = state.with_change(change)
        if state.creative is None:
            # A campaign that entered an experiment runs its first copy until told otherwise.
            started = [t for t in self._tests.get(campaign_id, ()) if t.start_hour <= hour]
            if started:
                state = replace(state, creative=started[0].copies[0].name)
        return state

    def apply_change_at(
        self, campaign_id: uuid.UUID, change: Change, effective_from: datetime
    ) -> CampaignState:
        """Apply ``change`` to every hour from ``effective_from`` on and return that state.

        Changes are replayed in the order they were applied, so a later call
        wins over an earlier one for the hours both cover.
        """
        self._model(campaign_id)
        effective_from = _normalise_hour(effective_from)
        if change.kind == "creative":
            if not self.has_copy(campaign_id, str(change.value)):
                raise ValueError(f"the campaign has no ad copy {change.value!r}")
            # Choosing a copy ends the split: from now on every click sees that copy.
            for test in self._tests.get(campaign_id, ()):
                if test.covers(effective_from) or test.start_hour >= effective_from:
                    test.end_hour = max(test.start_hour, effective_from)
        self._changes[campaign_id].append((effective_from, change))
        return self.state_at(campaign_id, effective_from)

    def vary_budgets(self, until: datetime, variation: float) -> None:
        """Run each UTC day before ``until`` at a seeded multiple of each campaign's
        default budget, drawn uniformly from ``[1 - variation, 1 + variation]``, and the
        default budget again from ``until`` on.

        A history with spend at several levels, as budget tests leave on a real account,
        is what lets a response curve be fitted; a budget that never moved pins only
        one point of it. Call it before any change is applied.
        """
        until = _normalise_hour(until)
        if not 0.0 <= variation < 1.0:
            raise ValueError("variation must be in [0, 1)")
        if variation == 0.0 or until <= self.start:
            return
        first_day = hour_index(self.start) // 24
        last_day = (hour_index(until) - 1) // 24
        for model in self._models:
            for day in range(first_day, last_day + 1):
                rng = np.random.default_rng([self.seed, _BUDGET_STREAM, model.index, day])
                factor = float(rng.uniform(1.0 - variation, 1.0 + variation))
                effective = max(self.start, _EPOCH + day * 24 * HOUR)
                budget = round(model.daily_budget * factor, 2)
                self._changes[model.campaign_id].append((effective, Change("budget", budget)))
            self._changes[model.campaign_id].append((until, Change("budget", model.daily_budget)))

    # --------------------------------------------------------------- auctions

    def open_market(self, campaign_id: uuid.UUID, competitors: int | None = None) -> Market:
        """Let the campaign buy its traffic in search auctions against seeded competitors
        from now on (every hour, past or future); its CPC, impressions and lost impression
        share then come out of the auctions."""
        model = self._model(campaign_id)
        if campaign_id in self._markets:
            raise ValueError(f"campaign {campaign_id} already has a market")
        mean_ctr = sum(s * c for s, c in zip(model.hourly_share, model.ctr_by_hour, strict=True))
        reach = model.daily_inventory * -math.expm1(
            -model.daily_budget / (model.impression_price * model.daily_inventory)
        )
        cpc = model.daily_budget * _MEAN_DELIVERY / max(reach * mean_ctr, 1.0)
        market = build_market(
            campaign_id,
            model.index,
            self.seed,
            self.start,
            daily_budget=model.daily_budget,
            cpc=cpc,
            ctr=mean_ctr * _FIRST_POSITION_CTR,
            competitors=competitors,
        )
        self._markets[campaign_id] = market
        return market

    def market(self, campaign_id: uuid.UUID) -> Market | None:
        self._model(campaign_id)
        return self._markets.get(campaign_id)

    def add_competitor_move(self, move: CompetitorMove) -> None:
        market = self.market(move.campaign_id)
        if market is None:
            raise ValueError(f"campaign {move.campaign_id} buys no traffic in auctions")
        market.add_move(move)

    @property
    def competitor_moves(self) -> list[CompetitorMove]:
        """Every competitor move in every market, ordered by start: the ground truth."""
        moves = [m for market in self._markets.values() for m in market.moves]
        return sorted(moves, key=lambda m: (m.start_hour, str(m.campaign_id), m.domain))

    def auction_log(self, campaign_id: uuid.UUID, hour: datetime) -> AuctionLog | None:
        """Every auction of the campaign in ``hour`` (None: it buys no traffic in
        auctions, or was paused)."""
        model = self._model(campaign_id)
        hour = _normalise_hour(hour)
        market = self._markets.get(campaign_id)
        state = self.state_at(campaign_id, hour)
        if market is None or state.status == "paused":
            return None
        return self._auctions(market, model, state, hour, self._active_anomalies(model, hour))

    def auction_insights(self, campaign_id: uuid.UUID, day: date) -> list[InsightFigures]:
        """The campaign's Auction Insights for one UTC day (none for a campaign outside
        auctions, or one that took part in none that day)."""
        market = self.market(campaign_id)
        if market is None:
            return []
        first = datetime(day.year, day.month, day.day, tzinfo=UTC)
        model = self._model(campaign_id)
        tallies = []
        for h in range(24):
            hour = first + h * HOUR
            state = self.state_at(campaign_id, hour)
            if state.status != "paused":
                anomalies = self._active_anomalies(model, hour)
                tallies.append(self._tally(market, model, state, hour, anomalies))
        if not tallies:
            return []
        total = tallies[0]
        for tally in tallies[1:]:
            total = total + tally
        return insights(campaign_id, day, market.domains, total) if total.eligible else []

    def _tally(
        self,
        market: Market,
        model: _CampaignModel,
        state: CampaignState,
        hour: datetime,
        anomalies: dict[str, float],
    ) -> HourTally:
        """The hour's auctions summed up, kept: an hour's metrics and its Auction Insights
        read the same auctions."""
        key = (model.index, hour, state, tuple(sorted(anomalies.items())), len(market.moves))
        tally = self._tallies.get(key)
        if tally is None:
            if len(self._tallies) >= _TALLY_CACHE:
                self._tallies.clear()
            tally = HourTally.of(self._auctions(market, model, state, hour, anomalies))
            self._tallies[key] = tally
        return tally

    def _auctions(
        self,
        market: Market,
        model: _CampaignModel,
        state: CampaignState,
        hour: datetime,
        anomalies: dict[str, float],
    ) -> AuctionLog:
        index = hour_index(hour)
        rng = np.random.default_rng([self.seed, _HOUR_STREAM, model.index, index])
        hour_noise = rng.lognormal(0.0, 0.04)
        delivery = 1.0 - 0.12 * rng.beta(2.0, 5.0)
        ctr_noise = rng.lognormal(0.0, 0.05)
        share = model.hourly_share[hour.hour]
        queries = (
            market.queries_per_day
            * share
            * state.audience_factor
            * self._day_factor(model, index // 24)
            * hour_noise
        )
        ctr = (
            model.ctr_by_hour[hour.hour]
            * state.audience_factor**_AUDIENCE_CTR_ELASTICITY
            * ctr_noise
            * _FIRST_POSITION_CTR
        )
        return market.run(
            hour,
            queries=queries,
            bid_multiplier=state.bid_multiplier,
            ctr=ctr,
            budget=state.daily_budget * share * delivery * anomalies.get("spend_spike", 1.0),
            price_factor=anomalies.get("cpc_jump", 1.0),
        )

    # ------------------------------------------------------------ simulation

    def simulate_hour(self, hour: datetime) -> list[HourlyMetrics]:
        """Every campaign's metrics for the hour starting at ``hour``."""
        hour = _normalise_hour(hour)
        return [self._simulate(model, hour) for model in self._models]

    def simulate_range(self, start: datetime, hours: int) -> list[list[HourlyMetrics]]:
        """:meth:`simulate_hour` for ``hours`` consecutive hours from ``start``."""
        start = _normalise_hour(start)
        return [self.simulate_hour(start + i * HOUR) for i in range(hours)]

    def _day_factor(self, model: _CampaignModel, day: int) -> float:
        # Demand drifts from day to day (weather, news, competitors).
        key = (model.index, day)
        factor = self._day_factors.get(key)
        if factor is None:
            rng = np.random.default_rng([self.seed, _DAY_STREAM, model.index, day])
            factor = float(rng.lognormal(0.0, 0.06))
            self._day_factors[key] = factor
        return factor

    def _active_anomalies(self, model: _CampaignModel, hour: datetime) -> dict[str, float]:
        return {a.kind: a.magnitude for a in self._anomalies[model.campaign_id] if a.covers(hour)}

    def copy_counts(self, campaign_id: uuid.UUID, hour: datetime) -> tuple[ArmCount, ...] | None:
        """Users and conversions of each copy of the test running on the campaign in
        ``hour`` (None when none runs)."""
        hour = _normalise_hour(hour)
        return self._simulate_detail(self._model(campaign_id), hour)[1]

    def _simulate(self, model: _CampaignModel, hour: datetime) -> HourlyMetrics:
        return self._simulate_detail(model, hour)[0]

    def _copy_conversions(
        self,
        model: _CampaignModel,
        index: int,
        clicks: int,
        state: CampaignState,
        test: CopyTest | None,
        drop: float,
    ) -> tuple[int, tuple[ArmCount, ...] | None]:
        """Conversions at the true rate of the copy each click saw."""
        rng = np.random.default_rng([self.seed, _COPY_STREAM, model.index, index])
        if test is None:
            rate = self._copies[model.campaign_id][str(state.creative)]
            return int(rng.binomial(clicks, min(rate * drop, 1.0))), None
        users = rng.multinomial(clicks, np.asarray(test.split))
        arms = tuple(
            (copy.name, int(n), int(rng.binomial(int(n), min(copy.conversion_rate * drop, 1.0))))
            for copy, n in zip(test.copies, users, strict=True)
        )
        return sum(a[2] for a in arms), arms

    def _simulate_detail(
        self, model: _CampaignModel, hour: datetime
    ) -> tuple[HourlyMetrics, tuple[ArmCount, ...] | None]:
        state = self.state_at(model.campaign_id, hour)
        index = hour_index(hour)
        test = self._running_test(model.campaign_id, hour)
        if state.status == "paused":
            idle = HourlyMetrics(model.campaign_id, hour, 0, 0, 0, 0.0, 0.0, state.daily_budget)
            return idle, (tuple((c.name, 0, 0) for c in test.copies) if test else None)

        rng = np.random.default_rng([self.seed, _HOUR_STREAM, model.index, index])
        # Scalars come first in a fixed order and every sampled count gets its own
        # child stream, so an injected anomaly changes only what it targets and
        # the rest of the hour's noise stays exactly as it would have been.
        hour_noise = rng.lognormal(0.0, 0.04)
        delivery = 1.0 - 0.12 * rng.beta(2.0, 5.0)
        ctr_noise = rng.lognormal(0.0, 0.05)
        cvr_noise = rng.lognormal(0.0, 0.10)
        impression_stream, click_stream, conversion_stream, revenue_stream = rng.spawn(4)

        anomalies = self._active_anomalies(model, hour)
        share = model.hourly_share[hour.hour]
        bid = state.bid_multiplier
        audience = state.audience_factor
        inventory = (
            model.daily_inventory
            * share
            * audience
            * bid**_BID_REACH_ELASTICITY
            * self._day_factor(model, index // 24)
            * hour_noise
        )
        price = model.impression_price * bid**_BID_PRICE_ELASTICITY
        planned = state.daily_budget * share
        # Delivery never exceeds the plan, so normal days never overspend.
        spend = min(planned, _SATURATION_CAP * price * inventory) * delivery
        if "spend_spike" in anomalies:
            spend *= anomalies["spend_spike"]

        ctr = min(
            model.ctr_by_hour[hour.hour] * audience**_AUDIENCE_CTR_ELASTICITY * ctr_noise, 1.0
        )
        market = self._markets.get(model.campaign_id)
        if market is not None:
            tally = self._tally(market, model, state, hour, anomalies)
            impressions, clicks, spend = tally.impressions, tally.clicks, tally.spend
        else:
            # Saturating response: the first dollars buy cheap impressions, later
            # ones compete for what is left of the hour's inventory.
            expected_impressions = (
                inventory * -math.expm1(-spend / (price * inventory)) if spend else 0.0
            )
            if "cpc_jump" in anomalies:
                expected_impressions /= anomalies["cpc_jump"]
            impressions = int(impression_stream.poisson(expected_impressions))
            clicks = int(click_stream.binomial(impressions, ctr))
        cvr = model.cvr_by_hour[hour.hour] * cvr_noise
        drop = anomalies.get("conversion_drop", 1.0)
        arms: tuple[ArmCount, ...] | None = None
        if test is not None or state.creative is not None:
            conversions, arms = self._copy_conversions(model, index, clicks, state, test, drop)
        else:
            conversions = int(conversion_stream.binomial(clicks, min(cvr * drop, 1.0)))
        revenue = (
            float(
                revenue_stream.gamma(
                    conversions * _ORDER_VALUE_SHAPE, model.order_value / _ORDER_VALUE_SHAPE
                )
            )
            if conversions
            else 0.0
        )
        if "tracking_outage" in anomalies:
            # Traffic is still bought and billed; only the reporting goes dark.
            clicks = conversions = 0
            revenue = 0.0
            if arms is not None:
                arms = tuple((name, 0, 0) for name, _, _ in arms)
        metrics = HourlyMetrics(
            campaign_id=model.campaign_id,
            hour=hour,
            impressions=impressions,
            clicks=clicks,
            conversions=conversions,
            spend=round(spend, 2),
            revenue=round(revenue, 2),
            budget=state.daily_budget,
        )
        return metrics, arms


def random_schedule(
    campaign_ids: Sequence[uuid.UUID],
    start: datetime,
    hours: int,
    seed: int,
    count: int,
    *,
    warmup_hours: int = DEFAULT_WARMUP_HOURS,
    min_duration: int = 3,
    max_duration: int = 8,
    min_gap_hours: int = 24,
    kinds: Sequence[str] = ANOMALY_KINDS,
) -> list[InjectedAnomaly]:
    """``count`` seeded anomalies spread over ``hours`` hours from ``start``.

    None starts before ``warmup_hours`` (the detector needs that history), each
    lasts ``min_duration``..``max_duration`` hours and anomalies on the same
    campaign are at least ``min_gap_hours`` apart so every one can be told
    apart when scoring. Kinds are dealt round-robin in a shuffled order so
    every kind is represented. Raises ValueError when they cannot all fit.
    """
    start = _normalise_hour(start)
    if not campaign_ids or count < 0 or not kinds:
        raise ValueError("need campaigns, kinds and a non-negative count")
    if not 1 <= min_duration <= max_duration:
        raise ValueError("durations must satisfy 1 <= min_duration <= max_duration")
    latest_start = hours - max_duration
    if count and latest_start < warmup_hours:
        raise ValueError(f"{hours} hours leave no room after a {warmup_hours}-hour warm-up")
    rng = np.random.default_rng([seed, _SCHEDULE_STREAM])
    dealt = [kinds[int(i)] for i in rng.permutation(len(kinds))]
    taken: dict[uuid.UUID, list[tuple[int, int]]] = {cid: [] for cid in campaign_ids}
    schedule: list[InjectedAnomaly] = []
    attempts = 0
    while len(schedule) < count:
        attempts += 1
        if attempts > 1000 * max(count, 1):
            raise ValueError(f"could not place {count} non-overlapping anomalies")
        campaign_id = campaign_ids[int(rng.integers(len(campaign_ids)))]
        duration = int(rng.integers(min_duration, max_duration + 1))
        first = int(rng.integers(warmup_hours, latest_start + 1))
        last = first + duration
        if any(
            first < end + min_gap_hours and begin < last + min_gap_hours
            for begin, end in taken[campaign_id]
        ):
            continue
        kind = dealt[len(schedule) % len(dealt)]
        taken[campaign_id].append((first, last))
        schedule.append(
            InjectedAnomaly(
                campaign_id=campaign_id,
                kind=kind,  # type: ignore[arg-type]
                start_hour=start + first * HOUR,
                end_hour=start + last * HOUR,
                magnitude=_draw_magnitude(rng, kind),
            )
        )
    return sorted(schedule, key=lambda a: (a.start_hour, str(a.campaign_id)))


def _draw_magnitude(rng: np.random.Generator, kind: str) -> float:
    # Strengths vary around the defaults so a detector cannot key on one exact value.
    if kind == "spend_spike":
        return round(float(rng.uniform(2.5, 4.0)), 2)
    if kind == "conversion_drop":
        return round(float(rng.uniform(0.1, 0.35)), 2)
    if kind == "cpc_jump":
        return round(float(rng.uniform(2.0, 3.0)), 2)
    return DEFAULT_MAGNITUDES[kind]
