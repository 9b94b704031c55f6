"""Idempotency keys: a retried POST, PUT or PATCH gets the first answer, not a second change.

A client sends ``Idempotency-Key: <1-255 printable ASCII characters>`` with any request that
creates or changes something. The gateway claims the key for the caller's tenant before the
request goes on (a row inserted with ``ON CONFLICT DO NOTHING`` semantics, so two gateways
cannot both win), and once the answer is known stores it with a hash of the request:

- the same key with the same request again answers the stored response, with
  ``Idempotent-Replayed: true``, and never reaches the owning service;
- the same key with another method, path or body is a 422 ``idempotency_key_reused``;
- the same key while the first request is still being answered is a 409
  ``idempotency_in_progress`` with ``Retry-After``;
- a 5xx answer is not kept (the claim is released, so the client may retry); 2xx and 4xx
  answers are.

Keys are kept per tenant for :data:`RETENTION`; an older one counts as new, and
:func:`forget_expired_keys` removes them. A GET, or any request without the header, passes
through untouched.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import orjson
from aiohttp import web

from shared.contracts import gateway
from shared.service import ServiceRuntime
from shared.web import ApiError, Handler, Middleware, error_response

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
METHODS = frozenset({"POST", "PUT", "PATCH"})
API_PREFIX = "/api/ai/"
RETENTION = timedelta(hours=24)
MAX_KEY_LENGTH = 255
# A claim is released as soon as its request fails; one left behind by a gateway that died
# mid-request is taken over once the upstream timeout and this margin have passed.
LEASE_MARGIN_SECONDS = 30.0
IN_PROGRESS_RETRY_AFTER = "1"
STORE_RETRY_AFTER = "2"
# What a database that cannot be reached raises: refused or cut connections, a server
# shutting down or starting, a pool that waited too long.
UNREACHABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)
SWEEP_EVERY_SECONDS = 3600.0
# Response headers replayed along with status and body.
STORED_HEADERS = ("Content-Type", "Location")
# Secrets an answer shows once: they are not written to the key store, and a replay
# answers them as an empty string (the item exists; its secret was in the first answer).
SECRET_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    (gateway.CREATE_KEY.method, gateway.CREATE_KEY.path): ("key",),
}
# Visible ASCII, with spaces allowed inside (HTTP trims them at the ends).
_KEY = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
KEY_PATTERN = "^" + _KEY.pattern + "$"


def parse_key(raw: str) -> str:
    """The key as sent, or a 400 saying what a key must look like."""
    if len(raw) > MAX_KEY_LENGTH or not _KEY.fullmatch(raw):
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
            {"header": HEADER, "max_length": MAX_KEY_LENGTH},
        )
    return raw


def fingerprint(method: str, path_qs: str, body: bytes) -> bytes:
    """What makes two requests the same request: method, path with query, body bytes."""
    digest = hashlib.sha256()
    for part in (method.encode(), path_qs.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


@dataclass(frozen=True)
class Stored:
    """A first answer, as it is replayed."""

    status: int
    headers: dict[str, str]
    body: bytes


class Busy(Enum):
    IN_PROGRESS = "in_progress"
    MISMATCH = "mismatch"


@dataclass(frozen=True)
class Claimed:
    claim: UUID


Claim = Claimed | Stored | Busy


async def claim_key(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    key: str,
    request_hash: bytes,
    method: str,
    path: str,
    lease: timedelta,
) -> Claim:
    """Claim ``key`` for this request, or say why not: answered already, in flight, or
    claimed by a different request. ``conn`` is in a transaction scoped to the tenant."""
    claim = uuid4()
    for _ in range(3):
        won = await conn.fetchval(
            """INSERT INTO idempotency_keys AS k
                   (tenant_id, key, request_hash, method, path, claim)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (tenant_id, key) DO UPDATE
                   SET request_hash = EXCLUDED.request_hash, method = EXCLUDED.method,
                       path = EXCLUDED.path, claim = EXCLUDED.claim, status_code = NULL,
                       response_headers = NULL, response_body = NULL,
                       created_at = now(), completed_at = NULL
                   WHERE k.created_at < now() - $7::interval
                      OR (k.status_code IS NULL AND k.request_hash = EXCLUDED.request_hash
                          AND k.created_at < now() - $8::interval)
               RETURNING k.claim""",
            tenant_id,
            key,
            request_hash,
            method,
            path,
            claim,
            RETENTION,
            lease,
        )
        if won is not None:
            return Claimed(won)
        row = await conn.fetchrow(
            """SELECT request_hash, status_code, response_headers, response_body
               FROM idempotency_keys WHERE tenant_id = $1 AND key = $2""",
            tenant_id,
            key,
        )
        if row is None:  # released between the two statements: claim it afresh
            continue
        if row["request_hash"] != request_hash:
            return Busy.MISMATCH
        if row["status_code"] is None:
            return Busy.IN_PROGRESS
        return Stored(row["status_code"], dict(row["response_headers"]), row["response_body"])
    return Busy.IN_PROGRESS


async def store_answer(
    conn: asyncpg.Connection, tenant_id: UUID, key: str, claim: UUID, answer: Stored
) -> bool:
    """Keep ``answer`` for the key this request claimed. False if the claim was lost."""
    done = await conn.execute(
        """UPDATE idempotency_keys
           SET status_code = $4, response_headers = $5, response_body = $6, completed_at = now()
           WHERE tenant_id = $1 AND key = $2 AND claim = $3""",
        tenant_id,
        key,
        claim,
        answer.status,
        answer.headers,
        answer.body,
    )
    return bool(done == "UPDATE 1")


async def release_key(conn: asyncpg.Connection, tenant_id: UUID, key: str, claim: UUID) -> None:
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND claim = $3",
        tenant_id,
        key,
        claim,
    )


async def sweep(conn: asyncpg.Connection) -> int:
    """Remove keys older than :data:`RETENTION`. Returns how many went."""
    done = await conn.execute(
        "DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval", RETENTION
    )
    return int(done.split()[-1])


async def forget_expired_keys(runtime: ServiceRuntime) -> None:
    """The gateway's background job keeping the key store to a day's worth."""
    while True:
        async with runtime.system_tx() as conn:
            removed = await sweep(conn)
        if removed:
            log.info("forgot expired idempotency keys", extra={"keys": removed})
        await asyncio.sleep(SWEEP_EVERY_SECONDS)


def _route_key(request: web.Request) -> tuple[str, str]:
    resource = request.match_info.route.resource
    return request.method, resource.canonical if resource is not None else request.path


def _without_secrets(body: bytes, fields: tuple[str, ...]) -> bytes:
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if isinstance(data, dict):
        data.update({f: "" for f in fields if isinstance(data.get(f), str)})
    return orjson.dumps(data)


def _answer_of(request: web.Request, response: web.StreamResponse) -> Stored | None:
    """What to keep of ``response``: None if it cannot be kept (a stream, a 5xx)."""
    if not isinstance(response, web.Response) or response.status >= 500:
        return None
    body = response.body
    if body is None:
        body = b""
    if not isinstance(body, bytes):
        return None
    if fields := SECRET_FIELDS.get(_route_key(request)):
        body = _without_secrets(body, fields)
    headers = {h: response.headers[h] for h in STORED_HEADERS if h in response.headers}
    return Stored(response.status, headers, body)


def replay(answer: Stored) -> web.Response:
    return web.Response(
        body=answer.body,
        status=answer.status,
        headers={**answer.headers, REPLAYED_HEADER: "true"},
    )


def idempotency(runtime: ServiceRuntime) -> Middleware:
    """The middleware; it runs after authentication, so the tenant is known."""
    lease = timedelta(seconds=runtime.settings.upstream_timeout_seconds + LEASE_MARGIN_SECONDS)

    async def release(tenant_id: UUID, key: str, claim: UUID) -> None:
        try:
            async with runtime.tenant_tx(tenant_id) as conn:
                await release_key(conn, tenant_id, key, claim)
        except Exception as exc:
            # The claim lapses after the lease; until then a retry is told to wait.
            log.warning("could not release an idempotency key", extra={"error": repr(exc)})

    @web.middleware
    async def idempotent(request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = request.headers.get(HEADER)
        principal = request.get("principal")
        if (
            raw is None
            or principal is None
            or request.method not in METHODS
            or not request.path.startswith(API_PREFIX)
            or request.match_info.http_exception is not None
        ):
            return await handler(request)
        key = parse_key(raw)
        tenant_id: UUID = principal.tenant_id
        body = await request.read()
        request_hash = fingerprint(request.method, request.rel_url.raw_path_qs, body)
        try:
            async with runtime.tenant_tx(tenant_id) as conn:
                found = await claim_key(
                    conn, tenant_id, key, request_hash, request.method, request.path, lease
                )
        except UNREACHABLE as exc:
            # Nothing has been done yet: the client may simply try again.
            log.warning("idempotency store unreachable", extra={"error": repr(exc)})
            raise ApiError(
                503,
                "service_unavailable",
                "the gateway's database is unavailable; retry shortly",
                {"service": "gateway"},
                headers={"Retry-After": STORE_RETRY_AFTER},
            ) from exc
        if isinstance(found, Stored):
            return replay(found)
        if found is Busy.MISMATCH:
            raise ApiError(
                422,
                "idempotency_key_reused",
                f"this {HEADER} was used for a different request; send a new key",
                {"header": HEADER},
            )
        if found is Busy.IN_PROGRESS:
            raise ApiError(
                409,
                "idempotency_in_progress",
                f"a request with this {HEADER} is still being answered; retry shortly",
                {"header": HEADER},
                headers={"Retry-After": IN_PROGRESS_RETRY_AFTER},
            )
        assert isinstance(found, Claimed)
        try:
            response = await handler(request)
        except ApiError as exc:
            if exc.status >= 500:
                await asyncio.shield(release(tenant_id, key, found.claim))
                raise
            response = error_response(exc)
        except BaseException:
            await asyncio.shield(release(tenant_id, key, found.claim))
            raise
        answer = _answer_of(request, response)
        if answer is None:
            await asyncio.shield(release(tenant_id, key, found.claim))
            return response
        try:
            async with runtime.tenant_tx(tenant_id) as conn:
                kept = await store_answer(conn, tenant_id, key, found.claim, answer)
            if not kept:
                log.warning("idempotency claim lost before the answer was stored")
        except Exception as exc:
            # The change has happened and the client gets its answer; a retry within the
            # lease is told to wait, after it the request counts as new.
            log.warning("could not store an idempotent answer", extra={"error": repr(exc)})
        return response

    return idempotent
