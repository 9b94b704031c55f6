"""The contract every ad-platform connector fulfils.

Services talk to ad platforms only through this interface, so the sandbox ad platform
and a real platform client (Google Ads, Meta) are interchangeable. A connector serves
many ad accounts; an account is named by the tenant's id, and mapping that id to the
platform's own customer or account id is the connector's business.

Three rules every connector keeps:

- **A change carries our change id.** Sending the same change id twice applies the
  change once; the second answer is the first one again (``replayed`` set). A retry
  after a timeout is therefore always safe.
- **Say no precisely.** A change the platform looked at and will not make raises
  :class:`ChangeRefused` (retrying cannot help); a platform that could not be reached,
  timed out or failed raises :class:`PlatformUnavailable` (the change may or may not
  have been made; retry with the same change id to find out).
- **Answer with the platform's view.** After a change, the campaign as the platform now
  holds it, and the hour from which the change takes effect.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable
from uuid import UUID

from shared.metrics import HourlyMetrics

ChangeKind = Literal["budget", "bid", "status", "audience", "creative"]
CampaignStatus = Literal["active", "paused"]

CHANGE_KINDS: tuple[str, ...] = ("budget", "bid", "status", "audience", "creative")
CAMPAIGN_STATUSES: tuple[str, ...] = ("active", "paused")
# Settings that take one of a set of names rather than an amount.
NAMED_KINDS: tuple[str, ...] = ("status", "creative")
MAX_CREATIVE_NAME = 100

_log = logging.getLogger(__name__)


class InvalidChange(ValueError):
    """A change that no platform should accept (bad kind, value or type)."""


class UnknownCampaign(ValueError):
    """The connector has no campaign with the given id."""

    def __init__(self, campaign_id: UUID) -> None:
        super().__init__(f"unknown campaign {campaign_id}")
        self.campaign_id = campaign_id


class ConnectorError(Exception):
    """A call to an ad platform did not give an answer we can use."""


class ChangeRefused(ConnectorError):
    """The platform looked at the change and will not make it; retrying cannot help.

    ``code`` is a short machine-readable reason (``budget_below_minimum``,
    ``unknown_campaign``...), ``message`` the platform's words.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class PlatformUnavailable(ConnectorError):
    """The platform could not be reached, timed out or failed, after the connector's
    retries. A change sent may or may not have been made."""


