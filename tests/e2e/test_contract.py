"""Schemathesis against the gateway's own OpenAPI document: no 5xx, no response that
breaks the schema, with a valid key."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
import uuid
from pathlib import Path

import pytest

from shared.config import Settings
from tests.e2e.conftest import make_tenant
from tests.e2e.platform import Platform

pytestmark = pytest.mark.e2e

CHECKS = ",".join(
    [
        "not_a_server_error",
        "response_schema_conformance",
        "status_code_conformance",
        "content_type_conformance",
    ]
)


async def test_the_api_keeps_its_contract(
    platform: Platform, settings: Settings, tmp_path: Path
) -> None:
    # A tenant of its own: the fuzzer changes whatever an admin may change (its autonomy,
    # its rules), which must not leak into the tenants other suites rely on.
    tenant = await make_tenant(settings, f"contract-{uuid.uuid4().hex[:8]}")
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st is not None, "schemathesis is part of the dev dependencies"
    proc = await asyncio.create_subprocess_exec(
        st,
        "run",
        f"{platform.gateway}/api/ai/openapi.json",
        "--header",
        f"Authorization: Bearer {tenant.keys['admin']}",
        "--checks",
        CHECKS,
        # The coverage phase sends every operation its boundary and invalid cases (about
        # 5,400 requests); the fuzzing phase adds 10 random ones per operation. At 25 the
        # fuzzing took half of this test's time for 1,400 more requests of the same kind.
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        "10",
        "--generation-deterministic",
        "--request-timeout",
        "10",
        "--report-dir",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 600)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-6000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", text)
    assert generated is not None, text[-2000:]
    assert int(generated[1]) > 100 and generated[1] == generated[2], generated[0]
