"""Pure parts of the security layer: tokens, keys, roles, limits, secrets, JSON guards."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from cryptography.hazmat.primitives.asymmetric import rsa

from services.gateway.keys import hash_key, looks_like_key, new_key
from services.gateway.ratelimit import RateLimiter, retry_after
from services.gateway.security import required_role
from services.gateway.tokens import BadToken, JwtVerifier
from shared.config import MissingSecret, Settings
from shared.contracts import ROUTES
from shared.internal_auth import InvalidToken, Principal, sign, verify
from shared.routing import route_def
from shared.web import ApiError, check_json, loads_exact

TENANT = uuid.UUID("11111111-2222-3333-4444-555555555555")
SECRET = b"s" * 32


def test_internal_tokens_round_trip_and_expire() -> None:
    p = Principal(TENANT, "operator", "key:abc", "api_key")
    token = sign(p, SECRET, ttl_seconds=60, now=1000.0)
    assert verify(token, SECRET, now=1059.0) == p
    with pytest.raises(InvalidToken, match="expired"):
        verify(token, SECRET, now=1061.0)
    with pytest.raises(InvalidToken, match="signature"):
        verify(token, b"t" * 32, now=1000.0)


def test_tampered_internal_tokens_are_refused() -> None:
    token = sign(Principal(TENANT, "viewer", "s"), SECRET, 60)
    body, mac = token.split(".")
    promoted = body.replace(body[5], "A" if body[5] != "A" else "B")
    for bad in (f"{promoted}.{mac}", "", "a.b.c", "e30.", token + "x"):
        with pytest.raises(InvalidToken):
            verify(bad, SECRET)


def test_roles_rank() -> None:
    assert Principal(TENANT, "admin", "s").allows("operator")
    assert not Principal(TENANT, "viewer", "s").allows("operator")
    assert Principal(TENANT, "operator", "s").allows("viewer")


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/api/ai/alerts", "viewer"),
        ("GET", "/api/ai/alerts/123", "viewer"),
        ("GET", "/api/ai/audit-trail", "admin"),
        ("GET", "/api/ai/keys", "admin"),
        ("POST", "/api/ai/alerts/1/acknowledge", "operator"),
        ("POST", "/api/ai/metrics", "operator"),
        ("POST", "/api/ai/keys", "admin"),
        ("POST", "/api/ai/keys/1/revoke", "admin"),
        ("HEAD", "/api/ai/alerts", "viewer"),
        ("POST", "/api/ai/recommendations/1/approve", "operator"),
        # No such route: answered 404 or 405 whoever asks, so no role is needed to learn it.
        ("DELETE", "/api/ai/alerts/1", None),
        ("POST", "/api/ai/something-new", None),
    ],
)
async def test_required_roles(method: str, path: str, role: str | None) -> None:
    """The role comes from the contract of the route the gateway's router matched."""
    app = web.Application()

    async def answer(_request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_routes([route_def(route, answer) for route in ROUTES])
    request = make_mocked_request(method, path, app=app)
    match = await app.router.resolve(request)
    request._match_info = match  # what aiohttp does before it runs the middlewares
    assert required_role(request) == role


def test_keys_are_random_and_only_their_hash_is_kept() -> None:
    (k1, p1), (k2, p2) = new_key(), new_key()
    assert k1 != k2 and p1 != p2
    assert looks_like_key(k1) and k1.startswith(f"adp_{p1}_")
    assert len(k1) > 40
    assert hash_key(k1) != k1 and len(hash_key(k1)) == 64
    assert not looks_like_key("eyJhbGciOi")


def test_rate_limiter_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=3, clock=lambda: now[0])
    assert [limiter.check("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.check("k")
    assert wait == pytest.approx(1.0)
    assert retry_after(wait) == "1"
    assert limiter.check("other") == 0.0
    now[0] = 2.0
    assert limiter.check("k") == 0.0


@pytest.fixture(autouse=True)
def _no_adpilot_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings here come from the test's arguments alone, never from secrets or files
    the shell running the tests has configured."""
    for name in [n for n in os.environ if n.upper().startswith("ADPILOT_")]:
        monkeypatch.delenv(name)


def _settings(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[arg-type]


def _hs(claims: dict[str, object], secret: str) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def _claims(**over: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "sub": "u1",
        "tenant_id": str(TENANT),
        "role": "operator",
        "aud": "adpilot",
        "exp": now + 60,
        "nbf": now - 1,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def test_hs256_tokens() -> None:
    secret = "x" * 40
    verifier = JwtVerifier(_settings(jwt_secret=secret))
    principal = verifier.verify(_hs(_claims(), secret))
    assert principal == Principal(TENANT, "operator", "jwt:u1", "jwt")
    for bad, reason in [
        (_hs(_claims(exp=int(time.time()) - 100), secret), "expired"),
        (_hs(_claims(nbf=int(time.time()) + 100), secret), "not valid yet"),
        (_hs(_claims(aud="other"), secret), "audience"),
        (_hs(_claims(), "y" * 40), "invalid"),
        (_hs(_claims(role="root"), secret), "role"),
        (_hs(_claims(tenant_id="acme"), secret), "tenant"),
        (_hs(_claims(exp=None), secret), "invalid"),
    ]:
        with pytest.raises(BadToken, match=reason):
            verifier.verify(bad)


def test_tokens_are_refused_when_not_configured() -> None:
    with pytest.raises(BadToken, match="not enabled"):
        JwtVerifier(_settings()).verify(_hs(_claims(), "x" * 40))


def test_rs256_tokens_against_a_jwks_file(tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    public_jwk.update({"kid": "k1", "use": "sig", "alg": "RS256"})
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public_jwk]}))
    verifier = JwtVerifier(_settings(jwks_file=jwks))
    good = jwt.encode(_claims(role="viewer"), private, algorithm="RS256", headers={"kid": "k1"})
    assert verifier.verify(good).role == "viewer"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(_claims(), other, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(BadToken):
        verifier.verify(forged)
    unknown_kid = jwt.encode(_claims(), private, algorithm="RS256", headers={"kid": "k9"})
    with pytest.raises(BadToken, match="unknown key"):
        verifier.verify(unknown_kid)
    # An HS256 token may not ride on the RS256 configuration ("alg confusion").
    with pytest.raises(BadToken, match="algorithm"):
        verifier.verify(_hs(_claims(), "x" * 40))


def test_secrets_come_from_files_and_stay_out_of_reprs(tmp_path: Path) -> None:
    path = tmp_path / "internal"
    path.write_text("z" * 48 + "\n")
    s = _settings(internal_secret_file=path)
    assert s.require_internal_secret() == b"z" * 48
    assert "zzzz" not in repr(s) and "zzzz" not in str(s.model_dump())
    with pytest.raises(MissingSecret):
        _settings(internal_secret="short").require_internal_secret()
    with pytest.raises(MissingSecret):
        _settings().require_internal_secret()


@pytest.mark.parametrize(
    ("data", "status", "field"),
    [
        ({"a": "ok", "b": [1, 2, {"c": "ü🚀"}]}, None, None),
        ({"a": "nul\x00"}, 422, "a"),
        ({"a": [{"b": "x\x00"}]}, 422, "a.0.b"),
        ({"k\x00": 1}, 422, "body"),
        ({"n": 2**63}, 422, "n"),
        ({"n": 2**63 - 1, "m": -(2**63 - 1)}, None, None),
        ({"deep": json.loads("[" * 40 + "]" * 40)}, 400, None),
    ],
)
def test_json_guards(data: object, status: int | None, field: str | None) -> None:
    if status is None:
        check_json(data)
        return
    with pytest.raises(ApiError) as caught:
        check_json(data)
    assert caught.value.status == status
    if field is not None:
        assert [f["field"] for f in caught.value.details["fields"]] == [field]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"n": 18446744073709551616}', "n"),  # 2**64: beyond what orjson reads as an integer
        (b'{"a": {"n": 1' + b"0" * 40 + b"}}", "a.n"),
        (b'{"n": -9223372036854775809}', "n"),  # one below int64
        (b'{"n": [0, 1' + b"0" * 400 + b"]}", "n.1"),  # beyond a double as well
        (b'{"n": 1e400}', "n"),
    ],
)
def test_numbers_that_cannot_be_kept_are_refused_by_field(raw: bytes, field: str) -> None:
    with pytest.raises(ApiError) as caught:
        check_json(loads_exact(raw))
    assert caught.value.status == 422
    assert [f["field"] for f in caught.value.details["fields"]] == [field]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"n": 9223372036854775807, "m": -9223372036854775807}',
        b'{"digits": "12345678901234567890123", "x": 0.12345678901234567890123}',
        b'{"x": 1.5e300, "y": -0.0}',
    ],
)
def test_numbers_within_range_read_exactly(raw: bytes) -> None:
    data = loads_exact(raw)
    check_json(data)
    assert data == json.loads(raw)
    assert [type(v) for v in data.values()] == [type(v) for v in json.loads(raw).values()]


@pytest.mark.parametrize("raw", [b'{"n": NaN}', b'{"n": 1' + b"0" * 400 + b", }", b"[1,"])
def test_malformed_bodies_stay_400(raw: bytes) -> None:
    with pytest.raises(ApiError) as caught:
        loads_exact(raw)
    assert caught.value.status == 400
