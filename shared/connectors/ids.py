"""Campaign ids across platforms: adpilot names every campaign by a UUID, a real platform
by its own (numeric) id. The UUID is derived from the platform, the account and the id,
so it is the same in every process and after every restart, and read back through the
map a connector fills as it lists the account."""

from __future__ import annotations

import uuid
from uuid import UUID

# The namespace of every derived campaign id (a fixed, random UUID).
CAMPAIGN_NAMESPACE = UUID("6f0b8c1e-3d7a-5b2e-9c4f-2a1d8e7b6c50")


def campaign_uuid(platform: str, account: str, external_id: str) -> UUID:
    """The adpilot id of the platform's campaign ``external_id`` in ``account``."""
    return uuid.uuid5(CAMPAIGN_NAMESPACE, f"{platform}:{account}:{external_id}")


class IdMap:
    """Both ways between a platform account's ids and adpilot's UUIDs."""

    def __init__(self, platform: str, account: str) -> None:
        self.platform = platform
        self.account = account
        self._external: dict[UUID, str] = {}

    def to_uuid(self, external_id: str) -> UUID:
        found = campaign_uuid(self.platform, self.account, str(external_id))
        self._external[found] = str(external_id)
        return found

    def to_external(self, campaign_id: UUID) -> str | None:
        """The platform's id, once the account has been listed (``None`` before, or for
        a UUID that is not of this account)."""
        return self._external.get(campaign_id)
