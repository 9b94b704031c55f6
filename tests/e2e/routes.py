"""Every route of the API, for suites that must try each one."""

from __future__ import annotations

from services.alerts import resources as alerts
from services.decision import resources as decision
from services.gateway.audit import AUDIT_TRAIL
from services.gateway.keys import KEYS
from services.optimizer import resources as optimizer
from shared.resources import Resource

# List path -> its resource (each also has GET <path>/{id}, except keys).
LISTS: dict[str, Resource] = {
    "/api/ai/cycles": decision.CYCLES,
    "/api/ai/decisions": decision.DECISIONS,
    "/api/ai/performance": decision.PERFORMANCE,
    "/api/ai/learning-feedback": decision.FEEDBACK,
    "/api/ai/model-versions": decision.MODEL_VERSIONS,
    "/api/ai/workflow-states": decision.WORKFLOW_STATES,
    "/api/ai/alerts": alerts.ALERTS,
    "/api/ai/risks": alerts.RISKS,
    "/api/ai/system-health": alerts.SYSTEM_HEALTH,
    "/api/ai/recommendations": optimizer.RECOMMENDATIONS,
    "/api/ai/forecasts": optimizer.FORECASTS,
    "/api/ai/automation-rules": optimizer.AUTOMATION_RULES,
    "/api/ai/optimization-history": optimizer.OPTIMIZATION_HISTORY,
    "/api/ai/integration-logs": optimizer.INTEGRATION_LOGS,
    "/api/ai/audit-trail": AUDIT_TRAIL,
    "/api/ai/keys": KEYS,
}
GETS_BY_ID = [path for path in LISTS if path != "/api/ai/keys"]
OTHER_GETS = ["/api/ai/system-status"]

# POST path -> the role it needs.
POSTS: dict[str, str] = {
    "/api/ai/cycles": "operator",
    "/api/ai/decisions": "operator",
    "/api/ai/learning-feedback": "operator",
    "/api/ai/alerts": "operator",
    "/api/ai/recommendations": "operator",
    "/api/ai/metrics": "operator",
    "/api/ai/keys": "admin",
}
# POST actions on an existing item: path template -> role.
ACTIONS: dict[str, str] = {
    "/api/ai/alerts/{id}/acknowledge": "operator",
    "/api/ai/alerts/{id}/resolve": "operator",
    "/api/ai/alerts/{id}/dismiss": "operator",
    "/api/ai/recommendations/{id}/approve": "operator",
    "/api/ai/recommendations/{id}/reject": "operator",
    "/api/ai/keys/{id}/revoke": "admin",
}
ADMIN_READS = {"/api/ai/audit-trail", "/api/ai/keys"}
