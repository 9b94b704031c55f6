"""A campaign's daily spend profile: the share of a day's spend each UTC hour carries (pure).

Budget pacing asks how much of the budget should be gone by now; the overspend risk
projects the rest of the day from what is gone. Both read the answer from this one
profile: the campaign's own hour-of-day pattern when enough past days show it,
otherwise a flat 1/24 per hour.

The learned profile is the median, per hour, of each past day's shares. Shares rather
than amounts, so a day that spent twice as much weighs the same as any other; the
median rather than the mean, so one day with a spike does not bend the profile. It is
then blended a little towards flat: an hour that never spent in the days seen still
belongs to the day, and a campaign that starts delivering in it is not infinitely
ahead of plan.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Literal

from shared.metrics import HourlyMetrics

HOURS_PER_DAY = 24
# Complete past days with spend needed before a campaign's own pattern is trusted.
PROFILE_MIN_DAYS = 3
# Share of the flat profile blended into a learned one.
PROFILE_SHRINKAGE = 0.2

ProfileKind = Literal["flat", "learned", "supplied"]


def flat_profile() -> tuple[float, ...]:
    return (1.0 / HOURS_PER_DAY,) * HOURS_PER_DAY


def normalised(profile: Sequence[float]) -> tuple[float, ...]:
    """``profile`` scaled to sum to one; any positive weights per hour will do."""
    if len(profile) != HOURS_PER_DAY:
        raise ValueError(f"a daily profile has {HOURS_PER_DAY} entries, got {len(profile)}")
    if any(share < 0 for share in profile):
        raise ValueError("a daily profile cannot have negative shares")
    total = sum(profile)
    if total <= 0:
        raise ValueError("a daily profile needs a positive total")
    return tuple(share / total for share in profile)


def complete_days(history: Sequence[HourlyMetrics]) -> dict[date, list[float]]:
    """Spend per UTC hour of each whole day in ``history`` (rows of finished days only).

    An hour without a row spent nothing: sources may leave out hours without delivery.
    The first day is left out when ``history`` starts after its midnight, because a
    window opening at 13:00 saw only half of that day.
    """
    days: dict[date, list[float]] = {}
    for row in history:
        days.setdefault(row.hour.date(), [0.0] * HOURS_PER_DAY)[row.hour.hour] += row.spend
    if history:
        first = min(row.hour for row in history)
        if first.hour != 0:
            days.pop(first.date(), None)
    return dict(sorted(days.items()))


def learn_profile(
    history: Sequence[HourlyMetrics],
    min_days: int = PROFILE_MIN_DAYS,
    shrinkage: float = PROFILE_SHRINKAGE,
) -> tuple[float, ...] | None:
    """One campaign's hour-of-day spend shares learned from its past days, or None.

    None until ``min_days`` complete days with spend exist; then the median share per
    hour, normalised, blended ``shrinkage`` of the way towards flat.
    """
    if not 0.0 <= shrinkage <= 1.0:
        raise ValueError(f"shrinkage must be within 0..1, got {shrinkage}")
    spending = [hours for hours in complete_days(history).values() if sum(hours) > 0]
    if len(spending) < min_days:
        return None
    shares_by_hour = zip(
        *([spend / sum(hours) for spend in hours] for hours in spending), strict=True
    )
    medians = [statistics.median(shares) for shares in shares_by_hour]
    if sum(medians) <= 0:
        return None
    learned = normalised(medians)
    flat = flat_profile()
    return tuple(
        (1.0 - shrinkage) * share + shrinkage * even
        for share, even in zip(learned, flat, strict=True)
    )


def expected_fraction(hours_elapsed: float, profile: Sequence[float] | None = None) -> float:
    """Share of a day's spend planned to be gone ``hours_elapsed`` hours after midnight.

    A partly elapsed hour counts in proportion; without ``profile`` the day is flat.
    """
    if not 0.0 <= hours_elapsed <= HOURS_PER_DAY:
        raise ValueError(f"hours_elapsed must be within 0..{HOURS_PER_DAY}, got {hours_elapsed}")
    shares = normalised(profile) if profile is not None else flat_profile()
    gone = sum(
        share * min(max(hours_elapsed - hour, 0.0), 1.0) for hour, share in enumerate(shares)
    )
    return min(gone, 1.0)


def profile_for(
    history: Iterable[HourlyMetrics],
    min_days: int = PROFILE_MIN_DAYS,
    shrinkage: float = PROFILE_SHRINKAGE,
) -> tuple[tuple[float, ...], ProfileKind]:
    """The profile to plan a day with, and whether it was learned or is the flat fallback."""
    learned = learn_profile(list(history), min_days, shrinkage)
    if learned is None:
        return flat_profile(), "flat"
    return learned, "learned"
