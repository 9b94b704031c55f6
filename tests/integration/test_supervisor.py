"""The supervisor of `adpilot up` with real child processes: restarts, crash loops, stops."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
from collections.abc import AsyncIterator

import pytest

from adpilot.supervisor import RestartPolicy, Supervisor
from tests.helpers import eventually

pytestmark = pytest.mark.integration

# Serves until SIGTERM, saying each signal it gets; exits 0 half a second after the first.
STEADY = """
import signal, sys, time
def on_term(*_):
    print("got SIGTERM", flush=True)
    if not stopping:
        stopping.append(1)
stopping = []
signal.signal(signal.SIGTERM, on_term)
print("serving", flush=True)
while not stopping:
    time.sleep(0.02)
time.sleep(0.5)
sys.exit(0)
"""
CRASHER = "import sys; print('boom', flush=True); sys.exit(3)"
DEAF = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('serving', flush=True); time.sleep(600)"
)
FAST = RestartPolicy(first_delay=0.05, max_delay=0.2, crash_limit=3, window=60)


class Running:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.out = io.StringIO()
        self.err = io.StringIO()
        supervisor.out, supervisor.err = self.out, self.err
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(supervisor.run(self.stop))

    async def serving(self, name: str, times: int = 1) -> int:
        """Wait until ``name`` said it serves (for the ``times``-th time); its pid."""

        async def said() -> int | None:
            if self.out.getvalue().count(f"{name.ljust(9)} | serving") >= times:
                return self.pid(name)
            return None

        pid, _ = await eventually(said, 10)
        return pid

    def pid(self, name: str) -> int | None:
        process = self.supervisor.children[name].process
        return process.pid if process is not None and process.returncode is None else None

    async def finish(self, within: float = 15) -> int:
        self.stop.set()
        return await asyncio.wait_for(self.task, within)


@pytest.fixture
async def running() -> AsyncIterator[list[Running]]:
    started: list[Running] = []
    yield started
    for run in started:
        if not run.task.done():
            await run.finish()


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def start(started: list[Running], policy: RestartPolicy = FAST, **children: str) -> Running:
    supervisor = Supervisor(policy, stop_within=3)
    for name, code in children.items():
        supervisor.add(name, python(code))
    run = Running(supervisor)
    started.append(run)
    return run


async def test_a_killed_child_is_restarted_and_the_others_keep_running(
    running: list[Running],
) -> None:
    run = start(running, victim=STEADY, bystander=STEADY)
    victim, bystander = await run.serving("victim"), await run.serving("bystander")
    os.kill(victim, signal.SIGKILL)
    assert await run.serving("victim", times=2) != victim
    assert run.pid("bystander") == bystander
    log = run.err.getvalue()
    assert "victim exited (killed by SIGKILL); restart #1 in 0.05s" in log
    assert log.count("started victim") == 2 and log.count("started bystander") == 1
    assert await run.finish() == 0


async def test_a_child_that_keeps_crashing_is_left_down_and_reported(
    running: list[Running],
) -> None:
    run = start(running, crasher=CRASHER, steady=STEADY)

    async def given_up() -> bool:
        return "leaving it down" in run.err.getvalue()

    await eventually(given_up, 10)
    steady = await run.serving("steady")
    log = run.err.getvalue()
    assert "crasher exited (exit code 3) 3 times within 60s; leaving it down" in log
    assert log.count("started crasher") == 3
    assert [line for line in log.splitlines() if "restart #" in line] == [
        "adpilot: crasher exited (exit code 3); restart #1 in 0.05s (1 exits in the last 60s)",
        "adpilot: crasher exited (exit code 3); restart #2 in 0.1s (2 exits in the last 60s)",
    ]
    assert run.out.getvalue().count("crasher   | boom") == 3
    # Still serving the rest: the steady child was never restarted.
    assert not run.task.done()
    assert run.pid("steady") == steady and log.count("started steady") == 1
    assert await run.finish() == 1


async def test_a_clean_exit_nobody_asked_for_is_restarted_too(running: list[Running]) -> None:
    run = start(running, steady=STEADY)
    first = await run.serving("steady")
    os.kill(first, signal.SIGTERM)  # someone else stops it; it exits 0
    assert await run.serving("steady", times=2) != first
    assert "steady exited (exit code 0); restart #1" in run.err.getvalue()


async def test_stopping_signals_each_child_once_and_cancels_pending_restarts(
    running: list[Running],
) -> None:
    slow = RestartPolicy(first_delay=30, crash_limit=5, window=60)
    run = start(running, slow, crasher=CRASHER, steady=STEADY)

    await run.serving("steady")

    async def waiting_to_restart() -> bool:
        return "restart #1 in 30s" in run.err.getvalue()

    await eventually(waiting_to_restart, 10)
    run.stop.set()
    run.stop.set()  # a second Ctrl-C changes nothing
    # Well before the 30 s backoff: the pending restart did not hold the stop up.
    assert await asyncio.wait_for(run.task, 5) == 0
    assert run.out.getvalue().count("got SIGTERM") == 1
    assert run.err.getvalue().count("started crasher") == 1


async def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period(
    running: list[Running],
) -> None:
    run = start(running, deaf=DEAF)
    await run.serving("deaf")
    assert await run.finish() == 0
    assert "deaf did not stop in 3s; killing it" in run.err.getvalue()
    assert run.supervisor.children["deaf"].process is not None
    assert run.supervisor.children["deaf"].process.returncode == -signal.SIGKILL


async def test_up_ends_by_itself_once_every_child_is_left_down(running: list[Running]) -> None:
    run = start(running, first=CRASHER, second=CRASHER)
    assert await asyncio.wait_for(run.task, 10) == 1
    log = run.err.getvalue()
    assert log.count("leaving it down") == 2
    assert log.rstrip().endswith("adpilot: every child is down; stopping")
