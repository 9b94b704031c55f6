"""Authentication, roles, tenant isolation (BOLA) and abuse, through the gateway."""

from __future__ import annotations

import time
import uuid
from typing import Any

import aiohttp
import jwt
import pytest

from shared.config import Settings
from tests.conftest import JWT_SECRET
from tests.e2e.conftest import Tenant, make_tenant
from tests.e2e.platform import Platform
from tests.e2e.routes import ACTIONS, ADMIN_READS, GETS_BY_ID, LISTS, OTHER_GETS, POSTS
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

ANY_ID = "9b2f6a3e-0000-4000-8000-000000000000"
ALL_CALLS = (
    [("GET", p) for p in [*LISTS, *OTHER_GETS]]
    + [("GET", f"{p}/{ANY_ID}") for p in GETS_BY_ID]
    + [("POST", p) for p in POSTS]
    + [("POST", p.format(id=ANY_ID)) for p in ACTIONS]
)


def token(tenant: uuid.UUID, role: str = "viewer", **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "sub": "user-1",
        "tenant_id": str(tenant),
        "role": role,
        "aud": "adpilot",
        "exp": now + 300,
        "nbf": now - 5,
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, overrides.pop("secret", JWT_SECRET), algorithm="HS256")


@pytest.fixture
async def anon(platform: Platform) -> Any:
    async with aiohttp.ClientSession(base_url=platform.gateway) as session:
        yield session


async def _error(response: aiohttp.ClientResponse) -> dict[str, Any]:
    body = await response.json()
    assert set(body) == {"error"}, body
    return body["error"]


# --- authentication ------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ALL_CALLS)
async def test_every_route_needs_a_credential(
    anon: aiohttp.ClientSession, method: str, path: str
) -> None:
    async with anon.request(method, path, json={}) as r:
        assert r.status == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await _error(r))["code"] == "unauthorized"


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer not-a-jwt",
        "Bearer adp_deadbeef_" + "x" * 43,  # looks like a key, is none
        "Bearer " + jwt.encode({"sub": "x"}, "k" * 40, algorithm="HS256"),
    ],
)
async def test_malformed_or_unknown_credentials_are_refused(
    anon: aiohttp.ClientSession, authorization: str
) -> None:
    async with anon.get("/api/ai/alerts", headers={"Authorization": authorization}) as r:
        assert r.status == 401
        error = await _error(r)
    assert "WWW-Authenticate" in r.headers
    assert authorization.split(" ")[-1] not in error["message"] or authorization == "Bearer"


@pytest.mark.parametrize(
    ("reason", "overrides"),
    [
        ("forged", {"secret": "a-different-secret-of-sufficient-length-123"}),
        ("expired", {"exp": int(time.time()) - 60}),
        ("not yet valid", {"nbf": int(time.time()) + 600}),
        ("wrong audience", {"aud": "someone-else"}),
        ("no role", {"role": None}),
        ("no tenant", {"tenant_id": None}),
    ],
)
async def test_bad_tokens_are_refused(
    anon: aiohttp.ClientSession, tenant_a: Tenant, reason: str, overrides: dict[str, Any]
) -> None:
    bad = token(tenant_a.id, **overrides)
    async with anon.get("/api/ai/alerts", headers={"Authorization": f"Bearer {bad}"}) as r:
        assert r.status == 401, reason
        assert "WWW-Authenticate" in r.headers


async def test_a_valid_token_and_both_key_headers_work(
    anon: aiohttp.ClientSession, tenant_a: Tenant
) -> None:
    good = token(tenant_a.id)
    async with anon.get("/api/ai/alerts", headers={"Authorization": f"Bearer {good}"}) as r:
        assert r.status == 200
    async with anon.get("/api/ai/alerts", headers={"X-API-Key": tenant_a.keys["viewer"]}) as r:
        assert r.status == 200


