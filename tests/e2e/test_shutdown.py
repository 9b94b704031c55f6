"""`adpilot up` stops the way a person expects: Ctrl-C, a few seconds, no traceback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from adpilot.registry import migration_folders
from shared.config import Settings
from shared.contracts import SERVICES
from shared.db import migrate_all
from tests.e2e.platform import service_env
from tests.infra import apart, discarded

pytestmark = pytest.mark.e2e

# Lines a clean stop never writes.
NOISE = (
    "Traceback",
    "Task was destroyed",
    "already running",
    "was never awaited",
    "Unclosed",
    "exception was never retrieved",
    "ChannelClosed",
    "InvalidStateError",
    "notification listener",
    "Warning:",
    '"level":"error"',
)


@pytest.fixture
async def own_settings(settings: Settings) -> AsyncIterator[Settings]:
    """Settings for a platform of its own: its database, exchange and ports.

    The session's platform keeps running meanwhile; sharing its database or exchange would
    let these services relay its outbox or take its messages."""
    async with discarded(apart(settings, "up")) as own:
        yield own


async def _all_ready(settings: Settings, proc: asyncio.subprocess.Process, within: float) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
        waiting = set(SERVICES)
        while waiting:
            assert proc.returncode is None, "adpilot up exited before it was ready"
            for name in sorted(waiting):
                try:
                    async with session.get(f"{settings.url_of(name)}/readyz") as r:
                        if r.status == 200:
                            waiting.discard(name)
                except (aiohttp.ClientError, TimeoutError):
                    pass
            assert time.monotonic() < deadline, f"not ready within {within}s: {sorted(waiting)}"
            await asyncio.sleep(0.2)


async def _adpilot(
    settings: Settings, log_path: Path, *args: str, own_group: bool = False
) -> asyncio.subprocess.Process:
    """``adpilot <args>`` with ``settings``, its output in ``log_path``."""
    with log_path.open("wb") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "adpilot.cli",
            *args,
            env=service_env(settings),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=own_group,
        )


async def test_ctrl_c_stops_the_platform_promptly_and_cleanly(
    own_settings: Settings, tmp_path: Path
) -> None:
    log_path = tmp_path / "up.log"
    # A group of its own, as in a terminal: Ctrl-C reaches `up` and every service.
    proc = await _adpilot(own_settings, log_path, "up", "--no-simulate", own_group=True)
    try:
        await _all_ready(own_settings, proc, within=60.0)
        # Let the heartbeats and the relays run a round, as they would in real use.
        await asyncio.sleep(2)
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), 15)
        took = time.monotonic() - started
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    logs = log_path.read_text(errors="replace")
    assert code == 0, logs[-3000:]
    assert took < 10, f"took {took:.1f}s to stop\n{logs[-3000:]}"
    for noise in NOISE:
        assert noise not in logs, f"{noise!r} in the logs:\n{logs[-3000:]}"
    for name in SERVICES:
        assert any(
            line.startswith(name) and '"service stopped"' in line for line in logs.splitlines()
        ), f"{name} did not log its stop\n{logs[-3000:]}"


async def test_a_second_signal_does_not_cut_a_stop_short(
    own_settings: Settings, tmp_path: Path
) -> None:
    """Supervisors signal twice (a group-wide Ctrl-C, then a SIGTERM): the stop goes on."""
    await migrate_all(own_settings.database_url, migration_folders())
    log_path = tmp_path / "optimizer.log"
    proc = await _adpilot(own_settings, log_path, "serve", "optimizer")
    try:
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
            while True:
                assert proc.returncode is None, log_path.read_text(errors="replace")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"{own_settings.url_of('optimizer')}/readyz") as r:
                        if r.status == 200:
                            break
                assert time.monotonic() < deadline, "optimizer not ready"
                await asyncio.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    logs = log_path.read_text(errors="replace")
    assert code == 0, logs[-3000:]
    for noise in NOISE:
        assert noise not in logs, f"{noise!r} in the logs:\n{logs[-3000:]}"
    assert '"already stopping"' in logs
    assert '"service stopped"' in logs
