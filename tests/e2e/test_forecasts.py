"""Forecasts end to end on the sandbox: made on request with intervals, scored once the
platform's clock passes their period, and counted in the model registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from shared.config import Settings
from tests.e2e.platform import Platform
from tests.e2e.test_act import Account, eventually, open_account

pytestmark = pytest.mark.e2e

HOUR = timedelta(hours=1)


@pytest.fixture
async def forecast_account(platform: Platform, settings: Settings) -> AsyncIterator[Account]:
    # Four days of history: enough for the seasonal model, not only its fallback.
    async for opened in open_account(platform, settings, seed=303, campaigns=2, backfill_hours=96):
        yield opened


async def _forecast(account: Account, body: dict[str, Any]) -> dict[str, Any]:
    """POST /forecasts once the backfill has reached the optimizer (409 until then)."""

    async def made() -> dict[str, Any] | None:
        status, data = await account.post("/forecasts", body, role="operator")
        if status == 409:
            return None
        assert status == 201, data
        # All four days must have arrived, or the model would be the short-history fallback.
        return data if all(f["model_used"] == "forecast_ets/1.0" for f in data["items"]) else None

    return await eventually(made, within=60)


async def test_forecasts_are_made_with_intervals_then_scored(forecast_account: Account) -> None:
    account = forecast_account
    batch = await _forecast(account, {"horizons": [24, 168]})
    assert batch["skipped"] == []
    items = batch["items"]
    assert sorted((f["campaign_id"], f["horizon_hours"]) for f in items) == sorted(
        (str(c), h) for c in account.campaigns for h in (24, 168)
    )
    as_of = datetime.fromisoformat(batch["as_of"])
    for f in items:
        assert f["forecast_type"] == "performance" and f["trigger"] == "request"
        start, end = (datetime.fromisoformat(f[k]) for k in ("period_start", "period_end"))
        assert start == as_of and end - start == f["horizon_hours"] * HOUR
        predicted, intervals = f["predicted_metrics"], f["confidence_intervals"]
        # ROAS is the median of the paths' revenue over spend: near, though not exactly, the
        # ratio of the two medians.
        assert predicted["roas"] == pytest.approx(
            predicted["revenue"] / predicted["spend"], rel=0.05
        )
        for metric in ("spend", "conversions", "revenue", "roas"):
            inner, outer = intervals["80"][metric], intervals["95"][metric]
            assert outer["low"] <= inner["low"] <= inner["high"] <= outer["high"]
            # The point and its band are read off the same paths: the point lies inside.
            assert inner["low"] <= predicted[metric] <= inner["high"], (metric, f)
        assert len(f["hourly_forecast"]["spend"]) == f["horizon_hours"]
        assert f["accuracy_score"] is None and f["scored_at"] is None
    # The week's spend interval is wider than the day's.
    day = next(f for f in items if f["horizon_hours"] == 24)
    week = next(
        f for f in items if f["horizon_hours"] == 168 and f["campaign_id"] == day["campaign_id"]
    )
    assert (
        week["confidence_intervals"]["95"]["spend"]["high"]
        - week["confidence_intervals"]["95"]["spend"]["low"]
        > day["confidence_intervals"]["95"]["spend"]["high"]
        - day["confidence_intervals"]["95"]["spend"]["low"]
    )

    # A day passes on the platform's clock: the 24-hour forecasts get their actuals.
    await account.advance(24)
    ids = {f["id"] for f in items if f["horizon_hours"] == 24}

    async def scored() -> list[dict[str, Any]] | None:
        page = await account.get("/forecasts", trigger="request", horizon_hours="24")
        done = [f for f in page["items"] if f["id"] in ids and f["scored_at"]]
        return done if len(done) == len(ids) else None

    for f in await eventually(scored, within=90):
        assert f["hours_observed"] == 24
        report = await account.report(
            datetime.fromisoformat(f["period_start"]), datetime.fromisoformat(f["period_end"])
        )
        mine = [r for r in report if r["campaign_id"] == f["campaign_id"]]
        assert f["actual_metrics"]["spend"] == pytest.approx(
            sum(r["spend"] for r in mine), rel=1e-6
        )
        mean = f["mase"]["mean"]
        assert mean > 0 and f["accuracy_score"] == pytest.approx(100 / (1 + mean), abs=0.01)
        low, high = (f["confidence_intervals"]["80"]["spend"][k] for k in ("low", "high"))
        assert f["interval_hits"]["80"]["spend"] is (low <= f["actual_metrics"]["spend"] <= high)
    # The 7-day forecasts wait for their week.
    week_ids = {f["id"] for f in items if f["horizon_hours"] == 168}
    page = await account.get("/forecasts", trigger="request", horizon_hours="168")
    assert all(f["scored_at"] is None for f in page["items"] if f["id"] in week_ids)

    # The model's running accuracy reaches the registry.
    async def counted() -> dict[str, Any] | None:
        models = (await account.get("/model-versions", model_name="forecast_ets"))["items"]
        figures = models[0]["performance_metrics"] if models else None
        return figures if figures and figures.get("scored_forecasts", 0) >= len(ids) else None

    figures = await eventually(counted, within=60)
    assert 0 < figures["mean_mase"] and 0 <= figures["coverage_80"] <= 1
    assert figures["by_horizon"]["24"]["scored_forecasts"] >= len(ids)
    models = (await account.get("/model-versions", model_name="forecast_ets"))["items"]
    assert models[0]["parameters"]["seasonal_periods"] == 24


async def test_the_schedule_forecasts_every_campaign(forecast_account: Account) -> None:
    async def scheduled() -> list[dict[str, Any]] | None:
        page = await forecast_account.get("/forecasts", trigger="schedule")
        mine = {(f["campaign_id"], f["horizon_hours"]) for f in page["items"]}
        wanted = {(str(c), h) for c in forecast_account.campaigns for h in (24, 168)}
        return page["items"] if wanted <= mine else None

    items = await eventually(scheduled, within=90)
    assert all(f["confidence_intervals"]["95"]["revenue"] for f in items)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"horizons": [12]}, "horizons.0"),
        ({"horizons": []}, "horizons"),
        ({"campaign_ids": ["not-a-uuid"]}, "campaign_ids.0"),
        ({"campaign_ids": []}, "campaign_ids"),
        ({"horizon": [24]}, "horizon"),
    ],
)
async def test_bad_forecast_requests_are_422(
    forecast_account: Account, body: dict[str, Any], field: str
) -> None:
    status, data = await forecast_account.post("/forecasts", body, role="operator")
    assert status == 422, data
    assert data["error"]["code"] == "validation_error"
    assert field in [f["field"] for f in data["error"]["details"]["fields"]]


async def test_unknown_campaigns_are_422_and_viewers_may_not_forecast(
    forecast_account: Account,
) -> None:
    await _forecast(forecast_account, {"horizons": [24]})
    stranger = uuid4()
    body = {"campaign_ids": [str(forecast_account.campaigns[0]), str(stranger)]}
    status, data = await forecast_account.post("/forecasts", body, role="operator")
    assert status == 422, data
    assert [f["field"] for f in data["error"]["details"]["fields"]] == ["campaign_ids.1"]
    status, data = await forecast_account.post("/forecasts", {}, role="viewer")
    assert status == 403, data
    async with forecast_account.api.get("/api/ai/forecasts", params={"horizon_hours": "day"}) as r:
        assert r.status == 422