async def test_a_revoked_key_stops_working(
    platform: Platform, settings: Settings, anon: aiohttp.ClientSession
) -> None:
    tenant = await make_tenant(settings, f"revoked-{uuid.uuid4().hex[:6]}")
    admin = tenant.headers("admin")
    async with anon.post(
        "/api/ai/keys", json={"name": "short-lived", "role": "viewer"}, headers=admin
    ) as r:
        assert r.status == 201
        created = await r.json()
    key = created["key"]
    assert key.startswith("adp_") and created["prefix"] in key
    async with anon.get("/api/ai/keys", headers=admin) as r:
        listed = (await r.json())["items"]
    assert all("key" not in k and "key_hash" not in k for k in listed)
    async with anon.get("/api/ai/alerts", headers={"X-API-Key": key}) as r:
        assert r.status == 200
    async with anon.post(f"/api/ai/keys/{created['id']}/revoke", headers=admin) as r:
        assert r.status == 200
        assert (await r.json())["revoked_at"] is not None
    async with anon.get("/api/ai/alerts", headers={"X-API-Key": key}) as r:
        assert r.status == 401


# --- roles ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(POSTS))
async def test_viewers_cannot_change_anything(
    anon: aiohttp.ClientSession, tenant_a: Tenant, path: str
) -> None:
    async with anon.post(path, json={}, headers=tenant_a.headers("viewer")) as r:
        assert r.status == 403
        error = await _error(r)
    assert error["details"]["required_role"] == POSTS[path]


@pytest.mark.parametrize(
    "path", sorted(p for p, role in {**POSTS, **ACTIONS}.items() if role == "admin")
)
async def test_operators_cannot_do_admin_work(
    anon: aiohttp.ClientSession, tenant_a: Tenant, path: str
) -> None:
    async with anon.post(
        path.format(id=ANY_ID), json={}, headers=tenant_a.headers("operator")
    ) as r:
        assert r.status == 403


@pytest.mark.parametrize("path", sorted(ADMIN_READS))
async def test_only_admins_read_keys_and_the_audit_trail(
    anon: aiohttp.ClientSession, tenant_a: Tenant, path: str
) -> None:
    for role, status in (("viewer", 403), ("operator", 403), ("admin", 200)):
        async with anon.get(path, headers=tenant_a.headers(role)) as r:
            assert r.status == status, role


async def test_operators_act_on_alerts(anon: aiohttp.ClientSession, tenant_a: Tenant) -> None:
    operator = tenant_a.headers("operator")
    async with anon.post(
        "/api/ai/alerts", json={"alert_type": "risk", "title": "t"}, headers=operator
    ) as r:
        alert = await r.json()
    async with anon.post(f"/api/ai/alerts/{alert['id']}/acknowledge", headers=operator) as r:
        assert r.status == 200


# --- services trust only the gateway -------------------------------------------------


@pytest.mark.parametrize("service", ["decision", "alerts", "optimizer"])
async def test_service_ports_refuse_direct_calls(platform: Platform, service: str) -> None:
    base = platform.settings.url_of(service)
    async with aiohttp.ClientSession(base_url=base) as direct:
        for path in ("/api/ai/alerts", "/api/ai/decisions", "/internal/status"):
            async with direct.get(path) as r:
                assert r.status == 401
            async with direct.get(path, headers={"X-Adpilot-Internal": "e30.AAAA"}) as r:
                assert r.status == 401
        async with direct.get("/healthz") as r:
            assert r.status == 200
            assert set(await r.json()) == {"status", "service"}


async def test_the_gateways_internal_status_is_not_public(anon: aiohttp.ClientSession) -> None:
    async with anon.get("/internal/status") as r:
        assert r.status == 401
    async with anon.get("/internal/status", headers={"X-Adpilot-Internal": "e30.AAAA"}) as r:
        assert r.status == 401


