"""The CLI against real (and deliberately unreachable) servers."""

import subprocess
import sys

import pytest

from shared.config import Settings

pytestmark = pytest.mark.integration


def test_unreachable_database_is_one_clear_line() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "migrate"],
        capture_output=True,
        text=True,
        env={
            "ADPILOT_DATABASE_URL": "postgresql://postgres:pw@127.0.0.1:1/adpilot",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "cannot reach PostgreSQL at postgresql://postgres:***@127.0.0.1:1/adpilot" in lines[0]
    assert "Traceback" not in out.stderr


def test_unreachable_broker_is_one_clear_line(settings: Settings) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "serve", "alerts", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "ADPILOT_AMQP_URL": "amqp://guest:guest@127.0.0.1:1/",
            "PATH": "/usr/bin:/bin",
            "ADPILOT_DATABASE_URL": settings.database_url,
            "ADPILOT_INTERNAL_SECRET": "x" * 40,
        },
    )
    assert out.returncode != 0
    assert "cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:1/" in out.stderr
    assert "Traceback" not in out.stderr


def test_an_unmigrated_database_says_to_migrate(settings: Settings) -> None:
    import uuid

    from tests.infra import with_database

    missing = with_database(settings.database_url, f"adpilot_missing_{uuid.uuid4().hex[:8]}")
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "serve", "alerts", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "ADPILOT_DATABASE_URL": missing,
            "ADPILOT_INTERNAL_SECRET": "x" * 40,
            "PATH": "/usr/bin:/bin",
        },
    )
    assert out.returncode != 0
    assert "run `adpilot migrate` first" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_service_without_the_internal_secret_says_how_to_set_it(settings: Settings) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "serve", "decision", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"ADPILOT_DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode != 0
    assert "ADPILOT_INTERNAL_SECRET" in out.stderr and "openssl rand" in out.stderr
    assert "Traceback" not in out.stderr
