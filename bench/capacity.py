"""What one campaign-hour of metrics costs each part of the platform, and what that makes
of 1,000, 100,000 and 1,000,000 campaigns reporting hourly.

Starts the four services and the sandbox on a throwaway database and exchange, watches
them idle for ``--idle-seconds`` (heartbeats, sweeps: the cost of being up), then posts
``--campaigns`` x ``--hours`` campaign-hours through the gateway in batches of
``--batch`` rows, as a client would, and waits until every service that keeps metrics has
stored every row and every outbox is empty. Measured, minus the idle rate over the same
time:

- CPU per service: user + system time of its process (``/proc/<pid>/stat``);
- database time: ``active_time`` of the run's database in ``pg_stat_database`` (every
  service's statements together; PostgreSQL 14+);
- messages: outbox events written per campaign-hour, per service schema;
- storage: bytes of ``campaign_metrics`` (with its indexes) per stored row, per schema.

From these, the capacity model: for each size, campaign-hours a second at hourly
reporting, the cores each service and the database need, the replicas of each service at
``--core-share`` of a core each, the metric rows' storage per 30 days (every schema's copy
together), and which resource needs the most cores (the first bottleneck).

    .venv/bin/python bench/capacity.py [--campaigns 200] [--hours 24] [--json]

Costs are this machine's (2 cores, shared): treat them as the order of magnitude they are.
The decision cycle's cost grows with a tenant's campaigns, not with its hours: the run has
one tenant, so the model counts its cycles per campaign-hour as measured here.
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
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bench.harness import Bench, own_platform
from bench.report import print_figures
from sandbox.driver import to_body
from sandbox.simulator import CampaignSimulator
from shared.contracts import SERVICES
from shared.db import connect

HOUR = timedelta(hours=1)
# The schemas that keep a copy of the metric rows (each stores what it reads).
METRIC_SCHEMAS = ("decision", "alerts", "optimizer")
SIZES = (1_000, 100_000, 1_000_000)
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass
class Reading:
    at: float
    cpu: dict[str, float]
    db_ms: float
    outbox: dict[str, int]


async def read(bench: Bench, conn: Any) -> Reading:
    database = bench.settings.database_url.rsplit("/", 1)[1]
    db_ms = await conn.fetchval(
        "SELECT active_time FROM pg_stat_database WHERE datname = $1", database
    )
    outbox = {
        schema: int(await conn.fetchval(f'SELECT count(*) FROM "{schema}".outbox'))
        for schema in SERVICES
    }
    cpu = {
        name: cpu_seconds(proc.pid)
        for name, proc in bench.platform.processes.items()
        if name in SERVICES
    }
    return Reading(time.monotonic(), cpu, float(db_ms or 0.0), outbox)


async def stored(conn: Any) -> dict[str, int]:
    return {
        schema: int(await conn.fetchval(f'SELECT count(*) FROM "{schema}".campaign_metrics'))
        for schema in METRIC_SCHEMAS
    }


async def drained(conn: Any) -> bool:
    for schema in SERVICES:
        waiting = await conn.fetchval(
            f'SELECT count(*) FROM "{schema}".outbox WHERE published_at IS NULL'
        )
        if waiting:
            return False
    return True


def batches(campaigns: int, hours: int, size: int) -> list[dict[str, Any]]:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - (hours + 48) * HOUR
    simulator = CampaignSimulator(campaigns, seed=11, start=start)
    rows = [row for h in range(hours) for row in simulator.simulate_hour(start + h * HOUR)]
    return [to_body(rows[i : i + size]) for i in range(0, len(rows), size)]


async def post_all(bench: Bench, bodies: Sequence[dict[str, Any]]) -> None:
    async with aiohttp.ClientSession(
        base_url=bench.platform.gateway, headers=bench.headers("operator")
    ) as api:
        for body in bodies:
            async with api.post("/api/ai/metrics", json=body) as r:
                if r.status != 202:
                    raise RuntimeError(f"metrics refused: {r.status} {await r.text()}")


def per_unit(
    idle: tuple[Reading, Reading], before: Reading, after: Reading, units: int
) -> dict[str, Any]:
    """Costs of one campaign-hour: the load's deltas less the idle rate over its time."""
    idle_span = idle[1].at - idle[0].at
    span = after.at - before.at
    figures: dict[str, Any] = {}
    for name in sorted(after.cpu):
        idle_rate = (idle[1].cpu[name] - idle[0].cpu[name]) / idle_span
        used = after.cpu[name] - before.cpu[name] - idle_rate * span
        # Below the idle rate's noise a service did no measurable work for the load.
        figures[f"cpu_ms_per_campaign_hour_{name}"] = round(max(used, 0.0) * 1000 / units, 4)
        figures[f"idle_cores_{name}"] = round(idle_rate, 4)
    idle_db = (idle[1].db_ms - idle[0].db_ms) / idle_span
    db = after.db_ms - before.db_ms - idle_db * span
    figures["db_ms_per_campaign_hour"] = round(max(db, 0.0) / units, 4)
    for schema in sorted(after.outbox):
        idle_msgs = (idle[1].outbox[schema] - idle[0].outbox[schema]) / idle_span
        msgs = after.outbox[schema] - before.outbox[schema] - idle_msgs * span
        figures[f"messages_per_campaign_hour_{schema}"] = round(max(msgs, 0.0) / units, 4)
    return figures


