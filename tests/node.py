"""Running the TypeScript client's npm scripts from the tests.

Node.js and npm are part of the test environment (`.ci/run` installs them): without them a
test that needs them fails and says so, rather than passing by skipping."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
CLIENT = REPOSITORY / "clients" / "typescript"


def npm(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``npm <args>`` in the client's folder, its dependencies installed first."""
    _installed()
    return _run("npm", *args, env=env, timeout=timeout)


def npm_ok(*args: str, env: Mapping[str, str] | None = None, timeout: float = 300) -> str:
    """``npm <args>``'s output; the test fails with that output when npm does."""
    done = npm(*args, env=env, timeout=timeout)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"npm {' '.join(args)} failed ({done.returncode}):\n{output[-8000:]}")
    return output


@contextmanager
def compiled(*, check: bool = True) -> Iterator[Path]:
    """The client and its tests compiled into a folder of this run's own (under dist/, where
    node finds the client's node_modules), so that runs in one checkout at the same time do
    not overwrite each other's files. ``check=False`` only strips the types: quicker, for
    code a type check already passed."""
    out = CLIENT / "dist" / f"run-{uuid.uuid4().hex[:12]}"
    flags = () if check else ("--noCheck",)
    try:
        npm_ok("run", "--silent", "build", "--", "--outDir", str(out), *flags)
        yield out
    finally:
        shutil.rmtree(out, ignore_errors=True)


def node_tests(folder: Path, env: Mapping[str, str] | None = None, timeout: float = 180) -> str:
    """``node --test`` on ``folder``; its output, which must report every test passed."""
    _installed()
    done = _run("node", "--test", str(folder), env=env, timeout=timeout)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-8000:]
    assert "# fail 0" in output and "# pass 0" not in output, output[-4000:]
    return output


def _installed() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found: the TypeScript client's tests need Node.js 20+ "
            "and npm (apt-get install nodejs npm; .ci/run does it)",
            pytrace=False,
        )
    # npm ci rewrites this file; a lockfile newer than it has not been installed yet.
    marker = CLIENT / "node_modules" / ".package-lock.json"
    lockfile = CLIENT / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lockfile.stat().st_mtime:
        return
    done = _run("npm", "ci", "--no-audit", "--no-fund", timeout=300)
    if done.returncode != 0:
        pytest.fail(f"npm ci failed in {CLIENT}:\n{done.stdout}\n{done.stderr}"[-8000:])


def _run(
    *command: str, env: Mapping[str, str] | None = None, timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