async def test_open_endpoints_reveal_nothing_about_tenants(
    anon: aiohttp.ClientSession, platform: Platform, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        async with anon.get(path) as r:
            assert r.status == 200
            text = await r.text()
        assert "tenant" not in text
        assert str(tenant_a.id) not in text and str(tenant_b.id) not in text
    async with anon.get("/metrics") as r:
        metrics = await r.text()
    assert 'adpilot_http_requests_total{method="GET",route="/healthz",service="gateway"' in metrics
    # Each service exposes its own, counting the events it took from the bus.
    body = {"decision_type": "keyword_bid", "action_taken": "lower_bid"}
    async with anon.post("/api/ai/decisions", json=body, headers=tenant_a.headers("operator")) as r:
        assert r.status == 201
    wanted = 'adpilot_events_total{outcome="applied",service="optimizer",type="decision.made"}'

    async def counted() -> bool:
        async with anon.get(f"{platform.settings.url_of('optimizer')}/metrics") as r:
            return r.status == 200 and wanted in await r.text()

    await eventually(counted, 5)


# --- tenant isolation (BOLA) ---------------------------------------------------------


@pytest.fixture(scope="module")
async def b_items(platform: Platform, tenant_b: Tenant) -> dict[str, str]:
    """One item of every kind that tenant B can create, by list path."""
    campaign = str(uuid.uuid4())
    bodies = {
        "/api/ai/cycles": {"cycle_name": "b", "cycle_type": "analysis"},
        "/api/ai/decisions": {
            "decision_type": "keyword_bid",
            "action_taken": "lower_bid",
            "confidence_score": 70,
            "context_data": {"campaign_id": campaign},
        },
        "/api/ai/alerts": {
            "alert_type": "risk",
            "title": "b's alert",
            "affected_entity_type": "campaign",
            "affected_entity_id": campaign,
        },
        "/api/ai/recommendations": {
            "recommendation_type": "bid_strategy",
            "target_entity_type": "campaign",
            "recommended_changes": {"bid": 0.9},
        },
    }
    ids = {}
    async with aiohttp.ClientSession(base_url=platform.gateway, headers=tenant_b.headers()) as b:
        for path, body in bodies.items():
            async with b.post(path, json=body) as r:
                assert r.status == 201, await r.text()
                ids[path] = (await r.json())["id"]
        feedback = {
            "decision_id": ids["/api/ai/decisions"],
            "feedback_type": "user_correction",
            "feedback_value": {"ok": False},
        }
        async with b.post("/api/ai/learning-feedback", json=feedback) as r:
            ids["/api/ai/learning-feedback"] = (await r.json())["id"]
        async with b.post("/api/ai/keys", json={"name": "b", "role": "viewer"}) as r:
            ids["/api/ai/keys"] = (await r.json())["id"]

        async def recommendation_made() -> list[dict[str, Any]]:
            async with b.get(
                "/api/ai/recommendations", params={"source_decision_id": ids["/api/ai/decisions"]}
            ) as r:
                return (await r.json())["items"]

        from tests.helpers import eventually

        (rec, *_), _ = await eventually(recommendation_made, 5)
        ids["/api/ai/recommendations (from decision)"] = rec["id"]
        async with b.get("/api/ai/audit-trail") as r:
            ids["/api/ai/audit-trail"] = (await r.json())["items"][0]["id"]
    return ids


async def test_other_tenants_ids_are_not_found(
    api: aiohttp.ClientSession, b_items: dict[str, str]
) -> None:
    for path, id_ in b_items.items():
        base = path.split(" ")[0]
        if base == "/api/ai/keys":
            continue
        async with api.get(f"{base}/{id_}") as r:
            assert r.status == 404, path
    alert = b_items["/api/ai/alerts"]
    for action in ("acknowledge", "resolve", "dismiss"):
        async with api.post(f"/api/ai/alerts/{alert}/{action}") as r:
            assert r.status == 404
    async with api.post(f"/api/ai/keys/{b_items['/api/ai/keys']}/revoke") as r:
        assert r.status == 404
    for action in ("approve", "reject"):
        async with api.post(
            f"/api/ai/recommendations/{b_items['/api/ai/recommendations']}/{action}"
        ) as r:
            assert r.status == 404
    feedback = {
        "decision_id": b_items["/api/ai/decisions"],
        "feedback_type": "user_correction",
        "feedback_value": {},
    }
    async with api.post("/api/ai/learning-feedback", json=feedback) as r:
        assert r.status == 422  # "does not exist": the same answer as for a made-up id
    cycle = {"decision_type": "keyword_bid", "cycle_id": b_items["/api/ai/cycles"]}
    async with api.post("/api/ai/decisions", json=cycle) as r:
        assert r.status == 422


@pytest.mark.parametrize("path", sorted(LISTS))
async def test_lists_never_show_another_tenants_rows(
    api: aiohttp.ClientSession, b_items: dict[str, str], path: str
) -> None:
    seen: set[str] = set()
    params: dict[str, str] = {"limit": "500"}
    while True:
        async with api.get(path, params=params) as r:
            assert r.status == 200
            page = await r.json()
        seen |= {item["id"] for item in page["items"]}
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert seen.isdisjoint(b_items.values())


# --- abuse ---------------------------------------------------------------------------

NASTY = [
    "' OR '1'='1",
    "'; DROP TABLE ai_smart_alerts; --",
    '") UNION SELECT * FROM pg_user --',
    "ünïcødé 🚀 עברית",
    "\\x00",
    "%00",
    "a" * 5000,
    "$1",
]


async def _no_5xx(response: aiohttp.ClientResponse) -> str:
    text = await response.text()
    assert response.status < 500, text
    if response.status >= 400:
        # An error says what was wrong with the request, never how the server is built.
        for leak in ("Traceback", "asyncpg", "syntax error", "SELECT ", "postgresql://"):
            assert leak not in text, text
    return text


@pytest.mark.parametrize("path", sorted(LISTS))
async def test_nasty_filter_values(api: aiohttp.ClientSession, path: str) -> None:
    resource = LISTS[path]
    for name in [*resource.filters, "limit", "cursor", "since", "unknown"]:
        for value in NASTY:
            async with api.get(path, params={name: value}) as r:
                await _no_5xx(r)


@pytest.mark.parametrize("path", sorted(set(POSTS) - {"/api/ai/metrics"}))
async def test_nasty_field_values(api: aiohttp.ClientSession, path: str) -> None:
    fields = [
        "cycle_name",
        "title",
        "description",
        "decision_rationale",
        "action_taken",
        "name",
        "trigger_event",
        "hypothesis",
    ]
    for value in NASTY:
        body = {f: value for f in fields}
        body.update(
            {
                "context_data": {value: value},
                "recommended_changes": {"k": value},
                "feedback_value": {"v": [value]},
            }
        )
        async with api.post(path, json=body) as r:
            await _no_5xx(r)


async def test_nul_in_an_accepted_field_is_refused_cleanly(api: aiohttp.ClientSession) -> None:
    body = {"alert_type": "risk", "title": "nul \x00 inside"}
    async with api.post("/api/ai/alerts", json=body) as r:
        assert r.status == 422


async def test_oversized_bodies_are_refused(api: aiohttp.ClientSession, settings: Settings) -> None:
    huge = b'{"metrics": [' + b" " * (settings.max_body_bytes + 1) + b"]}"
    async with api.post(
        "/api/ai/metrics", data=huge, headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 413
        assert (await _error(r))["code"] == "payload_too_large"


@pytest.mark.parametrize("limit", ["501", "100000000000", "-1", "0", "1e3", "ten"])
async def test_page_sizes_are_capped(api: aiohttp.ClientSession, limit: str) -> None:
    async with api.get("/api/ai/decisions", params={"limit": limit}) as r:
        assert r.status == 422


@pytest.mark.parametrize("depth", [40, 2000])
async def test_deep_json_is_refused(api: aiohttp.ClientSession, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    body = '{"alert_type": "risk", "title": "deep", "recommended_actions": ' + nested + "}"
    async with api.post(
        "/api/ai/alerts", data=body, headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 400
        await _no_5xx(r)


async def test_huge_numbers_are_refused_or_stored(api: aiohttp.ClientSession) -> None:
    body = '{"decision_type": "keyword_bid", "context_data": {"n": 1' + "0" * 40 + "}}"
    async with api.post(
        "/api/ai/decisions", data=body, headers={"Content-Type": "application/json"}
    ) as r:
        await _no_5xx(r)


async def test_rate_limits_answer_429_with_retry_after(
    platform: Platform, tenant_a: Tenant
) -> None:
    # The suites' own gateway allows a lot; this one, in front of the same services, little:
    # one token a minute, so nothing refills while the test runs, however slow the machine.
    url = await platform.start_gateway_variant(
        "strict", rate_limit_per_minute=1, rate_limit_burst=5
    )
    statuses = []
    async with aiohttp.ClientSession(base_url=url, headers=tenant_a.headers("viewer")) as s:
        for _ in range(8):
            async with s.get("/api/ai/system-health") as r:
                statuses.append(r.status)
                if r.status == 429:
                    assert int(r.headers["Retry-After"]) >= 1
                    assert (await _error(r))["code"] == "too_many_requests"
        # Another key has its own allowance.
        async with s.get("/api/ai/system-health", headers=tenant_a.headers("admin")) as r:
            assert r.status == 200
    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429] * 3


async def test_cors_allows_only_listed_origins(anon: aiohttp.ClientSession) -> None:
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}
    async with anon.options("/api/ai/alerts", headers=preflight) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    async with anon.options(
        "/api/ai/alerts", headers={**preflight, "Origin": "https://evil.example"}
    ) as r:
        assert r.status == 403
        assert "Access-Control-Allow-Origin" not in r.headers
