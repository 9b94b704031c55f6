"""Campaigns' response curves as stored fits (``response_curves``): refitted when a new
complete day lands in the optimizer's copy of the metrics, every fit kept.

Reading and writing are short transactions; the fitting (scipy) runs between them, with
no transaction open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from shared.curves import CurveMetric, DayTotals, ResponseCurve, daily_totals, fit_curve
from shared.metrics_store import load_history, newest_hour
from shared.service import ServiceRuntime

METRICS: tuple[CurveMetric, ...] = ("conversions", "revenue")
# How many complete days a fit looks back over: long enough to hold several budget
# levels, short enough to follow a campaign that changes.
WINDOW_DAYS = 28
FIT_COLUMNS = (
    "id, campaign_id, metric, model, params, covariance, supported, reason, n_days, "
    "window_start, window_end, r_squared, rmse, curve, points, fitted_at"
)


def last_complete_day(newest: datetime) -> date:
    """The newest UTC day all of whose hours can have arrived, given the newest hour."""
    newest = newest.astimezone(UTC)
    return newest.date() if newest.hour == 23 else newest.date() - timedelta(days=1)


async def latest_fits(
    conn: asyncpg.Connection, tenant: UUID, campaign_ids: Sequence[UUID]
) -> dict[tuple[UUID, str], dict[str, Any]]:
    """The newest stored fit of each campaign and metric."""
    rows = await conn.fetch(
        f"""SELECT DISTINCT ON (campaign_id, metric) {FIT_COLUMNS} FROM response_curves
            WHERE tenant_id = $1 AND campaign_id = ANY($2::uuid[])
            ORDER BY campaign_id, metric, fitted_at DESC, id DESC""",
        tenant,
        list(campaign_ids),
    )
    return {(r["campaign_id"], r["metric"]): dict(r) for r in rows}


def _points(days: Sequence[DayTotals], metric: str) -> list[dict[str, Any]]:
    return [{"day": d.day.isoformat(), "spend": d.spend, "value": getattr(d, metric)} for d in days]


def _fit_all(
    days_of: dict[UUID, list[DayTotals]],
) -> list[tuple[UUID, ResponseCurve, list[dict[str, Any]]]]:
    return [
        (campaign, fit_curve(days, metric), _points(days, metric))
        for campaign, days in days_of.items()
        for metric in METRICS
    ]


async def refresh_curves(
    runtime: ServiceRuntime, tenant: UUID, campaign_ids: Sequence[UUID]
) -> dict[tuple[UUID, str], dict[str, Any]]:
    """Refit the campaigns whose newest fit predates their newest complete day, store the
    new fits, and answer the newest fit of every campaign and metric.

    Two replicas refitting at once store one fit per window (the second insert is a
    no-op), so the history holds each window once."""
    async with runtime.tenant_tx(tenant) as conn:
        newest = await newest_hour(conn, tenant)
        stored = await latest_fits(conn, tenant, campaign_ids)
        if newest is None:
            return stored
        last_day = last_complete_day(newest)
        stale = [
            c
            for c in campaign_ids
            if any(
                (c, m) not in stored
                or stored[(c, m)]["window_end"] is None
                or stored[(c, m)]["window_end"] < last_day
                for m in METRICS
            )
        ]
        if not stale:
            return stored
        since = datetime.combine(last_day - timedelta(days=WINDOW_DAYS - 1), time(), tzinfo=UTC)
        until = datetime.combine(last_day, time(23), tzinfo=UTC)
        history = await load_history(conn, tenant, stale, since, until)
    by_campaign: dict[UUID, list[Any]] = {c: [] for c in stale}
    for row in history:
        by_campaign[row.campaign_id].append(row)
    days_of = {c: daily_totals(rows) for c, rows in by_campaign.items()}
    # Only campaigns with a day the stored fit has not seen (a campaign with no complete
    # day gets its cautious first fit once).
    days_of = {
        c: days
        for c, days in days_of.items()
        if any(
            (c, m) not in stored
            or (days and (stored[(c, m)]["window_end"] or date.min) < days[-1].day)
            for m in METRICS
        )
    }
    if not days_of:
        return stored
    fits = await asyncio.to_thread(_fit_all, days_of)
    async with runtime.tenant_tx(tenant) as conn:
        for campaign, curve, points in fits:
            await conn.execute(
                """INSERT INTO response_curves (tenant_id, campaign_id, metric, model, params,
                       covariance, supported, reason, n_days, window_start, window_end,
                       r_squared, rmse, curve, points)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                   ON CONFLICT (tenant_id, campaign_id, metric, window_end) DO NOTHING""",
                tenant,
                campaign,
                curve.metric,
                curve.model,
                curve.params,
                [list(row) for row in curve.covariance],
                curve.supported,
                curve.reason,
                curve.n_days,
                curve.window_start,
                curve.window_end,
                curve.r_squared,
                curve.rmse,
                curve.as_json(),
                points,
            )
        return await latest_fits(conn, tenant, campaign_ids)


def curve_of(fit: dict[str, Any]) -> ResponseCurve:
    return ResponseCurve.from_json(fit["curve"])


def curve_line(curve: ResponseCurve, points: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
    """The curve read at 13 spends from zero to twice the largest spend seen (or its
    scale), with its 80% interval and slope, for drawing it beside its points."""
    seen = max((float(p["spend"]) for p in points), default=0.0)
    top = 2.0 * max(seen, curve.scale)
    line = []
    for i in range(13):
        spend = top * i / 12
        low, high = curve.interval(spend, 0.8)
        line.append(
            {
                "spend": round(spend, 2),
                "predicted": float(curve.predict(spend)),
                "low": low,
                "high": high,
                "marginal": float(curve.marginal(spend)),
            }
        )
    return line


def fit_json(fit: dict[str, Any]) -> dict[str, Any]:
    """A stored fit as the curve route shows it."""
    shown = {k: v for k, v in fit.items() if k != "curve"}
    shown["line"] = curve_line(curve_of(fit), fit["points"])
    return shown
