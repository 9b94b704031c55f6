"""The gateway's door: CORS, credentials, roles, rate limits, and an audit row per change."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp import web

from services.gateway.keys import KeyCache, hash_key, looks_like_key, principal_for_key
from services.gateway.ratelimit import RateLimiter, retry_after
from services.gateway.tokens import BadToken, JwtVerifier
from shared.contracts import route_for
from shared.db import database_unavailable
from shared.internal_auth import HEADER as INTERNAL_HEADER
from shared.internal_auth import InvalidToken, Principal, verify
from shared.service import ServiceRuntime
from shared.web import (
    ApiError,
    Handler,
    Middleware,
    OutageLog,
    dependency_unavailable,
    unavailable,
)

log = logging.getLogger(__name__)
_audit_outage = OutageLog(log)

API_PREFIX = "/api/ai/"
# The contract itself is public: it says how to call the API, nothing about any tenant.
PUBLIC_API_PATHS = frozenset({"/api/ai/openapi.json", "/api/ai/asyncapi.json"})
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CHALLENGE = 'Bearer realm="adpilot", error="invalid_token"'
_ID_SEGMENT = re.compile(r"^[0-9a-fA-F-]{36}$")


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": CHALLENGE})


def credential_of(request: web.Request) -> str:
    api_key = request.headers.get("X-API-Key")
    if api_key:
        return api_key.strip()
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise unauthorized(
            "missing credentials: send `Authorization: Bearer <key or token>` or `X-API-Key`"
        )
    return value.strip()


def _cors(origins: frozenset[str]) -> Middleware:
    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        allowed = origin is not None and origin in origins
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            if not allowed:
                raise ApiError(403, "forbidden", "origin not allowed")
            return web.Response(
                status=204,
                headers={
                    "Access-Control-Allow-Origin": origin or "",
                    "Access-Control-Allow-Methods": "GET, POST, PUT, OPTIONS",
                    "Access-Control-Allow-Headers": (
                        "Authorization, Content-Type, X-API-Key, X-Request-Id, X-Correlation-Id, "
                        "Idempotency-Key"
                    ),
                    "Access-Control-Max-Age": "600",
                    "Vary": "Origin",
                },
            )
        response = await handler(request)
        if allowed:
            response.headers["Access-Control-Allow-Origin"] = origin or ""
            response.headers["Access-Control-Expose-Headers"] = (
                "X-Request-Id, X-Correlation-Id, Retry-After, Idempotent-Replayed"
            )
            response.headers["Vary"] = "Origin"
        return response

    return cors


KEY_CACHE = "key_cache"
KEY_UNCHECKED = "cannot check the API key: the database is unavailable; try again shortly"


def key_cache(runtime: ServiceRuntime) -> KeyCache:
    """The gateway's cache of keys found good (see :class:`KeyCache`)."""
    cache: KeyCache = runtime.state.setdefault(
        KEY_CACHE, KeyCache(runtime.settings.key_cache_seconds)
    )
    return cache


def _authenticate(runtime: ServiceRuntime) -> Middleware:
    verifier = JwtVerifier(runtime.settings)
    limiter = RateLimiter(runtime.settings.rate_limit_per_minute, runtime.settings.rate_limit_burst)

    keys = key_cache(runtime)

    async def identify(request: web.Request) -> Principal:
        credential = credential_of(request)
        if looks_like_key(credential):
            key_hash = hash_key(credential)
            principal = keys.get(key_hash)
            if principal is not None:
                return principal
            try:
                async with runtime.system_tx() as conn:
                    principal = await principal_for_key(conn, credential, key_hash)
            except Exception as exc:
                # Not knowing whether a key is good is no reason to call it bad.
                if database_unavailable(exc):
                    raise unavailable(KEY_UNCHECKED) from exc
                raise
            if principal is None:
                raise unauthorized("unknown or revoked API key")
            keys.put(key_hash, principal)
            return principal
        try:
            return verifier.verify(credential)
        except BadToken as exc:
            raise unauthorized(str(exc)) from exc

    secret = runtime.settings.require_internal_secret()

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/internal/"):
            # Operational detail is for the platform itself, as on every other service.
            try:
                request["principal"] = verify(request.headers.get(INTERNAL_HEADER, ""), secret)
            except InvalidToken as exc:
                raise ApiError(401, "unauthorized", "internal route") from exc
            return await handler(request)
        if not request.path.startswith(API_PREFIX) or request.path in PUBLIC_API_PATHS:
            return await handler(request)
        principal = await identify(request)
        request["principal"] = principal
        needed = required_role(request)
        if needed is not None and not principal.allows(needed):
            raise ApiError(
                403, "forbidden", f"this call needs the {needed} role", {"required_role": needed}
            )
        wait = limiter.check(principal.subject)
        if wait > 0:
            raise ApiError(
                429,
                "too_many_requests",
                "rate limit exceeded; slow down",
                {"retry_after_seconds": float(retry_after(wait))},
                headers={"Retry-After": retry_after(wait)},
            )
        return await handler(request)

    return authenticate