def model(costs: Mapping[str, Any], bytes_per_row: float, core_share: float) -> dict[str, Any]:
    """Cores, replicas and storage for each size, from the measured costs."""
    out: dict[str, Any] = {}
    services = [k.removeprefix("cpu_ms_per_campaign_hour_") for k in costs if k.startswith("cpu_")]
    for size in SIZES:
        per_second = size / 3600.0
        needs = {
            name: per_second * costs[f"cpu_ms_per_campaign_hour_{name}"] / 1000.0
            for name in services
        }
        needs["database"] = per_second * costs["db_ms_per_campaign_hour"] / 1000.0
        for name, cores in needs.items():
            out[f"cores_{name}_{size}"] = round(cores, 3)
            if name != "database":
                out[f"replicas_{name}_{size}"] = max(1, math.ceil(cores / core_share))
        out[f"bottleneck_{size}"] = max(needs, key=lambda k: needs[k])
        month_rows = size * 24 * 30 * len(METRIC_SCHEMAS)
        out[f"metrics_gb_per_30_days_{size}"] = round(month_rows * bytes_per_row / 1e9, 2)
    return out


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    bodies = batches(args.campaigns, args.hours, args.batch)
    units = args.campaigns * args.hours
    async with own_platform("capacity") as bench:
        conn = await connect(bench.settings.database_url)
        try:
            idle_start = await read(bench, conn)
            await asyncio.sleep(args.idle_seconds)
            idle_end = await read(bench, conn)
            before = await read(bench, conn)
            started = time.monotonic()
            await post_all(bench, bodies)
            deadline = time.monotonic() + args.timeout
            while True:
                counts = await stored(conn)
                if all(n >= units for n in counts.values()) and await drained(conn):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not stored within {args.timeout} s: {counts}")
                await asyncio.sleep(0.2)
            took = time.monotonic() - started
            after = await read(bench, conn)
            size = 0
            for schema in METRIC_SCHEMAS:
                for table in await _partitions(conn, schema):
                    size += int(
                        await conn.fetchval(
                            "SELECT pg_total_relation_size(format('%I.%I', $1::text, $2::text))",
                            schema,
                            table,
                        )
                    )
        finally:
            await conn.close()
    costs = per_unit((idle_start, idle_end), before, after, units)
    bytes_per_row = size / (units * len(METRIC_SCHEMAS))
    return {
        "campaign_hours": units,
        "seconds": round(took, 2),
        "campaign_hours_per_s": round(units / took, 1),
        **costs,
        "bytes_per_metric_row": round(bytes_per_row, 1),
        "cores": os.cpu_count(),
        **model(costs, bytes_per_row, args.core_share),
    }


async def _partitions(conn: Any, schema: str) -> list[str]:
    """``campaign_metrics`` and its partitions, if it is partitioned."""
    rows = await conn.fetch(
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relkind = 'r'
             AND (c.relname = 'campaign_metrics' OR c.relname LIKE 'campaign\\_metrics\\_%')""",
        schema,
    )
    return [r["relname"] for r in rows]


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--batch", type=int, default=500, help="rows per POST")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--core-share", type=float, default=0.7, help="share of a core one replica may use"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.campaigns < 1 or args.hours < 1 or args.batch < 1:
        parser.error("--campaigns, --hours and --batch must be at least 1")
    if not 0 < args.core_share <= 1:
        parser.error("--core-share must be in (0, 1]")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    print_figures(asyncio.run(measure(args)), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
