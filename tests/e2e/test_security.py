"""Authentication, roles, tenant isolation (BOLA) and abuse, through the gateway."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest

from shared.config import Settings
from shared.db import connect
from tests.conftest import JWT_SECRET
from tests.e2e.conftest import Tenant, make_tenant
from tests.e2e.platform import Platform
from tests.e2e.routes import ACTIONS, ADMIN_READS, GETS_BY_ID, LISTS, OTHER_GETS, POSTS, PUTS
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

ANY_ID = "9b2f6a3e-0000-4000-8000-000000000000"
# How long to wait for what the platform does in the background: a bound, not a speed.
WAIT = 30.0
ALL_CALLS = (
    [("GET", p) for p in [*LISTS, *OTHER_GETS]]
    + [("GET", f"{p}/{ANY_ID}") for p in GETS_BY_ID]
    + [("POST", p) for p in POSTS]
    + [("POST", p.format(id=ANY_ID)) for p in ACTIONS]
    + [("PUT", p) for p in PUTS]
)
# Every call that changes something: (method, path template) -> the role it needs.
CHANGES: dict[tuple[str, str], str] = {
    **{("POST", p): role for p, role in {**POSTS, **ACTIONS}.items()},
    **{("PUT", p): role for p, role in PUTS.items()},
}


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
        ("not yet valid", {"nbf": int(time.time()) + 86_400}),
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


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
async def test_the_session_says_whose_credential_it_is(
    anon: aiohttp.ClientSession, tenant_a: Tenant, tenant_b: Tenant, role: str
) -> None:
    for tenant in (tenant_a, tenant_b):
        async with anon.get("/api/ai/session", headers=tenant.headers(role)) as r:
            assert r.status == 200
            session = await r.json()
        assert session["tenant_id"] == str(tenant.id) and session["role"] == role
        assert session["kind"] == "api_key" and session["subject"]
    bearer = {"Authorization": f"Bearer {token(tenant_b.id, role)}"}
    async with anon.get("/api/ai/session", headers=bearer) as r:
        session = await r.json()
    assert (session["tenant_id"], session["role"], session["kind"]) == (
        str(tenant_b.id),
        role,
        "jwt",
    )


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
    assert created["id"] in {k["id"] for k in listed}
    assert all("key" not in k and "key_hash" not in k for k in listed)
    async with anon.get("/api/ai/alerts", headers={"X-API-Key": key}) as r:
        assert r.status == 200
    async with anon.post(f"/api/ai/keys/{created['id']}/revoke", headers=admin) as r:
        assert r.status == 200
        assert (await r.json())["revoked_at"] is not None
    async with anon.get("/api/ai/alerts", headers={"X-API-Key": key}) as r:
        assert r.status == 401


# --- roles ---------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), sorted(CHANGES))
async def test_viewers_cannot_change_anything(
    anon: aiohttp.ClientSession, tenant_a: Tenant, method: str, path: str
) -> None:
    # The role is checked before the item is looked up, so any id will do.
    async with anon.request(
        method, path.format(id=ANY_ID), json={}, headers=tenant_a.headers("viewer")
    ) as r:
        assert r.status == 403
        error = await _error(r)
    assert error["details"]["required_role"] == CHANGES[(method, path)]


@pytest.mark.parametrize(
    ("method", "path"), sorted(call for call, role in CHANGES.items() if role == "admin")
)
async def test_operators_cannot_do_admin_work(
    anon: aiohttp.ClientSession, tenant_a: Tenant, method: str, path: str
) -> None:
    async with anon.request(
        method, path.format(id=ANY_ID), json={}, headers=tenant_a.headers("operator")
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
        assert r.status == 201
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

    await eventually(counted, WAIT)


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
            assert r.status == 201, await r.text()
            ids["/api/ai/learning-feedback"] = (await r.json())["id"]
        async with b.post("/api/ai/keys", json={"name": "b", "role": "viewer"}) as r:
            assert r.status == 201, await r.text()
            ids["/api/ai/keys"] = (await r.json())["id"]

        async def recommendation_made() -> list[dict[str, Any]]:
            async with b.get(
                "/api/ai/recommendations", params={"source_decision_id": ids["/api/ai/decisions"]}
            ) as r:
                return (await r.json())["items"]

        (rec, *_), _ = await eventually(recommendation_made, WAIT)
        ids["/api/ai/recommendations (from decision)"] = rec["id"]
        async with b.get("/api/ai/audit-trail") as r:
            ids["/api/ai/audit-trail"] = (await r.json())["items"][0]["id"]
    return ids


async def test_other_tenants_ids_are_not_found(
    api: aiohttp.ClientSession, platform: Platform, tenant_b: Tenant, b_items: dict[str, str]
) -> None:
    async with aiohttp.ClientSession(base_url=platform.gateway, headers=tenant_b.headers()) as b:
        for path, id_ in b_items.items():
            base = path.split(" ")[0]
            if base == "/api/ai/keys":
                continue
            # The id names a real item: its owner finds it, anyone else does not.
            async with b.get(f"{base}/{id_}") as r:
                assert r.status == 200, path
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


async def _all_ids(session: aiohttp.ClientSession, path: str) -> set[str]:
    seen: set[str] = set()
    params: dict[str, str] = {"limit": "500"}
    while True:
        async with session.get(path, params=params) as r:
            assert r.status == 200
            page = await r.json()
        seen |= {item["id"] for item in page["items"]}
        if not page["next_cursor"]:
            return seen
        params["cursor"] = page["next_cursor"]


@pytest.mark.parametrize("path", sorted(LISTS))
async def test_lists_never_show_another_tenants_rows(
    api: aiohttp.ClientSession,
    platform: Platform,
    tenant_b: Tenant,
    b_items: dict[str, str],
    path: str,
) -> None:
    assert (await _all_ids(api, path)).isdisjoint(b_items.values())
    # The list does show B's own rows to B: an empty answer would pass the check above.
    own = {id_ for p, id_ in b_items.items() if p.split(" ")[0] == path}
    async with aiohttp.ClientSession(base_url=platform.gateway, headers=tenant_b.headers()) as b:
        assert own <= await _all_ids(b, path)


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


# Hostile text, each valid for every text field the API accepts (1 to 200 characters, no
# NUL, no whitespace at either end), so each one reaches the INSERT and the SELECT. Were
# any value spliced into SQL, the quotes below would break the statement (a 500) or change
# what it does (rows altered, tables gone, a filter matching every row).
HOSTILE = [
    "' OR '1'='1",
    "' OR 1=1 --",
    "'; DROP TABLE ai_smart_alerts; --",
    "'); DROP TABLE ai_decision_logs; --",
    "x'); DELETE FROM api_keys; --",
    "1; DROP TABLE ai_recommendations CASCADE; --",
    '") UNION SELECT usename, passwd FROM pg_shadow --',
    "$$; DROP TABLE master_ai_cycles; $$",
    "$1",
    "%s %d %n {0} {} :name ?",
    "\\",
    "\\'",
    "\\x00",
    "\\u0000",
    "%00",
    "ünïcødé 🚀 עברית العربية 中文",
    "e\u0301 z\u0335 zero\u200bwidth \u202eevil\u202c \ufeffbom \U0001d573\U0010fffd \uffff",
    '{"$gt": ""}',
    '{"tenant_id": "00000000-0000-0000-0000-000000000001", "a": [1, null]}',
    "null",
    "../../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "<script>alert(1)</script>",
    "line\nbreak\ttab\rend",
    "a" * 200,  # the most a short text field takes
    "🚀" * 200,  # the same limit counts characters, not bytes
]
# The most a long text field (a description, a rationale) takes.
HOSTILE_LONG = ("'; DROP TABLE ai_smart_alerts; -- " * 300)[:10_000]
# Tables the values above name; each must still be there afterwards.
NAMED_TABLES = [
    "alerts.ai_smart_alerts",
    "decision.ai_decision_logs",
    "decision.master_ai_cycles",
    "optimizer.ai_recommendations",
    "gateway.api_keys",
]


@pytest.fixture(scope="module")
async def hostile(platform: Platform, settings: Settings) -> AsyncIterator[aiohttp.ClientSession]:
    """A tenant of its own, so that a filter can be checked to match exactly one row."""
    tenant = await make_tenant(settings, f"hostile-{uuid.uuid4().hex[:6]}")
    async with aiohttp.ClientSession(base_url=platform.gateway, headers=tenant.headers()) as s:
        yield s


async def _created(api: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with api.post(path, json=body) as r:
        text = await _no_5xx(r)
        assert r.status == 201, text
        return await r.json()


async def _fetched(api: aiohttp.ClientSession, path: str, id_: str) -> dict[str, Any]:
    async with api.get(f"{path}/{id_}") as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def _matching(api: aiohttp.ClientSession, path: str, **filters: str) -> list[str]:
    async with api.get(path, params={**filters, "limit": "500"}) as r:
        assert r.status == 200, await r.text()
        return [item["id"] for item in (await r.json())["items"]]


def _stored(sent: dict[str, Any], got: dict[str, Any]) -> None:
    for field, value in sent.items():
        assert got[field] == value, (field, value, got[field])


async def _tables_exist(settings: Settings) -> None:
    conn = await connect(settings.database_url)
    try:
        for table in NAMED_TABLES:
            assert await conn.fetchval("SELECT to_regclass($1)", table) is not None, table
    finally:
        await conn.close()


async def test_hostile_text_in_alerts_is_stored_verbatim(
    hostile: aiohttp.ClientSession, settings: Settings
) -> None:
    for value in HOSTILE:
        body = {
            "alert_type": "risk",
            "title": value,
            "description": value,
            "recommended_actions": [{"action": value, value: [value]}],
        }
        created = await _created(hostile, "/api/ai/alerts", body)
        _stored(body, created)
        _stored(body, await _fetched(hostile, "/api/ai/alerts", created["id"]))
    body = {"alert_type": "risk", "title": HOSTILE[2], "description": HOSTILE_LONG}
    created = await _created(hostile, "/api/ai/alerts", body)
    _stored(body, await _fetched(hostile, "/api/ai/alerts", created["id"]))
    await _tables_exist(settings)


async def test_hostile_text_in_cycles_is_stored_and_filtered_verbatim(
    hostile: aiohttp.ClientSession, settings: Settings
) -> None:
    # At most a few requested cycles may wait at once per tenant; these values go in
    # groups, each cycle carrying one value in each text field and all of them as data.
    groups = [HOSTILE[i : i + 5] for i in range(0, len(HOSTILE), 5)]
    for group in groups:
        for name, trigger in zip(group, [*group[1:], group[0]], strict=True):
            body = {
                "cycle_name": name,
                "cycle_type": "analysis",
                "trigger_event": trigger,
                "metadata": {"note": name, trigger: [name, {"k": trigger}]},
            }
            created = await _created(hostile, "/api/ai/cycles", body)
            fetched = await _fetched(hostile, "/api/ai/cycles", created["id"])
            for got in (created, fetched):
                assert (got["cycle_name"], got["trigger_event"]) == (name, trigger)
                # The runner adds to a cycle's metadata; what was sent stays as it was.
                for key, value in body["metadata"].items():
                    assert got["metadata"][key] == value, key
            # "' OR '1'='1" as a filter matches the one cycle triggered by that text.
            matching = await _matching(hostile, "/api/ai/cycles", trigger_event=trigger)
            assert matching == [created["id"]], trigger
        # Let the runner take this group before queueing the next.
        await eventually(lambda: _none_pending(hostile), WAIT)
    await _tables_exist(settings)


async def _none_pending(api: aiohttp.ClientSession) -> bool:
    return not await _matching(api, "/api/ai/cycles", status="pending")


async def test_hostile_text_in_decisions_travels_verbatim(
    hostile: aiohttp.ClientSession, settings: Settings
) -> None:
    decided: dict[str, str] = {}
    for value in HOSTILE:
        body = {
            "decision_type": "keyword_bid",
            "action_taken": value,
            "decision_rationale": value,
            "context_data": {"campaign_id": str(uuid.uuid4()), "note": value, value: [value]},
            "impact_prediction": {"metric": value},
        }
        created = await _created(hostile, "/api/ai/decisions", body)
        _stored(body, created)
        _stored(body, await _fetched(hostile, "/api/ai/decisions", created["id"]))
        # Filtering on the text itself finds that decision and no other.
        matching = await _matching(hostile, "/api/ai/decisions", action_taken=value)
        assert matching == [created["id"]], value
        decided[created["id"]] = value
        feedback = {
            "decision_id": created["id"],
            "feedback_type": "user_correction",
            "feedback_value": {"note": value, value: {"nested": [value]}},
        }
        stored = await _created(hostile, "/api/ai/learning-feedback", feedback)
        _stored(feedback, await _fetched(hostile, "/api/ai/learning-feedback", stored["id"]))
    body = {"decision_type": "keyword_bid", "decision_rationale": HOSTILE_LONG}
    created = await _created(hostile, "/api/ai/decisions", body)
    _stored(body, await _fetched(hostile, "/api/ai/decisions", created["id"]))

    # Each decision's action reaches the optimizer through the outbox and the broker, and
    # comes back unchanged in the recommendation made from it.
    async def recommended() -> dict[str, str] | None:
        async with hostile.get("/api/ai/recommendations", params={"limit": "500"}) as r:
            items = (await r.json())["items"]
        actions = {
            i["source_decision_id"]: i["recommended_changes"]["action"]
            for i in items
            if i["source_decision_id"] in decided
        }
        return actions if len(actions) == len(decided) else None

    actions, _ = await eventually(recommended, WAIT)
    assert actions == decided
    await _tables_exist(settings)


async def test_hostile_text_in_recommendations_is_stored_verbatim(
    hostile: aiohttp.ClientSession, settings: Settings
) -> None:
    for value in HOSTILE:
        body = {
            "recommendation_type": "bid_strategy",
            "target_entity_type": "campaign",
            "current_state": {"bid": value},
            "recommended_changes": {"bid": value, value: [value, {value: value}]},
            "expected_impact": {"note": value},
        }
        created = await _created(hostile, "/api/ai/recommendations", body)
        _stored(body, created)
        _stored(body, await _fetched(hostile, "/api/ai/recommendations", created["id"]))
    await _tables_exist(settings)


async def test_hostile_key_names_are_stored_and_filtered_verbatim(
    hostile: aiohttp.ClientSession, settings: Settings
) -> None:
    for value in HOSTILE:
        created = await _created(hostile, "/api/ai/keys", {"name": value, "role": "viewer"})
        assert created["name"] == value
        async with hostile.get("/api/ai/keys", params={"name": value}) as r:
            assert r.status == 200
            listed = (await r.json())["items"]
        assert [(k["id"], k["name"]) for k in listed] == [(created["id"], value)], value
    await _tables_exist(settings)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/ai/alerts", {"alert_type": "risk", "title": "nul \x00 inside"}, "title"),
        (
            "/api/ai/alerts",
            {"alert_type": "risk", "title": "t", "description": "\x00"},
            "description",
        ),
        ("/api/ai/alerts", {"alert_type": "risk", "title": "a" * 201}, "title"),
        ("/api/ai/alerts", {"alert_type": "risk", "title": " \t\n "}, "title"),
        (
            "/api/ai/alerts",
            {"alert_type": "risk", "title": "t", "description": HOSTILE_LONG + "x"},
            "description",
        ),
        (
            "/api/ai/alerts",
            {"alert_type": "'; DROP TABLE ai_smart_alerts; --", "title": "t"},
            "alert_type",
        ),
        (
            "/api/ai/alerts",
            {"alert_type": "risk", "title": "t", "affected_entity_id": "' OR '1'='1"},
            "affected_entity_id",
        ),
        (
            "/api/ai/decisions",
            {"decision_type": "keyword_bid", "action_taken": "a\x00"},
            "action_taken",
        ),
        (
            "/api/ai/decisions",
            {"decision_type": "keyword_bid", "context_data": {"note": "\x00'; --"}},
            "context_data.note",
        ),
        (
            "/api/ai/decisions",
            {"decision_type": "keyword_bid", "context_data": {"a": [{"b": "x\x00"}]}},
            "context_data.a.0.b",
        ),
        (
            "/api/ai/decisions",
            {"decision_type": "keyword_bid", "context_data": {"k\x00": 1}},
            "context_data",
        ),
        (
            "/api/ai/decisions",
            {"decision_type": "keyword_bid", "cycle_id": "../../etc/passwd"},
            "cycle_id",
        ),
        ("/api/ai/cycles", {"cycle_name": "c\x00", "cycle_type": "analysis"}, "cycle_name"),
        ("/api/ai/keys", {"name": "k\x00", "role": "viewer"}, "name"),
        ("/api/ai/keys", {"name": "k", "role": "admin' OR '1'='1"}, "role"),
        (
            "/api/ai/recommendations",
            {
                "recommendation_type": "bid_strategy",
                "target_entity_type": "campaign",
                "recommended_changes": {"bid": "\x00"},
            },
            "recommended_changes.bid",
        ),
        (
            "/api/ai/metrics",
            {
                "metrics": [
                    {
                        "campaign_id": "'; DROP TABLE campaign_metrics; --",
                        "hour": "2026-01-01T00:00:00Z",
                        "impressions": 1,
                        "clicks": 0,
                        "conversions": 0,
                        "spend": 0,
                        "revenue": 0,
                        "budget": 0,
                    }
                ]
            },
            "metrics.0.campaign_id",
        ),
    ],
)
async def test_values_a_field_cannot_hold_are_refused_naming_it(
    api: aiohttp.ClientSession, path: str, body: dict[str, Any], field: str
) -> None:
    async with api.post(path, json=body) as r:
        await _no_5xx(r)
        assert r.status == 422, await r.text()
        error = await _error(r)
    assert error["code"] == "validation_error"
    assert field in {f["field"] for f in error["details"]["fields"]}, error


async def test_text_that_is_not_unicode_is_refused_as_malformed(
    api: aiohttp.ClientSession,
) -> None:
    # A lone surrogate cannot be stored as UTF-8; JSON can spell it.
    body = b'{"alert_type": "risk", "title": "half \\ud800 a pair"}'
    async with api.post(
        "/api/ai/alerts", data=body, headers={"Content-Type": "application/json"}
    ) as r:
        await _no_5xx(r)
        assert r.status == 400
        assert (await _error(r))["code"] == "malformed_json"


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


@pytest.mark.parametrize(
    "number",
    [
        str(2**63 - 1),
        str(-(2**63 - 1)),
        str(2**63),  # past int64: refused
        str(-(2**63) - 1),
        str(2**64),  # past what the JSON reader holds as an integer
        "1" + "0" * 40,
        "1" + "0" * 400,  # past a double too
    ],
)
async def test_huge_numbers_are_refused_or_stored(api: aiohttp.ClientSession, number: str) -> None:
    """A number is either refused, naming where it was, or stored exactly: never altered."""
    body = '{"decision_type": "keyword_bid", "context_data": {"n": ' + number + "}}"
    async with api.post(
        "/api/ai/decisions", data=body, headers={"Content-Type": "application/json"}
    ) as r:
        await _no_5xx(r)
        assert r.status in (201, 422)
        if r.status == 422:
            fields = (await _error(r))["details"]["fields"]
            assert [f["field"] for f in fields] == ["context_data.n"]
            return
        created = await r.json()
    async with api.get(f"/api/ai/decisions/{created['id']}") as r:
        stored = (await r.json())["context_data"]["n"]
    assert type(stored) is int and stored == int(number)


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
