"""Idempotency-Key through the gateway: a retried change answers the first time's answer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest

from sandbox.driver import batch_key, to_body
from shared.config import Settings
from shared.metrics import HourlyMetrics
from tests.e2e.conftest import Tenant, make_tenant
from tests.e2e.platform import Platform

pytestmark = pytest.mark.e2e

REPLAYED = "Idempotent-Replayed"


def decision(note: str = "CPC rose 40%") -> dict[str, Any]:
    return {
        "decision_type": "keyword_bid",
        "decision_rationale": note,
        "confidence_score": 61.5,
        "context_data": {"campaign_id": str(uuid.uuid4())},
    }


@pytest.fixture
async def tenant(settings: Settings) -> Tenant:
    # A tenant of its own, so counting its decisions counts only this test's.
    return await make_tenant(settings, f"idem-{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def api(platform: Platform, tenant: Tenant) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=platform.gateway, headers=tenant.headers()) as s:
        yield s


async def post(
    api: aiohttp.ClientSession, path: str, body: Any = None, key: str | None = None
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    headers = {"Idempotency-Key": key} if key is not None else {}
    async with api.post(path, json=body, headers=headers) as r:
        return r.status, await r.json(), r.headers


async def decision_ids(api: aiohttp.ClientSession) -> list[str]:
    async with api.get("/api/ai/decisions", params={"limit": "500"}) as r:
        assert r.status == 200
        return [item["id"] for item in (await r.json())["items"]]


async def test_a_repeated_post_with_a_key_makes_one_decision(api: aiohttp.ClientSession) -> None:
    key, body = str(uuid.uuid4()), decision()
    status, first, headers = await post(api, "/api/ai/decisions", body, key)
    assert status == 201, first
    assert REPLAYED not in headers
    status, again, headers = await post(api, "/api/ai/decisions", body, key)
    assert status == 201
    assert headers[REPLAYED] == "true"
    assert headers["Content-Type"].startswith("application/json")
    assert again == first
    assert await decision_ids(api) == [first["id"]]


async def test_the_same_key_with_another_body_is_refused(api: aiohttp.ClientSession) -> None:
    key = str(uuid.uuid4())
    status, first, _ = await post(api, "/api/ai/decisions", decision("first"), key)
    assert status == 201
    status, error, headers = await post(api, "/api/ai/decisions", decision("second"), key)
    assert status == 422
    assert error["error"]["code"] == "idempotency_key_reused"
    assert REPLAYED not in headers
    # Nor another path with the same body.
    status, error, _ = await post(api, "/api/ai/alerts", decision("first"), key)
    assert (status, error["error"]["code"]) == (422, "idempotency_key_reused")
    assert await decision_ids(api) == [first["id"]]


async def test_without_a_key_a_repeat_is_a_second_decision(api: aiohttp.ClientSession) -> None:
    body = decision()
    made = [(await post(api, "/api/ai/decisions", body))[1]["id"] for _ in range(2)]
    assert len(set(made)) == 2
    assert sorted(await decision_ids(api)) == sorted(made)


async def test_keys_of_two_tenants_are_independent(
    platform: Platform, api: aiohttp.ClientSession, settings: Settings
) -> None:
    other = await make_tenant(settings, f"idem-other-{uuid.uuid4().hex[:8]}")
    key, body = "same-key-for-both", decision()
    status, mine, headers = await post(api, "/api/ai/decisions", body, key)
    assert status == 201 and REPLAYED not in headers
    async with aiohttp.ClientSession(base_url=platform.gateway, headers=other.headers()) as s:
        status, theirs, headers = await post(s, "/api/ai/decisions", body, key)
        assert status == 201 and REPLAYED not in headers
        assert await decision_ids(s) == [theirs["id"]]
    assert theirs["id"] != mine["id"]
    assert await decision_ids(api) == [mine["id"]]


async def test_concurrent_repeats_run_the_request_once(api: aiohttp.ClientSession) -> None:
    key, body = str(uuid.uuid4()), decision()
    answers = await asyncio.gather(*(post(api, "/api/ai/decisions", body, key) for _ in range(8)))
    fresh = [a for a in answers if a[0] == 201 and REPLAYED not in a[2]]
    assert len(fresh) == 1
    created = fresh[0][1]
    for status, payload, headers in answers:
        if status == 409:
            assert payload["error"]["code"] == "idempotency_in_progress"
            assert int(headers["Retry-After"]) >= 1
        else:
            assert status == 201 and payload == created
    assert await decision_ids(api) == [created["id"]]


async def test_a_write_whose_answer_the_gateway_lost_is_not_made_again(
    api: aiohttp.ClientSession, settings: Settings
) -> None:
    """The gateway gives up on a write when its service is slow to answer or goes away
    mid-request, and lets the client retry the key: the service, which made the write
    all the same, answers the retry with it instead of making it twice."""
    key, body = str(uuid.uuid4()), decision()
    status, made, _ = await post(api, "/api/ai/decisions", body, key)
    assert status == 201, made
    # What the gateway does with a key whose request failed: it lets the key go.
    conn = await asyncpg.connect(settings.database_url)
    try:
        released = await conn.execute("DELETE FROM gateway.idempotency_keys WHERE key = $1", key)
    finally:
        await conn.close()
    assert released == "DELETE 1"
    status, again, _ = await post(api, "/api/ai/decisions", body, key)
    assert (status, again) == (201, made)
    assert await decision_ids(api) == [made["id"]]


async def test_a_retried_approval_is_carried_out_once(api: aiohttp.ClientSession) -> None:
    status, rec, _ = await post(
        api,
        "/api/ai/recommendations",
        {
            "recommendation_type": "bid_strategy",
            "target_entity_type": "campaign",
            "target_entity_id": str(uuid.uuid4()),
            "recommended_changes": {"bid": 0.9},
            "confidence_level": 6.5,
        },
    )
    assert status == 201, rec
    approve, key = f"/api/ai/recommendations/{rec['id']}/approve", str(uuid.uuid4())
    status, first, headers = await post(api, approve, key=key)
    assert status == 200 and REPLAYED not in headers, first
    status, again, headers = await post(api, approve, key=key)
    assert (status, headers[REPLAYED], again) == (200, "true", first)
    # Had the retry reached the optimizer, it would have been refused: the recommendation
    # has already left `pending`.
    status, refused, _ = await post(api, approve, key=str(uuid.uuid4()))
    assert status == 409 and refused["error"]["code"] == "invalid_transition"


async def test_a_server_error_is_not_kept_so_the_retry_runs(
    platform: Platform, api: aiohttp.ClientSession
) -> None:
    key = str(uuid.uuid4())
    body = {
        "alert_type": "risk",
        "severity": "high",
        "title": "Spend spike",
        "affected_entity_type": "campaign",
        "affected_entity_id": str(uuid.uuid4()),
    }
    await platform.stop("alerts")
    try:
        status, error, _ = await post(api, "/api/ai/alerts", body, key)
        assert (status, error["error"]["code"]) == (503, "service_unavailable")
    finally:
        await platform.start("alerts")
    status, created, headers = await post(api, "/api/ai/alerts", body, key)
    assert status == 201 and REPLAYED not in headers, created
    status, again, headers = await post(api, "/api/ai/alerts", body, key)
    assert (status, headers[REPLAYED], again) == (201, "true", created)


async def test_a_client_error_is_kept(api: aiohttp.ClientSession) -> None:
    key, body = str(uuid.uuid4()), {"decision_type": "keyword_bid", "confidence_score": 900}
    status, first, _ = await post(api, "/api/ai/decisions", body, key)
    assert status == 422 and first["error"]["code"] == "validation_error"
    status, again, headers = await post(api, "/api/ai/decisions", body, key)
    assert (status, headers[REPLAYED], again) == (422, "true", first)


async def test_a_malformed_key_is_refused_and_a_read_ignores_it(
    api: aiohttp.ClientSession,
) -> None:
    for bad in ("x" * 256, "caf\u00e9"):
        async with api.post(
            "/api/ai/decisions", json=decision(), headers={"Idempotency-Key": bad}
        ) as r:
            assert r.status == 400
            assert (await r.json())["error"]["code"] == "invalid_idempotency_key"
    async with api.get("/api/ai/decisions", headers={"Idempotency-Key": "x" * 256}) as r:
        assert r.status == 200
    assert await decision_ids(api) == []


async def test_a_metric_batch_sent_again_is_answered_from_the_store(
    api: aiohttp.ClientSession,
) -> None:
    # As sandbox.driver.post_batch sends it: the key is the batch's own.
    hour = datetime(2024, 5, 1, 12, tzinfo=UTC)
    rows = [HourlyMetrics(uuid.uuid4(), hour, 1000, 10, 1, 5.0, 20.0, 100.0)]
    body = orjson.dumps(to_body(rows))
    headers = {"Content-Type": "application/json", "Idempotency-Key": batch_key(body)}
    answers = []
    for _ in range(2):
        async with api.post("/api/ai/metrics", data=body, headers=headers) as r:
            answers.append((r.status, await r.json(), r.headers.get(REPLAYED)))
    assert answers[0] == (202, {"accepted": 1, "campaign_hours": 1}, None)
    assert answers[1] == (202, answers[0][1], "true")
