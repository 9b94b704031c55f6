"""``adpilot``: migrate, serve one service, or bring the whole platform up."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.bus import BrokerUnavailable
from shared.config import MissingSecret, Settings, get_settings
from shared.contracts import SERVICES
from shared.db import DependencyUnavailable, migrate_all
from shared.replicas import BadReplicas, format_replicas, parse_replicas, replica_names

if TYPE_CHECKING:
    from shared import dead_letters

UNAVAILABLE = (DependencyUnavailable, BrokerUnavailable, MissingSecret)


def _fail(message: str, code: int = 2) -> int:
    print(f"adpilot: {message}", file=sys.stderr)
    return code


# --- migrate -------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from adpilot.progress import add_task, progress_bar
    from adpilot.registry import migration_folders

    folders = migration_folders()
    with progress_bar() as bar:
        task = add_task(bar, "migrating", len(folders))
        applied = asyncio.run(
            migrate_all(
                settings.database_url,
                folders,
                settings.service_password,
                on_schema=lambda schema, _versions: bar.update(task, advance=1, note=schema),
            )
        )
    total = sum(len(v) for v in applied.values())
    for schema, versions in applied.items():
        for version in versions:
            print(f"applied {version} ({schema})")
    print(f"migrations up to date ({total} applied)")
    return 0


# --- serve ---------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from adpilot.registry import spec_of
    from shared.logs import setup_logging
    from shared.loop import run
    from shared.service import create_app, serve

    setup_logging(args.service, settings.log_level)
    host = args.host or settings.host
    port = args.port or settings.port_of(args.service)
    try:
        run(serve(create_app(spec_of(args.service), settings), host, port))
    except OSError as exc:
        return _fail(f"cannot listen on {host}:{port}: {exc.strerror}")
    return 0


# --- simulate ------------------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC

    from adpilot.progress import add_task, progress_bar
    from sandbox.driver import HOUR, feed, floor_hour, parse_injection
    from sandbox.simulator import CampaignSimulator, random_schedule

    if args.campaigns < 1 or args.hours < 1 or args.speed < 0:
        return _fail("--campaigns and --hours must be at least 1, --speed at least 0")
    backfill = min(args.backfill_hours, args.hours)
    start = (
        floor_hour(datetime.fromisoformat(args.start))
        if args.start
        # The run ends at the current hour: every simulated hour is a real, past one.
        else floor_hour(datetime.now(UTC)) - (args.hours - 1) * HOUR
    )
    probe = CampaignSimulator(args.campaigns, args.seed, start)
    try:
        schedule = [parse_injection(spec, probe.campaign_ids, start) for spec in args.inject]
        if args.anomalies:
            schedule += random_schedule(
                probe.campaign_ids, start, args.hours, args.seed, args.anomalies
            )
    except ValueError as exc:
        return _fail(str(exc))
    simulator = CampaignSimulator(args.campaigns, args.seed, start, schedule)
    gateway = args.gateway or settings.url_of("gateway")
    truth = [
        {
            "campaign_id": str(a.campaign_id),
            "kind": a.kind,
            "start_hour": a.start_hour.isoformat(),
            "end_hour": a.end_hour.isoformat(),
            "magnitude": a.magnitude,
        }
        for a in simulator.ground_truth
    ]
    print(
        f"simulating {args.campaigns} campaigns for {args.hours} h from {start.isoformat()} "
        f"into {gateway} ({backfill} h at once, then {args.speed:g}x)",
        file=sys.stderr,
    )
    for item in truth:
        print(
            f"  injecting {item['kind']} on {item['campaign_id']} "
            f"from {item['start_hour']} to {item['end_hour']}",
            file=sys.stderr,
        )
    try:
        with progress_bar() as bar:
            # The history sent at once, then the hours sent at the chosen speed.
            history = add_task(bar, "backfill", backfill) if backfill else None
            live = add_task(bar, "live", args.hours - backfill) if args.hours > backfill else None

            def sent(n: int, hour: datetime) -> None:
                task, done = (history, n) if n <= backfill else (live, n - backfill)
                if task is not None:
                    bar.update(task, completed=done, note=f"through {hour:%Y-%m-%d %H:00}")

            asyncio.run(
                feed(
                    simulator,
                    gateway,
                    hours=args.hours,
                    backfill_hours=backfill,
                    speed=args.speed,
                    headers={"Authorization": f"Bearer {args.api_key}"} if args.api_key else None,
                    on_hour=sent,
                )
            )
    except RuntimeError as exc:
        return _fail(str(exc))
    if args.truth:
        with open(args.truth, "w") as out:
            json.dump(truth, out, indent=2)
    print(json.dumps({"hours_sent": args.hours, "injected": truth}))
    return 0


# --- sandbox -------------------------------------------------------------------------


def cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from sandbox.runner import run
    from shared.logs import setup_logging

    setup_logging("sandbox", settings.log_level)
    return run(args, settings)


# --- keys --------------------------------------------------------------------------


async def _with_gateway_db(settings: Settings, job):  # type: ignore[no-untyped-def]
    from shared.db import create_pool, scoped

    pool = await create_pool(
        settings.database_url,
        "gateway",
        password=settings.service_password,
        min_size=1,
        max_size=1,
    )
    try:
        async with scoped(pool, system=True) as conn:
            return await job(conn)
    finally:
        await pool.close()


async def _demo_key(settings: Settings) -> str:
    """The demo tenant (the default tenant's id) and a fresh admin key for it. The demo
    tenant acts on its own within the default limits, so the demo shows changes applied;
    the optimizer hears of it through ``preferences.updated``."""
    from services.gateway.keys import ensure_tenant, rotate_key
    from services.gateway.preferences import set_preferences

    async def job(conn):  # type: ignore[no-untyped-def]
        tenant = await ensure_tenant(conn, "demo", settings.default_tenant)
        _row, key = await rotate_key(conn, tenant, "demo", "admin")
        await set_preferences(conn, tenant, "act", None)
        return key

    return str(await _with_gateway_db(settings, job))


async def _rotate_secrets(settings: Settings) -> tuple[int, int]:
    from services.optimizer.connections.store import rotate_secrets
    from shared.db import create_pool, scoped
    from shared.secrets import Keyring

    keyring = Keyring.from_env()
    pool = await create_pool(
        settings.database_url,
        "optimizer",
        password=settings.service_password,
        min_size=1,
        max_size=1,
    )
    try:
        async with scoped(pool, system=True) as conn:
            return await rotate_secrets(conn, keyring)
    finally:
        await pool.close()


def cmd_rotate_secrets(settings: Settings) -> int:
    from shared.secrets import SecretsUnavailable

    try:
        resealed, current = asyncio.run(_rotate_secrets(settings))
    except SecretsUnavailable as exc:
        return _fail(str(exc))
    print(f"{resealed} secret(s) sealed again with the current key; {current} already were")
    return 0


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from uuid import UUID

    from services.gateway.keys import create_key, ensure_tenant, list_keys, revoke_key

    async def create(conn):  # type: ignore[no-untyped-def]
        tenant = await ensure_tenant(conn, args.tenant)
        _row, key = await create_key(conn, tenant, args.name or f"{args.role} key", args.role)
        return key

    async def listing(conn):  # type: ignore[no-untyped-def]
        return await list_keys(conn, args.tenant)

    async def revoke(conn):  # type: ignore[no-untyped-def]
        # Any tenant's key: the CLI administers the whole platform.
        return await revoke_key(conn, None, UUID(args.id))

    if args.keys_command == "rotate-secrets":
        return cmd_rotate_secrets(settings)
    if args.keys_command == "create":
        # The key alone on stdout, so a script can capture it.
        print(asyncio.run(_with_gateway_db(settings, create)))
        return 0
    if args.keys_command == "list":
        rows = asyncio.run(_with_gateway_db(settings, listing))
        if args.json:
            print_json(rows)
            return 0
        print(f"{'id':36}  {'tenant':16} {'role':8} {'prefix':8} {'state':8} name")
        for r in rows:
            state = "revoked" if r["revoked_at"] else "active"
            print(
                f"{r['id']!s:36}  {r['tenant'][:16]:16} {r['role']:8} {r['prefix']:8} "
                f"{state:8} {r['name']}"
            )
        return 0
    try:
        UUID(args.id)
    except ValueError:
        return _fail(f"{args.id!r} is not a key id (see `adpilot keys list`)")
    if asyncio.run(_with_gateway_db(settings, revoke)) is None:
        return _fail(f"no key {args.id}")
    print(f"revoked {args.id}")
    return 0


# --- dead letters ------------------------------------------------------------------


def format_age(age: timedelta | None) -> str:
    """``42s``, ``3m12s``, ``2h05m``, ``3d04h``; ``?`` when unknown."""
    if age is None:
        return "?"
    seconds = max(0, int(age.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


def _one_line(text: str, width: int) -> str:
    return " ".join(text.split())[:width]


def print_json(value: object) -> None:
    """A read command's answer for scripts: one JSON document on stdout."""
    print(json.dumps(value, indent=2, default=str))


def dead_letters_json(found: list[dead_letters.Queue], now: datetime) -> dict[str, object]:
    def seconds(age: timedelta | None) -> float | None:
        return None if age is None else round(age.total_seconds(), 1)

    return {
        "queues": [
            {
                "service": q.service,
                "count": q.count,
                "oldest_age_seconds": seconds(now - q.oldest) if q.oldest else None,
                "dead_letters": [
                    {
                        "message_id": x.message_id,
                        "routing_key": x.routing_key,
                        "reason": x.reason,
                        "dead_lettered_at": x.dead_lettered_at,
                        "age_seconds": seconds(x.age(now)),
                    }
                    for x in q.letters
                ],
            }
            for q in found
        ],
        "total": sum(q.count for q in found),
    }


async def _on_bus(settings: Settings, job):  # type: ignore[no-untyped-def]
    from shared.bus import Bus

    bus = Bus(settings.amqp_url, settings.exchange)
    await bus.connect()
    try:
        return await job(bus)
    finally:
        await bus.close()


def cmd_dead_letters(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC

    from adpilot.progress import add_task, progress_bar
    from shared import dead_letters
    from shared.bus import Bus

    action = "replay" if args.replay else args.action
    if action == "list" and args.id:
        return _fail("--id goes with replay or purge")
    if action != "purge" and args.yes:
        return _fail("--yes goes with purge")
    if action != "list" and args.json:
        return _fail("--json goes with list")
    if args.limit < 1:
        return _fail("--limit must be at least 1")
    services = args.service or SERVICES
    ids = set(args.id) if args.id else None

    async def queues(bus: Bus, limit: int | None) -> list[dead_letters.Queue]:
        found = [
            await dead_letters.inspect(bus.connection, bus.exchange_name, service, limit)
            for service in services
        ]
        return [q for q in found if q is not None]  # None: the service never ran here

    async def listing(bus: Bus) -> int:
        now = datetime.now(UTC)
        found = await queues(bus, args.limit)
        rows = [letter for q in found for letter in q.letters]
        if args.json:
            print_json(dead_letters_json(found, now))
            return 0
        if rows:
            print(f"{'SERVICE':9} {'AGE':7} {'ROUTING KEY':24} {'MESSAGE ID':36}  REASON")
        for x in rows:
            print(
                f"{x.service:9} {format_age(x.age(now)):7} {x.routing_key or '?':24} "
                f"{x.message_id or '-':36}  {_one_line(x.reason, 160)}"
            )
        if rows:
            print()
        for q in found:
            oldest = f", oldest {format_age(now - q.oldest)}" if q.oldest else ""
            more = q.count - len(q.letters)
            hidden = f" ({more} not shown; see --limit)" if more > 0 else ""
            print(f"{q.service}: {q.count} dead letter(s){oldest}{hidden}")
        print(f"{sum(q.count for q in found)} dead letter(s) in all")
        return 0

    async def replaying(bus: Bus) -> int:
        waiting = sum(q.count for q in await queues(bus, 0))
        replayed: list[dead_letters.DeadLetter] = []
        with progress_bar() as bar:
            task = add_task(bar, "replaying", waiting if ids is None else min(len(ids), waiting))

            def sent_back(letter: dead_letters.DeadLetter) -> None:
                replayed.append(letter)
                bar.update(task, advance=1, note=letter.service)

            for service in services:
                await dead_letters.replay(
                    bus.connection, bus.exchange_name, service, ids, on_replayed=sent_back
                )
            # Letters that died meanwhile wait for the next replay: the bar ends where it got.
            bar.update(task, total=len(replayed))
        for x in replayed:
            print(f"{x.service:9} replayed {x.routing_key or '?'} {x.message_id or '-'}")
        print(f"{len(replayed)} dead letter(s) replayed")
        return 0 if ids is None or replayed else _fail("no dead letter with that id", 1)

    async def counting(bus: Bus) -> dict[str, int]:
        if ids is None:
            return {q.service: q.count for q in await queues(bus, 1) if q.count}
        held = {
            q.service: sum(x.message_id in ids for x in q.letters) for q in await queues(bus, None)
        }
        return {service: n for service, n in held.items() if n}

    async def purging(bus: Bus) -> int:
        total = 0
        for service in held:
            total += await dead_letters.purge(bus.connection, bus.exchange_name, service, ids)
        return total

    if action == "list":
        return int(asyncio.run(_on_bus(settings, listing)))
    if action == "replay":
        return int(asyncio.run(_on_bus(settings, replaying)))
    held: dict[str, int] = asyncio.run(_on_bus(settings, counting))
    if not held:
        print("no dead letters to purge")
        return 0 if ids is None else _fail("no dead letter with that id", 1)
    doomed = sum(held.values())
    where = ", ".join(f"{service} {n}" for service, n in held.items())
    if not args.yes:
        if not sys.stdin.isatty():
            return _fail(
                f"not purging {doomed} dead letter(s) ({where}) without confirmation: "
                "run it in a terminal or pass --yes"
            )
        try:
            answer = input(f"Delete {doomed} dead letter(s) ({where}) for good? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing purged")
            return 1
    print(f"{asyncio.run(_on_bus(settings, purging))} dead letter(s) purged")
    return 0


# --- status --------------------------------------------------------------------------


class GatewayError(Exception):
    """The gateway did not answer a read; the message says why and what to do."""


NEW_KEY = "`adpilot keys create --tenant NAME --role viewer` makes one"
# The system status waits for each service up to its status timeout (2 s by default).
GATEWAY_TIMEOUT_SECONDS = 15.0


def _error_message(body: Any) -> str:
    """The message of the one error shape, or the start of whatever else came back."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message") or body["error"].get("code"))
    return _one_line(str(body), 120)


async def gateway_get(gateway: str, path: str, key: str) -> Any:
    """GET ``path`` from the gateway with an API key; its JSON answer, or a GatewayError."""
    import aiohttp

    url = f"{gateway.rstrip('/')}{path}"
    timeout = GATEWAY_TIMEOUT_SECONDS
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(url, headers={"Authorization": f"Bearer {key}"}) as response,
        ):
            text = await response.text()
    except aiohttp.InvalidURL as exc:
        raise GatewayError(f"{gateway!r} is not a URL: pass --gateway http://HOST:PORT") from exc
    except aiohttp.ClientConnectionError as exc:
        raise GatewayError(f"gateway not reachable at {gateway}: start it with `make run`") from exc
    except TimeoutError as exc:
        raise GatewayError(
            f"gateway at {gateway} did not answer within {timeout:g} s: "
            "see the output of `make run` for what it is waiting on"
        ) from exc
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    if response.status == 401:
        raise GatewayError(
            f"the gateway at {gateway} refused the API key ({_error_message(body)}): set "
            f"ADPILOT_API_KEY or pass --key with a live key; {NEW_KEY}"
        )
    if response.status == 403:
        raise GatewayError(
            f"the API key may not read {path} ({_error_message(body)}): use a key of a "
            f"tenant with the viewer role or higher; {NEW_KEY}"
        )
    if response.status != 200:
        raise GatewayError(
            f"gateway at {gateway} answered {path} with HTTP {response.status}: "
            f"{_error_message(body)}"
        )
    if isinstance(body, str):
        raise GatewayError(
            f"{url} did not answer with JSON: is {gateway} adpilot's gateway? (see --gateway)"
        )
    return body


def _count_with_age(count: int | None, age: float | None) -> str:
    if count is None:
        return "?"
    if not count or age is None:
        return str(count)
    return f"{count} (oldest {format_age(timedelta(seconds=age))})"


STATUS_STYLE = {
    "operational": "green",
    "up": "green",
    "degraded": "yellow",
    "down": "bold red",
}


def status_table(answer: dict[str, Any]) -> Any:
    """Each service's own report as a row. Status is spelled out, never colour alone; a
    reading the service could not take in time is ``?``, one a down service has is ``-``."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    overall = str(answer.get("status", "?"))
    table = Table(
        title=Text(f"adpilot is {overall}", style=STATUS_STYLE.get(overall, "")),
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for column in ("SERVICE", "STATUS", "UPTIME", "DATABASE", "BROKER"):
        table.add_column(column, no_wrap=True)
    for column in ("OUTBOX", "QUEUE", "DEAD LETTERS"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("NOTE")
    for name, report in answer.get("services", {}).items():
        status = str(report.get("status", "?"))
        if status == "down":
            cells = ["-"] * 6
            note = f"not answering ({report.get('error', 'no reason given')})"
        else:
            database = report.get("database") or {}
            uptime = report.get("uptime_seconds")
            cells = [
                "?" if uptime is None else format_age(timedelta(seconds=uptime)),
                "reachable" if database.get("reachable") else "unreachable",
                "connected" if (report.get("broker") or {}).get("connected") else "lost",
                _count_with_age(
                    report.get("outbox_backlog"), report.get("outbox_oldest_age_seconds")
                ),
                "?" if report.get("consumer_lag") is None else str(report["consumer_lag"]),
                _count_with_age(
                    report.get("dead_letters"), report.get("dead_letters_oldest_age_seconds")
                ),
            ]
            note = f"database: {database['error']}" if database.get("error") else ""
        table.add_row(name, Text(status, style=STATUS_STYLE.get(status, "")), *cells, note)
    return table


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    key = args.key or os.environ.get("ADPILOT_API_KEY")
    if not key:
        return _fail(f"no API key: set ADPILOT_API_KEY or pass --key; {NEW_KEY}")
    gateway = args.gateway or settings.url_of("gateway")
    try:
        answer = asyncio.run(gateway_get(gateway, "/api/ai/system-status", key))
    except GatewayError as exc:
        return _fail(str(exc))
    if args.json:
        print_json(answer)
    else:
        console = Console()
        if not console.is_terminal:
            # In a pipe or a file the table keeps its lines whole rather than wrap at 80.
            console = Console(width=200)
        console.print(status_table(answer))
    return 0 if answer.get("status") == "operational" else 1


# --- up ------------------------------------------------------------------------------


async def _up(args: argparse.Namespace, settings: Settings) -> int:
    from adpilot.registry import migration_folders
    from adpilot.supervisor import Supervisor

    await migrate_all(settings.database_url, migration_folders(), settings.service_password)
    extra: dict[str, str] = {}
    if settings.internal_secret is None:
        # Services must share a secret; for a local run, one made up now will do.
        extra["ADPILOT_INTERNAL_SECRET"] = secrets.token_hex(32)
    demo_key = await _demo_key(settings)
    extra["ADPILOT_API_KEY"] = demo_key
    # Every process knows how many replicas each service runs: a gateway spreads requests
    # over them (Settings.urls_of).
    extra["ADPILOT_REPLICAS"] = format_replicas(settings.replica_counts)
    cli = [sys.executable, "-m", "adpilot.cli"]
    supervisor = Supervisor()
    for name in SERVICES:
        ports = settings.replica_ports(name)
        for replica, port in zip(replica_names(name, len(ports)), ports, strict=True):
            supervisor.add(replica, [*cli, "serve", name, "--port", str(port)], extra)
    base = f"http://{settings.host}:{settings.gateway_port}"
    print(
        "\nDemo tenant 'demo' has an admin API key (a new one each start):\n"
        f"  export ADPILOT_API_KEY={demo_key}\n"
        f'  curl -H "Authorization: Bearer $ADPILOT_API_KEY" {base}/api/ai/alerts\n'
        "More keys: adpilot keys create --tenant NAME --role viewer|operator|admin\n",
        flush=True,
    )
    if args.simulate:
        # The sandbox ad platform with a small demo account, so a new user sees alerts and
        # decisions appear by themselves.
        demo = [
            "sandbox",
            "--account",
            str(settings.default_tenant),
            "--campaigns",
            "6",
            "--hours",
            "720",
            "--seed",
            "7",
            "--speed",
            str(args.speed),
            "--inject",
            "conversion_drop:0:180:8",
            "--inject",
            "spend_spike:3:200:5",
            "--anomalies",
            "6",
            # Budgets that moved in the past give the demo pool curves the data supports.
            "--budget-variation",
            "0.3",
            # Three campaigns buy their traffic in search auctions; a day and a half into
            # the live hours a competitor triples its bids in the third one's, its CPC
            # jumps, and the incident is linked to the competitor's move.
            "--auctions",
            "3",
            "--competitor-move",
            "aggressive:2:200",
        ]
        supervisor.add("sandbox", [*cli, *demo], extra)
    experiment = (
        asyncio.create_task(_demo_experiment(settings, demo_key)) if args.simulate else None
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    gateways = [f"{url}/api/ai" for url in settings.urls_of("gateway")]
    which = "gateways" if len(gateways) > 1 else "gateway"
    print(f"adpilot is starting: {which} on {', '.join(gateways)}", flush=True)
    for name in SERVICES:
        if (ports := settings.replica_ports(name)) and len(ports) > 1:
            listed = ", ".join(str(p) for p in ports)
            print(f"{name}: {len(ports)} replicas, on ports {listed}", flush=True)
    pool: asyncio.Task[None] | None = None
    if args.simulate:
        print(f"sandbox ad platform on {settings.url_of('sandbox')}/v1", flush=True)
        from adpilot.demo_pool import demo_pool, ensure_demo_pool

        pool = asyncio.create_task(ensure_demo_pool(base, demo_key, demo_pool(6, 7)))
    try:
        return await supervisor.run(stop)
    finally:
        for task in (experiment, pool):
            if task is not None:
                task.cancel()


async def _demo_experiment(settings: Settings, key: str) -> None:
    """Start the demo's ad-copy experiment once the platform is up (see adpilot.demo)."""
    from adpilot.demo import start_demo_experiment
    from sandbox.simulator import campaign_id_for

    try:
        started = await start_demo_experiment(
            settings.url_of("gateway"),
            settings.url_of("sandbox"),
            key,
            settings.default_tenant,
            campaign_id_for(7, 1),
        )
    except Exception as exc:  # the demo goes on without it
        print(f"demo experiment not started: {exc!r}", file=sys.stderr, flush=True)
        return
    if started is not None:
        print(
            f"demo experiment {started['id']} is running on campaign "
            f"{started['campaign_id']}: GET /api/ai/experiments/{started['id']}",
            flush=True,
        )


def replicas_argument(text: str) -> dict[str, int]:
    """``--replicas``' value, or argparse's usage error saying what is wrong with it."""
    try:
        counts = parse_replicas(text, SERVICES)
    except BadReplicas as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not counts:
        raise argparse.ArgumentTypeError("give SERVICE=COUNT, e.g. optimizer=3,gateway=2")
    return counts


def colliding_ports(settings: Settings, simulate: bool) -> list[str]:
    """The ports two of ``up``'s processes would both listen on."""
    taken: dict[int, str] = {}
    clashes = []
    for name in SERVICES:
        ports = settings.replica_ports(name)
        for replica, port in zip(replica_names(name, len(ports)), ports, strict=True):
            if port in taken:
                clashes.append(f"{replica} and {taken[port]} on {port}")
            taken.setdefault(port, replica)
    if simulate and settings.sandbox_port in taken:
        clashes.append(f"sandbox and {taken[settings.sandbox_port]} on {settings.sandbox_port}")
    return clashes


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    if args.replicas is not None:
        settings = settings.model_copy(update={"replicas": format_replicas(args.replicas)})
    if clashes := colliding_ports(settings, args.simulate):
        return _fail(
            f"replica ports collide ({'; '.join(clashes)}): set ADPILOT_REPLICA_PORT_STEP "
            "or the services' ports (ADPILOT_*_PORT) further apart"
        )
    return asyncio.run(_up(args, settings))


# --- bench ---------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from adpilot import bench

    return bench.run(args.only, args.quick, args.output)


# --- entry point ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from sandbox.runner import add_arguments as add_sandbox_arguments

    parser = argparse.ArgumentParser(
        prog="adpilot",
        description="adpilot: autonomous ad optimization back end. "
        "Configuration comes from ADPILOT_* environment variables.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "migrate",
        help="create the database if missing and apply migrations",
        description="Create the database if missing and apply every service's "
        "migrations in order. Safe to run twice.",
    )
    p.set_defaults(run=cmd_migrate)

    p = sub.add_parser(
        "serve", help="run one service", description="Run one service in the foreground."
    )
    p.add_argument("service", choices=SERVICES, help="which service to run")
    p.add_argument("--host", default=None, help="address to listen on (default ADPILOT_HOST)")
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help="port to listen on (default: the service's ADPILOT_*_PORT)",
    )
    p.set_defaults(run=cmd_serve)

    p = sub.add_parser(
        "up",
        help="migrate, then run and supervise all four services until Ctrl-C",
        description="Migrate, then run gateway, decision, alerts and optimizer "
        "as child processes with their logs prefixed. A child that exits is restarted after "
        "1 s, doubling up to 30 s; one that exits 5 times within 60 s is left down while "
        "the rest keep running. With --replicas a service runs as several processes, each "
        "supervised alone. Ctrl-C or SIGTERM stops them all.",
    )
    p.add_argument(
        "--no-simulate",
        dest="simulate",
        action="store_false",
        help="do not start the sandbox ad platform with its demo account",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=3600.0,
        help="demo account speed in simulated seconds per second (default 3600)",
    )
    p.add_argument(
        "--replicas",
        type=replicas_argument,
        default=None,
        metavar="SERVICE=N,...",
        help="run N processes of a service, e.g. optimizer=3,gateway=2 (default: one "
        "each, or ADPILOT_REPLICAS); replica i listens on the service's port + i * "
        "ADPILOT_REPLICA_PORT_STEP (default 100)",
    )
    p.set_defaults(run=cmd_up)

    p = sub.add_parser(
        "simulate",
        help="feed a running platform from the built-in campaign simulator",
        description="Feed a running platform (through the gateway) with seeded, deterministic "
        "campaign metrics in accelerated time, optionally with injected anomalies. The first "
        "--backfill-hours are sent at once so detectors have history; then one simulated hour "
        "every 3600/SPEED seconds. The injected anomalies (ground truth) are printed.",
    )
    p.add_argument("--campaigns", type=int, default=5, help="number of campaigns (default 5)")
    p.add_argument("--hours", type=int, default=336, help="simulated hours to send (default 336)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument(
        "--speed",
        type=float,
        default=3600.0,
        help="simulated seconds per real second; 0 = as fast as possible "
        "(default 3600: one hour per second)",
    )
    p.add_argument(
        "--backfill-hours",
        type=int,
        default=168,
        help="hours sent at once before live pacing starts (default 168)",
    )
    p.add_argument(
        "--anomalies",
        type=int,
        default=0,
        help="random anomalies to inject after the warm-up (default 0)",
    )
    p.add_argument(
        "--inject",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject KIND:CAMPAIGN_INDEX:START_HOUR[:DURATION[:MAGNITUDE]], e.g. "
        "conversion_drop:0:180:6; KIND is spend_spike, conversion_drop, "
        "tracking_outage or cpc_jump; repeatable",
    )
    p.add_argument(
        "--start",
        default=None,
        help="first simulated hour, ISO 8601 (default: now minus the backfill)",
    )
    p.add_argument("--gateway", default=None, help="gateway URL (default: from configuration)")
    p.add_argument("--truth", default=None, help="write the injected anomalies to this JSON file")
    p.add_argument(
        "--api-key",
        default=os.environ.get("ADPILOT_API_KEY"),
        help="API key with the operator role (default: $ADPILOT_API_KEY)",
    )
    p.set_defaults(run=cmd_simulate)

    p = sub.add_parser(
        "sandbox",
        help="run the sandbox ad platform (a stand-in for Google Ads or Meta)",
        description="Serve the sandbox ad platform over HTTP: ad accounts of simulated "
        "campaigns that take changes and report hourly, pushing finished hours to the gateway. "
        "--account opens one tenant's account at start; with --speed above 0 it finishes one "
        "hour every 3600/SPEED seconds, with 0 only on POST /v1/clock/advance.",
    )
    add_sandbox_arguments(p)
    p.set_defaults(run=cmd_sandbox)

    p = sub.add_parser(
        "dead-letters",
        help="list, replay or purge events that kept failing",
        description="Events a service gave up on wait in its dead-letter queue with the "
        "reason. list (the default) shows each one with its age, and per service the count "
        "and the oldest age; replay sends them to their service again after the cause is "
        "fixed (a service skips what it had already applied) and removes them; purge deletes "
        "them, after a confirmation.",
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=("list", "replay", "purge"),
        default="list",
        help="what to do (default list)",
    )
    p.add_argument("--service", action="append", choices=SERVICES, help="only this service")
    p.add_argument(
        "--id",
        action="append",
        metavar="MESSAGE_ID",
        help="replay or purge only this message (repeatable)",
    )
    p.add_argument("--yes", action="store_true", help="purge without asking")
    p.add_argument(
        "--limit", type=int, default=100, help="list at most this many per service (default 100)"
    )
    p.add_argument("--replay", action="store_true", help=argparse.SUPPRESS)  # older spelling
    p.add_argument("--json", action="store_true", help="list as one JSON document")
    p.set_defaults(run=cmd_dead_letters)

    p = sub.add_parser(
        "status",
        help="show every service's status, as the gateway sees it",
        description="Ask the gateway for /api/ai/system-status and show each service's own "
        "report: up, degraded or down, its database and broker, its outbox, queue and dead "
        "letters. Exits 0 when every service is up, 1 when one is degraded or down, 2 when the "
        "gateway cannot answer.",
    )
    p.add_argument(
        "--key",
        default=None,
        help="API key of any role (default: $ADPILOT_API_KEY)",
    )
    p.add_argument("--gateway", default=None, help="gateway URL (default: from configuration)")
    p.add_argument("--json", action="store_true", help="the gateway's answer as JSON")
    p.set_defaults(run=cmd_status)

    p = sub.add_parser(
        "keys",
        help="create, list and revoke API keys; rotate the secrets key",
        description="Manage API keys. A key is bound to one tenant and one role "
        "and is shown only when created.",
    )
    keys = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    k = keys.add_parser(
        "create",
        help="create a key; prints the key alone on stdout",
        description="Create a key for tenant NAME (created if new) and print "
        "the key alone on stdout.",
    )
    k.add_argument("--tenant", required=True, help="tenant name")
    k.add_argument("--role", required=True, choices=("viewer", "operator", "admin"))
    k.add_argument("--name", default=None, help="a label for the key")
    k = keys.add_parser(
        "list",
        help="list keys (never their secrets)",
        description="List keys with their tenant, role, prefix and state.",
    )
    k.add_argument("--tenant", default=None, help="only this tenant's keys")
    k.add_argument("--json", action="store_true", help="list as one JSON document")
    k = keys.add_parser("revoke", help="revoke a key by id", description="Revoke a key by id.")
    k.add_argument("id", help="key id, from `adpilot keys list`")
    keys.add_parser(
        "rotate-secrets",
        help="seal every stored platform credential with the current key",
        description="Re-encrypt every ad-platform connection's credentials with "
        "ADPILOT_SECRETS_KEY (id ADPILOT_SECRETS_KEY_ID); the keys that sealed them must "
        "be readable (ADPILOT_SECRETS_OLD_KEYS, id:base64 separated by commas). "
        "Afterwards the old keys may be removed.",
    )
    p.set_defaults(run=cmd_keys)

    from adpilot.bench import DEFAULT_OUTPUT, NAMES

    p = sub.add_parser(
        "bench",
        help="run the performance benchmarks and write their figures as a table",
        description="Run the performance benchmarks of bench/ one after another (each "
        "starts a platform of its own on the configured PostgreSQL and RabbitMQ), with a "
        "progress bar, and write their figures as a Markdown table with the machine (CPU, "
        "cores, RAM), the date and the git commit. The full sizes take the best part of an "
        "hour on two cores; --quick runs each at a small size in a few minutes. The JSON "
        "of every benchmark is written beside the table, their progress lines to a .log.",
    )
    p.add_argument(
        "--only",
        default=None,
        metavar="NAME,...",
        help=f"run only these, comma-separated, of: {', '.join(NAMES)}",
    )
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    p.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="the Markdown file to write (default bench/RESULTS.md)",
    )
    p.set_defaults(run=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except Exception as exc:  # pydantic's message names the variable and the problem
        return _fail(f"invalid configuration: {exc}")
    try:
        return int(args.run(args, settings))
    except UNAVAILABLE as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
