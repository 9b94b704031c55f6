"""Ad-platform connectors: the shared interface and the built-in simulator."""

from shared.connectors.base import (
    CAMPAIGN_STATUSES,
    CHANGE_KINDS,
    AdPlatformConnector,
    CampaignState,
    Change,
    InvalidChange,
    UnknownCampaign,
)
from shared.connectors.simulator import (
    ANOMALY_KINDS,
    CampaignSimulator,
    InjectedAnomaly,
    random_schedule,
)

__all__ = [
    "ANOMALY_KINDS",
    "CAMPAIGN_STATUSES",
    "CHANGE_KINDS",
    "AdPlatformConnector",
    "CampaignSimulator",
    "CampaignState",
    "Change",
    "InjectedAnomaly",
    "InvalidChange",
    "UnknownCampaign",
    "random_schedule",
]
