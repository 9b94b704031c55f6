"""Metric rows through the whole pipeline, against what the broker alone can carry, in one run.

    .venv/bin/python bench/bus.py [--campaigns 100] [--hours 12] [--rate 1000]
                                  [--steady-seconds 10] [--drain-seconds 300] [--json]
    .venv/bin/python bench/bus.py --quick      # a smoke run of a few seconds

Starts a platform of its own (database, exchange, ports, every service as a process) for
one tenant of ``--campaigns`` campaigns whose six days of history are already stored (the
alerts detector judges an hour only with five days at its hour of day behind it), then
measures on the same broker:

- **the bare ceiling**: envelopes published with publisher confirms (each publish waits for
  its confirm before the next, as the outbox relay does), consumed and acknowledged one by
  one from a quorum queue with the services' prefetch. Each envelope is a real
  ``metrics.recorded`` one carrying a single row, built and framed by the code the
  services use (``shared.bus.envelope_message``): ``bus_ceiling_msgs_per_s``. The same
  with an envelope of one whole batch gives ``bus_ceiling_batch_msgs_per_s``.
- **the full pipeline**: ``--hours`` hours of metrics POSTed to ``/api/ai/metrics`` as a
  client sends them (one request per hour of the account: ``--campaigns`` rows), a few
  requests in flight (the first hour goes alone beforehand, untimed, to warm up), until
  the alerts service has stored and evaluated every row (it stores and detects in one
  transaction): ``pipeline_rows_per_s``, and its ratio to the
  ceiling's messages a second.
- **the handler alone**: the alerts service's handler (``on_metrics_recorded``: store,
  detect, incidents, risk) called in-process on the same batches for a tenant with the same
  history, no HTTP, outbox or broker: ``alerts_handler_rows_per_s``, and the pipeline's
  ratio to it, ``pipeline_vs_handler_ratio`` (what the messaging path costs).
- **ingest to alert**: a steady ``--rate`` rows a second (open loop: batch *i* is sent at
  ``i * campaigns / rate`` s whatever the answers) for ``--steady-seconds``, with a
  tracking outage injected on a new campaign twice a second. Each one is timed from the
  start of the POST that carried it to the moment its alert is readable through
  ``GET /api/ai/alerts`` (polled every 50 ms): ``ingest_to_alert_p50_ms``/``_p99_ms``.
  When the pipeline cannot keep up with the rate, the backlog is waited for at most
  ``--drain-seconds``; a fault still not alerted then counts with the time it waited, and
  ``ingest_to_alert_is_lower_bound`` says so.

Finally every row sent is looked for in the alerts service's store: ``rows_lost`` (sent,
accepted, never stored), ``rows_doubled`` (stored twice) and ``alerts_doubled`` (an
injected fault alerted twice) must all be 0. Rows still queued at the deadline are not
lost: they are ``rows_not_stored_at_deadline``, and ``rows_lost`` is then unknown (null).
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
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import aiohttp
import asyncpg

from bench.harness import Bench, copy_history, metric_record, own_platform
from bench.report import percentile, print_figures
from sandbox.driver import to_body
from sandbox.simulator import CampaignSimulator
from services.alerts.watch import on_metrics_recorded
from shared.bus import envelope_message
from shared.contracts.gateway import METRICS_RECORDED
from shared.db import create_pool, scoped
from shared.metrics import HourlyMetrics

HOUR = timedelta(hours=1)
SEED = 31
HISTORY_HOURS = 6 * 24
INJECTIONS_PER_SECOND = 2
POLL_SECONDS = 0.05
IN_FLIGHT = 4
WAIT_SECONDS = 300.0


# -- the ceiling ---------------------------------------------------------------------------


async def ceiling(amqp_url: str, exchange: str, body: dict[str, Any], messages: int) -> float:
    """Messages a second through the broker alone: publish (confirmed, one at a time),
    consume and ack, on a quorum queue of its own that is deleted afterwards."""
    envelope = METRICS_RECORDED.envelope(body, tenant_id=uuid.uuid4(), source="bench")
    name = f"{exchange}.ceiling.{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        publishing = await connection.channel(publisher_confirms=True)
        consuming = await connection.channel()
        await consuming.set_qos(prefetch_count=32)
        direct = await publishing.declare_exchange(name, aio_pika.ExchangeType.DIRECT)
        queue = await consuming.declare_queue(
            name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(name, routing_key=name)
        done = asyncio.get_running_loop().create_future()
        acked = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal acked
            await message.ack()
            acked += 1
            if acked == messages and not done.done():
                done.set_result(None)

        tag = await queue.consume(on_message)
        start = time.perf_counter()
        for _ in range(messages):
            await direct.publish(envelope_message(envelope), routing_key=name)
        await asyncio.wait_for(done, WAIT_SECONDS)
        took = time.perf_counter() - start
        await queue.cancel(tag)
        await queue.delete(if_unused=False, if_empty=False)
        await direct.delete()
    finally:
        await connection.close()
    return messages / took


# -- the rows ------------------------------------------------------------------------------


@dataclass
class Plan:
    """Every hour of every campaign the run sends, from one seeded simulator."""

    campaigns: int
    first_hour: datetime
    simulator: CampaignSimulator = field(init=False)

    def __post_init__(self) -> None:
        self.simulator = CampaignSimulator(self.campaigns, seed=SEED, start=self.first_hour)

    def hour(self, index: int) -> list[HourlyMetrics]:
        return self.simulator.simulate_hour(self.first_hour + index * HOUR)


def outage(row: HourlyMetrics) -> HourlyMetrics:
    """The row with its tracking down: traffic and spend as before, no clicks or conversions."""
    return replace(row, clicks=0, conversions=0, revenue=0.0)


class Sender:
    """POSTs batches of metrics through the gateway and remembers what was accepted."""

    def __init__(self, api: aiohttp.ClientSession) -> None:
        self.api = api
        self.accepted: list[tuple[uuid.UUID, datetime]] = []
        self.refused = 0

    async def post(self, rows: list[HourlyMetrics]) -> None:
        async with self.api.post("/api/ai/metrics", json=to_body(rows)) as r:
            if r.status != 202:
                self.refused += 1
                raise RuntimeError(f"metrics refused: {r.status} {await r.text()}")
        self.accepted.extend((row.campaign_id, row.hour) for row in rows)


async def stored_rows(conn: Any, tenant: uuid.UUID, since: datetime) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM alerts.campaign_metrics WHERE tenant_id = $1 AND hour >= $2",
            tenant,
            since,
        )
    )


async def until_stored(
    conn: Any, tenant: uuid.UUID, since: datetime, want: int, within: float = WAIT_SECONDS
) -> bool:
    """Wait until the alerts service holds ``want`` rows from ``since`` on; False if it
    did not within ``within`` seconds."""
    deadline = time.monotonic() + within
    while await stored_rows(conn, tenant, since) < want:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def handler_alone(
    settings: Any, history: list[HourlyMetrics], batches: list[list[HourlyMetrics]]
) -> float:
    """Rows a second of the alerts service's handler (store, detect, incidents, risk) called
    in-process on the same batches, for a tenant of its own with the same history: the
    pipeline's work without HTTP, outbox, relay or broker."""
    scratch = uuid.uuid4()
    await copy_history(settings, (metric_record(scratch, row) for row in history))
    pool = await create_pool(settings.database_url, "alerts", min_size=1, max_size=1)
    try:
        took = 0.0
        for i, rows in enumerate(batches):
            event = METRICS_RECORDED.envelope(to_body(rows), tenant_id=scratch, source="bench")
            start = time.perf_counter()
            async with scoped(pool, scratch) as conn:
                await on_metrics_recorded(conn, event, METRICS_RECORDED.parse(event))
            if i:  # the first one warms up, as in the pipeline's run
                took += time.perf_counter() - start
    finally:
        await pool.close()
    return sum(len(rows) for rows in batches[1:]) / took


