"""The CLI against real (and deliberately unreachable) servers: one clear line, no traceback."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from shared.config import Settings
from tests.infra import with_database

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
