"""The wire form of hourly metrics: validated at the gateway, parsed again by consumers."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from uuid import UUID

from pydantic import Field, field_validator, model_validator

from shared.metrics import HourlyMetrics
from shared.models import RequestModel

MAX_BATCH = 5000


class MetricRow(RequestModel):
    campaign_id: UUID
    hour: datetime
    impressions: int = Field(ge=0, le=10**12)
    clicks: int = Field(ge=0, le=10**12)
    conversions: int = Field(ge=0, le=10**12)
    spend: float = Field(ge=0, le=1e12)
    revenue: float = Field(ge=0, le=1e12)
    budget: float = Field(ge=0, le=1e12)

    @field_validator("hour")
    @classmethod
    def _start_of_hour(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("hour needs a timezone, e.g. 2026-11-01T10:00:00Z")
        if (value.minute, value.second, value.microsecond) != (0, 0, 0):
            raise ValueError("hour must be the start of an hour (minutes and seconds zero)")
        return value.astimezone(UTC)

    @field_validator("hour")
    @classmethod
    def _not_in_the_future(cls, value: datetime) -> datetime:
        # An hour from the future would stand for "now" and hide every real hour after it.
        if value > datetime.now(UTC) + timedelta(hours=1):
            raise ValueError("hour is in the future")
        return value

    @field_validator("spend", "revenue", "budget")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @model_validator(mode="after")
    def _clicks_need_impressions(self) -> MetricRow:
        if self.clicks > self.impressions:
            raise ValueError("clicks cannot exceed impressions")
        return self


class MetricsBatch(RequestModel):
    metrics: list[MetricRow] = Field(min_length=1, max_length=MAX_BATCH)


def latest_per_hour(rows: Iterable[MetricRow]) -> list[MetricRow]:
    """One row per campaign and hour: a later row for the same campaign and hour wins."""
    latest: dict[tuple[UUID, datetime], MetricRow] = {}
    for row in rows:
        latest[(row.campaign_id, row.hour)] = row
    return list(latest.values())


def hourly(rows: Iterable[MetricRow]) -> list[HourlyMetrics]:
    """Rows as received, as the shape every service computes with."""
    return [
        HourlyMetrics(
            campaign_id=row.campaign_id,
            hour=row.hour.astimezone(UTC),
            impressions=row.impressions,
            clicks=row.clicks,
            conversions=row.conversions,
            spend=row.spend,
            revenue=row.revenue,
            budget=row.budget,
        )
        for row in rows
    ]
