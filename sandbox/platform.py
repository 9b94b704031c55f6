"""The sandbox ad platform's state: accounts, their clocks, changes and reports.

Pure and synchronous; :mod:`sandbox.server` puts HTTP in front of it and pushes the
finished hours to the gateway. Each account (named by the tenant's id) wraps a seeded
:class:`~sandbox.simulator.CampaignSimulator`. Its clock is the next hour not yet
finished: hours before it are reported and never change; a change takes effect from it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox.auctions import InsightFigures
from sandbox.simulator import HOUR, AdCopy, CampaignSimulator, CopyTest, InjectedAnomaly
from shared.connectors.base import CampaignState, Change, InvalidChange, UnknownCampaign
from shared.metrics import HourlyMetrics

# Like real platforms, a daily budget below this is refused.
MINIMUM_DAILY_BUDGET = 1.00
# The longest report one request may ask for.
MAX_REPORT_HOURS = 24 * 93
MAX_REPORT_DAYS = MAX_REPORT_HOURS // 24


class PlatformError(Exception):
    """A request the platform will not serve: ``code`` for machines, ``status`` for HTTP."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def metrics_json(row: HourlyMetrics) -> dict[str, Any]:
    return {
        "campaign_id": str(row.campaign_id),
        "hour": row.hour.isoformat(),
        "impressions": row.impressions,
        "clicks": row.clicks,
        "conversions": row.conversions,
        "spend": row.spend,
        "revenue": row.revenue,
        "budget": row.budget,
    }


@dataclass
class ChangeEntry:
    """One change the platform applied, and how many times it was sent again."""

    change_id: uuid.UUID
    campaign_id: uuid.UUID
    kind: str
    value: float | str
    before: CampaignState
    after: CampaignState
    effective_from: datetime
    received_at: datetime
    replays: int = 0

    def same_request(self, campaign_id: uuid.UUID, change: Change) -> bool:
        return (self.campaign_id, self.kind, self.value) == (
            campaign_id,
            change.kind,
            change.value,
        )

    def answer(self, *, replayed: bool) -> dict[str, Any]:
        """The platform's answer to the change, the same on every replay."""
        return {
            "change_id": str(self.change_id),
            "campaign": self.after.as_json(),
            "effective_from": self.effective_from.isoformat(),
            "replayed": replayed,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "change_id": str(self.change_id),
            "campaign_id": str(self.campaign_id),
            "kind": self.kind,
            "value": self.value,
            "before": self.before.as_json(),
            "after": self.after.as_json(),
            "effective_from": self.effective_from.isoformat(),
            "received_at": self.received_at.isoformat(),
            "replays": self.replays,
        }


@dataclass
class SandboxExperiment:
    """An experiment on the platform, with its per-copy totals counted up to
    ``counted_to`` (finished hours never change, so they are counted once)."""

    test: CopyTest
    counted_to: datetime
    users: list[int]
    conversions: list[int]

    def same_request(
        self, campaign_id: uuid.UUID, copies: Sequence[AdCopy], split: Sequence[float]
    ) -> bool:
        total = sum(split)
        return (
            self.test.campaign_id == campaign_id
            and self.test.copies == tuple(copies)
            and all(abs(a - b / total) < 1e-12 for a, b in zip(self.test.split, split, strict=True))
            and len(split) == len(self.test.split)
        )

    def count(self, simulator: CampaignSimulator, clock: datetime) -> None:
        end = clock if self.test.end_hour is None else min(clock, self.test.end_hour)
        hour = max(self.counted_to, self.test.start_hour)
        while hour < end:
            arms = simulator.copy_counts(self.test.campaign_id, hour) or ()
            for i, (_, users, conversions) in enumerate(arms):
                self.users[i] += users
                self.conversions[i] += conversions
            hour += HOUR
        self.counted_to = max(self.counted_to, end)

    def to_json(self, clock: datetime) -> dict[str, Any]:
        test = self.test
        ended = test.end_hour is not None and test.end_hour <= clock
        return {
            "experiment_id": str(test.experiment_id),
            "campaign_id": str(test.campaign_id),
            "status": "ended" if ended else "running",
            "started_at": test.start_hour.isoformat(),
            "ended_at": test.end_hour.isoformat() if ended and test.end_hour else None,
            "as_of": clock.isoformat(),
            "split": list(test.split),
            "variants": [
                {
                    "name": copy.name,
                    "conversion_rate": copy.conversion_rate,
                    "users": self.users[i],
                    "conversions": self.conversions[i],
                }
                for i, copy in enumerate(test.copies)
            ],
        }


