"""Sustained load through the gateway, minute by minute, then an independent ledger check.

    .venv/bin/python bench/soak.py --minutes 10 --rate 20 [--json]
    .venv/bin/python bench/soak.py --find-peak [--step-seconds 30] [--json]

Starts a platform of its own (database, exchange, ports, every service as a process and the
sandbox ad platform), opens a sandbox ad account for a tenant whose autonomy is ``act``,
and sends ``--rate`` requests a second for ``--minutes`` minutes. The mix, in every 20
requests:

- 6 metrics batches (``POST /api/ai/metrics``): the next hour for 20 campaigns of their own,
  hours moving forward in time, all in the past;
- 4 decisions logged by hand on a sandbox campaign (confidence 100, cooldown 0), which the
  optimizer applies on the sandbox; each campaign's budget alternates between its opening
  value and 90% of it, so no safety limit binds;
- 1 repeat of the latest write with its own key and body, as a client's retry would be: the
  gateway must answer it from its store;
- 9 reads, in turn ``GET /api/ai/alerts``, ``/decisions`` and ``/optimizations``.

Every write carries an ``Idempotency-Key``. The schedule is open-loop: request *i* starts at
``i / rate`` seconds whatever the latency of the others, at most ``--concurrency`` at once
(a request with no free slot is shed and counted as an error), and latency runs from the
scheduled start, so a stalled platform shows in the figures rather than slowing the load.

Each minute prints one line: completed requests a second, p50 and p99 latency, errors
(non-2xx answers, timeouts, shed requests), each process's resident memory in MB (VmRSS of
the service processes and the sandbox), each service's outbox as backlog/oldest age/consumer
queue depth (from ``GET /api/ai/system-status``), and the machine's 1-minute load average.

At the end, writes whose answer never came (timeout, 5xx) are sent once more with the same
key, the pipeline is left to drain, and the ledger of accepted writes is checked against
the databases and the sandbox: decisions and metric rows accepted but not stored (lost),
decisions stored twice, decisions applied twice, changes on the sandbox with no record or
received twice. Memory growth (``memory_growth_percent``, per process) is from the end of
minute ``--memory-from-minute`` (default 5: start-up and first caches are behind) to the end
of the run, or from minute 2 in a run not longer than that; the hour's soak is
``--minutes 60 --rate R`` with R 80% of the peak, its memory figure minute 5 -> 60.
``metric_rows_per_s`` is the metric rows accepted a second over the run.

``--find-peak`` steps the rate up (``--start-rate``, times ``--step-factor``) for
``--step-seconds`` each, until p99 passes ``--p99-limit-ms``, errors pass 1%, throughput
falls under 95% of the rate offered, or the pipeline falls behind (an outbox event older
than 10 s, or a consumer queue at the step's end deeper than one second of load: each step
starts drained, so that queue is work the consumers could not keep up with). The peak is
the last rate that held (``peak_rps``), and ``peak_rows_per_s`` the metric rows a second
accepted at it, which the services then stored within the step (else it did not hold):
rows through the whole loop. The soak is meant to run at 80% of it.
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
import itertools
import json
import math
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bench.harness import Bench, own_platform
from bench.report import percentile, print_figures
from sandbox.driver import to_body
from sandbox.simulator import CampaignSimulator, campaign_id_for
from shared.db import create_pool, scoped

HOUR = timedelta(hours=1)
ACCOUNT_SEED = 23
ACCOUNT_CAMPAIGNS = 20
METRICS_SEED = 29
METRICS_CAMPAIGNS = 20
# In every 20 requests: 6 metrics batches, 4 decisions, 1 repeated write, 9 reads.
MIX = (
    *("metrics", "read", "decision", "read", "metrics", "read", "metrics", "read", "decision"),
    *("read", "metrics", "read", "decision", "read", "metrics", "repeat", "metrics", "read"),
    *("decision", "read"),
)
READS = ("/api/ai/alerts", "/api/ai/decisions", "/api/ai/optimizations")
REQUEST_TIMEOUT = 10.0
DRAIN_SECONDS = 180.0
MB = 1024 * 1024
# The services that store every metrics batch they are sent.
METRIC_STORES = ("alerts", "decision", "optimizer")


def rss_bytes(pid: int) -> int | None:
    """The resident set of process ``pid``, from /proc; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        return None
    return None


