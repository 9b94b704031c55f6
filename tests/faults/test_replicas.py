"""Every service in two replicas (`adpilot up --replicas`) under a steady stream of metrics
and decisions, its replicas killed one at a time (SIGKILL and SIGTERM) and restarted by
`up`: nothing accepted is lost or stored twice, no change reaches the ad platform twice,
each period's scheduled cycle runs once, and the stream's throughput is back within 10 s
of each kill.

Clients reach the two gateways as they would behind a load balancer: through one address
that sends each new connection to the next gateway that accepts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from shared.config import Settings
from shared.contracts import SERVICES
from shared.replicas import format_replicas, replica_names
from tests.e2e.platform import Platform
from tests.e2e.test_act import Account, open_account
from tests.e2e.test_shutdown import _adpilot
from tests.faults.ledger import Ledger, Stream, settled_audit
from tests.faults.servers import PrivatePostgres, RabbitCluster
from tests.faults.test_cluster import Forwarder
from tests.infra import discarded, free_port, private_settings, run_id

# Throughput "back within 10 s" is a time: measured with the machine to itself (`make test`
# runs quiet tests after the parallel run), not while other suites take its two cores.
pytestmark = [pytest.mark.faults, pytest.mark.quiet]

REPLICAS = {name: 2 for name in SERVICES}
CYCLE_SECONDS = 3.0
# One at a time, each once the one before is back: both signals, every service.
VICTIMS = (
    ("optimizer-1", signal.SIGKILL),
    ("decision-2", signal.SIGTERM),
    ("alerts-1", signal.SIGKILL),
    ("gateway-1", signal.SIGTERM),
    ("optimizer-2", signal.SIGTERM),
    ("decision-1", signal.SIGKILL),
)
RECOVERY_SECONDS = 10.0
KILL_EVERY_SECONDS = 4.0
# Throughput counts as back once a window of this many seconds carries this share of the
# rate before the first kill.
WINDOW_SECONDS = 2.0
BACK_SHARE = 0.7
SAMPLE_SECONDS = 0.25


def consecutive_ports(count: int) -> int:
    """The first of ``count`` free ports in a row: a service's replicas listen one port
    apart here (``ADPILOT_REPLICA_PORT_STEP=1``)."""
    while True:
        ports = [free_port()]
        while len(ports) < count and (port := free_port()) == ports[-1] + 1:
            ports.append(port)
        if len(ports) == count:
            return ports[0]


@dataclass
class Replicated:
    """`adpilot up --replicas` and the sandbox, on the fault suite's own servers."""

    settings: Settings
    up: asyncio.subprocess.Process
    log_path: Path
    platform: Platform  # the sandbox's

    def pids(self, name: str) -> list[int]:
        log = self.log_path.read_text(errors="replace")
        return [int(p) for p in re.findall(rf"adpilot: started {name} \(pid (\d+)\)", log)]

    def url(self, replica: str) -> str:
        service, _, number = replica.partition("-")
        port = self.settings.replica_ports(service)[int(number or 1) - 1]
        return f"http://{self.settings.host}:{port}"

    @property
    def names(self) -> list[str]:
        return [n for s, count in REPLICAS.items() for n in replica_names(s, count)]

    async def ready(self, names: list[str], within: float) -> None:
        deadline = time.monotonic() + within
        waiting = set(names)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
            while waiting:
                assert self.up.returncode is None, self.log_path.read_text()[-3000:]
                for name in sorted(waiting):
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        async with session.get(f"{self.url(name)}/readyz") as r:
                            if r.status == 200:
                                waiting.discard(name)
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"not ready within {within:g}s: {sorted(waiting)}\n"
                        + self.log_path.read_text(errors="replace")[-3000:]
                    )
                await asyncio.sleep(0.2)


