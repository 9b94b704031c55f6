"""Ad-platform connectors: the interface every ad platform is reached through."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.connectors.base import (
    CAMPAIGN_STATUSES,
    CHANGE_KINDS,
    AccountSnapshot,
    AdPlatformConnector,
    ArmResult,
    AuthFailed,
    CallRecord,
    CallRecorder,
    CampaignState,
    Change,
    ChangeReceipt,
    ChangeRefused,
    ConnectorError,
    ExperimentArm,
    InvalidChange,
    PlatformExperiment,
    PlatformUnavailable,
    RateLimited,
    UnknownAccount,
    UnknownCampaign,
)

if TYPE_CHECKING:
    from shared.config import Settings

# Values of ADPILOT_CONNECTOR.
CONNECTORS: tuple[str, ...] = ("sandbox",)
# Platforms a tenant can link an account of (``/api/ai/connections``).
PLATFORMS: tuple[str, ...] = ("sandbox", "google_ads", "meta")


def connector_from_settings(
    settings: Settings, recorder: CallRecorder | None = None
) -> AdPlatformConnector:
    """The connector ``settings.connector`` names, reporting its calls to ``recorder``."""
    if settings.connector == "sandbox":
        from shared.connectors.sandbox import SandboxConnector

        return SandboxConnector(settings.url_of("sandbox"), recorder=recorder)
    raise ValueError(
        f"unknown connector {settings.connector!r} (ADPILOT_CONNECTOR); "
        f"known: {', '.join(CONNECTORS)}"
    )


__all__ = [
    "CAMPAIGN_STATUSES",
    "CHANGE_KINDS",
    "CONNECTORS",
    "PLATFORMS",
    "AccountSnapshot",
    "AdPlatformConnector",
    "ArmResult",
    "AuthFailed",
    "CallRecord",
    "CallRecorder",
    "CampaignState",
    "Change",
    "ChangeReceipt",
    "ChangeRefused",
    "ConnectorError",
    "ExperimentArm",
    "InvalidChange",
    "PlatformExperiment",
    "PlatformUnavailable",
    "RateLimited",
    "UnknownAccount",
    "UnknownCampaign",
    "connector_from_settings",
]