@dataclass
class Write:
    """One write as the ledger knows it: what was sent, and whether it was accepted."""

    kind: str  # "metrics" or "decision"
    key: str
    path: str
    body: dict[str, Any]
    status: int | None = None
    answer: Any = None

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def unsettled(self) -> bool:
        """No answer, or a 5xx (the gateway keeps no answer for those): it may be retried."""
        return self.status is None or self.status >= 500


@dataclass
class Window:
    """What completed within one stretch of time (a minute, or a step of the peak search)."""

    started: float
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    metric_rows: int = 0  # in metrics batches the gateway accepted

    def figures(self, ended: float) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        p50, p99 = percentile(ordered, 0.5), percentile(ordered, 0.99)
        completed = len(ordered)
        return {
            "completed": completed,
            "throughput_rps": round(completed / max(ended - self.started, 1e-9), 2),
            "p50_ms": None if p50 is None else round(p50 * 1000, 1),
            "p99_ms": None if p99 is None else round(p99 * 1000, 1),
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "metric_rows": self.metric_rows,
        }


class Load:
    """The request mix, its open-loop schedule and the ledger of writes."""

    def __init__(
        self,
        bench: Bench,
        api: aiohttp.ClientSession,
        sandbox: aiohttp.ClientSession,
        campaigns: list[tuple[uuid.UUID, float]],
        first_hour: datetime,
        concurrency: int,
    ) -> None:
        self.bench = bench
        self.api = api
        self.sandbox = sandbox
        self.campaigns = campaigns
        self.concurrency = concurrency
        self.simulator = CampaignSimulator(METRICS_CAMPAIGNS, seed=METRICS_SEED, start=first_hour)
        self.next_hour = first_hour
        self.decisions_made = Counter[int]()
        self.counter = itertools.count()
        self.mix = itertools.cycle(MIX)
        self.reads = itertools.cycle(READS)
        self.writes: list[Write] = []
        self.repeats = Counter[str]()
        self.in_flight: set[asyncio.Task[None]] = set()
        self.window = Window(time.monotonic())
        self.total = Window(time.monotonic())
        self.sent = 0

    # -- the requests -----------------------------------------------------------------

    def _metrics(self) -> Write:
        hour = self.next_hour
        if hour > datetime.now(UTC) - HOUR:
            raise RuntimeError("metrics hours ran into the present: plan more hours back")
        self.next_hour += HOUR
        body = to_body(self.simulator.simulate_hour(hour))
        return Write("metrics", f"soak-{uuid.uuid4()}", "/api/ai/metrics", body)

    def _decision(self) -> Write:
        n = next(self.counter)
        index = n % len(self.campaigns)
        campaign, opening = self.campaigns[index]
        turn = self.decisions_made[index]
        self.decisions_made[index] += 1
        target = round(opening * 0.9, 2) if turn % 2 == 0 else opening
        key = f"soak-{uuid.uuid4()}"
        body = {
            "decision_type": "budget_adjustment",
            "action_taken": "budget_change",
            "confidence_score": 100,
            "decision_rationale": "soak",
            "context_data": {
                "campaign_id": str(campaign),
                "action": {"kind": "budget", "to": target},
                "soak": key,
            },
        }
        return Write("decision", key, "/api/ai/decisions", body)

    async def _send(self, write: Write, scheduled: float, *, repeat_of: Write | None) -> None:
        headers = {"Idempotency-Key": write.key}
        try:
            async with self.api.post(write.path, json=write.body, headers=headers) as r:
                status, answer = r.status, await r.json(content_type=None)
                replayed = r.headers.get("Idempotent-Replayed") == "true"
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._done(scheduled, f"{exc.__class__.__name__}")
            return
        self._done(scheduled, None if 200 <= status < 300 else f"http_{status}")
        if repeat_of is None:
            write.status, write.answer = status, answer
            if write.kind == "metrics" and write.accepted:
                self.window.metric_rows += len(write.body["metrics"])
                self.total.metric_rows += len(write.body["metrics"])
            return
        # A retry of an accepted write: the first answer again, marked as a replay.
        same = status == repeat_of.status and answer == repeat_of.answer and replayed
        self.repeats["answered_from_store" if same else "answered_differently"] += 1

    async def _read(self, scheduled: float) -> None:
        try:
            async with self.api.get(next(self.reads), params={"limit": "20"}) as r:
                await r.read()
                status = r.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._done(scheduled, exc.__class__.__name__)
            return
        self._done(scheduled, None if status == 200 else f"http_{status}")

    def _done(self, scheduled: float, error: str | None) -> None:
        if error is None:
            took = time.monotonic() - scheduled
            self.window.latencies.append(took)
            self.total.latencies.append(took)
        else:
            self.window.errors[error] += 1
            self.total.errors[error] += 1

    def _request(self, scheduled: float) -> asyncio.Task[None]:
        kind = next(self.mix)
        if kind == "read":
            return asyncio.create_task(self._read(scheduled))
        if kind == "repeat":
            accepted = next((w for w in reversed(self.writes[-50:]) if w.accepted), None)
            if accepted is None:
                return asyncio.create_task(self._read(scheduled))
            return asyncio.create_task(self._send(accepted, scheduled, repeat_of=accepted))
        write = self._metrics() if kind == "metrics" else self._decision()
        self.writes.append(write)
        return asyncio.create_task(self._send(write, scheduled, repeat_of=None))

    # -- the schedule -----------------------------------------------------------------

    async def run(self, rate: float, seconds: float) -> None:
        """Start ``rate`` requests a second for ``seconds``, each on time (open loop)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in itertools.count():
            due = start + i / rate
            if due >= start + seconds:
                break
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            scheduled = time.monotonic() - max(0.0, loop.time() - due)
            self.sent += 1
            if len(self.in_flight) >= self.concurrency:
                self._done(scheduled, "shed")
                continue
            task = self._request(scheduled)
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)

    async def finish(self) -> None:
        if self.in_flight:
            await asyncio.wait(set(self.in_flight))

    def next_window(self) -> Window:
        done, self.window = self.window, Window(time.monotonic())
        return done

    async def settle(self) -> int:
        """Send every write that got no answer (or a 5xx) once more, with the same key,
        as many at once as the load itself may have in flight."""
        unsettled = [w for w in self.writes if w.unsettled]
        slots = asyncio.Semaphore(self.concurrency)

        async def again(write: Write) -> None:
            async with slots:
                try:
                    async with self.api.post(
                        write.path, json=write.body, headers={"Idempotency-Key": write.key}
                    ) as r:
                        write.status, write.answer = r.status, await r.json(content_type=None)
                except (aiohttp.ClientError, TimeoutError):
                    write.status = None

        await asyncio.gather(*(again(w) for w in unsettled))
        return len(unsettled)


# -- observing the platform ---------------------------------------------------------------


def memory(bench: Bench) -> dict[str, int | None]:
    return {name: rss_bytes(p.pid) for name, p in sorted(bench.platform.processes.items())}


async def outbox(api: aiohttp.ClientSession) -> dict[str, dict[str, Any]]:
    try:
        async with api.get("/api/ai/system-status", timeout=aiohttp.ClientTimeout(total=10)) as r:
            services = (await r.json())["services"]
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
        return {}
    return {
        name: {
            "backlog": report.get("outbox_backlog"),
            "oldest_age_s": report.get("outbox_oldest_age_seconds"),
            "consumer_lag": report.get("consumer_lag"),
            "dead_letters": report.get("dead_letters"),
        }
        for name, report in sorted(services.items())
    }


def minute_line(row: dict[str, Any]) -> str:
    p50 = "-" if row["p50_ms"] is None else f"{row['p50_ms']:.0f}"
    p99 = "-" if row["p99_ms"] is None else f"{row['p99_ms']:.0f}"
    rss = " ".join(
        f"{name}={'-' if b is None else f'{b / MB:.0f}'}" for name, b in row["rss_bytes"].items()
    )
    lag = " ".join(
        f"{name}={o['backlog']}/{o['oldest_age_s'] or 0:.1f}s/q{o['consumer_lag']}"
        for name, o in row["outbox"].items()
    )
    return (
        f"minute {row['minute']:>3}: {row['throughput_rps']:6.1f} req/s  p50 {p50:>5} ms  "
        f"p99 {p99:>5} ms  errors {row['errors']:>3}  rss MB {rss}  outbox {lag}  "
        f"load {row['loadavg_1m']:.1f}"
    )


def say(line: str, as_json: bool) -> None:
    print(line, file=sys.stderr if as_json else sys.stdout, flush=True)


async def drain(api: aiohttp.ClientSession, within: float) -> bool:
    """Wait until every outbox and every consumer queue is empty twice in a row."""
    deadline = time.monotonic() + within
    quiet = 0
    while time.monotonic() < deadline:
        reports = await outbox(api)
        empty = bool(reports) and all(
            o["backlog"] == 0 and o["consumer_lag"] == 0 for o in reports.values()
        )
        quiet = quiet + 1 if empty else 0
        if quiet >= 2:
            return True
        await asyncio.sleep(1.0)
    return False


# -- the ledger ---------------------------------------------------------------------------


async def _fetch(url: str, schema: str, tenant: uuid.UUID, sql: str, *args: Any) -> list[Any]:
    pool = await create_pool(url, schema, min_size=1, max_size=1)
    try:
        async with scoped(pool, tenant) as conn:
            return list(await conn.fetch(sql, *args))
    finally:
        await pool.close()


async def _stored(
    bench: Bench, campaigns: list[uuid.UUID]
) -> tuple[dict[str, list[uuid.UUID]], dict[str, set[tuple[uuid.UUID, datetime]]]]:
    """Decisions by their soak key, and metric rows by the schema that stored them."""
    url, tenant = bench.settings.database_url, bench.tenant
    rows = await _fetch(
        url,
        "decision",
        tenant,
        "SELECT context_data->>'soak' AS key, array_agg(id) AS ids "
        "FROM ai_decision_logs WHERE context_data ? 'soak' GROUP BY 1",
    )
    metrics = {}
    for schema in METRIC_STORES:
        found = await _fetch(
            url,
            schema,
            tenant,
            "SELECT campaign_id, hour FROM campaign_metrics "
            "WHERE tenant_id = $1 AND campaign_id = ANY($2::uuid[])",
            tenant,
            campaigns,
        )
        metrics[schema] = {(r["campaign_id"], r["hour"]) for r in found}
    return {r["key"]: r["ids"] for r in rows}, metrics


async def ledger(
    bench: Bench, sandbox: aiohttp.ClientSession, writes: list[Write]
) -> dict[str, Any]:
    """The writes the gateway accepted, against what the services stored and the sandbox
    received, read straight from their databases and the sandbox's own record.

    Messages a consumer has taken but not yet acknowledged are not in any queue's depth,
    so the stores are read until nothing is missing, or nothing more arrived for 30 s."""
    url, tenant = bench.settings.database_url, bench.tenant
    decisions = {w.key: w for w in writes if w.kind == "decision" and w.accepted}
    metric_rows = {
        (uuid.UUID(m["campaign_id"]), datetime.fromisoformat(m["hour"]))
        for w in writes
        if w.kind == "metrics" and w.accepted
        for m in w.body["metrics"]
    }
    campaigns = list({c for c, _ in metric_rows})

    def missing(stored: dict[str, list[uuid.UUID]], metrics: dict[str, set[Any]]) -> dict[str, int]:
        found = {f"metric_rows_lost_{s}": len(metric_rows - metrics[s]) for s in METRIC_STORES}
        return {"decisions_lost": sum(1 for k in decisions if k not in stored), **found}

    last, still = None, time.monotonic()
    while True:
        stored, metrics = await _stored(bench, campaigns)
        lost = missing(stored, metrics)
        if not any(lost.values()) or time.monotonic() - still > 30:
            break
        if lost != last:
            last, still = lost, time.monotonic()
        await asyncio.sleep(1.0)

    figures: dict[str, Any] = {
        "decisions_accepted": len(decisions),
        "metric_rows_accepted": len(metric_rows),
        "writes_rejected": sum(1 for w in writes if not w.accepted),
        **lost,
        "decisions_stored_twice": sum(1 for ids in stored.values() if len(ids) > 1),
        "decisions_stored_not_accepted": sum(1 for key in stored if key not in decisions),
    }
    decision_ids = [ids[0] for ids in stored.values()]
    changes = await _fetch(
        url,
        "optimizer",
        tenant,
        "SELECT decision_id, change_id, status FROM ai_optimization_history "
        "WHERE decision_id = ANY($1::uuid[])",
        decision_ids,
    )
    held = await _fetch(
        url,
        "optimizer",
        tenant,
        "SELECT id FROM ai_recommendations WHERE source_decision_id = ANY($1::uuid[])",
        decision_ids,
    )
    recorded = {
        str(r["change_id"])
        for r in await _fetch(
            url, "optimizer", tenant, "SELECT change_id FROM ai_optimization_history"
        )
    }
    statuses = Counter(r["status"] for r in changes)
    per_decision = Counter(r["decision_id"] for r in changes if r["status"] == "applied")
    figures["decisions_applied"] = statuses["applied"]
    figures["decisions_change_status"] = dict(statuses)
    figures["decisions_held_as_recommendation"] = len(held)
    figures["decisions_applied_twice"] = sum(1 for n in per_decision.values() if n > 1)

    async with sandbox.get(f"/v1/accounts/{tenant}/changes") as r:
        received = (await r.json())["changes"]
    ids = Counter(c["change_id"] for c in received)
    applied_ids = {str(r["change_id"]) for r in changes if r["status"] == "applied"}
    figures["platform_changes"] = len(received)
    figures["platform_change_ids_twice"] = sum(1 for n in ids.values() if n > 1)
    figures["platform_changes_unrecorded"] = sum(1 for c in ids if c not in recorded)
    figures["applied_not_on_platform"] = len(applied_ids - set(ids))
    figures["platform_replays"] = sum(int(c.get("replays", 0)) for c in received)
    figures["lost"] = figures["decisions_lost"] + max(
        figures[f"metric_rows_lost_{s}"] for s in METRIC_STORES
    )
    figures["duplicated"] = (
        figures["decisions_stored_twice"]
        + figures["decisions_applied_twice"]
        + figures["platform_change_ids_twice"]
        + figures["platform_changes_unrecorded"]
    )
    return figures


# -- setting up ---------------------------------------------------------------------------


async def open_account(
    bench: Bench, api: aiohttp.ClientSession, sandbox: aiohttp.ClientSession
) -> list[tuple[uuid.UUID, float]]:
    """A sandbox ad account under autonomy ``act``; each campaign with its opening budget."""
    body = {
        "account_id": str(bench.tenant),
        "campaigns": ACCOUNT_CAMPAIGNS,
        "seed": ACCOUNT_SEED,
        "backfill_hours": 24,
        "api_key": bench.keys["operator"],
    }
    async with sandbox.post("/v1/accounts", json=body) as r:
        if r.status != 201:
            raise RuntimeError(f"sandbox account: {r.status} {await r.text()}")
    limits = {
        "cooldown_hours": 0,
        "min_confidence": 99.5,
        "budget": {"max_step_share": 0.5, "max_daily_share": 1.0},
    }
    async with api.put(
        "/api/ai/preferences",
        json={"autonomy": "act", "safety_limits": limits},
        headers={"Idempotency-Key": f"soak-{uuid.uuid4()}"},
    ) as r:
        if r.status != 200:
            raise RuntimeError(f"preferences: {r.status} {await r.text()}")
    campaigns = []
    for i in range(ACCOUNT_CAMPAIGNS):
        campaign = campaign_id_for(ACCOUNT_SEED, i)
        async with sandbox.get(f"/v1/accounts/{bench.tenant}/campaigns/{campaign}") as r:
            campaigns.append((campaign, float((await r.json())["campaign"]["daily_budget"])))
    return campaigns


async def acting(api: aiohttp.ClientSession, campaign: uuid.UUID, budget: float) -> None:
    """Wait until the optimizer applies a decision: it learns the autonomy by event."""
    deadline = time.monotonic() + 60
    body = {
        "decision_type": "budget_adjustment",
        "action_taken": "budget_change",
        "confidence_score": 100,
        "context_data": {"campaign_id": str(campaign), "action": {"kind": "budget", "to": budget}},
    }
    while True:
        async with api.post(
            "/api/ai/decisions", json=body, headers={"Idempotency-Key": f"soak-{uuid.uuid4()}"}
        ) as r:
            decision = await r.json()
        for _ in range(20):
            params = {"decision_id": decision["id"]}
            async with api.get("/api/ai/optimizations", params=params) as r:
                items = (await r.json())["items"]
            if items and items[0]["status"] == "applied":
                return
            await asyncio.sleep(0.25)
        if time.monotonic() > deadline:
            raise RuntimeError("the optimizer applied no decision within 60 s")


# -- the runs -----------------------------------------------------------------------------


async def soak(bench: Bench, load: Load, args: argparse.Namespace) -> dict[str, Any]:
    api = load.api
    rows: list[dict[str, Any]] = []
    runner = asyncio.create_task(load.run(args.rate, args.minutes * 60))
    started = time.monotonic()
    for minute in range(1, args.minutes + 1):
        await asyncio.sleep(max(0.0, started + minute * 60 - time.monotonic()))
        window = load.next_window()
        row = {"minute": minute, **window.figures(time.monotonic())}
        row["rss_bytes"] = memory(bench)
        row["outbox"] = await outbox(api)
        # The machine's own load: others' work on a shared machine shows in the latencies.
        row["loadavg_1m"] = os.getloadavg()[0]
        rows.append(row)
        say(minute_line(row), args.json)
    await runner
    await load.finish()
    total = load.total.figures(time.monotonic())
    retried = await load.settle()
    drained = await drain(api, DRAIN_SECONDS)
    after = await outbox(api)
    since = memory_baseline_minute(args)
    base = rows[since - 1]["rss_bytes"] if since is not None else None
    growth = {
        name: round((end - base[name]) / base[name] * 100, 1)
        for name, end in rows[-1]["rss_bytes"].items()
        if base and end is not None and base.get(name)
    }
    return {
        "rate": args.rate,
        "minutes_run": args.minutes,
        "concurrency": args.concurrency,
        "requests_sent": load.sent,
        "requests_completed": total["completed"],
        "throughput_rps": round(total["completed"] / (args.minutes * 60), 2),
        "metric_rows_per_s": round(total["metric_rows"] / (args.minutes * 60), 1),
        "p50_ms": total["p50_ms"],
        "p99_ms": total["p99_ms"],
        "errors": total["errors"],
        "error_kinds": total["error_kinds"],
        "repeats": dict(load.repeats),
        "writes_retried_at_end": retried,
        "drained": drained,
        "dead_letters": {name: o["dead_letters"] for name, o in after.items()},
        "memory_growth_from_minute": since,
        "memory_growth_percent": growth,
        "max_memory_growth_percent": max(growth.values()) if growth else None,
        "ledger": await ledger(bench, load.sandbox, load.writes),
        "minutes": rows,
    }


async def find_peak(load: Load, args: argparse.Namespace) -> dict[str, Any]:
    steps, peak, rate = [], None, args.start_rate
    peak_rows: float | None = None
    while rate <= args.max_rate:
        load.next_window()
        await load.run(rate, args.step_seconds)
        await load.finish()
        window = load.next_window()
        row = {"rate": round(rate, 1), **window.figures(time.monotonic())}
        # The window ran the step and its stragglers: throughput over the step's length.
        row["throughput_rps"] = round(row["completed"] / args.step_seconds, 2)
        # Metric rows the gateway accepted; a step that held also drained them through the
        # services (else it is "pipeline behind"), so they are rows through the whole loop.
        row["rows_per_s"] = round(row["metric_rows"] / args.step_seconds, 1)
        lag = await outbox(load.api)
        oldest = max((o["oldest_age_s"] or 0 for o in lag.values()), default=0)
        deepest = max((o["consumer_lag"] or 0 for o in lag.values()), default=0)
        reasons = []
        if row["p99_ms"] is None or row["p99_ms"] > args.p99_limit_ms:
            reasons.append(f"p99 {row['p99_ms']} ms")
        if row["errors"] > 0.01 * (row["completed"] + row["errors"]):
            reasons.append(f"errors {row['errors']}")
        if row["throughput_rps"] < 0.95 * rate:
            reasons.append(f"throughput {row['throughput_rps']}")
        # Each step starts drained: a queue left over at its end is one the consumers could
        # not keep up with, and a soak at that rate would end hours behind.
        if oldest > 10 or deepest > rate:
            reasons.append(f"pipeline behind (oldest {oldest:.1f} s, queue {deepest})")
        row["outbox"] = lag
        row["degraded"] = reasons
        steps.append(row)
        say(
            f"rate {rate:6.1f}: {row['throughput_rps']:6.1f} req/s  p50 {row['p50_ms']} ms  "
            f"p99 {row['p99_ms']} ms  errors {row['errors']}  oldest outbox {oldest:.1f} s  "
            f"queue {deepest}  {'DEGRADED: ' + ', '.join(reasons) if reasons else 'ok'}",
            args.json,
        )
        if reasons:
            break
        peak, peak_rows = rate, row["rows_per_s"]
        await drain(load.api, 60)
        rate *= args.step_factor
    return {
        "peak_rps": None if peak is None else round(peak, 1),
        "peak_rows_per_s": peak_rows,
        "soak_rate_rps": None if peak is None else round(0.8 * peak, 1),
        "p99_limit_ms": args.p99_limit_ms,
        "step_seconds": args.step_seconds,
        "steps": steps,
    }


def memory_baseline_minute(args: argparse.Namespace) -> int | None:
    """The minute whose end memory growth is measured from: ``--memory-from-minute``
    (default 5, past start-up and warm caches), or minute 2 in a run too short for it;
    None in a run of under three minutes."""
    if args.minutes > args.memory_from_minute:
        return int(args.memory_from_minute)
    return 2 if args.minutes >= 3 else None


def hours_needed(args: argparse.Namespace) -> int:
    """How many metrics hours the run can send: one a batch, 6 batches in 20 requests."""
    if args.find_peak:
        rates, rate = [], args.start_rate
        while rate <= args.max_rate:
            rates.append(rate)
            rate *= args.step_factor
        requests = sum(r * args.step_seconds for r in rates)
    else:
        requests = args.rate * args.minutes * 60
    return math.ceil(requests * MIX.count("metrics") / len(MIX)) + 48


async def main(args: argparse.Namespace) -> int:
    first_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    first_hour -= hours_needed(args) * HOUR
    async with own_platform("soak") as bench:
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        async with (
            aiohttp.ClientSession(
                base_url=bench.platform.gateway,
                headers=bench.headers(),
                connector=connector,
                timeout=timeout,
            ) as api,
            aiohttp.ClientSession(base_url=bench.platform.sandbox) as sandbox,
        ):
            campaigns = await open_account(bench, api, sandbox)
            first, opening = campaigns[0]
            await acting(api, first, round(opening * 0.95, 2))
            await acting(api, first, opening)
            load = Load(bench, api, sandbox, campaigns, first_hour, args.concurrency)
            if args.find_peak:
                figures = await find_peak(load, args)
            else:
                figures = await soak(bench, load, args)
    figures = {"command": " ".join(["bench/soak.py", *sys.argv[1:]]), **figures}
    if args.json:
        print(json.dumps(figures, default=str))
    else:
        print_figures({k: v for k, v in figures.items() if k not in ("minutes", "steps")}, False)
    return 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--rate", type=float, default=20.0, help="requests a second")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--find-peak", action="store_true")
    parser.add_argument("--start-rate", type=float, default=10.0)
    parser.add_argument("--step-factor", type=float, default=1.25)
    parser.add_argument("--max-rate", type=float, default=400.0)
    parser.add_argument("--step-seconds", type=float, default=30.0)
    parser.add_argument("--p99-limit-ms", type=float, default=1000.0)
    parser.add_argument(
        "--memory-from-minute",
        type=int,
        default=5,
        help="measure memory growth from the end of this minute to the end (default 5)",
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.minutes < 1 or args.concurrency < 1 or args.memory_from_minute < 1:
        parser.error("--rate, --minutes, --concurrency and --memory-from-minute must be positive")
    if args.step_factor <= 1:
        parser.error("--step-factor must be above 1")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
