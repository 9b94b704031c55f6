"""The optimizer's forecasts, kept here as it announces them, and the running accuracy of
each forecasting model in the model registry.

``campaign_forecasts`` is filled from ``forecast.created`` and completed by
``forecast.scored`` (either may arrive first). The registry's rows are platform-wide (the
default tenant), while scores arrive in each tenant's events; so a handler only records
the score in its own tenant's row and wakes :func:`run_model_accuracy`, which recomputes
every forecasting model's figures across tenants and writes them to
``ai_model_versions.performance_metrics``. Recomputing from the scored rows, rather than
adding to a running sum, makes a redelivered event or a missed wake-up harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import asyncpg

from shared.consumer import Subscriptions
from shared.contracts.optimizer import (
    FORECAST_CREATED,
    FORECAST_SCORED,
    ForecastCreated,
    ForecastScored,
)
from shared.db import listening
from shared.events import Envelope
from shared.service import ServiceRuntime

subscriptions = Subscriptions("decision")

SCORES_CHANNEL = "decision_forecast_scores"
# Scores come in bursts (every forecast of a tenant whose period ended): one recount each.
SETTLE_SECONDS = 0.5
SWEEP_SECONDS = 300.0


@subscriptions.subscriber(FORECAST_CREATED)
async def on_forecast_created(
    conn: asyncpg.Connection, event: Envelope, forecast: ForecastCreated
) -> None:
    await conn.execute(
        """INSERT INTO campaign_forecasts (forecast_id, tenant_id, campaign_id, horizon_hours,
               period_start, period_end, predicted, intervals, model_name, model_version)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (forecast_id) DO UPDATE SET predicted = EXCLUDED.predicted,
               intervals = EXCLUDED.intervals""",
        forecast.forecast_id,
        event.tenant_id,
        forecast.campaign_id,
        forecast.horizon_hours,
        forecast.period_start,
        forecast.period_end,
        forecast.predicted_metrics,
        forecast.confidence_intervals,
        forecast.model_name,
        forecast.model_version,
    )


@subscriptions.subscriber(FORECAST_SCORED)
async def on_forecast_scored(
    conn: asyncpg.Connection, event: Envelope, scored: ForecastScored
) -> None:
    # Scored before its creation arrived: the row is made now and completed by it.
    await conn.execute(
        """INSERT INTO campaign_forecasts (forecast_id, tenant_id, campaign_id, horizon_hours,
               period_start, period_end, predicted, intervals, model_name, model_version,
               actual, mase, mean_mase, accuracy_score, interval_hits, hours_observed,
               scored_at)
           VALUES ($1, $2, $3, $4, $5, $6, '{}', '{}', $7, $8, $9, $10, $11, $12, $13, $14,
                   now())
           ON CONFLICT (forecast_id) DO UPDATE SET actual = EXCLUDED.actual,
               mase = EXCLUDED.mase, mean_mase = EXCLUDED.mean_mase,
               accuracy_score = EXCLUDED.accuracy_score,
               interval_hits = EXCLUDED.interval_hits,
               hours_observed = EXCLUDED.hours_observed, scored_at = EXCLUDED.scored_at""",
        scored.forecast_id,
        event.tenant_id,
        scored.campaign_id,
        scored.horizon_hours,
        scored.period_start,
        scored.period_end,
        scored.model_name,
        scored.model_version,
        scored.actual_metrics,
        scored.mase,
        scored.mean_mase,
        scored.accuracy_score,
        scored.interval_hits,
        scored.hours_observed,
    )
    await conn.execute("SELECT pg_notify($1, '')", SCORES_CHANNEL)


def _figures(count: int, mase: float | None, accuracy: float | None) -> dict[str, Any]:
    return {
        "scored_forecasts": count,
        "mean_mase": round(mase, 4) if mase is not None else None,
        "mean_accuracy_score": round(accuracy, 2) if accuracy is not None else None,
    }


async def model_accuracy(conn: asyncpg.Connection) -> dict[tuple[str, str], dict[str, Any]]:
    """Each forecasting model's running accuracy over every scored forecast (a system-scoped
    connection): mean MASE, mean accuracy score and interval coverage, overall and per
    horizon."""
    per_horizon = await conn.fetch(
        """SELECT model_name, model_version, horizon_hours, count(*) AS n,
                  avg(mean_mase) AS mase, avg(accuracy_score) AS accuracy
           FROM campaign_forecasts WHERE scored_at IS NOT NULL
           GROUP BY model_name, model_version, horizon_hours"""
    )
    coverage = await conn.fetch(
        """SELECT f.model_name, f.model_version, f.horizon_hours, level.key AS level,
                  count(*) AS n, avg((inside.value::text)::boolean::int) AS share
           FROM campaign_forecasts f
           CROSS JOIN LATERAL jsonb_each(f.interval_hits) AS level
           CROSS JOIN LATERAL jsonb_each(level.value) AS inside
           WHERE f.scored_at IS NOT NULL AND jsonb_typeof(inside.value) = 'boolean'
           GROUP BY 1, 2, 3, 4"""
    )
    models: dict[tuple[str, str], dict[str, Any]] = {}
    totals: dict[tuple[str, str], list[tuple[int, float | None, float | None]]] = defaultdict(list)
    for r in per_horizon:
        key = (r["model_name"], r["model_version"])
        entry = models.setdefault(key, {"by_horizon": {}})
        entry["by_horizon"][str(r["horizon_hours"])] = _figures(r["n"], r["mase"], r["accuracy"])
        totals[key].append((r["n"], r["mase"], r["accuracy"]))
    hits: dict[tuple[str, str, str], list[tuple[int, float | None]]] = defaultdict(list)
    for r in coverage:
        key = (r["model_name"], r["model_version"])
        entry = models.setdefault(key, {"by_horizon": {}})
        horizon = entry["by_horizon"].setdefault(str(r["horizon_hours"]), {})
        horizon[f"coverage_{r['level']}"] = round(float(r["share"]), 4)
        hits[(*key, r["level"])].append((r["n"], float(r["share"])))
    for key, entry in models.items():
        rows = totals.get(key, [])
        entry.update(
            _figures(
                sum(n for n, _m, _a in rows),
                _weighted([(n, m) for n, m, _a in rows]),
                _weighted([(n, a) for n, _m, a in rows]),
            )
        )
        for level in ("80", "95"):
            share = _weighted(hits.get((*key, level), []))
            entry[f"coverage_{level}"] = round(share, 4) if share is not None else None
    return models


def _weighted(parts: list[tuple[int, float | None]]) -> float | None:
    """The mean of per-group means, weighted by the groups' counts."""
    known = [(n, float(v)) for n, v in parts if v is not None]
    weight = sum(n for n, _ in known)
    return sum(n * v for n, v in known) / weight if weight else None


