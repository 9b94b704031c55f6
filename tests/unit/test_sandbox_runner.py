"""``python -m sandbox`` as a process: backfill, its own clock, the HTTP clock, shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.infra import free_port

ACCOUNT = uuid.UUID("00000000-0000-0000-0000-0000000000cc")


class Gateway:
    def __init__(self) -> None:
        self.hours: list[str] = []
        self.keys: set[str | None] = set()

    async def metrics(self, request: web.Request) -> web.Response:
        self.keys.add(request.headers.get("Authorization"))
        body = await request.json()
        self.hours.extend(row["hour"] for row in body["metrics"])
        return web.json_response({}, status=202)


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[Gateway, str]]:
    found = Gateway()
    app = web.Application()
    app.router.add_post("/api/ai/metrics", found.metrics)
    server = TestServer(app)
    await server.start_server()
    yield found, str(server.make_url("")).rstrip("/")
    await server.close()


async def _start(gateway_url: str, *extra: str) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADPILOT_")}
    env["PYTHONPATH"] = os.getcwd()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sandbox",
        "--port",
        str(port),
        "--gateway",
        gateway_url,
        "--account",
        str(ACCOUNT),
        "--api-key",
        "runner-key",
        "--campaigns",
        "2",
        "--start",
        "2025-03-03T00:00:00+00:00",
        *extra,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return proc, base
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    proc.kill()
    raise AssertionError("the sandbox did not start")


async def _stop(proc: asyncio.subprocess.Process) -> str:
    proc.send_signal(signal.SIGTERM)
    _out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0, err.decode()
    return err.decode()


async def _until(condition: Any, within: float = 10.0) -> None:
    for _ in range(int(within / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_at_speed_zero_only_the_backfill_goes_until_the_clock_is_advanced(
    gateway: tuple[Gateway, str],
) -> None:
    found, url = gateway
    proc, base = await _start(url, "--backfill-hours", "4", "--hours", "48", "--speed", "0")
    try:
        await _until(lambda: len(found.hours) == 4 * 2)
        await asyncio.sleep(0.3)
        assert len(found.hours) == 4 * 2
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/v1/clock/advance", json={"hours": 3}) as response:
                assert response.status == 200
                clock = await response.json()
        assert clock["accounts"][str(ACCOUNT)]["clock"] == "2025-03-03T07:00:00+00:00"
        assert len(found.hours) == 7 * 2
        assert found.keys == {"Bearer runner-key"}
    finally:
        err = await _stop(proc)
    assert "Traceback" not in err


async def test_with_a_speed_it_finishes_hours_by_itself_up_to_its_total(
    gateway: tuple[Gateway, str],
) -> None:
    found, url = gateway
    # one simulated hour every 0.05 s
    proc, _base = await _start(url, "--backfill-hours", "2", "--hours", "6", "--speed", "72000")
    try:
        await _until(lambda: len(found.hours) == 6 * 2)
        await asyncio.sleep(0.3)
        assert sorted(set(found.hours))[-1] == "2025-03-03T05:00:00+00:00"
        assert len(found.hours) == 6 * 2
    finally:
        err = await _stop(proc)
    assert "Traceback" not in err
