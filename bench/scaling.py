"""How the optimizer's and the alerts service's throughput goes with 1, 2 and 3 replicas
on one queue, measured in one run.

    .venv/bin/python bench/scaling.py [--messages 60] [--rounds 3] [--json]

Starts the gateway and the sandbox ad platform on a throwaway database and exchange, and
a tenant whose autonomy is ``act`` with a sandbox account of ``--messages`` campaigns.
Then, for each service and for 1, 2 and 3 replicas (``adpilot serve``, the services
themselves, as ``adpilot up --replicas`` starts them, sharing the service's queue):

- **optimizer**: ``--messages`` ``decision.made`` events are published at once, one
  budget change per campaign (down 10 %, back, down again from one count to the next);
  timed from the first publish until the last change is applied on the sandbox. Each
  message is the optimizer's whole work for a decision: read the account from the
  platform, hold the change to the safety limits, record it, and (its executor) apply
  it on the platform and record the platform's answer.
- **alerts**: ``metrics.recorded`` events, each the next hour of 10 campaigns of one of 6
  tenants (``--messages`` in all, the tenants taking turns, a week of history stored
  beforehand); timed from the first publish until the last is stored, checked for
  anomalies, grouped into incidents and risk-assessed (its inbox row).

Each is measured ``--rounds`` times; the figures are the medians: messages a second per
service and replica count, the CPU the replicas used (``_cpu_cores``: their user + system
seconds over the measurement's seconds) and how busy the machine's CPUs were meanwhile
(``_machine_busy``, 0 to 1: everything on it, PostgreSQL, RabbitMQ, the sandbox and
whatever else runs there), with the machine's cores and its load average at the start.
With ``--json`` one JSON object. The gateway is stopped while the services are measured.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on the path, and its http.py would hide the
# standard library's http package: the repository's root comes first instead.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

import argparse
import asyncio
import os
import secrets
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any

import aiohttp

from adpilot.registry import migration_folders
from bench.report import BENCH_SETTINGS, print_figures
from sandbox.driver import to_body
from sandbox.simulator import CampaignSimulator
from services.gateway.keys import create_key, ensure_tenant
from shared.bus import Bus, queue_name
from shared.config import Settings
from shared.contracts.decision import DECISION_MADE
from shared.contracts.gateway import METRICS_RECORDED
from shared.db import connect, create_pool, migrate_all, scoped
from shared.events import Envelope
from shared.metrics_store import upsert_metrics
from tests.e2e.platform import Platform
from tests.infra import discarded, private_settings

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
REPLICAS = (1, 2, 3)
HOUR = timedelta(hours=1)
ALERT_TENANTS = 6
ALERT_CAMPAIGNS = 10
HISTORY_HOURS = 7 * 24
LIMITS = {
    "min_confidence": 99.5,
    "cooldown_hours": 0,
    "budget": {"max_step_share": 0.5, "max_daily_share": 1.0},
}
WITHIN = 300.0


@dataclass
class Run:
    settings: Settings
    platform: Platform
    tenant: uuid.UUID
    key: str
    bus: Bus


@asynccontextmanager
async def own_platform() -> AsyncIterator[Run]:
    """A database, exchange and ports of the run's own; the gateway and the sandbox up;
    a tenant with an admin key. All of it removed on the way out."""
    settings = private_settings(
        SERVER,
        Settings().amqp_url,
        f"bench.{secrets.token_hex(5)}",
        **BENCH_SETTINGS,
        # Three replicas of a service besides the others: small pools keep them within
        # the shared server's connections.
        db_pool_max=4,
        # The engine's own cycles would only add work nobody measures.
        cycle_interval_seconds=3600.0,
    )
    async with discarded(settings):
        await migrate_all(settings.database_url, migration_folders())
        pool = await create_pool(settings.database_url, "gateway", min_size=1, max_size=1)
        try:
            async with scoped(pool, system=True) as conn:
                tenant = await ensure_tenant(conn, f"scaling-{secrets.token_hex(3)}")
                _row, key = await create_key(conn, tenant, "scaling", "admin")
        finally:
            await pool.close()
        platform = Platform(settings, Path(tempfile.mkdtemp(prefix="adpilot-scaling-")))
        bus = Bus(settings.amqp_url, settings.exchange)
        await bus.connect()
        try:
            await asyncio.gather(platform.start("gateway"), platform.start_sandbox())
            yield Run(settings, platform, tenant, key, bus)
        finally:
            await bus.close()
            await platform.stop_all()


# --- replicas ---------------------------------------------------------------------------


def _names(service: str, count: int) -> list[str]:
    """The processes' names in the platform: the service's own, then ``service-2``, ..."""
    return [service if i == 1 else f"{service}-{i}" for i in range(1, count + 1)]


async def scale_to(run: Run, service: str, count: int) -> list[int]:
    """Exactly ``count`` processes of ``service`` running and ready; answers their pids."""
    wanted = _names(service, count)
    for name in [n for n in run.platform.processes if n.partition("-")[0] == service]:
        if name not in wanted:
            await run.platform.stop(name)
    missing = [n for n in wanted if n not in run.platform.processes]
    await asyncio.gather(
        *(
            run.platform.start(service)
            if name == service
            else run.platform.start_replica(service, name.partition("-")[2])
            for name in missing
        )
    )
    return [proc.pid for name, proc in run.platform.processes.items() if name in wanted]


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system seconds the processes have used (Linux ``/proc``)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def machine_ticks() -> tuple[int, int]:
    """The machine's busy and total CPU time so far, in ticks (``/proc/stat``)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


