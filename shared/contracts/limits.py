"""Safety limits as JSON: how far, how often and on how much confidence the optimizer may
change a setting without a person.

A contract, not logic: the gateway validates a tenant's limits with these models when they
are set (``PUT /api/ai/preferences``), the ``preferences.updated`` event carries them, and
the optimizer reads them back with the same models before its ``clamp`` applies them.
What each limit means is told in ``services.optimizer.core.limits``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    model_validator,
)

AmountKind = Literal["budget", "bid", "audience"]
AMOUNT_KINDS: tuple[AmountKind, ...] = ("budget", "bid", "audience")

_Amount = Annotated[float, Strict(), AllowInfNan(False), Field(ge=0)]
_Share = Annotated[float, Strict(), AllowInfNan(False), Field(gt=0)]
# A month: beyond it a cooldown is a switch-off, which is what ``is_active`` is for.
_CooldownHours = Annotated[float, Strict(), AllowInfNan(False), Field(ge=0, le=720)]
_Confidence = Annotated[float, Strict(), AllowInfNan(False), Field(ge=0, le=100)]


class _LimitsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AmountLimits(_LimitsModel):
    """The limits on one numeric setting; ``None`` means no such limit."""

    floor: _Amount | None = None
    ceiling: _Amount | None = None
    max_step_share: _Share | None = None
    max_daily_share: _Share | None = None

    @model_validator(mode="after")
    def _floor_under_ceiling(self) -> AmountLimits:
        if self.floor is not None and self.ceiling is not None and self.floor > self.ceiling:
            raise ValueError(f"floor {self.floor:g} is above ceiling {self.ceiling:g}")
        return self


class SafetyLimits(_LimitsModel):
    """A tenant's limits, or a rule's overrides of them (the JSON ``safety_limits``)."""

    budget: AmountLimits = AmountLimits()
    bid: AmountLimits = AmountLimits()
    audience: AmountLimits = AmountLimits()
    cooldown_hours: _CooldownHours = 0.0
    min_confidence: _Confidence = 0.0

    def for_kind(self, kind: AmountKind) -> AmountLimits:
        limits: AmountLimits = getattr(self, kind)
        return limits


# What a tenant gets before it sets its own. The steps match the decision policy's largest
# steps (20% budget, 15% bid, x1.2 audience); a day allows a little over two such steps;
# six hours is about the least in which hourly metrics show what a change did.
DEFAULT_LIMITS = SafetyLimits(
    budget=AmountLimits(max_step_share=0.2, max_daily_share=0.5),
    bid=AmountLimits(max_step_share=0.15, max_daily_share=0.3),
    audience=AmountLimits(max_step_share=0.2, max_daily_share=0.5),
    cooldown_hours=6.0,
    min_confidence=70.0,
)


def merge_limits(default: SafetyLimits, override: SafetyLimits | None) -> SafetyLimits:
    """The tenant's limits with a rule's overrides laid over them, field by field.

    Only the fields the rule gives take effect; a ``null`` in the rule removes nothing,
    so a rule can change a tenant's limit but never silently drop it. Raises pydantic's
    ``ValidationError`` when the result contradicts itself (a rule's floor above the
    tenant's ceiling), so the rule is refused when it is saved, not when it fires.
    """
    merged = default.model_dump()
    if override is not None:
        for key, value in override.model_dump(exclude_unset=True, exclude_none=True).items():
            if isinstance(value, dict):
                merged[key].update(value)
            else:
                merged[key] = value
    return SafetyLimits.model_validate(merged)


def own_limits(limits: SafetyLimits | None) -> dict[str, Any] | None:
    """``limits`` as JSON with only the fields that were given.

    This is how a tenant's own limits are stored and sent: read back with
    ``SafetyLimits.model_validate``, a limit the tenant left alone is unset again, so
    :func:`merge_limits` keeps the default for it (a full dump would turn every default it
    left alone, such as ``min_confidence``, into a 0 of its own)."""
    if limits is None:
        return None
    own: dict[str, Any] = limits.model_dump(mode="json", exclude_unset=True)
    return own


def _checked_own(value: dict[str, Any]) -> dict[str, Any]:
    checked = own_limits(SafetyLimits.model_validate(value))
    assert checked is not None
    return checked


# A tenant's own limits on the wire: a ``SafetyLimits`` object holding only the limits the
# tenant set (see :func:`own_limits`). Checked like ``SafetyLimits``, kept sparse.
OwnLimits = Annotated[
    dict[str, Any],
    AfterValidator(_checked_own),
    Field(
        description=(
            "A `SafetyLimits` object with only the limits the tenant set; the others "
            "keep the platform's defaults."
        )
    ),
]


__all__ = [
    "AMOUNT_KINDS",
    "DEFAULT_LIMITS",
    "AmountKind",
    "AmountLimits",
    "OwnLimits",
    "SafetyLimits",
    "merge_limits",
    "own_limits",
]
