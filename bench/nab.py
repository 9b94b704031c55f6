"""Alert quality of the running platform on NAB's real ad-exchange series.

Starts the four services on a throwaway database and exchange (as ``bench/pipeline.py``
does), feeds the four NAB series of ``/work/shared/data/nab`` to the gateway's
``POST /api/ai/metrics`` as four campaigns (rows built by ``bench/nab_data.py``: constant
volume, spend = price x volume, revenue = 4 x spend, daily budget three times the median
daily spend), hour after hour in order, waits until the alerts service has taken up
every batch, reads every alert of the four campaigns back through ``GET /api/ai/alerts``
and scores them against NAB's labelled windows: an alert is true when its
``first_seen_hour`` lies inside a window of its series (precision), a window is found
when an alert was first seen inside it (recall).

The series are from 2011: the API takes past hours, so they go out oldest first, each
request ``--hours-per-request`` hours of all four campaigns. The alerts service treats
hours more than its quiet period (6 h) behind a campaign's newest hour as a backfill and
raises nothing for them, so a request longer than that leaves its earlier hours unwatched.

The platform runs the detector's default settings, chosen without a held-out check. So
the run also prints the leave-one-series-out figures (``nab_loso_*``, computed in process
by ``bench/nab_offline.py``'s ``loso_figures``): for each series, the setting of a small
grid (the defaults among them) that ``choose`` picks on the other three series among those
keeping the simulator's precision and recall at 0.9 on its tuning seeds, scored on the
series left out. That adds about fifteen minutes of CPU; ``--no-loso`` leaves it out.

    .venv/bin/python bench/nab.py [--hours-per-request 1] [--no-loso] [--json] [--verbose]
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
import shutil
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import aiohttp

from adpilot.progress import add_task, progress_bar
from adpilot.registry import migration_folders
from bench.nab_data import NAB_DIR, NabSeries, Opened, load_nab, score_nab, series_label
from bench.nab_offline import loso_figures
from bench.report import BENCH_SETTINGS, print_figures
from sandbox.driver import to_body
from services.alerts.alert_lifecycle import QUIET_HOURS
from services.gateway.keys import create_key, ensure_tenant
from shared.bus import BrokerUnavailable, Bus
from shared.config import Settings
from shared.contracts import SERVICES
from shared.contracts.alerts import RISK_ASSESSED
from shared.db import DependencyUnavailable, connect, create_pool, migrate_all, scoped
from shared.metrics import HourlyMetrics
from shared.metrics_input import MAX_BATCH
from shared.pagination import MAX_LIMIT
from tests.e2e.platform import Platform
from tests.infra import (
    LOCAL_AMQP_URL,
    LOCAL_DATABASE_URL,
    private_settings,
)

HOUR = timedelta(hours=1)


class BenchError(RuntimeError):
    """The run cannot go on; the message says why."""


def batches(data: Sequence[NabSeries], hours_per_request: int) -> list[list[HourlyMetrics]]:
    """Every row of every series, oldest hour first, a batch per ``hours_per_request`` hours
    of the clock from the first hour on (a span with no data at all sends nothing)."""
    rows = sorted((row for series in data for row in series.rows), key=lambda r: r.hour)
    if not rows:
        return []
    first, span = rows[0].hour, hours_per_request * HOUR
    spans: dict[int, list[HourlyMetrics]] = {}
    for row in rows:
        spans.setdefault((row.hour - first) // span, []).append(row)
    return list(spans.values())


async def _check_servers(server: str, amqp_url: str) -> None:
    """Fail early, with one line naming what is missing, when PostgreSQL or RabbitMQ is away."""
    conn = await connect(server)
    await conn.close()
    bus = Bus(amqp_url, f"adpilot.bench.probe.{secrets.token_hex(4)}")
    try:
        await bus.connect()
        await bus.delete_topology(SERVICES)
    finally:
        await bus.close()


async def _post(api: aiohttp.ClientSession, rows: list[HourlyMetrics]) -> UUID:
    """Send one batch; the correlation id its events will carry."""
    async with api.post("/api/ai/metrics", json=to_body(rows)) as response:
        if response.status != 202:
            detail = await response.text()
            raise BenchError(f"POST /api/ai/metrics: HTTP {response.status}: {detail}")
        accepted = await response.json()
        if accepted["campaign_hours"] != len(rows):
            raise BenchError(f"sent {len(rows)} rows, {accepted['campaign_hours']} published")
        return UUID(response.headers["X-Correlation-Id"])


async def _feed(api: aiohttp.ClientSession, plan: list[list[HourlyMetrics]]) -> UUID:
    last = None
    with progress_bar() as bar:
        task = add_task(bar, "sending", len(plan), note="requests of NAB hours")
        for rows in plan:
            last = await _post(api, rows)
            bar.advance(task)
    assert last is not None
    return last


async def _alerts_status(api: aiohttp.ClientSession) -> dict[str, Any]:
    async with api.get("/api/ai/system-status") as response:
        report: dict[str, Any] = await response.json()
        return dict(report["services"].get("alerts", {}))


async def _wait_consumed(
    api: aiohttp.ClientSession, last: UUID, within: float, stall: float
) -> None:
    """Until the alerts service has taken up the last batch, and so every one before it.

    Metrics batches are applied one at a time in delivery order, and the last batch
    reaches every campaign's newest hour, so its risk assessment appears in the audit
    trail (under the request's correlation id) only once everything is stored and watched.
    """
    query = {"action": RISK_ASSESSED.name, "correlation_id": str(last), "limit": "1"}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    consumed, moved = None, loop.time()
    while True:
        async with api.get("/api/ai/audit-trail", params=query) as response:
            if response.status != 200:
                raise BenchError(f"GET /api/ai/audit-trail: HTTP {response.status}")
            if (await response.json())["items"]:
                return
        status = await _alerts_status(api)
        if status.get("dead_letters"):
            raise BenchError(f"alerts service dead-lettered {status['dead_letters']} events")
        # A busy service may miss the status call's short timeout: only a service that
        # neither answers nor consumes for ``stall`` seconds is given up on.
        if status.get("status") == "up" and status.get("events_consumed") != consumed:
            consumed, moved = status.get("events_consumed"), loop.time()
        now = loop.time()
        if now - moved > stall:
            raise BenchError(f"alerts service made no progress for {stall:.0f} s: {status}")
        if now > deadline:
            raise BenchError(f"alerts service still busy after {within:.0f} s: {status}")
        await asyncio.sleep(1.0)


async def _read_alerts(api: aiohttp.ClientSession, campaign: UUID) -> list[dict[str, Any]]:
    """Every alert row of one campaign, whatever its status, each once."""
    rows: dict[str, dict[str, Any]] = {}
    params = {"affected_entity_id": str(campaign), "limit": str(MAX_LIMIT)}
    while True:
        async with api.get("/api/ai/alerts", params=params) as response:
            if response.status != 200:
                raise BenchError(f"GET /api/ai/alerts: HTTP {response.status}")
            page = await response.json()
        for row in page["items"]:
            rows[row["id"]] = row
        if not page["next_cursor"]:
            return list(rows.values())
        params["cursor"] = page["next_cursor"]


def _opened(rows: list[dict[str, Any]]) -> list[Opened]:
    return [
        (row["alert_key"] or row["alert_type"], datetime.fromisoformat(row["first_seen_hour"]))
        for row in rows
        if row["first_seen_hour"] is not None
    ]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    data = load_nab(args.data)
    plan = batches(data, args.hours_per_request)
    if max(len(rows) for rows in plan) > MAX_BATCH:
        raise BenchError(f"--hours-per-request {args.hours_per_request}: over {MAX_BATCH} rows")
    await _check_servers(args.database_server, args.amqp_url)

    rid = secrets.token_hex(5)
    settings = private_settings(
        args.database_server, args.amqp_url, f"bench.nab.{rid}", **BENCH_SETTINGS
    )
    database = settings.database_url.rsplit("/", 1)[1]
    logs = Path(tempfile.mkdtemp(prefix="adpilot-bench-nab-"))
    platform = Platform(settings, logs)
    failed = True
    try:
        await migrate_all(settings.database_url, migration_folders())
        gateway = await create_pool(settings.database_url, "gateway", min_size=1, max_size=1)
        try:
            async with scoped(gateway, system=True) as conn:
                tenant = await ensure_tenant(conn, f"bench-nab-{rid}")
                # Admin: the audit trail tells when the alerts service is done.
                _row, key = await create_key(conn, tenant, "bench-nab", "admin")
        finally:
            await gateway.close()
        await platform.start_all()
        ready = time.perf_counter()
        headers = {"Authorization": f"Bearer {key}"}
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(
            base_url=platform.gateway, headers=headers, timeout=timeout
        ) as api:
            last = await _feed(api, plan)
            fed = time.perf_counter()
            await _wait_consumed(api, last, args.timeout, args.stall)
            drained = time.perf_counter()
            opened = {s.name: _opened(await _read_alerts(api, s.campaign_id)) for s in data}
        failed = False
    finally:
        await _tear_down(platform, settings, args.database_server, database)
        if failed or args.keep_logs:
            print(f"service logs kept in {logs}", file=sys.stderr)
        else:
            shutil.rmtree(logs, ignore_errors=True)

    result = score_nab(data, opened)
    figures: dict[str, Any] = {
        "nab_precision": round(result.precision, 4),
        "nab_recall": round(result.recall, 4),
        "nab_alerts": result.alerts,
        "nab_true_alerts": result.true_alerts,
        "nab_windows": result.windows,
        "nab_windows_found": result.windows_found,
    }
    for series in data:
        label = series_label(series.name)
        counts = result.per_series[series.name]
        figures[f"nab_{label}_alerts"] = counts["alerts"]
        figures[f"nab_{label}_true_alerts"] = counts["true"]
        figures[f"nab_{label}_windows_found"] = counts["windows_found"]
        if args.verbose:
            figures[f"nab_{label}_opened"] = " ".join(counts["opened"])  # type: ignore[arg-type]
    figures.update(
        nab_rows_sent=sum(len(rows) for rows in plan),
        nab_requests=len(plan),
        nab_hours_per_request=args.hours_per_request,
        nab_feed_seconds=round(fed - ready, 1),
        nab_drain_seconds=round(drained - fed, 1),
        nab_total_seconds=round(time.perf_counter() - started, 1),
    )
    return figures


async def _tear_down(platform: Platform, settings: Settings, server: str, database: str) -> None:
    """Stop the services, delete the run's exchange and queues, drop its database: each
    step tried even when one before it failed."""
    steps = []
    try:
        await platform.stop_all()
    except Exception as exc:
        steps.append(f"stopping the services: {exc!r}")
    try:
        bus = Bus(settings.amqp_url, settings.exchange)
        try:
            await bus.connect()
            await bus.delete_topology(SERVICES)
        finally:
            await bus.close()
    except Exception as exc:
        steps.append(f"deleting exchange {settings.exchange}: {exc!r}")
    try:
        admin = await connect(server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await admin.close()
    except Exception as exc:
        steps.append(f"dropping database {database}: {exc!r}")
    for step in steps:
        print(f"cleanup failed, {step}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=NAB_DIR)
    parser.add_argument(
        "--hours-per-request",
        type=int,
        default=1,
        help=f"hours of data per POST; above {QUIET_HOURS} the earlier hours go unwatched",
    )
    # As the tests take them: any database on the server (the run creates its own), a broker.
    parser.add_argument(
        "--database-server", default=os.environ.get("ADPILOT_DATABASE_URL") or LOCAL_DATABASE_URL
    )
    parser.add_argument("--amqp-url", default=os.environ.get("ADPILOT_AMQP_URL") or LOCAL_AMQP_URL)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait in all")
    parser.add_argument(
        "--stall", type=float, default=120.0, help="seconds without progress before giving up"
    )
    parser.add_argument("--verbose", action="store_true", help="list every alert")
    parser.add_argument("--keep-logs", action="store_true", help="keep the services' logs")
    parser.add_argument(
        "--no-loso", action="store_true", help="skip the leave-one-series-out figures"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes for the LOSO replay")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.hours_per_request < 1:
        parser.error("--hours-per-request must be at least 1")
    if args.hours_per_request > QUIET_HOURS:
        print(
            f"note: the alerts service watches only the last {QUIET_HOURS} hours of each request",
            file=sys.stderr,
        )
    try:
        figures = asyncio.run(run(args))
    except (BenchError, DependencyUnavailable, BrokerUnavailable) as exc:
        print(f"bench/nab.py: {exc}", file=sys.stderr)
        return 1
    if not args.no_loso:
        figures.update(loso_figures(load_nab(args.data), args.workers, args.verbose))
    print_figures(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
