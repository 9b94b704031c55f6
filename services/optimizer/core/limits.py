"""Safety limits: how far, how often and on how much confidence the optimizer may change a
setting without a person.

Pure functions over plain data; no I/O. A change already applied is an
:class:`AppliedChange`: the limits read today's (the daily cap), rollback reads the later
ones (what an undo would overwrite). The service merges a rule's ``safety_limits``
into the tenant's (:func:`merge_limits`), and asks :func:`clamp` what to do with each
desired change. ``clamp`` never raises: odd input is a refusal that says what was odd,
because a safety check that crashes would leave the change to whatever runs next.

The limits, and how each one reads:

- ``floor`` / ``ceiling`` per kind (budget, bid, audience): a change never takes the
  value past them. A value already outside (set by hand on the platform) is left
  alone unless the change moves it back towards the range.
- ``max_step_share``: one change moves the value at most this share of its current
  value (0.2: from 100 to anywhere in [80, 120]).
- ``max_daily_share``: over one day the value stays within this share of the day's
  starting value (the ``before`` of the day's first change to that setting, or the
  current value if there was none). It bounds the distance from the start, not the sum
  of the moves, so a change back towards the start is never blocked and an undo stays
  possible; changes going back and forth are the cooldown's business.
- ``cooldown_hours``: after any applied change to an entity, nothing more is changed on
  it for this long, so the next decision sees the effect of the last one in the
  metrics.
- ``min_confidence`` (0-100): a change decided with less confidence waits for a person.
- the platform's own rules (:class:`PlatformRules`, from the connector): Meta blocks an
  ad set's budget for an hour after its fourth budget change within one, so a budget
  change is refused (``platform_limit``) once the campaign took that many in the hour
  before ``now``, and may be made again an hour after the first of them.

Pause and resume, and the choice of an ad copy (``creative``), are not moved by amounts,
so only the cooldown and the confidence gate apply to them.

Limits only ever shorten a move: a change never goes further than asked and never the
other way. Values are rounded towards the current value (budgets to cents, multipliers
to four decimals) so that rounding never takes a value past a limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeGuard
from uuid import UUID

from shared.connectors.base import NAMED_KINDS, CampaignState, Change, ChangeKind, PlatformRules
from shared.contracts.enums import Bound, RefusalReason

# The limit models are a JSON contract the gateway validates too, so they live with the
# contracts; they are named here as well, where clamp and the rules use them.
from shared.contracts.limits import (
    AMOUNT_KINDS,
    DEFAULT_LIMITS,
    AmountKind,
    AmountLimits,
    SafetyLimits,
    merge_limits,
)

HOUR = timedelta(hours=1)

__all__ = [
    "AMOUNT_KINDS",
    "DEFAULT_LIMITS",
    "AmountKind",
    "AmountLimits",
    "AppliedChange",
    "Apply",
    "Clamp",
    "NoAction",
    "Refusal",
    "SafetyLimits",
    "Verdict",
    "clamp",
    "current_value",
    "digits",
    "merge_limits",
    "same_value",
]

# --- changes as applied -----------------------------------------------------------------

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


# --- verdicts ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Clamp:
    """``bound`` held the value at ``limit`` (the furthest it allowed in that direction)."""

    bound: Bound
    limit: float

    def as_dict(self) -> dict[str, Any]:
        return {"bound": str(self.bound), "limit": self.limit}


@dataclass(frozen=True, slots=True)
class Apply:
    """Apply ``change``; ``before`` is what it replaces, ``requested`` what was asked for."""

    change: Change
    before: float | str
    requested: float | str
    clamps: tuple[Clamp, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": "apply",
            "kind": self.change.kind,
            "before": self.before,
            "after": self.change.value,
            "requested": self.requested,
            "clamps": [c.as_dict() for c in self.clamps],
        }


@dataclass(frozen=True, slots=True)
class Refusal:
    """Not applied on its own, and why.

    ``proposed`` (under :attr:`RefusalReason.NEEDS_APPROVAL`) is the change, limits
    already applied, that a person is asked to approve; ``clamps`` (under ``AT_LIMIT``
    and ``DAILY_CAP_REACHED``) are the bounds that left no room.
    """

    reason: RefusalReason
    detail: str
    proposed: Apply | None = None
    clamps: tuple[Clamp, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": "refuse",
            "reason": str(self.reason),
            "detail": self.detail,
            "proposed": self.proposed.as_dict() if self.proposed else None,
            "clamps": [c.as_dict() for c in self.clamps],
        }


Verdict = Apply | Refusal


def clamp(
    desired: Change,
    current: CampaignState,
    history_today: Sequence[AppliedChange],
    last_change_at: datetime | None,
    confidence: float,
    limits: SafetyLimits,
    now: datetime,
    platform: PlatformRules | None = None,
    last_hour: Sequence[AppliedChange] = (),
) -> Verdict:
    """What may be applied of ``desired`` on the campaign now in state ``current``.

    ``history_today`` holds the changes applied to the campaign since the start of the
    day (the caller's day, in the account's time zone); entries for other entities or
    settings are ignored. ``last_change_at`` is when any setting of the campaign last
    changed. ``confidence`` is 0-100. ``platform`` holds the rules the ad platform
    enforces, and ``last_hour`` the changes applied in the hour before ``now`` (which may
    reach into yesterday), which those rules count.

    Checks run cheapest-to-clear last: nothing to change, then the cooldown, then the
    amount limits, then the confidence gate, so a person is only asked to approve a
    change that the limits would let through.
    """
    try:
        problem = _odd_input(
            desired, current, history_today, last_change_at, confidence, limits, now
        )
        if problem is not None:
            return Refusal(RefusalReason.INVALID_INPUT, problem)
        held = _platform_hold(desired, current, platform, last_hour, now)
        if held is not None:
            return held
        return _verdict(desired, current, history_today, last_change_at, confidence, limits, now)
    except (TypeError, ValueError, ArithmeticError) as exc:
        # The checks above should leave nothing to raise; if odd input still gets through,
        # the answer is still a refusal, never an exception in the caller's apply loop.
        return Refusal(RefusalReason.INVALID_INPUT, f"cannot check this change: {exc}")


def _platform_hold(
    desired: Change,
    current: CampaignState,
    platform: PlatformRules | None,
    last_hour: Sequence[AppliedChange],
    now: datetime,
) -> Refusal | None:
    if platform is None or desired.kind != "budget" or platform.budget_changes_per_hour is None:
        return None
    if same_value("budget", desired.value, current_value(current, "budget")):
        return None
    recent = sorted(
        h.applied_at
        for h in last_hour
        if h.entity_id == current.campaign_id and h.kind == "budget" and h.applied_at > now - HOUR
    )
    cap = platform.budget_changes_per_hour
    if len(recent) < cap:
        return None
    return Refusal(
        RefusalReason.PLATFORM_LIMIT,
        f"{platform.name} allows {cap} budget changes per hour and the campaign took "
        f"{len(recent)} since {recent[0].isoformat()}; the next may be made from "
        f"{(recent[-cap] + HOUR).isoformat()}",
    )


def _verdict(
    desired: Change,
    current: CampaignState,
    history_today: Sequence[AppliedChange],
    last_change_at: datetime | None,
    confidence: float,
    limits: SafetyLimits,
    now: datetime,
) -> Verdict:
    kind = desired.kind
    before = current_value(current, kind)
    if same_value(kind, desired.value, before):
        return Refusal(RefusalReason.NO_CHANGE, f"{kind} is already {before}")

    if last_change_at is not None and limits.cooldown_hours > 0:
        ends = last_change_at + timedelta(hours=limits.cooldown_hours)
        # A last change stamped in the future (clock skew) keeps the cooldown on: when in
        # doubt, wait.
        if now < ends:
            return Refusal(
                RefusalReason.COOLDOWN,
                f"last change at {last_change_at.isoformat()}; the "
                f"{limits.cooldown_hours:g}-hour cooldown ends at {ends.isoformat()}",
            )

    proposal: Verdict
    if kind == "status" or kind == "creative":
        proposal = Apply(desired, before, desired.value)
    else:
        start = _day_start(kind, current, history_today, float(before))
        proposal = _bounded(desired, float(before), start, limits.for_kind(kind))
        if isinstance(proposal, Refusal):
            return proposal

    if confidence < limits.min_confidence:
        return Refusal(
            RefusalReason.NEEDS_APPROVAL,
            f"confidence {confidence:g} is under {limits.min_confidence:g}",
            proposed=proposal,
        )
    return proposal


def _day_start(
    kind: str, current: CampaignState, history_today: Sequence[AppliedChange], now_value: float
) -> float:
    todays = [h for h in history_today if h.entity_id == current.campaign_id and h.kind == kind]
    if not todays:
        return now_value
    return float(min(todays, key=lambda h: h.applied_at).before)


def _bounded(desired: Change, now_value: float, start: float, limits: AmountLimits) -> Verdict:
    """``desired`` shortened to the tightest limit between the current value and it."""
    kind = desired.kind
    want = float(desired.value)
    up = want > now_value
    sign = 1.0 if up else -1.0
    candidates: list[tuple[Bound, float]] = []
    edge = limits.ceiling if up else limits.floor
    if edge is not None:
        candidates.append((Bound.CEILING if up else Bound.FLOOR, edge))
    if limits.max_step_share is not None:
        candidates.append((Bound.STEP, now_value * (1.0 + sign * limits.max_step_share)))
    if limits.max_daily_share is not None:
        candidates.append((Bound.DAILY_CAP, start * (1.0 + sign * limits.max_daily_share)))

    def short_of(a: float, b: float) -> bool:
        return a < b if up else a > b

    target = want
    for _, limit in candidates:
        if short_of(limit, target):
            target = limit
    # Only the limits that hold the value where it ends up are named (several when they
    # agree); a looser one that also lay short of the request changed nothing.
    clamps = tuple(
        Clamp(bound, limit)
        for bound, limit in candidates
        if target != want and math.isclose(limit, target, rel_tol=1e-12, abs_tol=1e-12)
    )
    value = _round_towards(target, kind, up)
    current_rounded = round(now_value, digits(kind))
    if not short_of(current_rounded, value):
        blocking = tuple(
            Clamp(bound, limit)
            for bound, limit in candidates
            if not short_of(current_rounded, limit)
        )
        bounds = {c.bound for c in blocking}
        # A floor or ceiling stays until someone moves it; a spent daily cap clears
        # tomorrow. The reason says which, so the caller knows whether to try again.
        if bounds & {Bound.FLOOR, Bound.CEILING}:
            reason = RefusalReason.AT_LIMIT
        elif Bound.DAILY_CAP in bounds:
            reason = RefusalReason.DAILY_CAP_REACHED
        else:
            reason = RefusalReason.AT_LIMIT
        named = ", ".join(f"{c.bound} {c.limit:g}" for c in blocking)
        return Refusal(
            reason,
            f"{kind} {now_value:g} cannot move towards {want:g}: {named}",
            clamps=blocking,
        )
    return Apply(Change(kind, value), now_value, want, clamps)


def _round_towards(value: float, kind: str, up: bool) -> float:
    """``value`` at the setting's precision, rounded back towards where the move started."""
    scale = 10 ** digits(kind)
    scaled = value * scale
    nearest = round(scaled)
    # Float noise (172.79999999999998) is not a real fraction of a cent.
    if math.isclose(scaled, nearest, rel_tol=1e-9, abs_tol=1e-6):
        return nearest / scale
    return (math.floor(scaled) if up else math.ceil(scaled)) / scale


