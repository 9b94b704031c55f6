"""Who listens to what: every service's queue and the events bound to it, in one place.

Every service declares the whole topology when it connects, so an event published before
its consumers ever started is queued for them rather than dropped as unroutable.
"""

from __future__ import annotations

from shared import events

BINDINGS: dict[str, tuple[str, ...]] = {
    # The audit trail records every event.
    "gateway": ("#",),
    "decision": (
        events.METRICS_RECORDED,
        events.ALERT_RAISED,
        events.ALERT_UPDATED,
        events.ALERT_ACKNOWLEDGED,
        events.ALERT_RESOLVED,
        events.ALERT_DISMISSED,
        events.RISK_ASSESSED,
        events.MODEL_REGISTERED,
    ),
    "alerts": (events.METRICS_RECORDED, events.HEALTH_REPORTED),
    "optimizer": (events.DECISION_MADE,),
}