async def pipeline(
    sender: Sender, conn: Any, tenant: uuid.UUID, batches: list[list[HourlyMetrics]]
) -> float:
    """Rows a second from the first POST until the alerts service holds every row."""
    since = batches[0][0].hour
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(rows: list[HourlyMetrics]) -> None:
        async with slots:
            await sender.post(rows)

    start = time.perf_counter()
    # In order, a few at a time: a client's hours arrive oldest first.
    await asyncio.gather(*(one(rows) for rows in batches))
    want = sum(len(rows) for rows in batches)
    if not await until_stored(conn, tenant, since, want):
        raise RuntimeError(f"{want} rows not stored by alerts within {WAIT_SECONDS:.0f} s")
    return sum(len(rows) for rows in batches) / (time.perf_counter() - start)


# -- ingest to alert -----------------------------------------------------------------------


@dataclass
class Injected:
    campaign: uuid.UUID
    hour: datetime
    posted: float = 0.0
    seen: float | None = None
    given_up: float | None = None  # when the wait for its alert ended without one


async def watch_alerts(
    api: aiohttp.ClientSession, injected: dict[uuid.UUID, Injected], stop: asyncio.Event
) -> Counter[tuple[uuid.UUID, datetime]]:
    """Poll the newest alerts until ``stop``; note when each injected fault's alert shows."""
    alerts: Counter[tuple[uuid.UUID, datetime]] = Counter()
    known: set[str] = set()
    while not stop.is_set():
        async with api.get("/api/ai/alerts", params={"limit": "100"}) as r:
            items = (await r.json())["items"] if r.status == 200 else []
        now = time.perf_counter()
        for alert in items:
            entity = alert.get("affected_entity_id")
            fault = injected.get(uuid.UUID(entity)) if entity else None
            if fault is None or alert["id"] in known or not fault.posted:
                continue
            first_seen = alert.get("first_seen_hour")
            if first_seen is None or datetime.fromisoformat(first_seen) != fault.hour:
                continue
            known.add(alert["id"])
            alerts[(fault.campaign, fault.hour)] += 1
            if fault.seen is None:
                fault.seen = now
        await asyncio.sleep(POLL_SECONDS)
    return alerts


