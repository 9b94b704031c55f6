"""The contract every ad-platform connector fulfils.

Services talk to ad platforms only through this interface, so the built-in
simulator and a real platform client are interchangeable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable
from uuid import UUID

from shared.metrics import HourlyMetrics

ChangeKind = Literal["budget", "bid", "status", "audience"]
CampaignStatus = Literal["active", "paused"]

CHANGE_KINDS: tuple[str, ...] = ("budget", "bid", "status", "audience")
CAMPAIGN_STATUSES: tuple[str, ...] = ("active", "paused")


class InvalidChange(ValueError):
    """A change that no platform should accept (bad kind, value or type)."""


class UnknownCampaign(ValueError):
    """The connector has no campaign with the given id."""

    def __init__(self, campaign_id: UUID) -> None:
        super().__init__(f"unknown campaign {campaign_id}")
        self.campaign_id = campaign_id


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
    (``bid``), ``"active"``/``"paused"`` (``status``) or the audience
    expansion factor (``audience``). Validation happens on construction so an
    invalid change cannot travel through the system.
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
        # a zero budget is a legitimate way to stop delivery; a zero multiplier is not
        number = _positive_number(self.kind, self.value, allow_zero=self.kind == "budget")
        object.__setattr__(self, "value", number)


@dataclass(frozen=True, slots=True)
class CampaignState:
    """The settings of one campaign as the platform currently holds them."""

    campaign_id: UUID
    name: str
    status: CampaignStatus
    daily_budget: float
    bid_multiplier: float
    audience_factor: float

    def with_change(self, change: Change) -> CampaignState:
        """The state after ``change``; the original is left untouched."""
        if change.kind == "budget":
            return replace(self, daily_budget=float(change.value))
        if change.kind == "bid":
            return replace(self, bid_multiplier=float(change.value))
        if change.kind == "audience":
            return replace(self, audience_factor=float(change.value))
        return replace(self, status=str(change.value))  # type: ignore[arg-type]


@runtime_checkable
class AdPlatformConnector(Protocol):
    """Read campaign performance from, and push changes to, one ad platform."""

    async def list_campaigns(self) -> list[CampaignState]:
        """Every campaign the connector manages, with its current settings."""
        ...

    async def fetch_metrics(self, hour: datetime) -> list[HourlyMetrics]:
        """Performance of every campaign over the hour starting at ``hour`` (UTC)."""
        ...

    async def get_state(self, campaign_id: UUID) -> CampaignState:
        """Current settings of one campaign; raises :class:`UnknownCampaign`."""
        ...

    async def apply_change(self, campaign_id: UUID, change: Change) -> CampaignState:
        """Apply ``change`` and return the resulting settings.

        Raises :class:`UnknownCampaign` or :class:`InvalidChange`.
        """
        ...
