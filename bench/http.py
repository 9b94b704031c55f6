"""The gateway against a FastAPI peer, on the same data, under the same load generator.

    .venv/bin/python bench/http.py [--duration 10] [--rounds 3] [--connections 32] [--json]
    .venv/bin/python bench/http.py --quick        # a few seconds, for a test

Starts a platform of its own (database, exchange, ports, every service as a process),
makes a tenant and its keys as the platform does, and copies 100,000 decisions, 20,000
alerts and 20,000 recommendations for that tenant into the services' own tables. Beside
it runs the peer, ``bench/peers/fastapi_app.py``: a FastAPI app under uvicorn serving the
same routes from the same tables, with as many worker processes as the platform has
service processes. Both are first checked to answer the same items for the same requests.

Then ``wrk`` (with a Lua script per case) loads one side at a time, in rounds; within a
round each case runs on the gateway and on the peer back to back, the one going first
alternating from round to round. The cases, each cycling over decisions, alerts and
recommendations:

- ``list``: the first page (``?limit=50``);
- ``deep``: a page half-way down, by the ``next_cursor`` the API itself returned;
- ``byid``: one item by id, from a few hundred ids per collection;
- ``post``: ``POST /api/ai/decisions`` (a decision with no action: stored, its event
  published and audited, nothing acted on). After each, the pipeline is left to drain.

Every request carries the same operator key. Printed: each side's requests a second,
p50 and p99 latency in ms per case (medians over the rounds), the CPU time per request of
every process the bench started but wrk (the platform's, the sandbox's and the peer's;
PostgreSQL's own is not counted), the ratio of the gateway's
requests a second to the peer's per case (the median over the rounds of each round's
ratio), and the non-2xx answers and socket errors.
``--json`` prints one JSON object instead of ``name: value`` lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on the path, and this very file would hide the
# standard library's http package: the repository's root comes first instead.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]
ROOT = HERE.parent

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import orjson

from bench.harness import Bench, own_platform
from bench.report import print_figures
from shared.config import Settings
from shared.contracts import SERVICES, alerts, decision, optimizer
from shared.db import connect
from shared.events import to_json
from tests.e2e.platform import service_env
from tests.infra import free_port

SIDES = ("gateway", "peer")
CASES = ("list", "deep", "byid", "post")
COLLECTIONS = ("decisions", "alerts", "recommendations")
PEER_APP = "bench.peers.fastapi_app:app"
PAGE = 50
IDS_PER_COLLECTION = 300
START_WITHIN = 60.0
DRAIN_WITHIN = 120.0
# A decision with no action: the decision service stores it and its event, the gateway
# audits both; the optimizer reads it as an observation and does nothing.
POST_BODY = {
    "decision_type": "budget_adjustment",
    "context_data": {"source": "bench/http.py", "campaign_id": None},
    "decision_rationale": "load test",
    "confidence_score": 42.5,
}


@dataclass(frozen=True)
class Sizes:
    decisions: int
    alerts: int
    recommendations: int

    def of(self, collection: str) -> int:
        return int(getattr(self, collection))


FULL = Sizes(100_000, 20_000, 20_000)
QUICK = Sizes(1_000, 300, 300)


# --- the data --------------------------------------------------------------------------


def _instants(count: int, now: datetime) -> Iterator[datetime]:
    """``count`` distinct times over the last 90 days, newest first."""
    step = timedelta(days=90) / max(count, 1)
    for i in range(count):
        yield now - step * (i + 1)


def decision_rows(tenant: uuid.UUID, count: int, rng: random.Random) -> list[tuple[Any, ...]]:
    now = datetime.now(UTC)
    kinds = ("budget_adjustment", "campaign_pause", "keyword_bid", "audience_expansion")
    rows = []
    for at in _instants(count, now):
        campaign = str(uuid.UUID(int=rng.getrandbits(128)))
        rows.append(
            (
                uuid.uuid4(),
                tenant,
                rng.choice(kinds),
                {
                    "campaign_id": campaign,
                    "spend": round(rng.uniform(10, 900), 2),
                    "roas": round(rng.uniform(0.2, 6), 3),
                    "signals": ["ctr_drop", "cpa_rise"][: rng.randint(0, 2)],
                },
                "spend moved away from the campaign's response curve",
                Decimal(str(round(rng.uniform(20, 99), 2))),
                None,
                {"metric": "roas", "expected_change": round(rng.uniform(-0.2, 0.4), 3)},
                rng.choice(("pending", "validated", "incorrect")),
                at,
            )
        )
    return rows


DECISION_COLUMNS = (
    "id",
    "tenant_id",
    "decision_type",
    "context_data",
    "decision_rationale",
    "confidence_score",
    "action_taken",
    "impact_prediction",
    "validation_status",
    "created_at",
)


def alert_rows(tenant: uuid.UUID, count: int, rng: random.Random) -> list[tuple[Any, ...]]:
    now = datetime.now(UTC)
    kinds = ("performance_anomaly", "budget_threshold", "opportunity", "risk")
    rows = []
    for at in _instants(count, now):
        hour = at.replace(minute=0, second=0, microsecond=0)
        rows.append(
            (
                uuid.uuid4(),
                tenant,
                rng.choice(kinds),
                rng.choice(("low", "medium", "high", "critical")),
                "Cost per acquisition above its usual range",
                "CPA rose 38% against the campaign's own trailing week",
                "campaign",
                uuid.UUID(int=rng.getrandbits(128)),
                [{"action": "lower_bid", "by_percent": 10}],
                rng.choice(("active", "acknowledged", "resolved", "dismissed")),
                rng.randint(1, 5),
                {"metric": "cpa", "value": round(rng.uniform(5, 80), 2), "z": 3.4},
                hour,
                hour,
                at,
                at,
            )
        )
    return rows


ALERT_COLUMNS = (
    "id",
    "tenant_id",
    "alert_type",
    "severity",
    "title",
    "description",
    "affected_entity_type",
    "affected_entity_id",
    "recommended_actions",
    "status",
    "occurrences",
    "evidence",
    "first_seen_hour",
    "last_seen_hour",
    "created_at",
    "updated_at",
)


def recommendation_rows(tenant: uuid.UUID, count: int, rng: random.Random) -> list[tuple[Any, ...]]:
    now = datetime.now(UTC)
    kinds = ("budget_optimization", "audience_targeting", "creative_testing", "bid_strategy")
    rows = []
    for at in _instants(count, now):
        budget = round(rng.uniform(50, 500), 2)
        rows.append(
            (
                uuid.uuid4(),
                tenant,
                rng.choice(kinds),
                "campaign",
                uuid.UUID(int=rng.getrandbits(128)),
                {"daily_budget": budget},
                {"daily_budget": round(budget * 1.1, 2)},
                {"conversions": round(rng.uniform(0, 12), 2)},
                Decimal(str(round(rng.uniform(1, 9.9), 1))),
                rng.randint(1, 10),
                rng.choice(("low", "medium", "high")),
                rng.choice(("pending", "approved", "rejected")),
                at,
                at,
            )
        )
    return rows


RECOMMENDATION_COLUMNS = (
    "id",
    "tenant_id",
    "recommendation_type",
    "target_entity_type",
    "target_entity_id",
    "current_state",
    "recommended_changes",
    "expected_impact",
    "confidence_level",
    "priority_score",
    "implementation_complexity",
    "status",
    "created_at",
    "updated_at",
)

# collection -> (schema, resource, its rows, their columns)
TABLES = {
    "decisions": ("decision", decision.DECISIONS, decision_rows, DECISION_COLUMNS),
    "alerts": ("alerts", alerts.ALERTS, alert_rows, ALERT_COLUMNS),
    "recommendations": (
        "optimizer",
        optimizer.RECOMMENDATIONS,
        recommendation_rows,
        RECOMMENDATION_COLUMNS,
    ),
}


async def load_data(settings: Settings, tenant: uuid.UUID, sizes: Sizes) -> dict[str, list[str]]:
    """Copy the rows into the services' tables (as the database's owner, in one COPY per
    table) and answer a sample of ids per collection."""
    rng = random.Random(11)
    conn = await connect(settings.database_url)
    # COPY goes in binary: jsonb as its version byte and the text.
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: b"\x01" + to_json(value),
        decoder=lambda raw: orjson.loads(raw[1:]),
        schema="pg_catalog",
        format="binary",
    )
    ids: dict[str, list[str]] = {}
    try:
        for collection, (schema, resource, make, columns) in TABLES.items():
            rows = make(tenant, sizes.of(collection), rng)
            await conn.copy_records_to_table(
                resource.table, schema_name=schema, columns=columns, records=rows
            )
            await conn.execute(f"ANALYZE {schema}.{resource.table}")
            sample = rng.sample(rows, min(len(rows), IDS_PER_COLLECTION))
            ids[collection] = [str(row[0]) for row in sample]
    finally:
        await conn.close()
    return ids


# --- the peer --------------------------------------------------------------------------


@dataclass
class Peer:
    settings: Settings
    workers: int
    log: Path
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    async def start(self, key: str) -> None:
        env = {**service_env(self.settings), "PYTHONPATH": str(ROOT)}
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "uvicorn", PEER_APP),
                *("--host", self.settings.host, "--port", str(self.port)),
                *("--workers", str(self.workers), "--loop", "uvloop", "--http", "httptools"),
                *("--no-access-log", "--log-level", "warning"),
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_WITHIN
        headers = {"Authorization": f"Bearer {key}"}
        async with aiohttp.ClientSession() as session:
            while True:
                if self.process.returncode is not None:
                    raise RuntimeError(f"the peer exited: {self.log.read_text()[-2000:]}")
                try:
                    url = f"{self.url}/api/ai/decisions?limit=1"
                    async with session.get(url, headers=headers) as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the peer did not start: {self.log.read_text()[-2000:]}")
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


# --- what both must answer alike -------------------------------------------------------


async def _get(session: aiohttp.ClientSession, url: str, key: str) -> Any:
    async with session.get(url, headers={"Authorization": f"Bearer {key}"}) as response:
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status} {await response.text()}")
        return await response.json()


async def deep_cursors(base: str, key: str, sizes: Sizes) -> dict[str, str]:
    """Per collection, the cursor the API returns half-way down the list."""
    cursors = {}
    async with aiohttp.ClientSession() as session:
        for collection in COLLECTIONS:
            depth, cursor = sizes.of(collection) // 2, None
            seen = 0
            while seen < depth:
                limit = min(500, depth - seen)
                query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
                page = await _get(session, f"{base}/api/ai/{collection}?{query}", key)
                seen += len(page["items"])
                cursor = page["next_cursor"]
            assert cursor is not None
            cursors[collection] = cursor
    return cursors


def paths_of(case: str, ids: dict[str, list[str]], cursors: dict[str, str]) -> list[str]:
    if case == "list":
        return [f"/api/ai/{c}?limit={PAGE}" for c in COLLECTIONS]
    if case == "deep":
        return [f"/api/ai/{c}?limit={PAGE}&cursor={cursors[c]}" for c in COLLECTIONS]
    if case == "byid":
        # Interleaved, so every stretch of the run reads all three collections.
        columns = [[f"/api/ai/{c}/{i}" for i in ids[c]] for c in COLLECTIONS]
        return [p for row in zip(*columns, strict=False) for p in row]
    return ["/api/ai/decisions"]


async def check_alike(
    urls: dict[str, str], key: str, ids: dict[str, list[str]], cursors: dict[str, str]
) -> None:
    """Both sides answer the same items for every read case, and both accept the POST."""
    async with aiohttp.ClientSession() as session:
        for case in ("list", "deep", "byid"):
            for path in paths_of(case, ids, cursors)[:3]:
                answers = [await _get(session, f"{urls[s]}{path}", key) for s in SIDES]
                seen = [
                    [item["id"] for item in a["items"]] if "items" in a else [a["id"]]
                    for a in answers
                ]
                cursors_seen = [a.get("next_cursor") for a in answers]
                if seen[0] != seen[1] or cursors_seen[0] != cursors_seen[1]:
                    raise RuntimeError(f"the gateway and the peer answer {path} differently")
                if set(answers[0]) != set(answers[1]):
                    raise RuntimeError(f"the gateway and the peer answer {path} with other fields")
        for side in SIDES:
            async with session.post(
                f"{urls[side]}/api/ai/decisions",
                json=POST_BODY,
                headers={"Authorization": f"Bearer {key}"},
            ) as response:
                if response.status != 201:
                    raise RuntimeError(f"{side}: POST answered {response.status}")


# --- the load --------------------------------------------------------------------------


LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK {\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, \\"p99_us\\": %d, " ..
    "\\"connect\\": %d, \\"read\\": %d, \\"write\\": %d, \\"status\\": %d, \\"timeout\\": %d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def lua_script(case: str, paths: Sequence[str], key: str) -> str:
    quoted = ",\n  ".join(json.dumps(p) for p in paths)
    lines = [
        f"local paths = {{\n  {quoted}\n}}",
        "local i = 0",
        f'wrk.headers["Authorization"] = "Bearer {key}"',
    ]
    if case == "post":
        lines += [
            'wrk.method = "POST"',
            'wrk.headers["Content-Type"] = "application/json"',
            f"wrk.body = {json.dumps(json.dumps(POST_BODY))}",
        ]
    lines += [
        "init = function(args) i = math.random(#paths) - 1 end",
        "request = function()\n  i = i % #paths + 1\n  return wrk.format(nil, paths[i])\nend",
        LUA_DONE,
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    # CPU time of every process the bench started but wrk (the platform's and the peer's)
    # per request answered: less at the mercy of the machine's other work than req/s.
    cpu_ms_per_request: float = 0.0


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User and system time so far of ``pids`` (0 for one that is gone)."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLOCK_TICKS


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (uvicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


async def wrk(
    url: str, script: Path, seconds: float, connections: int, threads: int, pids: Sequence[int]
) -> Run:
    cpu_before = cpu_seconds(pids)
    proc = await asyncio.create_subprocess_exec(
        *("wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s"),
        *("--timeout", "10s", "-s", str(script), url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    cpu = cpu_seconds(pids) - cpu_before
    text = out.decode(errors="replace")
    line = next((ln for ln in text.splitlines() if ln.startswith("WRK ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {text[-2000:]}")
    r = json.loads(line[4:])
    errors = sum(r[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Run(
        rps=r["requests"] / max(r["duration_us"] / 1e6, 1e-9),
        p50_ms=r["p50_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        errors=errors,
        cpu_ms_per_request=cpu * 1000 / max(r["requests"], 1),
    )


async def drain(gateway: str, admin_key: str, within: float = DRAIN_WITHIN) -> None:
    """Wait until every outbox is published and every queue consumed: a POST run's events
    must not weigh on the next run."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            report = await _get(session, f"{gateway}/api/ai/system-status", admin_key)
            services = report["services"].values()
            if all(not s.get("outbox_backlog") and not s.get("consumer_lag") for s in services):
                return
            await asyncio.sleep(0.5)
    print("the pipeline did not drain in time; going on", file=sys.stderr)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def measure(
    args: argparse.Namespace, bench: Bench, peer: Peer, sizes: Sizes
) -> dict[str, Any]:
    key = bench.keys["operator"]
    urls = {"gateway": bench.platform.gateway, "peer": peer.url}
    ids = await load_data(bench.settings, bench.tenant, sizes)
    cursors = await deep_cursors(urls["gateway"], key, sizes)
    await check_alike(urls, key, ids, cursors)
    folder = Path(tempfile.mkdtemp(prefix="adpilot-http-bench-"))
    scripts = {}
    for case in args.cases:
        scripts[case] = folder / f"{case}.lua"
        scripts[case].write_text(lua_script(case, paths_of(case, ids, cursors), key))
    log(
        f"gateway pid {bench.platform.processes['gateway'].pid} at {urls['gateway']}, "
        f"peer pid {peer.process.pid if peer.process else None} at {urls['peer']}"
    )
    conns, threads = args.connections, min(args.threads, args.connections)
    assert peer.process is not None
    pids = [
        *(p.pid for p in bench.platform.processes.values()),
        peer.process.pid,
        *children_of(peer.process.pid),
    ]
    if args.warmup > 0:
        for side in args.sides:
            for case in (c for c in args.cases if c != "post"):
                await wrk(urls[side], scripts[case], args.warmup, conns, threads, pids)
    runs: dict[tuple[str, str], list[Run]] = {}
    for round_ in range(args.rounds):
        order = list(args.sides) if round_ % 2 == 0 else list(reversed(args.sides))
        for case in args.cases:
            for side in order:
                run = await wrk(urls[side], scripts[case], args.duration, conns, threads, pids)
                runs.setdefault((side, case), []).append(run)
                log(
                    f"round {round_ + 1} {case:5} {side:7} {run.rps:9.1f} req/s "
                    f"p50 {run.p50_ms:7.2f} ms p99 {run.p99_ms:7.2f} ms "
                    f"cpu {run.cpu_ms_per_request:5.2f} ms/req errors {run.errors}"
                )
                if case == "post":
                    await drain(urls["gateway"], bench.keys["admin"])
                await asyncio.sleep(args.pause)
    return figures(args, runs, sizes)


