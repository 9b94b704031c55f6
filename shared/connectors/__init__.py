"""Ad-platform connectors: the interface every ad platform is reached through."""

from shared.connectors.base import (
    CAMPAIGN_STATUSES,
    CHANGE_KINDS,
    AccountSnapshot,
    AdPlatformConnector,
    CallRecord,
    CallRecorder,
    CampaignState,
    Change,
    ChangeReceipt,
    ChangeRefused,
    ConnectorError,
    InvalidChange,
    PlatformUnavailable,
    UnknownAccount,
    UnknownCampaign,
)

__all__ = [
    "CAMPAIGN_STATUSES",
    "CHANGE_KINDS",
    "AccountSnapshot",
    "AdPlatformConnector",
    "CallRecord",
    "CallRecorder",
    "CampaignState",
    "Change",
    "ChangeReceipt",
    "ChangeRefused",
    "ConnectorError",
    "InvalidChange",
    "PlatformUnavailable",
    "UnknownAccount",
    "UnknownCampaign",
]