async def publish_accuracy(runtime: ServiceRuntime) -> int:
    """Write every forecasting model's running accuracy into the (platform-wide) registry."""
    registry = runtime.settings.default_tenant
    async with runtime.system_tx() as conn:
        models = await model_accuracy(conn)
        now = datetime.now(UTC).isoformat()
        for (name, version), figures in models.items():
            await conn.execute(
                """INSERT INTO ai_model_versions (tenant_id, model_name, version, model_type,
                       deployment_status, deployed_at, performance_metrics)
                   VALUES ($1, $2, $3, 'prediction', 'production', now(), $4)
                   ON CONFLICT (tenant_id, model_name, version) DO UPDATE SET
                       performance_metrics = EXCLUDED.performance_metrics""",
                registry,
                name,
                version,
                {"service": "optimizer", **figures, "updated_at": now},
            )
    return len(models)


async def run_model_accuracy(runtime: ServiceRuntime) -> None:
    """Background job: recount the forecasting models' accuracy when scores arrive."""
    wake = asyncio.Event()
    async with listening(runtime.db, SCORES_CHANNEL, lambda *_: wake.set()):
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), SWEEP_SECONDS)
                await asyncio.sleep(SETTLE_SECONDS)
            wake.clear()
            await publish_accuracy(runtime)
