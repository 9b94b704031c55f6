"""Ad-platform connectors: the interface every ad platform is reached through."""

from shared.connectors.base import (
    CAMPAIGN_STATUSES,
    CHANGE_KINDS,
    AdPlatformConnector,
    CampaignState,
    Change,
    InvalidChange,
    UnknownCampaign,
)

__all__ = [
    "CAMPAIGN_STATUSES",
    "CHANGE_KINDS",
    "AdPlatformConnector",
    "CampaignState",
    "Change",
    "InvalidChange",
    "UnknownCampaign",
]
