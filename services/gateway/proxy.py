"""Forwarding ``/api/ai`` requests to the owning service over pooled keep-alive connections."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web

from services.gateway.upstreams import Upstreams, may_try_next
from shared.internal_auth import HEADER as INTERNAL_HEADER
from shared.internal_auth import sign
from shared.service import ServiceRuntime, principal_of
from shared.web import ApiError, Handler

log = logging.getLogger(__name__)

HTTP_CLIENT = "http_client"

# Request headers passed on to the owning service; everything else (cookies, client-sent
# tenant headers, hop-by-hop headers) stays at the gateway.
# The Idempotency-Key goes on too: the service records it with its write (shared/once.py),
# so a write the gateway gave up on is not made again when the client retries.
FORWARDED_REQUEST_HEADERS = (
    "Content-Type",
    "Accept",
    "X-Request-Id",
    "X-Correlation-Id",
    "Idempotency-Key",
)
FORWARDED_RESPONSE_HEADERS = ("Content-Type", "Location", "Retry-After")


@asynccontextmanager
async def http_client(runtime: ServiceRuntime) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=200, limit_per_host=100, keepalive_timeout=60)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        runtime.state[HTTP_CLIENT] = session
        yield


def client(runtime: ServiceRuntime) -> aiohttp.ClientSession:
    session: aiohttp.ClientSession = runtime.state[HTTP_CLIENT]
    return session


def forward_to(runtime: ServiceRuntime, service: str) -> Handler:
    """A handler that passes the request on to one of ``service``'s replicas and its answer
    back; a replica that cannot be reached is passed over for the next."""
    settings = runtime.settings
    secret, ttl = settings.require_internal_secret(), settings.internal_token_ttl_seconds
    upstreams = Upstreams(settings.urls_of(service))
    timeout = aiohttp.ClientTimeout(total=settings.upstream_timeout_seconds)

    async def forward(request: web.Request) -> web.Response:
        headers = {h: request.headers[h] for h in FORWARDED_REQUEST_HEADERS if h in request.headers}
        headers["X-Request-Id"] = request["request_id"]
        headers["X-Correlation-Id"] = str(request["correlation_id"])
        headers[INTERNAL_HEADER] = sign(principal_of(request), secret, ttl)
        if request.remote:
            headers["X-Forwarded-For"] = request.remote
        # `body_exists`, not `can_read_body`: a middleware may have read (and cached) it.
        body = await request.read() if request.body_exists else None
        failed: aiohttp.ClientConnectionError | None = None
        for base in upstreams.order():
            try:
                async with client(runtime).request(
                    request.method,
                    base + request.rel_url.raw_path_qs,
                    headers=headers,
                    data=body,
                    timeout=timeout,
                    allow_redirects=False,
                ) as upstream:
                    # The answer's bytes go back as they came: nothing is parsed or re-encoded.
                    payload = await upstream.read()
                    out = {
                        h: upstream.headers[h]
                        for h in FORWARDED_RESPONSE_HEADERS
                        if h in upstream.headers
                    }
                    upstreams.answered(base)
                    return web.Response(body=payload, status=upstream.status, headers=out)
            except TimeoutError as exc:
                raise ApiError(
                    504,
                    "upstream_timeout",
                    f"the {service} service did not answer in time",
                    {"service": service},
                ) from exc
            except aiohttp.ClientConnectionError as exc:
                log.warning(
                    "upstream unavailable",
                    extra={"service": service, "upstream": base, "error": repr(exc)},
                )
                upstreams.unreachable(base)
                failed = exc
                if not may_try_next(exc, request.method):
                    break
        raise ApiError(
            503,
            "service_unavailable",
            f"the {service} service is unavailable",
            {"service": service},
        ) from failed

    return forward