async def steady(
    sender: Sender, plan: Plan, first: int, args: argparse.Namespace
) -> tuple[list[Injected], Counter[tuple[uuid.UUID, datetime]], int]:
    """``--rate`` rows a second for ``--steady-seconds``, a fault in a new campaign twice a
    second; then the faults' alerts are waited for, at most ``--drain-seconds``."""
    rate, seconds = args.rate, args.steady_seconds
    interval = plan.campaigns / rate
    count = max(1, int(seconds / interval))
    every = max(1, round(1 / (INJECTIONS_PER_SECOND * interval)))
    campaigns = list(plan.simulator.campaign_ids)
    faults: dict[uuid.UUID, Injected] = {}
    batches = []
    for i in range(count):
        rows = plan.hour(first + i)
        if i % every == every - 1 and len(faults) < len(campaigns):
            victim = campaigns[len(faults) % len(campaigns)]
            at = next(j for j, row in enumerate(rows) if row.campaign_id == victim)
            rows[at] = outage(rows[at])
            faults[victim] = Injected(victim, rows[at].hour)
        batches.append(rows)
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_alerts(sender.api, faults, stop))
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []

    async def send(rows: list[HourlyMetrics]) -> None:
        began = time.perf_counter()
        for row in rows:
            if (fault := faults.get(row.campaign_id)) is not None and fault.hour == row.hour:
                fault.posted = began
        await sender.post(rows)

    for i, rows in enumerate(batches):
        await asyncio.sleep(max(0.0, start + i * interval - loop.time()))
        tasks.append(asyncio.create_task(send(rows)))
    await asyncio.gather(*tasks)
    for _ in range(int(args.drain_seconds / 0.2)):
        if all(f.seen is not None for f in faults.values()):
            break
        await asyncio.sleep(0.2)
    # A little longer, so an alert raised twice has the time to show twice.
    await asyncio.sleep(1.0)
    stop.set()
    for fault in faults.values():
        if fault.seen is None:
            fault.given_up = time.perf_counter()
    alerts = await watcher
    return list(faults.values()), alerts, sum(len(rows) for rows in batches)


# -- the run -------------------------------------------------------------------------------