@pytest.fixture
async def replicated(
    postgres: PrivatePostgres, broker: RabbitCluster, tmp_path: Path
) -> AsyncIterator[Replicated]:
    settings = private_settings(
        postgres.url,
        broker.first.url,
        f"faults.{run_id()}",
        outbox_poll_seconds=0.5,
        max_deliveries=3,
        heartbeat_seconds=1.0,
        rate_limit_per_minute=60_000,
        rate_limit_burst=5_000,
        cycle_interval_seconds=CYCLE_SECONDS,
        db_pool_max=6,
        replicas=format_replicas(REPLICAS),
        replica_port_step=1,
        **{f"{name}_port": consecutive_ports(count) for name, count in REPLICAS.items()},
    )
    log_path = tmp_path / "up.log"
    async with discarded(settings):
        up = await _adpilot(
            settings,
            log_path,
            "up",
            "--no-simulate",
            "--replicas",
            format_replicas(REPLICAS),
            own_group=True,
        )
        platform = Platform(settings, tmp_path)
        replicated = Replicated(settings, up, log_path, platform)
        try:
            await asyncio.gather(
                replicated.ready(replicated.names, within=90), platform.start_sandbox()
            )
            yield replicated
        finally:
            await platform.stop_all()
            if up.returncode is None:
                os.killpg(up.pid, signal.SIGINT)
                try:
                    await asyncio.wait_for(up.wait(), 20)
                except TimeoutError:
                    os.killpg(up.pid, signal.SIGKILL)
                    await up.wait()


@pytest.fixture
async def account(replicated: Replicated) -> AsyncIterator[Account]:
    async for opened in open_account(
        replicated.platform, replicated.settings, seed=int(run_id()[:6], 16), campaigns=6
    ):
        await opened.act_on_certain(
            {"cooldown_hours": 0, "budget": {"max_step_share": 0.5, "max_daily_share": 1.0}}
        )
        yield opened


@dataclass
class Throughput:
    """The stream's decisions accepted by a gateway, and carried all the way through (the
    optimizer's outcome back on the decision), counted every ``SAMPLE_SECONDS``."""

    samples: list[tuple[float, int, int]] = field(default_factory=list)

    async def watch(self, ledger: Ledger, database_url: str, account: Account) -> None:
        conn = await asyncpg.connect(database_url)
        try:
            while True:
                done = await conn.fetchval(
                    """SELECT count(*) FROM decision.ai_decision_logs
                       WHERE tenant_id = $1 AND context_data ? 'ledger_key'
                         AND outcome IS NOT NULL""",
                    account.tenant.id,
                )
                self.samples.append((time.monotonic(), len(ledger.accepted_decisions), done))
                await asyncio.sleep(SAMPLE_SECONDS)
        finally:
            await conn.close()

    def rates(self, until: float) -> tuple[float, float]:
        """Accepted and carried-through decisions a second over the window ending at
        ``until``."""
        inside = [s for s in self.samples if until - WINDOW_SECONDS <= s[0] <= until]
        if len(inside) < 2:
            return 0.0, 0.0
        span = inside[-1][0] - inside[0][0]
        return (
            (inside[-1][1] - inside[0][1]) / span,
            (inside[-1][2] - inside[0][2]) / span,
        )

    def baseline(self, since: float, until: float) -> float:
        inside = [s for s in self.samples if since <= s[0] <= until]
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])

    def back_after(self, kill: float, rate: float) -> float | None:
        """Seconds from ``kill`` until both rates are back to ``BACK_SHARE`` of ``rate``."""
        for at, _accepted, _done in self.samples:
            if at < kill:
                continue
            accepted, done = self.rates(at)
            if accepted >= BACK_SHARE * rate and done >= BACK_SHARE * rate:
                return max(0.0, at - kill)
        return None


async def _kill(replicated: Replicated, name: str, sig: signal.Signals) -> float:
    """Signal the replica's current process; answers when."""
    pids = replicated.pids(name)
    os.kill(pids[-1], sig)
    return time.monotonic()


