"""The benchmarks that start a platform of their own, at a tiny size: they run to the end
and print their keys (a smoke test: nothing here is timed or judged by its figures, but
rows lost or doubled are wrong at any size). ``adpilot bench`` runs one and writes its
table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
COMMAND = (sys.executable, "-m", "adpilot.cli")
AGENCY_SIZES = ("--campaigns", "20", "--tenants", "2", "--tenant-campaigns", "10")
BUS_KEYS = {
    "bus_ceiling_msgs_per_s",
    "pipeline_rows_per_s",
    "pipeline_vs_ceiling_ratio",
    "ingest_to_alert_p99_ms",
    "rows_lost",
    "rows_doubled",
    "alerts_doubled",
}
AGENCY_KEYS = {
    "agency_hour_10k_s",
    "agency_100_tenants_s",
    "one_tenant_stored_alerts_rows_per_s",
    "one_tenant_cycle_rows_per_s",
    "tenants_stored_decision_rows_per_s",
    "tenants_decisions",
}


def test_adpilot_bench_runs_the_bus_benchmark_and_writes_its_table(tmp_path: Path) -> None:
    output = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [*COMMAND, "bench", "--only", "bus", "--quick", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = (tmp_path / "RESULTS.log").read_text() if (tmp_path / "RESULTS.log").exists() else ""
    assert done.returncode == 0, done.stderr + log
    figures = json.loads((tmp_path / "RESULTS.json").read_text())["bus"]
    assert BUS_KEYS <= set(figures), figures
    assert figures["faults_alerted"] == figures["faults_injected"] > 0, figures
    assert (figures["rows_lost"], figures["rows_doubled"], figures["alerts_doubled"]) == (0, 0, 0)
    table = output.read_text()
    assert "`bus_ceiling_msgs_per_s`" in table and "cores" in table


def test_the_agency_benchmark_follows_the_hour_to_the_decisions() -> None:
    done = subprocess.run(
        [sys.executable, "bench/agency.py", *AGENCY_SIZES, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert AGENCY_KEYS <= set(figures), figures
    assert figures["one_tenant_rows"] == 20 and figures["tenants_rows"] == 20