async def ledger(
    conn: Any, tenant: uuid.UUID, accepted: list[tuple[uuid.UUID, datetime]], drained: bool
) -> dict[str, int | None]:
    """Rows accepted against rows stored. Rows still queued at the deadline are neither
    lost nor stored: then ``rows_lost`` is unknown (None) and they are counted apart."""
    found = Counter(
        (r["campaign_id"], r["hour"])
        for r in await conn.fetch(
            "SELECT campaign_id, hour FROM alerts.campaign_metrics WHERE tenant_id = $1",
            tenant,
        )
    )
    sent = set(accepted)
    missing = sum(1 for key in sent if key not in found)
    return {
        "rows_accepted": len(sent),
        "rows_lost": missing if drained else None,
        "rows_not_stored_at_deadline": 0 if drained else missing,
        "rows_doubled": sum(1 for n in found.values() if n > 1),
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    steady_hours = int(args.steady_seconds * args.rate / args.campaigns) + 2
    total_hours = HISTORY_HOURS + args.hours + steady_hours
    plan = Plan(args.campaigns, now - (total_hours + 2) * HOUR)
    say(f"simulating {args.campaigns} campaigns x {total_hours} hours")
    history = [row for h in range(HISTORY_HOURS) for row in plan.hour(h)]
    burst = [plan.hour(HISTORY_HOURS + h) for h in range(args.hours)]
    async with own_platform("bus") as bench:
        await copy_history(bench.settings, (metric_record(bench.tenant, row) for row in history))
        say("the alerts handler alone")
        handler = await handler_alone(bench.settings, history, burst[: min(len(burst), 4)])
        figures = await _measure(args, bench, plan, burst)
    figures["alerts_handler_rows_per_s"] = round(handler, 1)
    figures["pipeline_vs_handler_ratio"] = round(figures["pipeline_rows_per_s"] / handler, 3)
    return figures


async def _measure(
    args: argparse.Namespace, bench: Bench, plan: Plan, burst: list[list[HourlyMetrics]]
) -> dict[str, Any]:
    settings = bench.settings
    say("bus ceiling")
    single = ceiling(settings.amqp_url, settings.exchange, to_body(burst[0][:1]), args.messages)
    one_row = await single
    whole = await ceiling(settings.amqp_url, settings.exchange, to_body(burst[0]), args.messages)
    # A pool of one: it reconnects if the server drops the connection under the run.
    conn = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        async with aiohttp.ClientSession(
            base_url=bench.platform.gateway, headers=bench.headers("operator")
        ) as api:
            sender = Sender(api)
            # One batch first, untimed: the services' first detection warms their caches.
            await pipeline(sender, conn, bench.tenant, burst[:1])
            say(f"pipeline: {len(burst) - 1} batches of {args.campaigns} rows")
            rows_per_s = await pipeline(sender, conn, bench.tenant, burst[1:])
            say(f"steady {args.rate:.0f} rows/s for {args.steady_seconds:.0f} s")
            first = HISTORY_HOURS + args.hours
            faults, alerts, steady_rows = await steady(sender, plan, first, args)
            since = burst[0][0].hour
            drained = await until_stored(
                conn, bench.tenant, since, len(sender.accepted), args.drain_seconds
            )
            books = await ledger(conn, bench.tenant, sender.accepted, drained)
    finally:
        await conn.close()
    # A fault not alerted by the deadline counts with the time it had waited: a lower bound.
    latencies = [((f.seen or f.given_up or 0.0) - f.posted) * 1000 for f in faults]
    return {
        "campaigns": args.campaigns,
        "rows_per_batch": args.campaigns,
        "bus_ceiling_msgs_per_s": round(one_row, 1),
        "bus_ceiling_batch_msgs_per_s": round(whole, 1),
        "pipeline_rows_per_s": round(rows_per_s, 1),
        "pipeline_vs_ceiling_ratio": round(rows_per_s / one_row, 3),
        "steady_rate_rows_per_s": args.rate,
        "steady_rows": steady_rows,
        "faults_injected": len(faults),
        "faults_alerted": sum(1 for f in faults if f.seen is not None),
        "ingest_to_alert_is_lower_bound": any(f.seen is None for f in faults),
        "ingest_to_alert_p50_ms": _round(statistics.median(latencies) if latencies else None),
        "ingest_to_alert_p99_ms": _round(percentile(sorted(latencies), 0.99)),
        **books,
        "alerts_doubled": sum(1 for n in alerts.values() if n > 1),
        "batches_refused": sender.refused,
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=100, help="rows per batch")
    parser.add_argument("--hours", type=int, default=12, help="batches of the pipeline run")
    parser.add_argument("--messages", type=int, default=5000, help="envelopes of the ceiling")
    parser.add_argument("--rate", type=float, default=1000.0, help="steady rows a second")
    parser.add_argument("--steady-seconds", type=float, default=10.0)
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=300.0,
        help="how long after the steady load to wait for its rows and alerts",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.quick:
        args.campaigns, args.hours, args.messages = 20, 5, 200
        args.rate, args.steady_seconds = 100.0, 3.0
    if min(args.campaigns, args.messages) < 1 or args.hours < 2 or args.rate <= 0:
        parser.error("--campaigns, --messages and --rate must be positive, --hours 2 or more")
    if args.steady_seconds * args.rate < args.campaigns:
        parser.error("--steady-seconds is too short for one batch at --rate")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    print_figures(asyncio.run(measure(args)), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
