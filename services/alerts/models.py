"""Request bodies the alerts service accepts."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from shared.models import LongText, RequestModel, ShortText

AlertType = Literal["performance_anomaly", "budget_threshold", "opportunity", "risk"]
Severity = Literal["low", "medium", "high", "critical"]
EntityType = Literal["campaign", "ad_group", "keyword", "audience"]


class AlertCreate(RequestModel):
    alert_type: AlertType
    severity: Severity = "medium"
    title: ShortText
    description: LongText | None = None
    affected_entity_type: EntityType | None = None
    affected_entity_id: UUID | None = None
    recommended_actions: list[Any] | dict[str, Any] | None = None
