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
    from uuid import UUID

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
    *,
    currency: str = "USD",
    account: UUID | None = None,
) -> AdPlatformConnector:
    """A connector for one linked ad account (``/api/ai/connections``) of tenant
    ``account``, whose money is in ``currency``.

    ``sandbox`` reaches the sandbox server (its accounts are named by tenant id);
    ``meta`` the Graph API (``ADPILOT_META_GRAPH_URL`` points it elsewhere, e.g. at a
    fake); ``google_ads`` the Google Ads API (``ADPILOT_GOOGLE_ADS_ENDPOINT`` and
    ``ADPILOT_GOOGLE_ADS_TOKEN_URI`` point it elsewhere). Raises ``KeyError`` for a
    missing credential, ``ValueError`` for an account id the platform cannot have."""
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
        from shared.connectors import google_ads

        return google_ads.connector_for_account(
            account_id,
            time_zone,
            credentials,
            currency=currency,
            account=account,
            recorder=recorder,
        )
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
