"""An agency's hour: every campaign's newest hour posted at once, until decisions are readable.

    .venv/bin/python bench/agency.py [--campaigns 10000] [--tenants 100]
                                     [--tenant-campaigns 100] [--json]
    .venv/bin/python bench/agency.py --campaigns 200 --tenants 4 --tenant-campaigns 50
    .venv/bin/python bench/agency.py --runs one     # only the one tenant

Two runs, each on a platform of its own (database, exchange, ports, every service as a
process): one tenant with ``--campaigns`` campaigns, then ``--tenants`` tenants of
``--tenant-campaigns`` campaigns each. Every campaign already has five days of hourly
history in each service's copy of the metrics (copied in beforehand, untimed: the least
with which the alerts detector judges an hour, five days at its hour of day). Then the
next hour of every campaign is POSTed to ``/api/ai/metrics`` at once, as the ad
platform's report of the hour: each tenant with its own key, in batches of ``--batch``
rows, ``--in-flight`` requests at a time. Timed from the first POST, stage by stage:

- ``accepted``: every batch answered 202 by the gateway;
- ``stored_<service>``: every row in the alerts, decision and optimizer services' stores
  (the alerts service stores a batch and evaluates it for alerts and risks in one
  transaction, so ``stored_alerts`` is also "every alert evaluated");
- ``cycle``: then a decision cycle is requested for every tenant
  (``POST /api/ai/cycles``), and the stage ends when every one has completed and its
  decisions are readable through ``GET /api/ai/decisions?cycle_id=...``.

Printed per run (``10k`` for the one tenant, ``100_tenants`` for the many; the keys keep
those names at any size, with the sizes beside them): the seconds to the end
(``agency_hour_10k_s``, ``agency_100_tenants_s``), each stage's seconds from the first
POST and its rows a second (the hour's rows over those seconds; for ``cycle``, over the
cycle stage's own seconds, from the last store's end), and the decisions the cycles made.
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
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg

from bench.harness import (
    METRIC_SCHEMAS,
    Bench,
    copy_history,
    make_tenant,
    metric_record,
    own_platform,
)
from bench.report import print_figures
from sandbox.driver import to_body
from sandbox.simulator import CampaignSimulator
from shared.metrics import HourlyMetrics

HOUR = timedelta(hours=1)
SEED = 37
# Five days before the posted hour: the detector's least to judge an hour (five days at its
# hour of day); the decision cycle reads up to eight, and takes what there is.
HISTORY_HOURS = 5 * 24
# Distinct campaign series, reused under every campaign's own id: simulating 10,000
# campaigns' week would take minutes and measure nothing.
TEMPLATES = 100
WAIT_SECONDS = 1800.0


@dataclass(frozen=True)
class Account:
    tenant: uuid.UUID
    keys: dict[str, str]
    campaigns: list[uuid.UUID]


class Series:
    """Each campaign's hours: a template campaign's figures under the campaign's own id."""

    def __init__(self, campaigns: int, newest: datetime) -> None:
        self.first = newest - HISTORY_HOURS * HOUR
        count = min(TEMPLATES, campaigns)
        simulator = CampaignSimulator(count, seed=SEED, start=self.first)
        self.hours = [
            simulator.simulate_hour(self.first + h * HOUR) for h in range(HISTORY_HOURS + 1)
        ]

    def template(self, hour: int, index: int) -> HourlyMetrics:
        return self.hours[hour][index % len(self.hours[hour])]

    def history(self, accounts: Sequence[Account]) -> Iterator[tuple[Any, ...]]:
        for account in accounts:
            for h in range(HISTORY_HOURS):
                for i, campaign in enumerate(account.campaigns):
                    yield metric_record(account.tenant, self.template(h, i), campaign)

    def newest(self, account: Account) -> list[HourlyMetrics]:
        return [
            replace(self.template(HISTORY_HOURS, i), campaign_id=c)
            for i, c in enumerate(account.campaigns)
        ]


