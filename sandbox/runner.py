"""Running the sandbox ad platform: ``python -m sandbox`` or ``adpilot sandbox``.

With ``--account`` it opens that tenant's ad account at start, pushes its backfill to the
gateway and, with ``--speed`` above 0, finishes one more hour every ``3600 / speed``
seconds until ``--hours`` are done; it keeps serving until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import uuid
from datetime import UTC, datetime

from aiohttp import web
from pydantic import ValidationError

from sandbox.driver import HOUR, floor_hour, parse_injection
from sandbox.platform import PlatformError, SandboxPlatform
from sandbox.server import (
    CLOCK_LOCK,
    PLATFORM,
    AuctionSpec,
    MoveSpec,
    advance_all,
    create_app,
    deliver,
    open_markets,
)
from sandbox.simulator import CampaignSimulator, InjectedAnomaly, random_schedule
from shared.config import Settings

log = logging.getLogger("sandbox")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=None, help="port to listen on (default ADPILOT_SANDBOX_PORT)"
    )
    parser.add_argument("--host", default=None, help="address to listen on (default ADPILOT_HOST)")
    parser.add_argument(
        "--gateway",
        default=None,
        help="gateway URL finished hours are pushed to (default: from configuration)",
    )
    parser.add_argument(
        "--account", default=None, help="open an ad account for this tenant id at start"
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("ADPILOT_API_KEY"),
        help="the account's gateway key, operator role (default: $ADPILOT_API_KEY)",
    )
    parser.add_argument("--campaigns", type=int, default=5, help="campaigns (default 5)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--hours", type=int, default=336, help="simulated hours to finish (default 336)"
    )
    parser.add_argument(
        "--backfill-hours",
        type=int,
        default=168,
        help="hours pushed at once at start (default 168)",
    )
    parser.add_argument(
        "--start",
        default=None,
        help="first simulated hour, ISO 8601 (default: --hours before the current hour)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=0.0,
        help="simulated seconds per real second; 0 (default) finishes hours only on "
        "POST /v1/clock/advance",
    )
    parser.add_argument(
        "--anomalies", type=int, default=0, help="random anomalies after the warm-up (default 0)"
    )
    parser.add_argument(
        "--budget-variation",
        type=float,
        default=0.0,
        help="run each backfilled day at a seeded multiple of each budget within +/- this "
        "share, so curves can be fitted from the history (default 0: constant budgets)",
    )
    parser.add_argument(
        "--auctions",
        type=int,
        default=0,
        help="the first N campaigns buy their traffic in search auctions against seeded "
        "competitors (default 0)",
    )
    parser.add_argument(
        "--competitor-move",
        action="append",
        default=[],
        metavar="SPEC",
        help="a competitor's move in a campaign's auctions, "
        "KIND:CAMPAIGN_INDEX:START_HOUR[:DOMAIN] with KIND entered, exited, aggressive or "
        "retreated; repeatable",
    )
    parser.add_argument(
        "--inject",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject KIND:CAMPAIGN_INDEX:START_HOUR[:DURATION[:MAGNITUDE]]; repeatable",
    )


def parse_move(spec: str) -> MoveSpec:
    """``KIND:CAMPAIGN_INDEX:START_HOUR[:DOMAIN]`` as a competitor's move."""
    parts = spec.split(":")
    if not 3 <= len(parts) <= 4:
        raise ValueError(
            f"--competitor-move {spec!r}: expected KIND:CAMPAIGN_INDEX:START_HOUR[:DOMAIN]"
        )
    try:
        return MoveSpec.model_validate(
            {
                "kind": parts[0],
                "campaign_index": parts[1],
                "start_hour": parts[2],
                "competitor": parts[3] if len(parts) == 4 else None,
            }
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"--competitor-move {spec!r}: {problems}") from None


def _auctions(args: argparse.Namespace) -> AuctionSpec | None:
    moves = [parse_move(spec) for spec in args.competitor_move]
    if not args.auctions:
        if moves:
            raise ValueError("--competitor-move needs --auctions")
        return None
    return AuctionSpec(campaigns=args.auctions, moves=moves)


