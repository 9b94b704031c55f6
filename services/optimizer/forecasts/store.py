"""Campaign forecasts: made on a schedule and on request, scored once their period passes.

Time is the platform's: a tenant's clock is its newest hour of metrics, and forecasts start
at the hour after it. Every ``REFRESH_HOURS`` of that clock each campaign with recent
metrics gets a 24-hour and a 7-day forecast (``forecast.created``); a forecast whose period
the clock has passed is scored against the hours reported for it (``forecast.scored``).
Either runs for one tenant at a time across replicas (a session advisory lock, held while
the models fit), and a scheduled forecast is stored once per campaign, horizon and period
whatever happens (a unique index). The modelling itself is ``shared.forecasting``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np

from shared.contracts.optimizer import (
    FORECAST_CREATED,
    FORECAST_SCORED,
    FORECASTS,
    MAX_FORECAST_CAMPAIGNS,
)
from shared.forecasting import (
    MODEL_VERSION,
    Forecast,
    ForecastConfig,
    NotEnoughHistory,
    forecast_campaign,
    preload,
    score,
)
from shared.metrics import HourlyMetrics
from shared.metrics_store import campaigns_since, load_history, newest_hour
from shared.models_registry import announce_models
from shared.outbox import enqueue
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
# On the platform's clock: a new forecast of every campaign each simulated day.
REFRESH_HOURS = 24
# A campaign is forecast on schedule while it reported within this many hours.
ACTIVE_HOURS = 48
SCORE_BATCH = 500
SOURCE = "optimizer"
CONFIG = ForecastConfig()


class NoMetrics(Exception):
    """The tenant has not reported any metrics yet."""


class UnknownCampaigns(Exception):
    def __init__(self, campaign_ids: Sequence[UUID]) -> None:
        super().__init__("no metrics for these campaigns")
        self.campaign_ids = list(campaign_ids)


@asynccontextmanager
async def forecast_models(runtime: ServiceRuntime) -> AsyncIterator[None]:
    """Register the forecasting models (and their settings) in the model registry, and load
    statsmodels in the background, so neither the start nor the first forecast waits."""
    loading = asyncio.create_task(asyncio.to_thread(preload))
    await announce_models(
        runtime,
        [(name, version, "prediction", params) for name, version, params in CONFIG.model_specs()],
    )
    yield
    # A thread cannot be stopped; the task only stops being waited for.
    loading.cancel()


def _rng(campaign: UUID, origin: datetime) -> np.random.Generator:
    # Seeded by campaign and origin: the same request made twice answers the same.
    return np.random.default_rng(
        [campaign.int & 0xFFFFFFFFFFFFFFFF, int(origin.timestamp()) // 3600]
    )


def compute(
    histories: dict[UUID, list[HourlyMetrics]], origin: datetime, horizons: Sequence[int]
) -> tuple[list[Forecast], list[tuple[UUID, str]]]:
    """The forecasts of every campaign, and the campaigns skipped with the reason."""
    made: list[Forecast] = []
    skipped: list[tuple[UUID, str]] = []
    for campaign, rows in histories.items():
        try:
            made += forecast_campaign(
                campaign, rows, origin, horizons=horizons, config=CONFIG, rng=_rng(campaign, origin)
            )
        except NotEnoughHistory as exc:
            skipped.append((campaign, str(exc)))
    return made, skipped


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}


def row_values(forecast: Forecast, trigger: str) -> dict[str, Any]:
    last_hour = forecast.period_end - HOUR
    return {
        "campaign_id": forecast.campaign_id,
        "forecast_type": "performance",
        "forecast_period_start": forecast.period_start.date(),
        "forecast_period_end": last_hour.date(),
        "predicted_metrics": _rounded(forecast.predicted),
        "confidence_intervals": {
            level: {m: _rounded(b) if b else None for m, b in bounds.items()}
            for level, bounds in forecast.intervals.items()
        },
        "model_used": forecast.model_used,
        "horizon_hours": forecast.horizon_hours,
        "period_start": forecast.period_start,
        "period_end": forecast.period_end,
        "model_details": forecast.details(),
        "hourly_forecast": forecast.hourly,
        "hourly_intervals": forecast.hourly_intervals,
        "trigger": trigger,
    }


async def store(
    conn: asyncpg.Connection,
    tenant: UUID,
    forecasts: Sequence[Forecast],
    trigger: str,
    correlation_id: UUID | None = None,
) -> list[dict[str, Any]]:
    """Insert the forecasts and their ``forecast.created``; a scheduled forecast already
    stored for its campaign, horizon and period is left as it is."""
    stored = []
    for forecast in forecasts:
        values = row_values(forecast, trigger)
        names = ["tenant_id", *values]
        conflict = (
            "ON CONFLICT (tenant_id, campaign_id, horizon_hours, period_start) "
            "WHERE trigger = 'schedule' DO NOTHING"
            if trigger == "schedule"
            else ""
        )
        row = await conn.fetchrow(
            f"INSERT INTO ai_campaign_forecasts ({', '.join(names)}) "
            f"VALUES ({', '.join(f'${i}' for i in range(1, len(names) + 1))}) {conflict} "
            f"RETURNING {FORECASTS.select_list}",
            tenant,
            *values.values(),
        )
        if row is None:
            continue
        item = dict(row)
        stored.append(item)
        await enqueue(
            conn,
            FORECAST_CREATED.envelope(
                {
                    "forecast_id": item["id"],
                    "campaign_id": item["campaign_id"],
                    "horizon_hours": item["horizon_hours"],
                    "period_start": item["period_start"],
                    "period_end": item["period_end"],
                    "predicted_metrics": item["predicted_metrics"],
                    "confidence_intervals": item["confidence_intervals"],
                    "model_used": item["model_used"],
                    "model_name": forecast.model_name,
                    "model_version": MODEL_VERSION,
                    "trigger": trigger,
                },
                tenant_id=tenant,
                source=SOURCE,
                correlation_id=correlation_id,
            ),
        )
    return stored


def _by_campaign(rows: Sequence[HourlyMetrics]) -> dict[UUID, list[HourlyMetrics]]:
    grouped: dict[UUID, list[HourlyMetrics]] = defaultdict(list)
    for r in rows:
        grouped[r.campaign_id].append(r)
    return grouped


async def make_forecasts(
    runtime: ServiceRuntime,
    tenant: UUID,
    campaign_ids: Sequence[UUID] | None,
    horizons: Sequence[int],
    trigger: str,
    correlation_id: UUID | None = None,
) -> tuple[datetime, list[dict[str, Any]], list[tuple[UUID, str]]]:
    """Forecast the campaigns (default: those that reported within ``ACTIVE_HOURS``) from
    the hour after the tenant's newest metrics; answers that hour, the stored forecasts
    and the campaigns skipped. The models fit outside any transaction. A request (not the
    schedule) forecasts at most ``MAX_FORECAST_CAMPAIGNS``."""
    async with runtime.tenant_tx(tenant) as conn:
        newest = await newest_hour(conn, tenant)
        if newest is None:
            raise NoMetrics
        origin = newest + HOUR
        if campaign_ids is None:
            campaigns = await campaigns_since(conn, tenant, newest - ACTIVE_HOURS * HOUR)
        else:
            campaigns = list(dict.fromkeys(campaign_ids))
            known = {
                r["campaign_id"]
                for r in await conn.fetch(
                    """SELECT DISTINCT campaign_id FROM campaign_metrics
                       WHERE tenant_id = $1 AND campaign_id = ANY($2::uuid[])""",
                    tenant,
                    campaigns,
                )
            }
            unknown = [c for c in campaigns if c not in known]
            if unknown:
                raise UnknownCampaigns(unknown)
        over: list[tuple[UUID, str]] = []
        if trigger == "request" and len(campaigns) > MAX_FORECAST_CAMPAIGNS:
            over = [
                (
                    c,
                    f"over the {MAX_FORECAST_CAMPAIGNS} campaigns a request forecasts; "
                    "the schedule forecasts it",
                )
                for c in campaigns[MAX_FORECAST_CAMPAIGNS:]
            ]
            campaigns = campaigns[:MAX_FORECAST_CAMPAIGNS]
        history = await load_history(
            conn, tenant, campaigns, origin - CONFIG.window_hours * HOUR, newest
        )
    grouped = _by_campaign(history)
    histories = {c: grouped.get(c, []) for c in campaigns}
    made, skipped = await asyncio.to_thread(compute, histories, origin, horizons)
    skipped += over
    async with runtime.tenant_tx(tenant) as conn:
        stored = await store(conn, tenant, made, trigger, correlation_id)
    return origin, stored, skipped


async def score_due(runtime: ServiceRuntime, tenant: UUID) -> int:
    """Score the forecasts whose period the tenant's clock has passed; answers how many."""
    async with runtime.tenant_tx(tenant) as conn:
        newest = await newest_hour(conn, tenant)
        if newest is None:
            return 0
        due = await conn.fetch(
            """SELECT id, campaign_id, horizon_hours, period_start, period_end, model_details,
                      hourly_forecast, confidence_intervals
               FROM ai_campaign_forecasts
               WHERE tenant_id = $1 AND scored_at IS NULL AND period_end <= $2
               ORDER BY period_end LIMIT $3""",
            tenant,
            newest + HOUR,
            SCORE_BATCH,
        )
        if not due:
            return 0
        actual = _by_campaign(
            await load_history(
                conn,
                tenant,
                list({r["campaign_id"] for r in due}),
                min(r["period_start"] for r in due),
                max(r["period_end"] for r in due) - HOUR,
            )
        )
    scored = 0
    for row in due:
        details = row["model_details"] or {}
        result = score(
            row["hourly_forecast"],
            row["confidence_intervals"],
            details.get("mase_scale", {}),
            row["period_start"],
            row["horizon_hours"],
            [
                r
                for r in actual.get(row["campaign_id"], [])
                if row["period_start"] <= r.hour < row["period_end"]
            ],
        )
        mase = {**result.mase, "mean": result.mean_mase}
        async with runtime.tenant_tx(tenant) as conn:
            updated = await conn.fetchval(
                """UPDATE ai_campaign_forecasts SET actual_metrics = $3, accuracy_score = $4,
                       mase = $5, interval_hits = $6, hours_observed = $7,
                       hourly_actual = $8, scored_at = clock_timestamp()
                   WHERE tenant_id = $1 AND id = $2 AND scored_at IS NULL RETURNING id""",
                tenant,
                row["id"],
                _rounded(result.actual),
                result.accuracy_score,
                _rounded(mase),
                result.hits,
                result.hours_observed,
                result.hourly_actual,
            )
            if updated is None:
                continue  # scored by another replica meanwhile
            await enqueue(
                conn,
                FORECAST_SCORED.envelope(
                    {
                        "forecast_id": row["id"],
                        "campaign_id": row["campaign_id"],
                        "horizon_hours": row["horizon_hours"],
                        "period_start": row["period_start"],
                        "period_end": row["period_end"],
                        "model_name": details.get("model", "unknown"),
                        "model_version": details.get("version", MODEL_VERSION),
                        "actual_metrics": _rounded(result.actual),
                        "mase": _rounded(result.mase),
                        "mean_mase": result.mean_mase,
                        "accuracy_score": result.accuracy_score,
                        "interval_hits": result.hits,
                        "hours_observed": result.hours_observed,
                    },
                    tenant_id=tenant,
                    source=SOURCE,
                ),
            )
            scored += 1
    return scored
