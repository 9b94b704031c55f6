"""Which status changes a person may make to an alert."""

from __future__ import annotations

from shared import events
from shared.lifecycle import Lifecycle

ALERT_LIFECYCLE = Lifecycle(
    noun="an alert",
    transitions={
        "acknowledge": (frozenset({"active"}), "acknowledged"),
        "resolve": (frozenset({"active", "acknowledged"}), "resolved"),
        "dismiss": (frozenset({"active", "acknowledged"}), "dismissed"),
    },
    events={
        "acknowledge": events.ALERT_ACKNOWLEDGED,
        "resolve": events.ALERT_RESOLVED,
        "dismiss": events.ALERT_DISMISSED,
    },
    stamps={
        "acknowledged": "acknowledged_at",
        "resolved": "resolved_at",
        "dismissed": "resolved_at",
    },
)
TRANSITIONS = ALERT_LIFECYCLE.transitions
next_status = ALERT_LIFECYCLE.next_status