@dataclass
class Measured:
    """Messages a second; the cores the replicas used; the share of the machine's CPU
    that was busy (everything on it: the database, the broker, the sandbox, others)."""

    rate: float
    cores: float
    busy: float


class Meter:
    """CPU used by the replicas, and by the whole machine, from :meth:`start` on."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = pids

    def start(self) -> None:
        self._cpu, self._wall, self._machine = (
            cpu_seconds(self.pids),
            time.monotonic(),
            machine_ticks(),
        )

    def done(self, handled: int, seconds: float) -> Measured:
        wall = time.monotonic() - self._wall
        busy, total = machine_ticks()
        return Measured(
            handled / seconds,
            (cpu_seconds(self.pids) - self._cpu) / wall,
            (busy - self._machine[0]) / max(1, total - self._machine[1]),
        )


async def drained(run: Run, service: str) -> None:
    """Wait until the service's queue has nothing ready and nothing in flight."""
    deadline = time.monotonic() + WITHIN
    name = queue_name(run.settings.exchange, service)
    quiet = 0
    while quiet < 3:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{service}'s queue did not drain")
        depth = await run.bus.queue_depth(name)
        quiet = quiet + 1 if depth == 0 else 0
        await asyncio.sleep(0.3)


async def _wait_for(url: str, sql: str, args: Sequence[Any], want: int) -> datetime:
    """Poll ``sql`` (a count, the newest time, and a count of failures) until the count
    reaches ``want``; answers that time."""
    conn = await connect(url)
    try:
        deadline = time.monotonic() + WITHIN
        while True:
            row = await conn.fetchrow(sql, *args)
            assert row is not None
            if row[2]:
                raise RuntimeError(f"{row[2]} of {want} messages failed")
            if row[0] >= want:
                return row[1]  # type: ignore[no-any-return]
            if time.monotonic() > deadline:
                raise RuntimeError(f"{row[0]} of {want} messages handled in {WITHIN:g} s")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def _db_now(url: str) -> datetime:
    conn = await connect(url)
    try:
        return await conn.fetchval("SELECT clock_timestamp()")  # type: ignore[no-any-return]
    finally:
        await conn.close()


# --- the optimizer ----------------------------------------------------------------------


async def prepare_optimizer(run: Run, campaigns: int) -> dict[uuid.UUID, float]:
    """The tenant's sandbox account and its autonomy; answers each campaign's budget."""
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{run.platform.sandbox}/v1/accounts",
            json={"account_id": str(run.tenant), "campaigns": campaigns, "seed": 11},
        ) as r:
            assert r.status == 201, await r.text()
            account = await r.json()
        async with http.put(
            f"{run.platform.gateway}/api/ai/preferences",
            json={"autonomy": "act", "safety_limits": LIMITS},
            headers={"Authorization": f"Bearer {run.key}"},
        ) as r:
            assert r.status == 200, await r.text()
    await scale_to(run, "optimizer", 1)
    await drained(run, "optimizer")  # the preferences are the optimizer's now
    return {uuid.UUID(c["campaign_id"]): float(c["daily_budget"]) for c in account["campaigns"]}


def decision(tenant: uuid.UUID, campaign: uuid.UUID, budget: float) -> Envelope:
    return DECISION_MADE.envelope(
        {
            "id": uuid.uuid4(),
            "cycle_id": None,
            "decision_type": "budget_adjustment",
            "context_data": {
                "campaign_id": str(campaign),
                "action": {"kind": "budget", "to": round(budget, 2)},
            },
            "decision_rationale": "scaling bench",
            "confidence_score": 100.0,
            "action_taken": "budget_change",
            "impact_prediction": None,
            "actual_impact": None,
            "validation_status": "pending",
            "created_at": datetime.now(UTC),
            "campaign_id": campaign,
        },
        tenant_id=tenant,
        source="decision",
    )


async def measure_optimizer(
    run: Run, budgets: dict[uuid.UUID, float], count: int, turn: int
) -> Measured:
    """The optimizer with ``count`` replicas."""
    meter = Meter(await scale_to(run, "optimizer", count))
    await drained(run, "optimizer")
    share = 0.9 if turn % 2 == 0 else 1.0
    events = [decision(run.tenant, c, b * share) for c, b in budgets.items()]
    ids = [e.payload["id"] for e in events]
    meter.start()
    started = await _db_now(run.settings.database_url)
    await asyncio.gather(*(run.bus.publish(e) for e in events))
    last = await _wait_for(
        run.settings.database_url,
        """SELECT count(*) FILTER (WHERE status = 'applied'), max(applied_at),
                  count(*) FILTER (WHERE status = 'failed')
           FROM optimizer.ai_optimization_history WHERE decision_id = ANY($1::uuid[])""",
        [ids],
        len(ids),
    )
    return meter.done(len(ids), (last - started).total_seconds())


