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


def connector_for_account(
    platform: str,
    account_id: str,
    time_zone: str,
    credentials: dict[str, str],
    settings: Settings,
    recorder: CallRecorder | None = None,
) -> AdPlatformConnector:
    """A connector for one linked ad account (``/api/ai/connections``).

    ``sandbox`` reaches the sandbox server (its accounts are named by tenant id);
    ``meta`` the Graph API (``ADPILOT_META_GRAPH_URL`` points it elsewhere, e.g. at a
    fake); ``google_ads`` needs ``shared.connectors.google_ads``."""
    if platform == "sandbox":
        from shared.connectors.sandbox import SandboxConnector

        return SandboxConnector(settings.url_of("sandbox"), recorder=recorder)
    if platform == "meta":
        import os

        from shared.connectors.meta import MetaConnector

        return MetaConnector(
            account_id,
            credentials["access_token"],
            recorder=recorder,
            time_zone=time_zone,
            graph_url=os.environ.get("ADPILOT_META_GRAPH_URL") or None,
        )
    if platform == "google_ads":
        try:
            from shared.connectors import google_ads  # type: ignore[attr-defined]
        except ImportError as exc:
            raise ValueError("the Google Ads connector is not installed") from exc
        built: AdPlatformConnector = google_ads.connector_for_account(
            account_id, time_zone, credentials, recorder=recorder
        )
        return built
    raise ValueError(f"unknown platform {platform!r}; known: {', '.join(PLATFORMS)}")


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
    "connector_for_account",
    "connector_from_settings",
]