def figures(
    args: argparse.Namespace, runs: dict[tuple[str, str], list[Run]], sizes: Sizes
) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def median(side: str, case: str, what: str) -> float:
        return float(statistics.median(getattr(r, what) for r in runs[(side, case)]))

    if set(args.sides) == set(SIDES):
        # Per round, the two runs of a case are back to back: their ratio carries less of
        # the machine's drift than a ratio of medians taken rounds apart.
        for case in args.cases:
            pairs = zip(runs[("gateway", case)], runs[("peer", case)], strict=True)
            ratios = [g.rps / max(p.rps, 1e-9) for g, p in pairs]
            out[f"gateway_vs_peer_{case}_rps_ratio"] = round(statistics.median(ratios), 3)
    for side in args.sides:
        for case in args.cases:
            out[f"{side}_{case}_rps"] = round(median(side, case, "rps"), 1)
            out[f"{side}_{case}_p50_ms"] = round(median(side, case, "p50_ms"), 2)
            out[f"{side}_{case}_p99_ms"] = round(median(side, case, "p99_ms"), 2)
            cpu = median(side, case, "cpu_ms_per_request")
            out[f"{side}_{case}_cpu_ms_per_req"] = round(cpu, 3)
    for side in args.sides:
        out[f"{side}_errors"] = sum(r.errors for c in args.cases for r in runs[(side, c)])
    out.update(
        rounds=args.rounds,
        duration_s=args.duration,
        connections=args.connections,
        wrk_threads=args.threads,
        peer_workers=args.workers,
        pool_per_process=args.pool,
        decisions=sizes.decisions,
        alerts=sizes.alerts,
        recommendations=sizes.recommendations,
        load_average_1m=round(os.getloadavg()[0], 2),
    )
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    # Stopped early (Ctrl-C, SIGTERM), it still stops what it started and drops its database.
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    sizes = QUICK if args.quick else FULL
    # The same pool size in every process of either side; PostgreSQL's connections are
    # shared with whatever else runs on the server.
    async with own_platform("http", db_pool_max=args.pool) as bench:
        peer = Peer(bench.settings, args.workers, bench.platform.log_dir / "peer.log")
        try:
            await peer.start(bench.keys["operator"])
            return await measure(args, bench, peer, sizes)
        finally:
            await peer.stop()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per side and case")
    parser.add_argument("--connections", type=int, default=32, help="wrk's open connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk's threads")
    parser.add_argument(
        "--workers",
        type=int,
        default=len(SERVICES),
        help="the peer's worker processes (default: one per service process)",
    )
    parser.add_argument(
        "--pool", type=int, default=4, help="database connections per process, either side"
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per read case")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between runs")
    parser.add_argument(
        "--cases", nargs="+", choices=CASES, default=list(CASES), help="which cases to run"
    )
    parser.add_argument(
        "--sides", nargs="+", choices=SIDES, default=list(SIDES), help="which sides to load"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small data, one short round: a smoke test"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.connections, args.warmup, args.pause = 1.0, 1, 4, 0, 0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        figures = asyncio.run(main_async(args))
    except asyncio.CancelledError:
        print("stopped", file=sys.stderr)
        return 130
    print_figures(figures, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