@dataclass
class Account:
    """One tenant's ad account.

    ``clock`` is the next hour not yet finished; ``delivered`` the next finished hour the
    gateway has not yet accepted (``delivered <= clock``).
    """

    account_id: uuid.UUID
    simulator: CampaignSimulator
    api_key: str | None
    clock: datetime
    delivered: datetime
    changes: dict[uuid.UUID, ChangeEntry] = field(default_factory=dict)
    experiments: dict[uuid.UUID, SandboxExperiment] = field(default_factory=dict)

    @property
    def start(self) -> datetime:
        return self.simulator.start

    def campaigns(self) -> list[CampaignState]:
        return [self.simulator.state_at(cid, self.clock) for cid in self.simulator.campaign_ids]

    def campaign(self, campaign_id: uuid.UUID) -> CampaignState:
        try:
            return self.simulator.state_at(campaign_id, self.clock)
        except UnknownCampaign:
            raise PlatformError(
                404, "unknown_campaign", f"account {self.account_id} has no campaign {campaign_id}"
            ) from None

    def undelivered(self) -> list[datetime]:
        """Finished hours the gateway has not accepted yet, oldest first."""
        count = int((self.clock - self.delivered) // HOUR)
        return [self.delivered + i * HOUR for i in range(count)]


class SandboxPlatform:
    """Every account on the sandbox platform."""

    def __init__(self) -> None:
        self.accounts: dict[uuid.UUID, Account] = {}

    def create_account(
        self,
        account_id: uuid.UUID,
        campaigns: int,
        seed: int,
        start: datetime,
        *,
        api_key: str | None = None,
        anomalies: Iterable[InjectedAnomaly] = (),
    ) -> Account:
        """A new account whose clock stands at ``start``; 409 if the id is taken."""
        if account_id in self.accounts:
            raise PlatformError(409, "account_exists", f"account {account_id} already exists")
        try:
            simulator = CampaignSimulator(campaigns, seed, start, anomalies)
        except ValueError as exc:
            raise PlatformError(422, "invalid_account", str(exc)) from None
        account = Account(account_id, simulator, api_key, simulator.start, simulator.start)
        self.accounts[account_id] = account
        return account

    def account(self, account_id: uuid.UUID) -> Account:
        try:
            return self.accounts[account_id]
        except KeyError:
            raise PlatformError(
                404, "unknown_account", f"no ad account {account_id} on this platform"
            ) from None

    def apply(
        self,
        account_id: uuid.UUID,
        campaign_id: uuid.UUID,
        change_id: uuid.UUID,
        kind: object,
        value: object,
        *,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Apply a change from the account's clock hour on, once per ``change_id``.

        The same change id with the same campaign, kind and value answers the first answer
        again with ``replayed`` set; with anything else it is refused (409)."""
        account = self.account(account_id)
        before = account.campaign(campaign_id)
        try:
            change = Change(kind, value)  # type: ignore[arg-type]
        except InvalidChange as exc:
            raise PlatformError(422, "invalid_change", str(exc)) from None
        earlier = account.changes.get(change_id)
        if earlier is not None:
            if not earlier.same_request(campaign_id, change):
                raise PlatformError(
                    409,
                    "change_id_reused",
                    f"change id {change_id} was already used for another change",
                )
            earlier.replays += 1
            return earlier.answer(replayed=True)
        if change.kind == "budget" and float(change.value) < MINIMUM_DAILY_BUDGET:
            raise PlatformError(
                422,
                "budget_below_minimum",
                f"a daily budget must be at least {MINIMUM_DAILY_BUDGET:.2f}, got {change.value}",
            )
        if change.kind == "creative" and not account.simulator.has_copy(
            campaign_id, str(change.value)
        ):
            raise PlatformError(
                422,
                "unknown_creative",
                f"campaign {campaign_id} has no ad copy named {change.value!r}",
            )
        after = account.simulator.apply_change_at(campaign_id, change, account.clock)
        entry = ChangeEntry(
            change_id=change_id,
            campaign_id=campaign_id,
            kind=change.kind,
            value=change.value,
            before=before,
            after=after,
            effective_from=account.clock,
            received_at=now or datetime.now(UTC),
        )
        account.changes[change_id] = entry
        return entry.answer(replayed=False)

    def start_experiment(
        self,
        account_id: uuid.UUID,
        campaign_id: uuid.UUID,
        experiment_id: uuid.UUID,
        copies: Sequence[AdCopy],
        split: Sequence[float] | None,
    ) -> dict[str, Any]:
        """Split the campaign's clicks across ``copies`` from the account's clock hour on,
        once per ``experiment_id`` (the same request again answers the experiment as it
        stands; another request with that id is refused, 409)."""
        account = self.account(account_id)
        account.campaign(campaign_id)
        shares = list(split) if split is not None else [1.0] * len(copies)
        earlier = account.experiments.get(experiment_id)
        if earlier is not None:
            if not earlier.same_request(campaign_id, copies, shares):
                raise PlatformError(
                    409,
                    "experiment_id_reused",
                    f"experiment id {experiment_id} was already used for another experiment",
                )
            return self.experiment(account_id, campaign_id, experiment_id)
        try:
            test = CopyTest(experiment_id, campaign_id, tuple(copies), tuple(shares), account.clock)
        except ValueError as exc:
            raise PlatformError(422, "invalid_experiment", str(exc)) from None
        try:
            account.simulator.start_copy_test(test)
        except ValueError as exc:
            raise PlatformError(409, "experiment_running", str(exc)) from None
        zeros = [0] * len(test.copies)
        account.experiments[experiment_id] = SandboxExperiment(
            test, account.clock, list(zeros), list(zeros)
        )
        return self.experiment(account_id, campaign_id, experiment_id)

    def experiment(
        self, account_id: uuid.UUID, campaign_id: uuid.UUID, experiment_id: uuid.UUID
    ) -> dict[str, Any]:
        """The experiment's users and conversions per copy over the finished hours."""
        account = self.account(account_id)
        found = account.experiments.get(experiment_id)
        if found is None or found.test.campaign_id != campaign_id:
            raise PlatformError(
                404,
                "unknown_experiment",
                f"campaign {campaign_id} has no experiment {experiment_id}",
            )
        found.count(account.simulator, account.clock)
        return found.to_json(account.clock)

    def finish_hours(self, account_id: uuid.UUID, hours: int) -> datetime:
        """Move the account's clock ``hours`` on; those hours are reported from now on."""
        if hours < 0:
            raise PlatformError(422, "invalid_request", "hours must not be negative")
        account = self.account(account_id)
        account.clock += hours * HOUR
        return account.clock

    def report(self, account_id: uuid.UUID, start: datetime, end: datetime) -> list[HourlyMetrics]:
        """Every campaign's metrics for each finished hour in ``[start, end)``."""
        account = self.account(account_id)
        if start.tzinfo is None or end.tzinfo is None:
            raise PlatformError(422, "invalid_request", "start and end need a time zone")
        first = max(_ceil_hour(start), account.start)
        stop = min(end, account.clock)
        hours: list[datetime] = []
        hour = first
        while hour < stop:
            hours.append(hour)
            hour += HOUR
        if len(hours) > MAX_REPORT_HOURS:
            raise PlatformError(
                422, "range_too_long", f"a report covers at most {MAX_REPORT_HOURS} hours"
            )
        return rows_for(account, hours)

    def auction_insights(
        self, account_id: uuid.UUID, start: date, end: date
    ) -> list[InsightFigures]:
        """Auction Insights of every campaign in auctions, for each finished UTC day in
        ``[start, end)``: a day is reported once the account's clock has passed it."""
        account = self.account(account_id)
        if end <= start:
            return []
        if (end - start).days > MAX_REPORT_DAYS:
            raise PlatformError(
                422, "range_too_long", f"a report covers at most {MAX_REPORT_DAYS} days"
            )
        simulator = account.simulator
        first = max(start, account.start.date())
        finished = account.clock.date()  # days before the clock's day are over
        rows: list[InsightFigures] = []
        day = first
        while day < min(end, finished):
            for campaign_id in simulator.campaign_ids:
                rows.extend(simulator.auction_insights(campaign_id, day))
            day += timedelta(days=1)
        return rows


def rows_for(account: Account, hours: Sequence[datetime]) -> list[HourlyMetrics]:
    """The account's metrics for ``hours``, hour by hour."""
    return [row for hour in hours for row in account.simulator.simulate_hour(hour)]


def _ceil_hour(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    floor = moment.replace(minute=0, second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(hours=1)
