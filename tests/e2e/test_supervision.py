"""`adpilot up` restarts a service that dies while the others, the gateway first, keep going."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import aiohttp
import pytest

from shared.config import Settings
from tests.e2e.test_shutdown import NOISE, _adpilot, _all_ready
from tests.e2e.test_shutdown import own_settings as own_settings  # the fixture
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


def _pids(log: str, name: str) -> list[int]:
    return [int(pid) for pid in re.findall(rf"adpilot: started {name} \(pid (\d+)\)", log)]


async def _status(session: aiohttp.ClientSession, url: str, **kwargs: object) -> int | None:
    try:
        async with session.get(url, **kwargs) as response:  # type: ignore[arg-type]
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return None


async def test_a_killed_service_is_restarted_while_the_gateway_keeps_answering(
    own_settings: Settings, tmp_path: Path
) -> None:
    log_path = tmp_path / "up.log"
    proc = await _adpilot(own_settings, log_path, "up", "--no-simulate", own_group=True)
    gateway = own_settings.url_of("gateway")
    try:
        await _all_ready(own_settings, proc, within=60.0)
        log = log_path.read_text(errors="replace")
        key_match = re.search(r"export ADPILOT_API_KEY=(\S+)", log)
        assert key_match, log[-3000:]
        auth = {"Authorization": f"Bearer {key_match[1]}"}
        (victim,) = _pids(log, "optimizer")
        (gateway_pid,) = _pids(log, "gateway")
        rules = f"{gateway}/api/ai/automation-rules"

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            assert await _status(session, rules, headers=auth) == 200
            # The gateway's own health, watched through the whole episode.
            gateway_answers: list[int | None] = []
            watching = True

            async def watch_gateway() -> None:
                while watching:
                    gateway_answers.append(await _status(session, f"{gateway}/healthz"))
                    await asyncio.sleep(0.1)

            watcher = asyncio.create_task(watch_gateway())
            os.kill(victim, signal.SIGKILL)

            # While it is down, its routes answer 503 through the gateway (not 500 or 502).
            seen: list[int | None] = []

            async def unavailable() -> bool:
                seen.append(await _status(session, rules, headers=auth))
                return seen[-1] == 503

            await eventually(unavailable, 5)
            assert set(seen) <= {200, 503}, seen

            async def restarted() -> bool:
                pids = _pids(log_path.read_text(errors="replace"), "optimizer")
                ready = await _status(session, f"{own_settings.url_of('optimizer')}/readyz")
                return len(pids) == 2 and ready == 200

            await eventually(restarted, 60)
            assert await _status(session, rules, headers=auth) == 200
            watching = False
            await watcher
        assert gateway_answers and set(gateway_answers) == {200}, gateway_answers
        assert proc.returncode is None
        log = log_path.read_text(errors="replace")
        assert "adpilot: optimizer exited (killed by SIGKILL); restart #1 in 1s" in log
        assert _pids(log, "gateway") == [gateway_pid]
        for other in ("decision", "alerts"):
            assert len(_pids(log, other)) == 1, f"{other} was restarted too\n{log[-3000:]}"

        os.killpg(proc.pid, signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), 15)
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    log = log_path.read_text(errors="replace")
    assert code == 0, log[-3000:]
    for noise in NOISE:
        assert noise not in log, f"{noise!r} in the logs:\n{log[-3000:]}"
