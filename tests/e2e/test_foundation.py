"""The platform as a user sees it: four real processes, driven only through the gateway."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest

from tests.e2e.platform import Platform
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

CAMPAIGN = str(uuid.uuid4())

POST_BODIES: dict[str, dict[str, Any]] = {
    "cycles": {"cycle_name": "nightly review", "cycle_type": "analysis", "priority": 3},
    "decisions": {
        "decision_type": "keyword_bid",
        "decision_rationale": "CPC rose 40%",
        "confidence_score": 61.5,
        "context_data": {"campaign_id": CAMPAIGN},
    },
    "alerts": {
        "alert_type": "risk",
        "severity": "high",
        "title": "Spend spike",
        "affected_entity_type": "campaign",
        "affected_entity_id": CAMPAIGN,
    },
    "recommendations": {
        "recommendation_type": "bid_strategy",
        "target_entity_type": "campaign",
        "target_entity_id": CAMPAIGN,
        "recommended_changes": {"bid": 0.9},
        "confidence_level": 6.5,
    },
}

GET_ONLY = ("performance", "system-health", "campaigns", "optimizations")

# How long a test waits for something the platform does in the background. A bound on the
# wait, not a claim about speed: how fast the pipeline is, bench/pipeline.py measures.
WAIT = 30.0


async def _json(response: aiohttp.ClientResponse) -> Any:
    assert response.content_type == "application/json", await response.text()
    return await response.json()


@pytest.mark.parametrize("resource", sorted(POST_BODIES))
async def test_post_then_list_and_get(api: aiohttp.ClientSession, resource: str) -> None:
    async with api.post(f"/api/ai/{resource}", json=POST_BODIES[resource]) as r:
        assert r.status == 201, await r.text()
        created = await _json(r)
    for field, value in POST_BODIES[resource].items():
        got = created[field]
        assert got == value or (isinstance(value, float) and float(got) == value), field
    async with api.get(f"/api/ai/{resource}") as r:
        assert r.status == 200
        page = await _json(r)
    assert set(page) == {"items", "next_cursor"}
    assert created["id"] in [item["id"] for item in page["items"]]
    async with api.get(f"/api/ai/{resource}/{created['id']}") as r:
        assert r.status == 200
        fetched = await _json(r)
    # A queued cycle may already be running: compare what does not move by itself.
    moving = {"status", "start_time", "end_time", "updated_at", "duration_seconds", "metadata"}
    assert {k: v for k, v in fetched.items() if k not in moving} == {
        k: v for k, v in created.items() if k not in moving
    }


async def test_learning_feedback_needs_an_existing_decision(api: aiohttp.ClientSession) -> None:
    async with api.post("/api/ai/decisions", json=POST_BODIES["decisions"]) as r:
        assert r.status == 201
        decision = await _json(r)
    body = {
        "decision_id": decision["id"],
        "feedback_type": "user_correction",
        "feedback_value": {"correct": False, "note": "bid was already low"},
    }
    async with api.post("/api/ai/learning-feedback", json=body) as r:
        assert r.status == 201
        feedback = await _json(r)
    assert feedback["decision_id"] == decision["id"]
    async with api.get("/api/ai/learning-feedback", params={"decision_id": decision["id"]}) as r:
        assert [f["id"] for f in (await _json(r))["items"]] == [feedback["id"]]
    body["decision_id"] = str(uuid.uuid4())
    async with api.post("/api/ai/learning-feedback", json=body) as r:
        assert r.status == 422
        assert (await _json(r))["error"]["details"]["fields"][0]["field"] == "decision_id"


@pytest.mark.parametrize("resource", GET_ONLY)
async def test_read_only_routes_answer(api: aiohttp.ClientSession, resource: str) -> None:
    async with api.get(f"/api/ai/{resource}") as r:
        assert r.status == 200
        page = await _json(r)
    assert isinstance(page["items"], list) and "next_cursor" in page
    async with api.post(f"/api/ai/{resource}", json={}) as r:
        assert r.status == 405
        assert (await _json(r))["error"]["code"] == "method_not_allowed"


async def test_decision_becomes_recommendation_and_audit_entries(
    api: aiohttp.ClientSession,
) -> None:
    body = {
        "decision_type": "budget_adjustment",
        "action_taken": "decrease_budget",
        "confidence_score": 82,
        "context_data": {"campaign_id": CAMPAIGN},
        "impact_prediction": {"metric": "spend", "expected_change": -0.2, "horizon_hours": 24},
    }
    async with api.post("/api/ai/decisions", json=body) as r:
        assert r.status == 201
        decision = await _json(r)
        correlation = r.headers["X-Correlation-Id"]

    async def recommendation() -> list[dict[str, Any]]:
        async with api.get(
            "/api/ai/recommendations", params={"source_decision_id": decision["id"]}
        ) as r:
            return (await _json(r))["items"]

    async def trail() -> list[dict[str, Any]] | None:
        async with api.get("/api/ai/audit-trail", params={"correlation_id": correlation}) as r:
            items = (await _json(r))["items"]
        return items if len(items) >= 3 else None

    (rec,), _ = await eventually(recommendation, WAIT)
    assert rec["status"] == "pending"
    assert rec["target_entity_id"] == CAMPAIGN
    assert rec["recommendation_type"] == "budget_optimization"
    assert float(rec["confidence_level"]) == 8.2
    entries, _ = await eventually(trail, WAIT)
    actions = {e["action"]: e for e in entries}
    # The person's request, and the two events it set off.
    assert set(actions) == {"POST /api/ai/decisions", "decision.made", "recommendation.created"}
    request_entry = actions["POST /api/ai/decisions"]
    assert request_entry["actor_type"] == "user" and request_entry["status_code"] == 201
    assert request_entry["resource_id"] == decision["id"]
    assert actions["decision.made"]["resource_id"] == decision["id"]
    assert actions["recommendation.created"]["causation_id"] is not None


async def test_pagination_is_newest_first_with_cursor(api: aiohttp.ClientSession) -> None:
    entity = str(uuid.uuid4())
    ids = []
    for i in range(5):
        body = {
            "alert_type": "opportunity",
            "title": f"page {i}",
            "severity": "low",
            "affected_entity_type": "campaign",
            "affected_entity_id": entity,
        }
        async with api.post("/api/ai/alerts", json=body) as r:
            assert r.status == 201
            ids.append((await _json(r))["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", "affected_entity_id": entity}
        if cursor:
            params["cursor"] = cursor
        async with api.get("/api/ai/alerts", params=params) as r:
            page = await _json(r)
        assert len(page["items"]) <= 2
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


async def test_filters_select_matching_rows(api: aiohttp.ClientSession) -> None:
    entity = str(uuid.uuid4())
    made: dict[str, str] = {}
    for severity in ("low", "critical"):
        body = {
            "alert_type": "risk",
            "title": f"{severity} one",
            "severity": severity,
            "affected_entity_type": "campaign",
            "affected_entity_id": entity,
        }
        async with api.post("/api/ai/alerts", json=body) as r:
            assert r.status == 201
            made[severity] = (await _json(r))["id"]
    for severity, id_ in made.items():
        # One filter: the row that matches is there, and nothing that does not match is.
        async with api.get("/api/ai/alerts", params={"severity": severity, "limit": "500"}) as r:
            items = (await _json(r))["items"]
        assert id_ in {a["id"] for a in items}
        assert {a["severity"] for a in items} == {severity}
        # Two filters together: exactly that one row.
        params = {"severity": severity, "affected_entity_id": entity}
        async with api.get("/api/ai/alerts", params=params) as r:
            assert [a["id"] for a in (await _json(r))["items"]] == [id_]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/api/ai/decisions", b'{"decision_type": ', 400, "malformed_json"),
        ("POST", "/api/ai/alerts", b"", 400, "malformed_json"),
        # A decision nobody made; fixed, so that parallel workers collect the same tests.
        ("GET", "/api/ai/decisions/5d1c0de5-0000-4000-8000-000000000404", None, 404, "not_found"),
        ("GET", "/api/ai/alerts/not-a-uuid", None, 404, "not_found"),
        ("GET", "/api/ai/nowhere", None, 404, "not_found"),
        ("GET", "/api/ai/alerts?limit=501", None, 422, "validation_error"),
        ("GET", "/api/ai/alerts?limit=zero", None, 422, "validation_error"),
        ("GET", "/api/ai/alerts?cursor=bm9wZQ", None, 422, "validation_error"),
        ("GET", "/api/ai/alerts?colour=red", None, 422, "validation_error"),
        ("GET", "/api/ai/recommendations?target_entity_id=x", None, 422, "validation_error"),
    ],
)
async def test_errors_have_one_shape(
    api: aiohttp.ClientSession, method: str, path: str, body: bytes | None, status: int, code: str
) -> None:
    async with api.request(
        method, path, data=body, headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == status
        error = (await _json(r))["error"]
    assert error["code"] == code
    assert set(error) == {"code", "message", "details"}
    assert "Traceback" not in error["message"]


async def test_a_request_line_too_long_to_read_is_the_documented_400(
    api: aiohttp.ClientSession,
) -> None:
    # The HTTP server answers before any route; the reference documents that answer.
    async with api.get("/api/ai/cycles", params={"cycle_type": "x" * 9000}) as r:
        assert r.status == 400
        assert r.content_type == "text/plain"
    async with api.get("/api/ai/openapi.json") as r:
        spec = await _json(r)
    assert "400" in spec["paths"]["/api/ai/cycles"]["get"]["responses"]
    assert "text/plain" in spec["components"]["responses"]["BadRequest"]["content"]


async def test_invalid_body_names_the_fields(api: aiohttp.ClientSession) -> None:
    body = {"decision_type": "launch_rockets", "confidence_score": 140, "surprise": 1}
    async with api.post("/api/ai/decisions", json=body) as r:
        assert r.status == 422
        fields = {f["field"] for f in (await _json(r))["error"]["details"]["fields"]}
    assert fields == {"decision_type", "confidence_score", "surprise"}


async def test_every_service_reports_its_own_health(api: aiohttp.ClientSession) -> None:
    # A decision the optimizer (to recommend) and the gateway (to audit) both consume.
    body = {**POST_BODIES["decisions"], "action_taken": "lower_bid"}
    async with api.post("/api/ai/decisions", json=body) as r:
        assert r.status == 201

    async def consumed() -> dict[str, Any] | None:
        async with api.get("/api/ai/system-status") as r:
            assert r.status == 200
            status = await _json(r)
        services = status["services"]
        counted = all(services[s]["events_consumed"] for s in ("optimizer", "gateway"))
        return status if counted else None

    status, _ = await eventually(consumed, WAIT)
    assert status["status"] == "operational"
    assert set(status["services"]) == {"gateway", "decision", "alerts", "optimizer"}
    for name, report in status["services"].items():
        assert report["status"] == "up", name
        assert report["database"]["reachable"] is True
        assert report["broker"]["connected"] is True
        assert report["outbox_backlog"] is not None
        assert report["events_consumed"] is not None


async def test_a_service_that_is_down_shows_as_down(
    platform: Platform, api: aiohttp.ClientSession
) -> None:
    await platform.stop("alerts")
    try:
        async with api.get("/api/ai/alerts") as r:
            assert r.status == 503
            error = (await _json(r))["error"]
        assert error["code"] == "service_unavailable"
        assert error["details"] == {"service": "alerts"}
        async with api.get("/api/ai/system-status") as r:
            assert r.status == 200
            status = await _json(r)
        assert status["status"] == "degraded"
        assert status["services"]["alerts"]["status"] == "down"
        assert status["services"]["decision"]["status"] == "up"
        async with api.get("/api/ai/decisions") as r:
            assert r.status == 200
    finally:
        await platform.start("alerts")
    async with api.get("/api/ai/alerts") as r:
        assert r.status == 200


async def test_people_approve_or_reject_recommendations(api: aiohttp.ClientSession) -> None:
    ids = []
    for _ in range(2):
        async with api.post("/api/ai/recommendations", json=POST_BODIES["recommendations"]) as r:
            assert r.status == 201
            ids.append((await _json(r))["id"])
    approve, reject = ids
    async with api.post(f"/api/ai/recommendations/{approve}/approve") as r:
        assert r.status == 200
        approved = await _json(r)
    # Approved, then carried out: `{"bid": 0.9}` names no change the platform can make
    # (that is `{"kind": "bid", "to": 0.9}`), so it fails, and says why.
    assert approved["status"] == "failed" and approved["decided_at"]
    assert "cannot be applied" in approved["failure_reason"]
    async with api.post(f"/api/ai/recommendations/{approve}/approve") as r:
        assert r.status == 409
        assert (await _json(r))["error"]["details"] == {"status": "failed", "action": "approve"}
    async with api.post(f"/api/ai/recommendations/{reject}/reject") as r:
        assert (await _json(r))["status"] == "rejected"
    async with api.post(f"/api/ai/recommendations/{reject}/approve") as r:
        assert r.status == 409
    async with api.post(f"/api/ai/recommendations/{approve}/launch") as r:
        assert r.status == 404
    async with api.get("/api/ai/recommendations", params={"status": "failed"}) as r:
        assert approve in {i["id"] for i in (await _json(r))["items"]}

    async def audited() -> list[dict[str, Any]]:
        async with api.get("/api/ai/audit-trail", params={"resource_id": approve}) as r:
            entries = (await _json(r))["items"]
        actions = {e["action"] for e in entries}
        return entries if "recommendation.approved" in actions else []

    entries, _ = await eventually(audited, WAIT)
    assert any(e["action"].endswith("/approve") and e["actor_type"] == "user" for e in entries)
