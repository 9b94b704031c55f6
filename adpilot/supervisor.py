"""What keeps ``adpilot up``'s children running: each is restarted when it exits, after a
delay that doubles with each recent exit; one that keeps exiting is reported and left down.

A child that exits with code 0 without being asked to stop is restarted too: services and
the sandbox serve until a signal, so a clean exit means someone else stopped it, and
``up`` promised to keep the platform running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class RestartPolicy:
    """Restart after ``first_delay`` seconds, doubling with each exit in the last ``window``
    seconds up to ``max_delay``; the ``crash_limit``-th exit within ``window`` is the last."""

    first_delay: float = 1.0
    max_delay: float = 30.0
    crash_limit: int = 5
    window: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before restart number ``attempt`` (1, 2, ...)."""
        return float(min(self.max_delay, self.first_delay * 2 ** (attempt - 1)))


class ExitHistory:
    """One child's recent exits, and what to do after the next one."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self._exits: deque[float] = deque()

    @property
    def recent(self) -> int:
        return len(self._exits)

    def record(self, now: float) -> float | None:
        """Note an exit at ``now``: the delay before restarting, or None to leave it down."""
        self._exits.append(now)
        while self._exits[0] <= now - self.policy.window:
            self._exits.popleft()
        if len(self._exits) >= self.policy.crash_limit:
            return None
        return self.policy.delay(len(self._exits))


def describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if `adpilot up` itself dies, so no service is orphaned."""
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    env: dict[str, str]
    history: ExitHistory
    process: asyncio.subprocess.Process | None = None
    output: asyncio.Task[None] | None = None
    down: bool = False  # left down after a crash loop
    restarts: int = 0

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None


class Supervisor:
    """Runs named child processes with their output prefixed, until :meth:`run`'s event."""

    def __init__(
        self,
        policy: RestartPolicy | None = None,
        *,
        stop_within: float = 10.0,
        out: TextIO | None = None,
        err: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or RestartPolicy()
        self.stop_within = stop_within
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.clock = clock
        self.children: dict[str, Child] = {}
        self._stopping = asyncio.Event()

    def add(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.children[name] = Child(name, argv, env or {}, ExitHistory(self.policy))

    def report(self, line: str) -> None:
        print(f"adpilot: {line}", file=self.err, flush=True)

    async def run(self, stop: asyncio.Event) -> int:
        """Start every child and keep them running until ``stop`` is set, then stop them all.
        Returns 0, or 1 if a child was left down (or all of them were)."""
        watchers: list[asyncio.Task[None]] = []
        try:
            for child in self.children.values():
                await self._start(child)
            watchers = [asyncio.create_task(self._watch(c)) for c in self.children.values()]
            stopper = asyncio.create_task(stop.wait())
            everyone_down = asyncio.create_task(asyncio.wait(watchers))
            await asyncio.wait([stopper, everyone_down], return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            everyone_down.cancel()
            if not stop.is_set():
                self.report("every child is down; stopping")
        finally:
            await self._stop_all(watchers)
        return 1 if any(c.down for c in self.children.values()) else 0

    async def _start(self, child: Child) -> None:
        child.process = await asyncio.create_subprocess_exec(
            *child.argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **child.env, "PYTHONUNBUFFERED": "1"},
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            # A process group of its own: Ctrl-C in the terminal reaches `up` alone, and
            # `up` tells each child once. Two signals would cut a graceful stop short.
            process_group=0,
        )
        assert child.process.stdout is not None
        child.output = asyncio.create_task(self._pump(child.name, child.process.stdout))
        self.report(f"started {child.name} (pid {child.process.pid})")

    async def _pump(self, name: str, stream: asyncio.StreamReader) -> None:
        # One column for every child's prefix, replicas' longer names included.
        prefix = name.ljust(max(9, *(len(n) for n in self.children)))
        while line := await stream.readline():
            self.out.write(f"{prefix} | {line.decode(errors='replace')}")
            self.out.flush()

    async def _watch(self, child: Child) -> None:
        """Restart ``child`` each time it exits until the platform stops or it crash-loops."""
        while True:
            assert child.process is not None and child.output is not None
            code = await child.process.wait()
            with contextlib.suppress(Exception):
                await child.output  # its last words before ours
            if self._stopping.is_set():
                return
            delay = child.history.record(self.clock())
            if delay is None:
                child.down = True
                self.report(
                    f"{child.name} exited ({describe_exit(code)}) {child.history.recent} times "
                    f"within {self.policy.window:g}s; leaving it down"
                )
                return
            child.restarts += 1
            self.report(
                f"{child.name} exited ({describe_exit(code)}); restart #{child.restarts} "
                f"in {delay:g}s ({child.history.recent} exits in the last "
                f"{self.policy.window:g}s)"
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return
            try:
                await self._start(child)
            except OSError as exc:
                child.down = True
                self.report(f"cannot restart {child.name} ({exc}); leaving it down")
                return
            if self._stopping.is_set():
                # The stop began while it was starting and could not see it: tell it now.
                child.process.terminate()

    async def _stop_all(self, watchers: list[asyncio.Task[None]]) -> None:
        """One SIGTERM to each running child; SIGKILL for any still running after
        ``stop_within`` seconds."""
        self._stopping.set()
        for child in self.children.values():
            if child.running:
                assert child.process is not None
                child.process.terminate()
        if watchers:
            await asyncio.wait(watchers, timeout=self.stop_within)
        for child in self.children.values():
            if child.running:
                assert child.process is not None
                self.report(f"{child.name} did not stop in {self.stop_within:g}s; killing it")
                child.process.kill()
        for child in self.children.values():
            if child.process is not None:
                await child.process.wait()
            if child.output is not None:
                with contextlib.suppress(Exception):
                    await child.output
        outcomes = await asyncio.gather(*watchers, return_exceptions=True)
        for child, outcome in zip(self.children.values(), outcomes, strict=False):
            if isinstance(outcome, Exception):
                self.report(f"supervising {child.name} failed: {outcome!r}")