def required_role(request: web.Request) -> str | None:
    """The role the matched route's contract asks for; None where no route matched (the
    answer is then 404 or 405, which tells nobody anything)."""
    match = request.match_info
    if match.http_exception is not None:
        return None
    route = route_for(
        request.method, match.route.resource.canonical if match.route.resource else ""
    )
    # A route outside the contracts is the gateway's own business: only admins get there.
    return route.role if route is not None else "admin"


def _resource_of(path: str, body: Any) -> tuple[str | None, str | None]:
    parts = path[len(API_PREFIX) :].split("/")
    resource_id = parts[1] if len(parts) > 1 and _ID_SEGMENT.match(parts[1]) else None
    if resource_id is None and isinstance(body, dict) and isinstance(body.get("id"), str):
        resource_id = body["id"]
    return parts[0] or None, resource_id


def _audit(runtime: ServiceRuntime) -> Middleware:
    @web.middleware
    async def audit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in MUTATING or not request.path.startswith(API_PREFIX):
            return await handler(request)
        status, body = 500, None
        try:
            response = await handler(request)
            status = response.status
            if isinstance(response, web.Response) and response.body is not None:
                try:
                    body = orjson.loads(response.body)  # type: ignore[arg-type]
                except (orjson.JSONDecodeError, TypeError):
                    body = None
            return response
        except ApiError as exc:
            status = exc.status
            raise
        except Exception as exc:
            status = 503 if dependency_unavailable(exc) else 500
            raise
        finally:
            principal: Principal | None = request.get("principal")
            if principal is not None:
                await _record(runtime, request, principal, status, body)

    return audit


async def _record(
    runtime: ServiceRuntime, request: web.Request, principal: Principal, status: int, body: Any
) -> None:
    resource_type, resource_id = _resource_of(request.path, body)
    after = body if 200 <= status < 300 and isinstance(body, dict) else None
    if after is not None and isinstance(after.get("key"), str):
        after = {k: v for k, v in after.items() if k != "key"}  # a new key is shown once only
    before = after.get("before") if isinstance(after, dict) else None
    try:
        async with runtime.tenant_tx(principal.tenant_id) as conn:
            await conn.execute(
                """INSERT INTO ai_audit_trail (tenant_id, actor_type, actor_id, principal_id,
                       action, resource_type, resource_id, before_state, after_state,
                       request_id, correlation_id, ip_address, status_code, metadata)
                   VALUES ($1, 'user', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::inet, $12, $13)""",
                principal.tenant_id,
                principal.subject,
                principal.kind,
                f"{request.method} {request.path}",
                resource_type,
                resource_id,
                before if isinstance(before, dict) else None,
                after,
                request.get("request_id"),
                request.get("correlation_id"),
                request.remote,
                status,
                {"role": principal.role, "user_agent": request.headers.get("User-Agent", "")[:200]},
            )
    except Exception as exc:
        # The change itself has happened; losing its audit row is logged loudly, not hidden.
        if database_unavailable(exc) and not 200 <= status < 300:
            # A refused call during an outage changed nothing: one line now and then says so.
            _audit_outage.warn(
                "audit rows of refused calls not written: database unavailable",
                path=request.path,
                status=status,
            )
        elif database_unavailable(exc):
            log.error(
                "could not write audit row: database unavailable",
                extra={"path": request.path, "status": status, "error": repr(exc)[:300]},
            )
        else:
            log.exception("could not write audit row", extra={"path": request.path})


def gateway_middlewares(runtime: ServiceRuntime) -> Sequence[Middleware]:
    return [
        _cors(runtime.settings.allowed_origins),
        _audit(runtime),
        _authenticate(runtime),
    ]