async def _scheduled_periods(database_url: str, account: Account) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(
            """SELECT s.period_start, s.cycle_id, c.status,
                      (SELECT count(*) FROM decision.ai_workflow_states w
                       WHERE w.workflow_id = s.cycle_id AND w.step_name = 'gather') AS runs
               FROM decision.cycle_schedule s
               JOIN decision.master_ai_cycles c ON c.id = s.cycle_id
               WHERE s.tenant_id = $1 ORDER BY s.period_start""",
            account.tenant.id,
        )
    finally:
        await conn.close()


async def test_replicas_killed_one_at_a_time_lose_and_double_nothing(
    replicated: Replicated, account: Account
) -> None:
    settings = replicated.settings
    forwarder = Forwarder(settings.replica_ports("gateway"))
    await forwarder.start()
    ledger = Ledger()
    stream = Stream(f"http://127.0.0.1:{forwarder.port}", account, ledger)
    throughput = Throughput()
    watcher = asyncio.create_task(throughput.watch(ledger, settings.database_url, account))
    kills: list[tuple[str, str, float]] = []
    began = time.monotonic()
    try:
        await stream.start()
        await stream.accepted(10)
        steady_from = time.monotonic()
        await stream.accepted(len(ledger.accepted_decisions) + 15)
        rate = throughput.baseline(steady_from, time.monotonic())
        last = time.monotonic()
        for name, sig in VICTIMS:
            # Room to see the dip and the way back after the kill before; and never the
            # last replica of a service: its sibling is up again first.
            await asyncio.sleep(max(0.0, last + KILL_EVERY_SECONDS - time.monotonic()))
            service = name.partition("-")[0]
            await replicated.ready(replica_names(service, REPLICAS[service]), within=60)
            last = await _kill(replicated, name, sig)
            kills.append((name, sig.name, last))
        await asyncio.sleep(KILL_EVERY_SECONDS)
        ended = time.monotonic()
    finally:
        await stream.stop()
        await forwarder.close()
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

    report = await settled_audit(ledger, settings.database_url, account)
    audited = time.monotonic()
    recovery = {f"{name} {sig}": throughput.back_after(at, rate) for name, sig, at in kills}
    print(
        f"{report.summary()}; baseline {rate:.1f} decisions/s; seconds until throughput was "
        f"back: {recovery}; answers {dict(ledger.answers())}"
    )
    assert report.problems() == {}, report.summary()
    assert report.applied > 0
    slow = {k: v for k, v in recovery.items() if v is None or v > RECOVERY_SECONDS}
    assert slow == {}, f"throughput not back within {RECOVERY_SECONDS:g}s: {recovery}"

    # The schedule: a period every CYCLE_SECONDS, none skipped, none twice (the table's
    # key), each done by one cycle that ran once; the last periods may still be running.
    deadline = time.monotonic() + 30
    while True:
        periods = await _scheduled_periods(settings.database_url, account)
        in_window = [p for p in periods if p["period_start"].timestamp() <= time.time() - 10]
        if all(p["status"] == "completed" for p in in_window) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    starts = [p["period_start"] for p in periods]
    period = timedelta(seconds=CYCLE_SECONDS)
    gaps = [(a, b) for a, b in itertools.pairwise(starts) if b - a != period]
    assert gaps == [], f"periods skipped: {gaps}"
    assert len(starts) >= (ended - steady_from) / CYCLE_SECONDS - 2, starts
    assert [p for p in in_window if p["status"] != "completed" or p["runs"] != 1] == []
    cycles_run = len({p["cycle_id"] for p in in_window})
    print(
        f"seconds: steady stream {steady_from - began:.0f}, kills {ended - steady_from:.0f}, "
        f"audit {audited - ended:.0f}, schedule {time.monotonic() - audited:.0f}"
    )
    print(f"{len(starts)} periods of {CYCLE_SECONDS:g} s, each once; {cycles_run} cycles ran them")

    # `up` restarted every replica killed, and left none down.
    log = replicated.log_path.read_text(errors="replace")
    assert "leaving it down" not in log, log[-3000:]
    assert replicated.up.returncode is None
    for name, _sig, _at in kills:
        assert len(replicated.pids(name)) == 2, f"{name} was not restarted\n{log[-3000:]}"
