"""The CLI against real (and deliberately unreachable) servers: one clear line, no traceback."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from shared.config import Settings
from shared.contracts import SERVICES
from tests.e2e.platform import Platform, service_env
from tests.infra import apart, discarded, free_port, with_database

pytestmark = pytest.mark.integration

SECRET = "x" * 40


def adpilot_fails(args: list[str], **env: str) -> str:
    """Run the CLI with only ``env`` configured; it must fail cleanly. Returns stderr."""
    out = subprocess.run(
        [sys.executable, "-m", "adpilot.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    return out.stderr


def test_unreachable_database_is_one_clear_line() -> None:
    stderr = adpilot_fails(
        ["migrate"], ADPILOT_DATABASE_URL="postgresql://postgres:pw@127.0.0.1:1/adpilot"
    )
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "cannot reach PostgreSQL at postgresql://postgres:***@127.0.0.1:1/adpilot" in lines[0]


def test_unreachable_broker_is_one_clear_line(settings: Settings) -> None:
    stderr = adpilot_fails(
        ["serve", "alerts", "--port", "0"],
        ADPILOT_AMQP_URL="amqp://guest:guest@127.0.0.1:1/",
        ADPILOT_DATABASE_URL=settings.database_url,
        ADPILOT_INTERNAL_SECRET=SECRET,
    )
    assert "cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:1/" in stderr


def test_an_unmigrated_database_says_to_migrate(settings: Settings) -> None:
    missing = with_database(settings.database_url, f"adpilot_missing_{uuid.uuid4().hex[:8]}")
    stderr = adpilot_fails(
        ["serve", "alerts", "--port", "0"],
        ADPILOT_DATABASE_URL=missing,
        ADPILOT_INTERNAL_SECRET=SECRET,
    )
    assert "run `adpilot migrate` first" in stderr


def test_a_service_without_the_internal_secret_says_how_to_set_it(settings: Settings) -> None:
    stderr = adpilot_fails(
        ["serve", "decision", "--port", "0"], ADPILOT_DATABASE_URL=settings.database_url
    )
    assert "ADPILOT_INTERNAL_SECRET" in stderr and "openssl rand" in stderr


# --- progress, status and --json, on a platform of the module's own ------------------


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


async def adpilot(env: dict[str, str], *args: str) -> Ran:
    """``adpilot <args>`` in a pipe (no terminal), as a script would run it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "adpilot.cli",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


def one_clear_line(ran: Ran) -> str:
    """A failed command: exit code 2, one line on stderr, no traceback. Returns the line."""
    assert ran.code == 2, ran
    assert "Traceback" not in ran.stderr
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr
    return lines[0]


def row_of(table: str, service: str) -> list[str]:
    """The cells of ``service``'s row in the status table (cells are single words or
    ``n (oldest ...)``, so the note at the end is what follows the eighth column)."""
    (line,) = [line for line in table.splitlines() if line.split()[:1] == [service]]
    return line.split()


@pytest.fixture(scope="module")
async def own(settings: Settings) -> AsyncIterator[Settings]:
    """Settings for a platform of this module's own: database, exchange and ports."""
    async with discarded(apart(settings, "cli")) as own:
        yield own


@pytest.fixture(scope="module")
async def migrated(own: Settings) -> Ran:
    """``adpilot migrate`` on the module's empty database, run once."""
    return await adpilot(service_env(own), "migrate")


@pytest.fixture(scope="module")
async def running(
    own: Settings, migrated: Ran, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Platform]:
    assert migrated.code == 0, migrated.stderr
    platform = Platform(own, tmp_path_factory.mktemp("cli-platform"))
    try:
        await asyncio.gather(*(platform.start(name) for name in SERVICES))
        yield platform
    finally:
        await platform.stop_all()


@pytest.fixture(scope="module")
async def keys(own: Settings, migrated: Ran) -> dict[str, str]:
    """A key per role, made with ``adpilot keys create``."""
    made = {}
    for role in ("viewer", "operator"):
        ran = await adpilot(
            service_env(own), "keys", "create", "--tenant", "cli-status", "--role", role
        )
        assert ran.code == 0, ran.stderr
        made[role] = ran.stdout.strip()
    return made


def with_key(own: Settings, key: str) -> dict[str, str]:
    return {**service_env(own), "ADPILOT_API_KEY": key}


async def test_migrate_draws_a_progress_bar_over_the_schemas(migrated: Ran) -> None:
    assert migrated.code == 0, migrated.stderr
    # Without a terminal the bar is drawn once, finished: every schema, then the last.
    (bar,) = [line for line in migrated.stderr.splitlines() if line.startswith("migrating")]
    assert f"{len(SERVICES)}/{len(SERVICES)}" in bar and "100%" in bar, bar
    assert "━" in bar and bar.rstrip().endswith(SERVICES[-1]), bar
    applied = int(re.findall(r"migrations up to date \((\d+) applied\)", migrated.stdout)[0])
    assert applied > len(SERVICES)
    assert len(re.findall(r"^applied \S+ \(\w+\)$", migrated.stdout, re.M)) == applied


