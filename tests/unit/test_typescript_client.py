"""The TypeScript client (clients/typescript) is generated from what the gateway serves, and
keeps its idempotency keys across retries.

The chain is contracts -> openapi.json -> src/schema.ts (openapi-typescript) and
src/operations.ts (scripts/operations.mjs); each link is checked against the committed file,
so a contract changed without `make client` fails here, naming the command that fixes it."""

from __future__ import annotations

import json
import subprocess
import sys

from services.gateway.openapi import build_openapi
from tests.node import CLIENT, compiled, node_tests, npm


def test_the_committed_openapi_document_is_the_one_the_gateway_serves() -> None:
    # The script the client is generated with, run as `make client` runs it.
    done = subprocess.run(
        [sys.executable, str(CLIENT / "scripts" / "openapi.py"), "--output", "/dev/stdout"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == build_openapi()
    committed = (CLIENT / "openapi.json").read_text(encoding="utf-8")
    assert done.stdout == committed, (
        "clients/typescript/openapi.json differs from the gateway's /api/ai/openapi.json: "
        "run `make client` and commit the result"
    )


def test_the_committed_types_are_generated_from_the_committed_document() -> None:
    checked = npm("run", "--silent", "check")
    assert checked.returncode == 0, (
        "src/schema.ts or src/operations.ts is not what openapi.json generates, or src/ does "
        "not compile for a browser: run `make client` and commit the result\n"
        + (checked.stdout + checked.stderr)[-4000:]
    )


def test_the_client_sends_and_keeps_idempotency_keys() -> None:
    with compiled() as out:
        node_tests(out / "test" / "unit")