def _schedule(args: argparse.Namespace, start: datetime) -> list[InjectedAnomaly]:
    probe = CampaignSimulator(args.campaigns, args.seed, start)
    schedule = [parse_injection(spec, probe.campaign_ids, start) for spec in args.inject]
    if args.anomalies:
        schedule += random_schedule(
            probe.campaign_ids, start, args.hours, args.seed, args.anomalies
        )
    return schedule


async def _run_clock(app: web.Application, account_id: uuid.UUID, speed: float, hours: int) -> None:
    """Push the account's backfill, then finish an hour every 3600/speed s up to ``hours``."""
    platform = app[PLATFORM]
    account = platform.account(account_id)
    while True:
        try:
            async with app[CLOCK_LOCK]:
                await deliver(app, account)
            break
        except PlatformError as exc:
            log.warning("backfill not delivered yet; retrying", extra={"error": exc.message})
            await asyncio.sleep(5.0)
    log.info("backfill delivered", extra={"through": account.delivered.isoformat()})
    if speed <= 0:
        return
    pause = 3600.0 / speed
    end = account.start + hours * HOUR
    while account.clock < end:
        await asyncio.sleep(pause)
        try:
            await advance_all(app, 1)
        except PlatformError as exc:
            # The hour is finished; delivery is tried again with the next one.
            log.warning("hour not delivered", extra={"error": exc.message})
    log.info("all hours finished; still serving", extra={"hours": hours})


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    host = args.host or settings.host
    port = args.port or settings.sandbox_port
    platform = SandboxPlatform()
    app = create_app(platform, gateway=args.gateway or settings.url_of("gateway"))
    account_id: uuid.UUID | None = None
    if args.account:
        account_id = uuid.UUID(args.account)
        backfill = min(args.backfill_hours, args.hours)
        start = (
            floor_hour(datetime.fromisoformat(args.start))
            if args.start
            else floor_hour(datetime.now(UTC)) - (args.hours - 1) * HOUR
        )
        platform.create_account(
            account_id,
            args.campaigns,
            args.seed,
            start,
            api_key=args.api_key,
            anomalies=_schedule(args, start),
        )
        simulator = platform.account(account_id).simulator
        simulator.vary_budgets(start + backfill * HOUR, args.budget_variation)
        auctions = _auctions(args)
        if auctions is not None:
            try:
                open_markets(simulator, auctions, simulator.campaign_ids, start)
            except PlatformError as exc:
                raise ValueError(exc.message) from None
        platform.finish_hours(account_id, backfill)
        for move in simulator.competitor_moves:
            print(
                f"  competitor {move.domain} {move.kind} on {move.campaign_id} "
                f"from {move.start_hour.isoformat()}",
                file=sys.stderr,
            )
        for anomaly in simulator.ground_truth:
            print(
                f"  injecting {anomaly.kind} on {anomaly.campaign_id} "
                f"from {anomaly.start_hour.isoformat()} to {anomaly.end_hour.isoformat()}",
                file=sys.stderr,
            )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    clock: asyncio.Task[None] | None = None
    try:
        await web.TCPSite(runner, host, port).start()
        print(f"sandbox ad platform on http://{host}:{port}", file=sys.stderr, flush=True)
        if account_id is not None:
            clock = asyncio.create_task(_run_clock(app, account_id, args.speed, args.hours))
        await stop.wait()
    finally:
        if clock is not None:
            clock.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await clock
        await runner.cleanup()
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Validate the options, then serve until a signal; 2 on bad options or a busy port."""
    if not 0 <= args.budget_variation < 1:
        print("sandbox: --budget-variation must be in [0, 1)", file=sys.stderr)
        return 2
    if args.campaigns < 1 or args.hours < 1 or args.speed < 0 or args.backfill_hours < 0:
        print(
            "sandbox: --campaigns and --hours must be at least 1, --speed and "
            "--backfill-hours at least 0",
            file=sys.stderr,
        )
        return 2
    try:
        if args.account:
            uuid.UUID(args.account)
        return asyncio.run(serve(args, settings))
    except ValueError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"sandbox: cannot listen: {exc.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a signal before the handlers were in place
        return 130


def main(argv: list[str] | None = None) -> int:
    from shared.config import get_settings
    from shared.logs import setup_logging

    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description="The sandbox ad platform, over HTTP."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    settings = get_settings()
    setup_logging("sandbox", settings.log_level)
    return run(args, settings)
