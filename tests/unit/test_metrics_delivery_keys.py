"""Metric batches carry an idempotency key derived from the batch, reused on every retry."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web

from sandbox.driver import batch_key, post_batch
from shared.metrics import HourlyMetrics

CAMPAIGN = uuid.UUID("00000000-0000-4000-8000-000000000001")


def rows(clicks: int = 10) -> list[HourlyMetrics]:
    hour = datetime(2024, 5, 1, 12, tzinfo=UTC)
    return [HourlyMetrics(CAMPAIGN, hour, 1000, clicks, 1, 5.0, 20.0, 100.0)]


Behaviour = Callable[[web.Request, int], Awaitable[web.StreamResponse]]


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[str, list[web.Request], list[Behaviour]]]:
    """A stand-in gateway: answers each POST with the next behaviour, 202 once none is left."""
    seen: list[web.Request] = []
    script: list[Behaviour] = []

    async def metrics(request: web.Request) -> web.StreamResponse:
        await request.read()
        seen.append(request)
        if script:
            return await script.pop(0)(request, len(seen))
        return web.json_response({"accepted": 1}, status=202)

    app = web.Application()
    app.router.add_post("/api/ai/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/api/ai/metrics", seen, script
    finally:
        await runner.cleanup()


async def cut_connection(request: web.Request, _n: int) -> web.StreamResponse:
    # The batch arrived; the answer never does.
    assert request.transport is not None
    request.transport.close()
    return web.Response(status=202)


async def still_in_progress(_request: web.Request, _n: int) -> web.StreamResponse:
    body = {"error": {"code": "idempotency_in_progress", "message": "wait", "details": {}}}
    return web.json_response(body, status=409, headers={"Retry-After": "0"})


def test_the_key_is_the_batch_s_own() -> None:
    first = batch_key(b'{"metrics": [1]}')
    assert first == batch_key(b'{"metrics": [1]}')
    assert first != batch_key(b'{"metrics": [2]}')
    assert 1 <= len(first) <= 255 and first.isascii() and first.isprintable()


async def test_a_retry_after_a_cut_connection_sends_the_same_key(
    gateway: tuple[str, list[web.Request], list[Behaviour]],
) -> None:
    url, seen, script = gateway
    script.extend([cut_connection, still_in_progress])
    async with aiohttp.ClientSession() as session:
        await post_batch(session, url, rows(), patience=10)
    assert len(seen) == 3
    keys = {r.headers["Idempotency-Key"] for r in seen}
    assert len(keys) == 1
    assert keys == {batch_key(await seen[0].read())}
    assert len({await r.read() for r in seen}) == 1

    async with aiohttp.ClientSession() as session:
        await post_batch(session, url, rows(clicks=11), patience=10)
    assert seen[-1].headers["Idempotency-Key"] not in keys


async def test_a_key_reused_for_other_rows_is_not_retried(
    gateway: tuple[str, list[web.Request], list[Behaviour]],
) -> None:
    url, seen, script = gateway

    async def reused(_request: web.Request, _n: int) -> web.StreamResponse:
        body = {"error": {"code": "idempotency_key_reused", "message": "no", "details": {}}}
        return web.json_response(body, status=422)

    script.append(reused)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(RuntimeError, match="refused"):
            await post_batch(session, url, rows(), patience=10)
    assert len(seen) == 1
