"""The TypeScript client builds with tsc and passes its own tests (`node --test`).

Skipped where Node.js or npm is not installed. Its dependencies come from the committed
lockfile (`npm ci`, a few seconds); a machine that cannot reach the npm registry skips the
test rather than failing it, and says so."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "typescript"
OFFLINE = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "ENETUNREACH")


def run(*command: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=CLIENT, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None, reason="needs Node.js and npm"
)
def test_the_typescript_client_sends_and_keeps_idempotency_keys() -> None:
    if not (CLIENT / "node_modules" / ".bin" / "tsc").exists():
        installed = run("npm", "ci", "--no-audit", "--no-fund", timeout=180)
        if installed.returncode != 0:
            if any(code in installed.stderr for code in OFFLINE):
                pytest.skip(f"the npm registry is unreachable: {installed.stderr[-300:]}")
            pytest.fail(f"npm ci failed:\n{installed.stdout}\n{installed.stderr}")
    tested = run("npm", "test", "--silent", timeout=180)
    output = tested.stdout + tested.stderr
    assert tested.returncode == 0, output[-6000:]
    assert "# fail 0" in output and "# pass 0" not in output, output[-2000:]
