"""The record of a change the optimizer applied on the ad platform.

Safety limits read today's records (the daily cap), rollback reads the later ones (what
an undo would overwrite); both meet on this one shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from shared.connectors.base import NAMED_KINDS, CampaignState, ChangeKind

# Money moves in cents; multipliers and factors in four decimals, as the policy writes them.
_DIGITS: dict[str, int] = {"budget": 2, "bid": 4, "audience": 4}


@dataclass(frozen=True, slots=True)
class AppliedChange:
    """One setting of one entity moved from ``before`` to ``after`` at ``applied_at``.

    ``rollback_of`` names the change this one undid, so an undo can itself be undone
    and a second undo of the same change can be told apart from a new change.
    """

    change_id: UUID
    entity_id: UUID
    kind: ChangeKind
    before: float | str
    after: float | str
    applied_at: datetime
    rollback_of: UUID | None = None


@dataclass(frozen=True, slots=True)
class NoAction:
    """An action that cannot be carried out on the campaign as it stands, and why."""

    reason: str


def current_value(state: CampaignState, kind: str) -> float | str:
    """The value ``state`` holds for the setting a change of ``kind`` moves."""
    if kind == "budget":
        return state.daily_budget
    if kind == "bid":
        return state.bid_multiplier
    if kind == "audience":
        return state.audience_factor
    if kind == "status":
        return state.status
    if kind == "creative":
        # No named copy: there is nothing a creative change could go back to.
        if state.creative is None:
            raise ValueError("the campaign has no named ad copies")
        return state.creative
    raise ValueError(f"unknown change kind {kind!r}")


def digits(kind: str) -> int:
    """Decimal places a value of ``kind`` is kept to."""
    return _DIGITS[kind]


def same_value(kind: str, a: float | str, b: float | str) -> bool:
    """Whether two values of one setting are the same once kept to that setting's precision."""
    if kind in NAMED_KINDS or isinstance(a, str) or isinstance(b, str):
        return a == b
    return round(float(a), digits(kind)) == round(float(b), digits(kind))