def _odd_input(
    desired: object,
    current: object,
    history_today: object,
    last_change_at: object,
    confidence: object,
    limits: object,
    now: object,
) -> str | None:
    """What is wrong with the input, in words, or None."""
    if not isinstance(desired, Change):
        return f"desired must be a Change, got {type(desired).__name__}"
    if not isinstance(current, CampaignState):
        return f"current must be a CampaignState, got {type(current).__name__}"
    if not isinstance(limits, SafetyLimits):
        return f"limits must be SafetyLimits, got {type(limits).__name__}"
    if not _aware(now):
        return "now must be a timezone-aware datetime"
    if last_change_at is not None and not _aware(last_change_at):
        return "last_change_at must be a timezone-aware datetime or None"
    if not _finite(confidence) or not 0 <= confidence <= 100:
        return f"confidence must be a number in [0, 100], got {confidence!r}"
    if not _finite(limits.cooldown_hours) or limits.cooldown_hours < 0:
        return f"cooldown_hours must be a non-negative number, got {limits.cooldown_hours!r}"
    if not _finite(limits.min_confidence):
        return f"min_confidence must be a number, got {limits.min_confidence!r}"
    kind = desired.kind
    if kind == "status":
        return None
    if kind == "creative":
        return None if current.creative is not None else "the campaign has no named ad copies"
    before = current_value(current, kind)
    if not _finite(before) or before < 0:
        return f"current {kind} must be a non-negative number, got {before!r}"
    amount = limits.for_kind(kind)
    for name in ("floor", "ceiling", "max_step_share", "max_daily_share"):
        value = getattr(amount, name)
        if value is not None and (not _finite(value) or value < 0):
            return f"{kind} {name} must be a non-negative number, got {value!r}"
    if amount.floor is not None and amount.ceiling is not None and amount.floor > amount.ceiling:
        return f"{kind} floor {amount.floor:g} is above its ceiling {amount.ceiling:g}"
    if not isinstance(history_today, Sequence):
        return "history_today must be a sequence of AppliedChange"
    for entry in history_today:
        if not isinstance(entry, AppliedChange):
            return f"history_today holds a {type(entry).__name__}, not an AppliedChange"
        if entry.entity_id != current.campaign_id or entry.kind != kind:
            continue
        if not _aware(entry.applied_at):
            return f"change {entry.change_id} has no timezone on applied_at"
        if not _finite(entry.before) or entry.before < 0:
            return f"change {entry.change_id} has a {kind} before of {entry.before!r}"
    return None


def _aware(value: object) -> bool:
    return isinstance(value, datetime) and value.utcoffset() is not None


def _finite(value: object) -> TypeGuard[float]:
    # bool is an int subclass; True as a confidence is always a caller bug
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