# --- alerts -----------------------------------------------------------------------------


@dataclass
class AlertTenant:
    tenant: uuid.UUID
    simulator: CampaignSimulator
    next_hour: datetime


async def prepare_alerts(run: Run) -> list[AlertTenant]:
    """Tenants whose week of history the alerts service already holds."""
    start = datetime(2026, 3, 2, tzinfo=UTC)
    tenants = [
        AlertTenant(uuid.uuid4(), CampaignSimulator(ALERT_CAMPAIGNS, seed, start), start)
        for seed in range(ALERT_TENANTS)
    ]
    pool = await create_pool(run.settings.database_url, "alerts", min_size=1, max_size=2)
    try:
        for t in tenants:
            rows = [
                r for h in range(HISTORY_HOURS) for r in t.simulator.simulate_hour(start + h * HOUR)
            ]
            async with scoped(pool, t.tenant) as conn:
                await upsert_metrics(conn, t.tenant, rows)
            t.next_hour = start + HISTORY_HOURS * HOUR
    finally:
        await pool.close()
    return tenants


async def measure_alerts(
    run: Run, tenants: list[AlertTenant], messages: int, count: int
) -> Measured:
    """The alerts service with ``count`` replicas."""
    meter = Meter(await scale_to(run, "alerts", count))
    # What waited meanwhile (the services' heartbeats, the optimizer's events) first.
    await drained(run, "alerts")
    events: list[Envelope] = []
    while len(events) < messages:
        for t in tenants[: messages - len(events)]:
            rows = t.simulator.simulate_hour(t.next_hour)
            t.next_hour += HOUR
            events.append(
                METRICS_RECORDED.envelope(to_body(rows), tenant_id=t.tenant, source="gateway")
            )
    ids = [e.event_id for e in events]
    meter.start()
    started = await _db_now(run.settings.database_url)
    # Published in order: each tenant's hours as they come.
    await asyncio.gather(*(run.bus.publish(e) for e in events))
    last = await _wait_for(
        run.settings.database_url,
        """SELECT count(*), max(processed_at), 0 FROM alerts.inbox
           WHERE consumer = 'alerts' AND event_id = ANY($1::uuid[])""",
        [ids],
        len(ids),
    )
    return meter.done(len(ids), (last - started).total_seconds())


# --- the run ----------------------------------------------------------------------------


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _label(service: str, count: int) -> str:
    return f"{service}_{count}_replica{'s' if count > 1 else ''}"


async def bench(messages: int, rounds: int) -> dict[str, Any]:
    load = os.getloadavg()[0]
    measured: dict[tuple[str, int], list[Measured]] = defaultdict(list)
    async with own_platform() as run:
        budgets = await prepare_optimizer(run, messages)
        tenants = await prepare_alerts(run)
        # Only the service measured (and the sandbox it calls) works from here on.
        await run.platform.stop("gateway")
        turn = 0
        for service in ("optimizer", "alerts"):
            for _ in range(rounds):
                for count in REPLICAS:
                    if service == "optimizer":
                        got = await measure_optimizer(run, budgets, count, turn)
                        turn += 1
                    else:
                        got = await measure_alerts(run, tenants, messages, count)
                    measured[(service, count)].append(got)
                    _progress(
                        f"{service}, {count}: {got.rate:.1f} messages/s, the replicas on "
                        f"{got.cores:.2f} cores, the machine {got.busy:.0%} busy"
                    )
            await scale_to(run, service, 0)
    figures: dict[str, Any] = {
        "cores": os.cpu_count(),
        "load_average_at_start": round(load, 1),
        "messages": messages,
        "rounds": rounds,
    }
    for (service, count), runs in measured.items():
        label = _label(service, count)
        figures[f"{label}_msgs_per_s"] = round(median(m.rate for m in runs), 1)
        figures[f"{label}_cpu_cores"] = round(median(m.cores for m in runs), 2)
        figures[f"{label}_machine_busy"] = round(median(m.busy for m in runs), 2)
    for service in ("optimizer", "alerts"):
        one = figures[f"{_label(service, 1)}_msgs_per_s"]
        three = figures[f"{_label(service, 3)}_msgs_per_s"]
        figures[f"{service}_3_vs_1"] = round(three / one, 2) if one else None
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--messages",
        type=int,
        default=60,
        help="messages per measurement; the optimizer's account has as many campaigns (default 60)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="measurements of each service and count; the figures are their medians (default 3)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args(argv)
    if not 1 <= args.messages <= 500:
        parser.error("--messages must be from 1 to 500")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    print_figures(asyncio.run(bench(args.messages, args.rounds)), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