class RateLimited(PlatformUnavailable):
    """The platform throttled us; ``retry_after`` is the delay (seconds) it asked for
    before the next call, ``usage`` what its usage headers said."""

    def __init__(self, message: str, retry_after: float, usage: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.usage = dict(usage or {})


class AuthFailed(ConnectorError):
    """The platform refused the credentials (expired or revoked token, missing
    permission): nothing works until a person links the account again."""


class UnknownAccount(ConnectorError):
    """The platform has no ad account for this tenant."""

    def __init__(self, account: UUID) -> None:
        super().__init__(f"no ad account for tenant {account}")
        self.account = account


def _positive_number(kind: str, value: object, *, allow_zero: bool) -> float:
    # bool is an int subclass; True as a budget is always a caller bug
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidChange(f"{kind} change needs a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidChange(f"{kind} change needs a finite number, got {value!r}")
    if number < 0 or (number == 0 and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise InvalidChange(f"{kind} change needs a {bound} number, got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class Change:
    """One requested adjustment to a campaign.

    ``value`` is the new daily budget (``budget``), the bid multiplier
    (``bid``), ``"active"``/``"paused"`` (``status``), the audience
    expansion factor (``audience``) or the name of the ad copy the campaign
    shows (``creative``; the platform knows which copies a campaign has).
    Validation happens on construction so an invalid change cannot travel
    through the system.
    """

    kind: ChangeKind
    value: float | str

    def __post_init__(self) -> None:
        if self.kind not in CHANGE_KINDS:
            raise InvalidChange(f"unknown change kind {self.kind!r}")
        if self.kind == "status":
            if self.value not in CAMPAIGN_STATUSES:
                raise InvalidChange(
                    f"status must be one of {CAMPAIGN_STATUSES}, got {self.value!r}"
                )
            return
        if self.kind == "creative":
            if not isinstance(self.value, str) or not 0 < len(self.value) <= MAX_CREATIVE_NAME:
                raise InvalidChange(
                    f"creative needs the name of an ad copy (1 to {MAX_CREATIVE_NAME} "
                    f"characters), got {self.value!r}"
                )
            return
        # a zero budget is a legitimate way to stop delivery; a zero multiplier is not
        number = _positive_number(self.kind, self.value, allow_zero=self.kind == "budget")
        object.__setattr__(self, "value", number)


@dataclass(frozen=True, slots=True)
class CampaignState:
    """The settings of one campaign as the platform currently holds them.

    ``bid_multiplier`` scales the campaign's bids (1.0 is as set up); ``audience_factor``
    widens (above 1) or narrows its targeting around ``audiences``, the named audiences
    it targets. ``creative`` names the ad copy it shows, for a campaign whose copies the
    platform knows by name (``None``: the one copy it was set up with).
    """

    campaign_id: UUID
    name: str
    status: CampaignStatus
    daily_budget: float
    bid_multiplier: float
    audience_factor: float
    audiences: tuple[str, ...] = ()
    creative: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The settings as JSON: what the sandbox answers and what history rows keep."""
        data: dict[str, Any] = {
            "campaign_id": str(self.campaign_id),
            "name": self.name,
            "status": self.status,
            "daily_budget": self.daily_budget,
            "bid_multiplier": self.bid_multiplier,
            "audience_factor": self.audience_factor,
            "audiences": list(self.audiences),
        }
        # Only campaigns with named copies say which one runs: the answers for every other
        # campaign stay exactly as they were before copies existed.
        if self.creative is not None:
            data["creative"] = self.creative
        return data

    def with_change(self, change: Change) -> CampaignState:
        """The state after ``change``; the original is left untouched."""
        if change.kind == "budget":
            return replace(self, daily_budget=float(change.value))
        if change.kind == "bid":
            return replace(self, bid_multiplier=float(change.value))
        if change.kind == "audience":
            return replace(self, audience_factor=float(change.value))
        if change.kind == "creative":
            return replace(self, creative=str(change.value))
        return replace(self, status=str(change.value))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """An ad account's campaigns as of ``as_of``, the platform's clock.

    ``as_of`` is the hour from which a change made now takes effect: the wall clock's
    hour on a real platform, the next simulated hour on the sandbox. Cooldowns and daily
    caps are counted on this clock, so they hold in simulated time too.
    """

    as_of: datetime
    campaigns: tuple[CampaignState, ...]

    def campaign(self, campaign_id: UUID) -> CampaignState:
        for state in self.campaigns:
            if state.campaign_id == campaign_id:
                return state
        raise UnknownCampaign(campaign_id)


@dataclass(frozen=True, slots=True)
class ChangeReceipt:
    """The platform's answer to a change: the campaign after it, and from when it holds.

    ``replayed`` is true when the platform had already received this change id and
    answered from its record instead of applying the change again.
    """

    change_id: UUID
    campaign: CampaignState
    effective_from: datetime
    replayed: bool = False
    # The platform's own id of the request that made the change (Meta's fbtrace_id).
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One request to the platform, for the integration log.

    ``outcome`` is ``success`` or ``error``; ``response`` is what the platform answered
    (``None`` when nothing came back).
    """

    account: UUID
    operation: str
    request: dict[str, Any]
    response: dict[str, Any] | None
    outcome: Literal["success", "error"]
    error: str | None
    duration_ms: int


CallRecorder = Callable[[CallRecord], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PlatformRules:
    """Limits the ad platform itself enforces, which the safety limits keep too, so a
    change the platform would block is held back before it is sent: ``name`` says whose
    rule it is, ``budget_changes_per_hour`` how many budget changes one campaign (a Meta
    ad set) may take in any hour (None: no such rule)."""

    name: str
    budget_changes_per_hour: int | None = None


def platform_rules(connector: object) -> PlatformRules | None:
    """The rules ``connector``'s platform enforces (its ``rules``), None when it has none."""
    rules = getattr(connector, "rules", None)
    return rules if isinstance(rules, PlatformRules) else None


async def record_call(
    recorder: CallRecorder | None,
    *,
    account: UUID,
    operation: str,
    request: dict[str, Any],
    response: dict[str, Any] | None,
    error: str | None,
    started: float,
) -> None:
    """Report one call that began at ``started`` (``time.monotonic()``) to ``recorder``, if
    any. The call went as recorded: losing its log line must not undo it, so a recorder
    that fails is logged and passed over."""
    if recorder is None:
        return
    call = CallRecord(
        account=account,
        operation=operation,
        request=request,
        response=response,
        outcome="success" if error is None else "error",
        error=error,
        duration_ms=round((time.monotonic() - started) * 1000),
    )
    try:
        await recorder(call)
    except Exception:
        _log.exception("could not record a call", extra={"operation": operation})


@dataclass(frozen=True, slots=True)
class ExperimentArm:
    """One ad copy in an experiment the platform runs on a campaign: its name, its planned
    share of the campaign's traffic, and what the copy is (``config``: headline, text...;
    the sandbox reads its true ``conversion_rate`` there)."""

    name: str
    share: float
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ArmResult:
    """One copy's users (clicks that saw it) and the conversions among them, so far."""

    name: str
    users: int
    conversions: int


@dataclass(frozen=True, slots=True)
class PlatformExperiment:
    """An experiment as the platform runs it; ``variants`` are cumulative up to ``as_of``
    (the platform's clock: the hours before it are counted). ``status`` is ``running``
    until a ``creative`` change ends the split (``ended``)."""

    experiment_id: UUID
    campaign_id: UUID
    status: Literal["running", "ended"]
    started_at: datetime
    ended_at: datetime | None
    as_of: datetime
    variants: tuple[ArmResult, ...]


@runtime_checkable
class PreviewsChanges(Protocol):
    """A connector that can check a change without making it (Meta's ``validate_only``)."""

    async def preview_change(
        self, account: UUID, campaign_id: UUID, change: Change
    ) -> CampaignState:
        """The campaign as the change would leave it; raises what ``apply_change`` would."""
        ...


@runtime_checkable
class AdPlatformConnector(Protocol):
    """Read campaigns and reports from, and push changes to, one ad platform.

    ``name`` appears in the integration log. A connector reports every request it makes
    (each attempt, retries included) to the recorder it was built with.
    """

    name: str

    async def list_campaigns(self, account: UUID) -> AccountSnapshot:
        """Every campaign of the account, with its current settings and the platform clock.

        Raises :class:`UnknownAccount` or :class:`PlatformUnavailable`.
        """
        ...

    async def apply_change(
        self, account: UUID, campaign_id: UUID, change: Change, change_id: UUID
    ) -> ChangeReceipt:
        """Apply ``change`` once, however many times it is sent with ``change_id``.

        Raises :class:`ChangeRefused` (``unknown_campaign`` among its codes),
        :class:`UnknownAccount` or :class:`PlatformUnavailable`.
        """
        ...

    async def hourly_report(
        self, account: UUID, start: datetime, end: datetime
    ) -> list[HourlyMetrics]:
        """Performance of every campaign for each hour in ``[start, end)`` the platform
        has finished; raises :class:`UnknownAccount` or :class:`PlatformUnavailable`."""
        ...

    async def start_experiment(
        self,
        account: UUID,
        campaign_id: UUID,
        experiment_id: UUID,
        arms: Sequence[ExperimentArm],
    ) -> PlatformExperiment:
        """Split the campaign's traffic across ``arms`` from the platform's clock on, once
        per ``experiment_id`` (sent again, the first answer comes back).

        Raises :class:`ChangeRefused` (``experiment_running``, ``invalid_experiment``...),
        :class:`UnknownAccount` or :class:`PlatformUnavailable`.
        """
        ...

    async def experiment_results(
        self, account: UUID, campaign_id: UUID, experiment_id: UUID
    ) -> PlatformExperiment:
        """The experiment's users and conversions per arm so far; raises
        :class:`ChangeRefused` (``unknown_experiment``), :class:`UnknownAccount` or
        :class:`PlatformUnavailable`."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
