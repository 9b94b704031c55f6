"""The closed sets of values the platform speaks in, each written once.

They are ``StrEnum``s: a member equals its string, so rows, events and JSON carry plain
strings, and pydantic models, the OpenAPI document and the SQL CHECK constraints agree.
"""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """How bad something is, mildest first: the order is the ranking."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)

    @classmethod
    def worst(cls, *levels: str) -> Severity:
        return max((cls(level) for level in levels), key=lambda s: s.rank)


_SEVERITY_ORDER: tuple[Severity, ...] = tuple(Severity)


def severity_rank(level: str) -> int:
    """The rank of a severity given as a string; unknown levels rank lowest."""
    try:
        return Severity(level).rank
    except ValueError:
        return -1


class DecisionType(StrEnum):
    BUDGET_ADJUSTMENT = "budget_adjustment"
    CAMPAIGN_PAUSE = "campaign_pause"
    KEYWORD_BID = "keyword_bid"
    AUDIENCE_EXPANSION = "audience_expansion"


class Calibrator(StrEnum):
    """How a decision type's evidence becomes confidence: a prior (few verdicts yet),
    Platt's fit, or isotonic regression."""

    PRIOR = "prior"
    PLATT = "platt"
    ISOTONIC = "isotonic"


class AlertType(StrEnum):
    """The family an alert belongs to (the ``alert_type`` column)."""

    PERFORMANCE_ANOMALY = "performance_anomaly"
    BUDGET_THRESHOLD = "budget_threshold"
    OPPORTUNITY = "opportunity"
    RISK = "risk"


class AlertKind(StrEnum):
    """What exactly an alert says moved: the key that keeps one open alert per cause."""

    CTR_UP = "ctr_up"
    CTR_DOWN = "ctr_down"
    CVR_UP = "cvr_up"
    CVR_DOWN = "cvr_down"
    CPC_UP = "cpc_up"
    CPC_DOWN = "cpc_down"
    SPEND_UP = "spend_up"
    SPEND_DOWN = "spend_down"
    CONVERSIONS_UP = "conversions_up"
    CONVERSIONS_DOWN = "conversions_down"
    ROAS_UP = "roas_up"
    ROAS_DOWN = "roas_down"
    TRACKING_OUTAGE = "tracking_outage"
    BUDGET_PACING = "budget_pacing"
    BUDGET_EXCEEDED = "budget_exceeded"

    @classmethod
    def of_move(cls, metric: str, direction: str) -> AlertKind:
        return cls(f"{metric}_{direction}")


class RiskType(StrEnum):
    BUDGET_OVERSPEND = "budget_overspend"
    PERFORMANCE_DECLINE = "performance_decline"
    TRACKING_LOSS = "tracking_loss"


class EntityType(StrEnum):
    CAMPAIGN = "campaign"
    AD_GROUP = "ad_group"
    KEYWORD = "keyword"
    AUDIENCE = "audience"


class AlertStatus(StrEnum):
    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class RuleMetric(StrEnum):
    """What an automation rule's comparison can read: a campaign's performance over a
    timeframe, or one of its settings as they stand now."""

    IMPRESSIONS = "impressions"
    CLICKS = "clicks"
    CONVERSIONS = "conversions"
    SPEND = "spend"
    REVENUE = "revenue"
    CTR = "ctr"
    CVR = "cvr"
    CPC = "cpc"
    CPA = "cpa"
    ROAS = "roas"
    BUDGET_UTILISATION = "budget_utilisation"
    DAILY_BUDGET = "daily_budget"
    BID = "bid"

    @property
    def is_setting(self) -> bool:
        """A setting has one current value; everything else needs a timeframe."""
        return self in (RuleMetric.DAILY_BUDGET, RuleMetric.BID)


class Comparator(StrEnum):
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    EQ = "=="
    NE = "!="


class RuleActionType(StrEnum):
    """What an automation rule does when its conditions match."""

    PAUSE = "pause"
    RESUME = "resume"
    CHANGE = "change"
    NOTIFY = "notify"


class Bound(StrEnum):
    """A safety limit that cut a change short."""

    FLOOR = "floor"
    CEILING = "ceiling"
    STEP = "step"
    DAILY_CAP = "daily_cap"


class RefusalReason(StrEnum):
    """Why the optimizer did not apply a change on its own."""

    NO_CHANGE = "no_change"
    COOLDOWN = "cooldown"
    AT_LIMIT = "at_limit"
    DAILY_CAP_REACHED = "daily_cap_reached"
    NEEDS_APPROVAL = "needs_approval"
    INVALID_INPUT = "invalid_input"
    # Another change to the campaign is being carried out; the next one waits for its result.
    IN_FLIGHT = "in_flight"
    # The ad platform itself would block it (Meta: a fifth budget change within an hour).
    PLATFORM_LIMIT = "platform_limit"


class RollbackConflictKind(StrEnum):
    """Why undoing a change would overwrite something a person did not ask to overwrite."""

    LATER_CHANGE = "later_change"
    ALREADY_ROLLED_BACK = "already_rolled_back"
    CHANGED_ELSEWHERE = "changed_elsewhere"