async def test_status_shows_every_service_up_in_a_table(
    own: Settings, running: Platform, keys: dict[str, str]
) -> None:
    ran = await adpilot(with_key(own, keys["viewer"]), "status")
    assert ran.code == 0, ran
    assert ran.stdout.lstrip().startswith("adpilot is operational"), ran.stdout
    header = next(line for line in ran.stdout.splitlines() if "SERVICE" in line).split()
    assert header[:5] == ["SERVICE", "STATUS", "UPTIME", "DATABASE", "BROKER"], header
    for service in SERVICES:
        cells = row_of(ran.stdout, service)
        assert cells[1:2] == ["up"], cells
        assert re.fullmatch(r"\d+[smhd]\S*", cells[2]), cells
        assert cells[3:5] == ["reachable", "connected"], cells


async def test_status_json_is_the_gateways_answer(
    own: Settings, running: Platform, keys: dict[str, str]
) -> None:
    ran = await adpilot(service_env(own), "status", "--json", "--key", keys["viewer"])
    assert ran.code == 0, ran
    answer = json.loads(ran.stdout)
    assert answer["status"] == "operational"
    assert sorted(answer["services"]) == sorted(SERVICES)
    assert all(r["database"]["reachable"] for r in answer["services"].values())


async def test_status_names_a_stopped_service_down_and_exits_1(
    own: Settings, running: Platform, keys: dict[str, str]
) -> None:
    await running.stop("alerts")
    try:
        ran = await adpilot(with_key(own, keys["viewer"]), "status")
    finally:
        await running.start("alerts")
    assert ran.code == 1, ran
    assert ran.stdout.lstrip().startswith("adpilot is degraded"), ran.stdout
    cells = row_of(ran.stdout, "alerts")
    assert cells[1] == "down" and "not answering" in " ".join(cells), cells
    for service in set(SERVICES) - {"alerts"}:
        assert row_of(ran.stdout, service)[1] == "up"


async def test_status_refuses_a_wrong_key_in_one_line(own: Settings, running: Platform) -> None:
    line = one_clear_line(await adpilot(with_key(own, "adp_00000000_wrong"), "status"))
    assert f"the gateway at {own.url_of('gateway')} refused the API key" in line
    assert "ADPILOT_API_KEY" in line and "adpilot keys create" in line


async def test_status_without_a_key_says_how_to_get_one(own: Settings) -> None:
    line = one_clear_line(await adpilot(service_env(own), "status"))
    assert "no API key: set ADPILOT_API_KEY or pass --key" in line


async def test_status_with_no_gateway_says_how_to_start_it(own: Settings) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    ran = await adpilot(with_key(own, "adp_x"), "status", "--gateway", nobody)
    line = one_clear_line(ran)
    assert line == f"adpilot: gateway not reachable at {nobody}: start it with `make run`"


async def test_simulate_draws_bars_for_the_backfill_and_the_live_hours(
    own: Settings, running: Platform, keys: dict[str, str]
) -> None:
    ran = await adpilot(
        with_key(own, keys["operator"]),
        *("simulate", "--campaigns", "1", "--hours", "5", "--backfill-hours", "3"),
        *("--speed", "0"),
    )
    assert ran.code == 0, ran.stderr
    assert json.loads(ran.stdout)["hours_sent"] == 5
    bars = {line.split()[0]: line for line in ran.stderr.splitlines() if "━" in line}
    assert set(bars) == {"backfill", "live"}, ran.stderr
    assert "3/3" in bars["backfill"] and "2/2" in bars["live"], bars
    assert "#" not in ran.stderr  # no hand-drawn bar beside rich's


async def test_dead_letter_replay_draws_a_bar_and_lists_as_json(
    own: Settings, running: Platform
) -> None:
    ran = await adpilot(service_env(own), "dead-letters", "replay")
    assert ran.code == 0, ran.stderr
    assert ran.stdout.strip() == "0 dead letter(s) replayed"
    (bar,) = [line for line in ran.stderr.splitlines() if line.startswith("replaying")]
    assert "0/0" in bar, bar
    listed = await adpilot(service_env(own), "dead-letters", "list", "--json")
    assert listed.code == 0, listed.stderr
    answer = json.loads(listed.stdout)
    assert answer["total"] == 0
    assert sorted(q["service"] for q in answer["queues"]) == sorted(SERVICES)
    refused = one_clear_line(await adpilot(service_env(own), "dead-letters", "replay", "--json"))
    assert "--json goes with list" in refused


async def test_keys_list_as_json(own: Settings, keys: dict[str, str]) -> None:
    ran = await adpilot(service_env(own), "keys", "list", "--tenant", "cli-status", "--json")
    assert ran.code == 0, ran.stderr
    rows = json.loads(ran.stdout)
    assert sorted(r["role"] for r in rows) == ["operator", "viewer"]
    prefixes = {r["prefix"] for r in rows}
    assert all(key.split("_")[1] in prefixes for key in keys.values())
    assert not any(key in ran.stdout for key in keys.values())  # never the secret
