"""Budget pacing: is a campaign spending its daily budget faster than planned? (pure; no I/O)

Spend to date on the current UTC day is compared with the share of the
budget that should be gone by the end of the newest hour. "Should" follows
the campaign's daily spend profile (:mod:`services.alerts.spend_profile`). A
flat profile on a campaign that spends mostly in the afternoon would cry
wolf every afternoon, which is why a learned one is preferred.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from services.alerts.anomaly import DEFAULT_PARAMS, AlertContent, DetectorParams, Severity
from services.alerts.spend_profile import ProfileKind, expected_fraction, learn_profile
from shared.metrics import HourlyMetrics

PacingKind = Literal["budget_pacing", "budget_exceeded"]

# Spend beyond the budget by this share or more is treated as critical.
_CRITICAL_OVERRUN = 0.25


@dataclass(frozen=True, slots=True)
class PacingResult:
    """A pacing problem on one campaign at the end of ``hour``."""

    campaign_id: UUID
    hour: datetime
    kind: PacingKind
    severity: Severity
    spend_to_date: float
    daily_budget: float
    # Spend to date / daily budget, and the share the profile expected by now.
    observed_fraction: float
    expected_fraction: float
    profile_kind: ProfileKind
    content: AlertContent


def _pacing_severity(kind: PacingKind, observed: float, expected: float) -> Severity:
    if kind == "budget_exceeded":
        return "critical" if observed >= 1.0 + _CRITICAL_OVERRUN else "high"
    ratio = observed / expected if expected > 0 else float("inf")
    if ratio >= 2.0:
        return "high"
    if ratio >= 1.5:
        return "medium"
    return "low"


def describe_pacing(
    campaign_id: UUID,
    hour: datetime,
    kind: PacingKind,
    severity: Severity,
    spend_to_date: float,
    daily_budget: float,
    observed: float,
    expected: float,
    profile_kind: ProfileKind,
    campaign_name: str | None = None,
) -> AlertContent:
    """Human-readable content for a pacing problem (alert type ``budget_threshold``)."""
    campaign = campaign_name if campaign_name else str(campaign_id)
    until = f"{hour:%Y-%m-%d} up to {hour:%H}:59 UTC"
    profile = {
        "flat": "an even spread over the day",
        "learned": "the campaign's usual hour-of-day pattern",
        "supplied": "the configured daily profile",
    }[profile_kind]
    if kind == "budget_exceeded":
        title = f"Daily budget exceeded by {(observed - 1.0) * 100:.0f}% on campaign {campaign}"
        description = (
            f"Spend reached {spend_to_date:,.2f} on {until}, {observed * 100:.0f}% of the "
            f"daily budget of {daily_budget:,.2f}."
        )
        actions = [
            {
                "action": "pause_campaign",
                "reason": "the budget is used up; further spend is unplanned",
            },
            {
                "action": "check_budget_settings",
                "reason": "the platform is not enforcing the daily cap",
            },
        ]
    else:
        ahead = (observed / expected - 1.0) * 100
        title = f"Spend running {ahead:.0f}% ahead of pace on campaign {campaign}"
        description = (
            f"Spend reached {spend_to_date:,.2f} ({observed * 100:.1f}% of the daily budget of "
            f"{daily_budget:,.2f}) on {until}; about {expected * 100:.1f}% was expected by now "
            f"following {profile}."
        )
        actions = [
            {
                "action": "enable_even_pacing",
                "reason": "at this rate the budget runs out early in the day",
            },
            {"action": "reduce_bid", "reason": "slows delivery without stopping the campaign"},
        ]
    return AlertContent("budget_threshold", severity, title, description, actions)


def check_pacing(
    hours_today: Sequence[HourlyMetrics],
    profile: Sequence[float] | None = None,
    params: DetectorParams = DEFAULT_PARAMS,
    *,
    profile_kind: ProfileKind | None = None,
    campaign_name: str | None = None,
) -> PacingResult | None:
    """Pacing problem of one campaign given its hours so far on one UTC day, or None.

    ``budget_exceeded`` when spend to date is above the daily budget (beyond
    ``params.budget_overrun_tolerance``); ``budget_pacing`` when it runs more
    than ``params.pacing_tolerance`` ahead of the profile and at least
    ``params.pacing_min_gap`` of the budget ahead. Without ``profile`` the day
    is assumed flat. The budget in force in the newest hour is used.
    """
    if not hours_today:
        return None
    campaigns = {row.campaign_id for row in hours_today}
    days = {row.hour.date() for row in hours_today}
    if len(campaigns) != 1 or len(days) != 1:
        raise ValueError("check_pacing takes one campaign's hours of a single UTC day")
    newest = max(hours_today, key=lambda row: row.hour)
    budget = newest.budget
    if budget <= 0:
        # Nothing to pace against; a spend anomaly still catches runaway spend.
        return None
    spent = sum(row.spend for row in hours_today)
    observed = spent / budget
    # Planned share by the end of the newest hour.
    expected = expected_fraction(newest.hour.hour + 1, profile)
    kind_of_profile: ProfileKind = profile_kind or ("supplied" if profile is not None else "flat")

    kind: PacingKind
    if observed > 1.0 + params.budget_overrun_tolerance:
        kind = "budget_exceeded"
    elif (
        observed > expected * (1.0 + params.pacing_tolerance)
        and observed - expected >= params.pacing_min_gap
    ):
        kind = "budget_pacing"
    else:
        return None
    severity = _pacing_severity(kind, observed, expected)
    content = describe_pacing(
        newest.campaign_id,
        newest.hour,
        kind,
        severity,
        spent,
        budget,
        observed,
        expected,
        kind_of_profile,
        campaign_name,
    )
    return PacingResult(
        campaign_id=newest.campaign_id,
        hour=newest.hour,
        kind=kind,
        severity=severity,
        spend_to_date=spent,
        daily_budget=budget,
        observed_fraction=observed,
        expected_fraction=expected,
        profile_kind=kind_of_profile,
        content=content,
    )


def check_pacing_with_history(
    history: Sequence[HourlyMetrics],
    params: DetectorParams = DEFAULT_PARAMS,
    *,
    campaign_name: str | None = None,
) -> PacingResult | None:
    """:func:`check_pacing` for the newest day of one campaign's ``history``.

    Earlier days in ``history`` teach the daily profile; the flat profile is
    used until ``params.pacing_profile_min_days`` complete days exist.
    """
    if not history:
        return None
    today = max(row.hour for row in history).date()
    hours_today = [row for row in history if row.hour.date() == today]
    earlier = [row for row in history if row.hour.date() < today]
    learned = learn_profile(earlier, params.pacing_profile_min_days)
    return check_pacing(
        hours_today,
        learned,
        params,
        profile_kind="learned" if learned is not None else "flat",
        campaign_name=campaign_name,
    )