async def accounts_of(bench: Bench, tenants: int, campaigns: int) -> list[Account]:
    """The bench's own tenant first, then as many more as asked."""
    made = [(bench.tenant, bench.keys)]
    for n in range(1, tenants):
        made.append(await make_tenant(bench.settings, f"agency-{n}-{uuid.uuid4().hex[:6]}"))
    return [Account(t, k, [uuid.uuid4() for _ in range(campaigns)]) for t, k in made]


async def post_hour(
    gateway: str, series: Series, accounts: Sequence[Account], batch: int, in_flight: int
) -> None:
    slots = asyncio.Semaphore(in_flight)
    async with aiohttp.ClientSession(base_url=gateway) as api:

        async def send(account: Account, rows: list[HourlyMetrics]) -> None:
            headers = {"Authorization": f"Bearer {account.keys['operator']}"}
            async with slots, api.post("/api/ai/metrics", json=to_body(rows), headers=headers) as r:
                if r.status != 202:
                    raise RuntimeError(f"metrics refused: {r.status} {await r.text()}")

        jobs = []
        for account in accounts:
            rows = series.newest(account)
            jobs.extend(send(account, rows[i : i + batch]) for i in range(0, len(rows), batch))
        await asyncio.gather(*jobs)


async def stored(conn: Any, schema: str, hour: datetime) -> int:
    return int(
        await conn.fetchval(
            f'SELECT count(*) FROM "{schema}".campaign_metrics WHERE hour = $1', hour
        )
    )


