"""Watch and decide, end to end: the simulator feeds the gateway; alerts, risks, cycles and
decisions come out of the platform by themselves."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from sandbox.driver import feed, to_body
from sandbox.simulator import CampaignSimulator, InjectedAnomaly
from tests.e2e.conftest import Tenant
from tests.e2e.platform import Platform
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

START = datetime(2026, 10, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
CAMPAIGNS = 6
DROP_AT, DROP_HOURS = 190, 8
# The detector must see the drop within this many simulated hours of its start.
DETECTION_BOUND = 4
GRACE = 3
CONVERSION_KINDS = {"tracking_outage", "cvr_down", "conversions_down", "roas_down"}


def _hour(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def _items(api: aiohttp.ClientSession, path: str, **params: str) -> list[dict[str, Any]]:
    async with api.get(path, params={"limit": "500", **params}) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["items"]


@pytest.fixture(scope="module")
async def fed(platform: Platform, tenant_a: Tenant) -> dict[str, Any]:
    """Feed six campaigns, one with a conversion drop, stopping while the drop is under way."""
    probe = CampaignSimulator(CAMPAIGNS, seed=7, start=START)
    target = probe.campaign_ids[0]
    drop = InjectedAnomaly(
        target,
        "conversion_drop",
        START + DROP_AT * HOUR,
        START + (DROP_AT + DROP_HOURS) * HOUR,
        0.2,
    )
    sim = CampaignSimulator(CAMPAIGNS, seed=7, start=START, anomalies=[drop])
    await feed(
        sim,
        platform.gateway,
        hours=DROP_AT + 6,
        backfill_hours=DROP_AT,
        speed=0,
        headers=tenant_a.headers("operator"),
    )
    return {"sim": sim, "target": target, "others": probe.campaign_ids[1:], "drop": drop}


async def test_metrics_are_validated_row_by_row(api: aiohttp.ClientSession) -> None:
    sim = CampaignSimulator(2, seed=1, start=START)
    body = to_body(sim.simulate_hour(START))
    body["metrics"][1]["clicks"] = -5
    async with api.post("/api/ai/metrics", json=body) as r:
        assert r.status == 422
        fields = [f["field"] for f in (await r.json())["error"]["details"]["fields"]]
    assert fields == ["metrics.1.clicks"]
    body["metrics"] = body["metrics"][:1] * 5001
    async with api.post("/api/ai/metrics", json=body) as r:
        assert r.status == 422
    async with api.post("/api/ai/metrics", json=to_body(sim.simulate_hour(START))) as r:
        assert r.status == 202
        assert (await r.json())["accepted"] == 2


async def test_the_dropped_campaign_is_alerted_in_time(
    fed: dict[str, Any], api: aiohttp.ClientSession
) -> None:
    target, drop = fed["target"], fed["drop"]

    async def alerts_for_target() -> list[dict[str, Any]]:
        return await _items(api, "/api/ai/alerts", affected_entity_id=str(target))

    alerts, _ = await eventually(alerts_for_target, 15)
    # One cause, one incident: the drop is a single alert whose evidence names its primary
    # kind and lists the other kinds it moved (as many as the detector saw), each with its
    # own evidence.
    assert len(alerts) == 1, [(a["alert_key"], a["evidence"]) for a in alerts]
    (alert,) = alerts
    evidence = alert["evidence"]
    covered = {evidence["primary"], *(s["kind"] for s in evidence["symptoms"])}
    assert covered & CONVERSION_KINDS, covered
    for symptom in evidence["symptoms"]:
        assert {"kind", "metric", "severity", "title"} <= set(symptom), symptom
    first = _hour(alert["first_seen_hour"])
    assert drop.start_hour <= first <= drop.start_hour + DETECTION_BOUND * HOUR
    assert alert["affected_entity_type"] == "campaign"
    assert alert["title"] and alert["description"] and alert["recommended_actions"]
    assert alert["status"] == "active"


async def test_untouched_campaigns_stay_quiet(
    fed: dict[str, Any], api: aiohttp.ClientSession
) -> None:
    await eventually(
        lambda: _items(api, "/api/ai/alerts", affected_entity_id=str(fed["target"])), 15
    )
    window_start = fed["drop"].start_hour
    window_end = fed["drop"].end_hour + GRACE * HOUR
    for campaign in fed["others"]:
        alerts = await _items(api, "/api/ai/alerts", affected_entity_id=str(campaign))
        in_window = [a for a in alerts if window_start <= _hour(a["first_seen_hour"]) <= window_end]
        assert in_window == [], in_window


async def test_a_cycle_decides_about_the_dropped_campaign(
    fed: dict[str, Any], api: aiohttp.ClientSession
) -> None:
    target = str(fed["target"])

    protective = {"decrease_budget", "pause_campaign", "lower_bid"}

    async def decision_for_target() -> list[dict[str, Any]]:
        # Before the drop the healthy campaign may have been given more budget; wait for
        # the decision that answers the drop.
        decisions = await _items(api, "/api/ai/decisions")
        return [
            d
            for d in decisions
            if d["context_data"].get("campaign_id") == target and d["action_taken"] in protective
        ]

    try:
        (decision, *_), _ = await eventually(decision_for_target, 20)
    except AssertionError:
        alerts = await _items(api, "/api/ai/alerts", affected_entity_id=target)
        cycles = await _items(api, "/api/ai/cycles")
        raise AssertionError(
            f"no decision; alerts {[(a['alert_key'], a['severity']) for a in alerts]}; "
            f"cycles {[(c['status'], c['trigger_event'], c['metadata']) for c in cycles[:5]]}"
        ) from None
    assert decision["decision_type"] in {"budget_adjustment", "campaign_pause", "keyword_bid"}
    # It answers the drop: it cites the target's incident and names its cause.
    triggers = decision["context_data"]["trigger_alert_ids"]
    (incident,) = await _items(api, "/api/ai/alerts", affected_entity_id=target)
    assert triggers == [incident["id"]]
    primary = incident["evidence"]["primary"]
    assert primary in decision["decision_rationale"]
    (cited,) = [a for a in decision["context_data"]["alerts"] if a["alert_id"] == incident["id"]]
    assert cited["kind"] == primary
    assert cited["symptoms"] == [s["kind"] for s in incident["evidence"]["symptoms"]]
    assert 0 < float(decision["confidence_score"]) <= 100
    rationale = decision["decision_rationale"]
    assert "%" in rationale and any(ch.isdigit() for ch in rationale)
    assert decision["impact_prediction"]["metric"]
    assert "horizon_hours" in decision["impact_prediction"]

    async def finished_cycle() -> dict[str, Any] | None:
        cycle = await _get(api, f"/api/ai/cycles/{decision['cycle_id']}")
        return cycle if cycle["status"] != "running" else None

    # The decision is published before the cycle records its end.
    cycle, _ = await eventually(finished_cycle, 30)
    assert cycle["status"] == "completed"
    assert cycle["duration_seconds"] is not None
    assert cycle["trigger_event"].startswith(("alert.", "schedule"))
    steps = await _items(api, "/api/ai/workflow-states", workflow_id=decision["cycle_id"])
    assert sorted((s["step_order"], s["step_name"], s["status"]) for s in steps) == [
        (1, "gather", "completed"),
        (2, "analyse", "completed"),
        (3, "decide", "completed"),
        (4, "publish", "completed"),
    ]
    # The decision became a pending recommendation, as every decision does.
    recs, _ = await eventually(
        lambda: _items(api, "/api/ai/recommendations", source_decision_id=decision["id"]), 5
    )
    assert recs[0]["status"] == "pending" and recs[0]["target_entity_id"] == target


async def _get(api: aiohttp.ClientSession, path: str) -> dict[str, Any]:
    async with api.get(path) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_risks_are_assessed_for_the_dropped_campaign(
    fed: dict[str, Any], api: aiohttp.ClientSession
) -> None:
    await eventually(
        lambda: _items(api, "/api/ai/alerts", affected_entity_id=str(fed["target"])), 15
    )
    risks = await _items(api, "/api/ai/risks", affected_entity_id=str(fed["target"]))
    for risk in risks:
        assert risk["risk_type"] in {"budget_overspend", "performance_decline", "tracking_loss"}
        assert 0 <= float(risk["probability_score"]) <= 10
        assert risk["risk_indicators"] and risk["mitigation_actions"] is not None


async def test_alert_lifecycle(api: aiohttp.ClientSession) -> None:
    body = {"alert_type": "risk", "severity": "medium", "title": "lifecycle probe"}
    async with api.post("/api/ai/alerts", json=body) as r:
        alert = await r.json()
    base = f"/api/ai/alerts/{alert['id']}"
    async with api.post(f"{base}/acknowledge") as r:
        assert r.status == 200
        acknowledged = await r.json()
    assert acknowledged["status"] == "acknowledged" and acknowledged["acknowledged_at"]
    async with api.post(f"{base}/acknowledge") as r:
        assert r.status == 409
        assert (await r.json())["error"]["code"] == "invalid_transition"
    async with api.post(f"{base}/resolve") as r:
        assert r.status == 200
        assert (await r.json())["resolved_at"]
    async with api.post(f"{base}/dismiss") as r:
        assert r.status == 409
    async with api.post(f"/api/ai/alerts/{uuid.uuid4()}/resolve") as r:
        assert r.status == 404
    async with api.post(f"{base}/explode") as r:
        assert r.status == 404

    expected = {"alert.raised", "alert.acknowledged", "alert.resolved"}

    async def trail() -> list[dict[str, Any]]:
        # The requests are recorded at once; their events when the gateway consumes them.
        entries = await _items(api, "/api/ai/audit-trail", resource_id=alert["id"])
        return entries if expected <= {e["action"] for e in entries} else []

    entries, _ = await eventually(trail, 30)
    assert expected <= {e["action"] for e in entries}


async def test_system_health_shows_each_component_with_uptime(
    platform: Platform, api: aiohttp.ClientSession, tenant_b: Tenant
) -> None:
    async def components() -> dict[str, dict[str, Any]]:
        rows = {r["component_name"]: r for r in await _items(api, "/api/ai/system-health")}
        return rows if len(rows) == 4 else {}

    rows, _ = await eventually(components, 10)
    assert set(rows) == {"api_gateway", "decision_engine", "alerting_engine", "optimization_engine"}
    for row in rows.values():
        assert row["health_status"] in {"healthy", "warning"}
        assert 0 < float(row["uptime_percentage"]) <= 100
    models = {m["model_name"] for m in await _items(api, "/api/ai/model-versions")}
    assert {"anomaly_detector", "risk_scorer", "decision_policy"} <= models
    # Health and the model registry are the platform's: every tenant sees the same.
    headers = tenant_b.headers("viewer")
    async with aiohttp.ClientSession(base_url=platform.gateway, headers=headers) as b:
        async with b.get("/api/ai/model-versions") as r:
            b_models = {m["model_name"] for m in (await r.json())["items"]}
        one = next(iter(rows.values()))
        async with b.get(f"/api/ai/system-health/{one['id']}") as r:
            assert r.status == 200
    assert b_models == models
