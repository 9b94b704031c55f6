"""Which service owns which ``/api/ai`` resource: the gateway's routing table."""

from __future__ import annotations

UPSTREAMS: dict[str, str] = {
    "cycles": "decision",
    "decisions": "decision",
    "performance": "decision",
    "learning-feedback": "decision",
    "model-versions": "decision",
    "workflow-states": "decision",
    "alerts": "alerts",
    "risks": "alerts",
    "system-health": "alerts",
    "recommendations": "optimizer",
    "forecasts": "optimizer",
    "automation-rules": "optimizer",
    "optimization-history": "optimizer",
    "integration-logs": "optimizer",
}

BACKENDS = ("decision", "alerts", "optimizer")

# Request headers passed on to the owning service; everything else (cookies, client-sent
# tenant headers, hop-by-hop headers) stays at the gateway.
FORWARDED_REQUEST_HEADERS = ("Content-Type", "Accept", "X-Request-Id", "X-Correlation-Id")
FORWARDED_RESPONSE_HEADERS = ("Content-Type", "Location", "Retry-After")


def owner_of(path: str) -> str | None:
    """The service owning ``/api/ai/<resource>[/...]``, or None."""
    parts = path.split("/")
    if len(parts) < 4 or parts[1] != "api" or parts[2] != "ai":
        return None
    return UPSTREAMS.get(parts[3])