async def watch_stores(conn: Any, hour: datetime, want: int, start: float) -> dict[str, float]:
    """Seconds from ``start`` until each service's store holds ``want`` rows of ``hour``."""
    done: dict[str, float] = {}
    deadline = time.monotonic() + WAIT_SECONDS
    told = time.monotonic()
    while len(done) < len(METRIC_SCHEMAS):
        counts = {schema: await stored(conn, schema, hour) for schema in METRIC_SCHEMAS}
        for schema, count in counts.items():
            if schema not in done and count >= want:
                done[schema] = time.perf_counter() - start
        if time.monotonic() - told > 15:
            # A run stopped half-way still says how far each store had come, and when.
            told = time.monotonic()
            say(f"  {time.perf_counter() - start:.0f} s: stored {counts} of {want}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"stores not full within {WAIT_SECONDS:.0f} s: {done}")
        await asyncio.sleep(0.05)
    return done


async def cycles(gateway: str, accounts: Sequence[Account]) -> int:
    """A decision cycle for every tenant, each waited for until completed and its decisions
    read; answers the decisions made."""
    async with aiohttp.ClientSession(base_url=gateway) as api:

        async def one(account: Account) -> int:
            headers = {"Authorization": f"Bearer {account.keys['operator']}"}
            body = {"cycle_name": "agency hour", "cycle_type": "optimization"}
            async with api.post("/api/ai/cycles", json=body, headers=headers) as r:
                if r.status not in (200, 201, 202):
                    raise RuntimeError(f"cycle refused: {r.status} {await r.text()}")
                cycle = (await r.json())["id"]
            deadline = time.monotonic() + WAIT_SECONDS
            while True:
                async with api.get(f"/api/ai/cycles/{cycle}", headers=headers) as r:
                    status = (await r.json())["status"]
                if status == "completed":
                    break
                if status == "failed" or time.monotonic() > deadline:
                    raise RuntimeError(f"cycle {cycle}: {status}")
                await asyncio.sleep(0.1)
            params = {"cycle_id": cycle, "limit": "500"}
            made = 0
            while True:
                async with api.get("/api/ai/decisions", params=params, headers=headers) as r:
                    page = await r.json()
                made += len(page["items"])
                if not page.get("next_cursor"):
                    return made
                params["cursor"] = page["next_cursor"]

        return sum(await asyncio.gather(*(one(a) for a in accounts)))


async def run(args: argparse.Namespace, tenants: int, campaigns: int) -> dict[str, Any]:
    """One agency: history in, then the hour posted and followed to its decisions."""
    newest = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - HOUR
    series = Series(campaigns, newest)
    rows = tenants * campaigns
    async with own_platform("agency") as bench:
        accounts = await accounts_of(bench, tenants, campaigns)
        say(f"{tenants} x {campaigns}: copying {rows * HISTORY_HOURS} rows of history")
        await copy_history(bench.settings, series.history(accounts))
        # A pool of one: it reconnects if the server drops the connection under the run.
        conn = await asyncpg.create_pool(bench.settings.database_url, min_size=1, max_size=1)
        try:
            say(f"{tenants} x {campaigns}: posting {rows} rows")
            start = time.perf_counter()
            await post_hour(bench.platform.gateway, series, accounts, args.batch, args.in_flight)
            accepted = time.perf_counter() - start
            done = await watch_stores(conn, newest, rows, start)
        finally:
            await conn.close()
        say(f"{tenants} x {campaigns}: stored; decision cycles")
        decisions = await cycles(bench.platform.gateway, accounts)
        total = time.perf_counter() - start
    last_store = max(done.values())
    figures: dict[str, Any] = {
        "rows": rows,
        "seconds": round(total, 2),
        "accepted_s": round(accepted, 2),
        "accepted_rows_per_s": round(rows / accepted, 1),
    }
    for schema in METRIC_SCHEMAS:
        figures[f"stored_{schema}_s"] = round(done[schema], 2)
        figures[f"stored_{schema}_rows_per_s"] = round(rows / done[schema], 1)
    figures["cycle_s"] = round(total - last_store, 2)
    figures["cycle_rows_per_s"] = round(rows / max(total - last_store, 1e-9), 1)
    figures["end_to_end_rows_per_s"] = round(rows / total, 1)
    figures["decisions"] = decisions
    return figures


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "campaigns": args.campaigns,
        "tenants": args.tenants,
        "tenant_campaigns": args.tenant_campaigns,
    }
    if "one" in args.runs:
        one = await run(args, 1, args.campaigns)
        say(f"one tenant: {one}")
        figures["agency_hour_10k_s"] = one.pop("seconds")
        figures.update({f"one_tenant_{k}": v for k, v in one.items()})
        figures["loadavg_1m_one_tenant"] = round(os.getloadavg()[0], 2)
    if "tenants" in args.runs:
        many = await run(args, args.tenants, args.tenant_campaigns)
        say(f"{args.tenants} tenants: {many}")
        figures["agency_100_tenants_s"] = many.pop("seconds")
        figures.update({f"tenants_{k}": v for k, v in many.items()})
        figures["loadavg_1m_tenants"] = round(os.getloadavg()[0], 2)
    return figures


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=10_000, help="the one tenant's")
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--tenant-campaigns", type=int, default=100, help="each tenant's")
    parser.add_argument("--batch", type=int, default=500, help="rows per POST")
    parser.add_argument("--in-flight", type=int, default=8, help="POSTs at a time")
    parser.add_argument(
        "--runs",
        type=lambda text: set(text.split(",")),
        default={"one", "tenants"},
        metavar="one,tenants",
        help="which runs: the one tenant, the many tenants (default both)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not args.runs or args.runs - {"one", "tenants"}:
        parser.error("--runs takes one, tenants or one,tenants")
    if min(args.campaigns, args.tenants, args.tenant_campaigns, args.in_flight) < 1:
        parser.error("--campaigns, --tenants, --tenant-campaigns and --in-flight must be positive")
    if not 1 <= args.batch <= 5000:
        parser.error("--batch must be between 1 and 5000 (the gateway's largest batch)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    print_figures(asyncio.run(measure(args)), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
