"""Which status changes a person may make to a recommendation."""

from __future__ import annotations

from shared import events
from shared.lifecycle import Lifecycle

RECOMMENDATION_LIFECYCLE = Lifecycle(
    noun="a recommendation",
    transitions={
        "approve": (frozenset({"pending"}), "approved"),
        "reject": (frozenset({"pending", "approved"}), "rejected"),
    },
    events={
        "approve": events.RECOMMENDATION_APPROVED,
        "reject": events.RECOMMENDATION_REJECTED,
    },
    stamps={"approved": "decided_at", "rejected": "decided_at"},
)
