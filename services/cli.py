"""``adpilot``: migrate, serve one service, or bring the whole platform up."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence

from shared.bus import BrokerUnavailable
from shared.config import SERVICES, Settings, get_settings
from shared.db import DependencyUnavailable, migrate_all

UNAVAILABLE = (DependencyUnavailable, BrokerUnavailable)


def _fail(message: str, code: int = 2) -> int:
    print(f"adpilot: {message}", file=sys.stderr)
    return code


# --- migrate -------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from services.registry import migration_folders

    applied = asyncio.run(migrate_all(settings.database_url, migration_folders()))
    total = sum(len(v) for v in applied.values())
    for schema, versions in applied.items():
        for version in versions:
            print(f"applied {version} ({schema})")
    print(f"migrations up to date ({total} applied)")
    return 0


# --- serve ---------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from services.registry import spec_of
    from shared.logs import setup_logging
    from shared.service import create_app

    setup_logging(args.service, settings.log_level)
    port = args.port or settings.port_of(args.service)
    app = create_app(spec_of(args.service), settings)
    try:
        web.run_app(
            app,
            host=args.host or settings.host,
            port=port,
            print=None,
            shutdown_timeout=5,
            access_log=None,
        )
    except OSError as exc:
        return _fail(f"cannot listen on {args.host or settings.host}:{port}: {exc.strerror}")
    return 0


# --- up ------------------------------------------------------------------------------


async def _pump(prefix: str, stream: asyncio.StreamReader) -> None:
    while line := await stream.readline():
        sys.stdout.write(f"{prefix} | {line.decode(errors='replace')}")
        sys.stdout.flush()


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if `adpilot up` itself dies, so no service is orphaned."""
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


async def _spawn(
    prefix: str, argv: Sequence[str]
) -> tuple[asyncio.subprocess.Process, asyncio.Task[None]]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    assert proc.stdout is not None
    return proc, asyncio.create_task(_pump(prefix.ljust(9), proc.stdout))


async def _up(args: argparse.Namespace, settings: Settings) -> int:
    from services.registry import migration_folders

    await migrate_all(settings.database_url, migration_folders())
    cli = [sys.executable, "-m", "services.cli"]
    children = {name: await _spawn(name, [*cli, "serve", name]) for name in SERVICES}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"adpilot is starting: gateway on http://{settings.host}:{settings.gateway_port}/api/ai",
        flush=True,
    )

    waits = {asyncio.create_task(p.wait()): name for name, (p, _) in children.items()}
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*waits, stopper], return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if stopper not in done:
        crashed = [waits[t] for t in done]
        print(f"adpilot: {', '.join(crashed)} exited; stopping the platform", file=sys.stderr)
        code = 1
    for proc, _ in children.values():
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    for proc, pump in children.values():
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        with contextlib.suppress(Exception):
            await pump
    stopper.cancel()
    return code


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_up(args, settings))


# --- entry point ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
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
        help="migrate, then run all four services until Ctrl-C",
        description="Migrate, then run gateway, decision, alerts and optimizer "
        "as child processes with their logs prefixed; Ctrl-C or SIGTERM stops "
        "them all.",
    )
    p.set_defaults(run=cmd_up)
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
