"""``adpilot bench``: run the performance benchmarks, one after another, and write their
figures as a Markdown table with the machine they ran on.

Each benchmark is its own script in ``bench/``, started with ``--json`` in a process of its
own (each starts its own platform); its one JSON object is collected, its progress lines go
to a log beside the results. Nested figures (per-minute rows, per-step rows) stay in the
JSON; the table shows the scalar ones.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "bench" / "RESULTS.md"


@dataclass(frozen=True)
class Benchmark:
    name: str
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    about: str

    def command(self, quick: bool) -> list[str]:
        return [sys.executable, str(ROOT / self.script), *(self.quick if quick else self.full)]


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("http", "bench/http.py", (), ("--quick",), "gateway against a FastAPI peer"),
    Benchmark("bus", "bench/bus.py", (), ("--quick",), "pipeline against the bus ceiling"),
    Benchmark(
        "agency",
        "bench/agency.py",
        (),
        ("--campaigns", "500", "--tenants", "5", "--tenant-campaigns", "50"),
        "an hour of 10,000 campaigns, and of 100 tenants",
    ),
    Benchmark(
        "soak",
        "bench/soak.py",
        ("--find-peak",),
        ("--find-peak", "--start-rate", "5", "--step-factor", "1.5", "--step-seconds", "10"),
        "the peak of the whole loop",
    ),
    Benchmark("pipeline", "bench/pipeline.py", ("--runs", "100"), ("--runs", "10"), "latency"),
)
NAMES = tuple(b.name for b in BENCHMARKS)


def chosen(only: str | None) -> list[Benchmark]:
    """The benchmarks ``--only`` names (comma-separated), in their usual order; all if None."""
    if not only:
        return list(BENCHMARKS)
    wanted = [name.strip() for name in only.split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(NAMES))
    if unknown:
        raise ValueError(f"unknown benchmark {', '.join(unknown)}: choose from {', '.join(NAMES)}")
    return [b for b in BENCHMARKS if b.name in wanted]


# --- the machine ---------------------------------------------------------------------------


def cpu_of(cpuinfo: str) -> tuple[str, int]:
    """The CPU's model name and the number of processors /proc/cpuinfo lists."""
    model, cores = "unknown", 0
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "processor":
            cores += 1
        elif key.strip() == "model name" and model == "unknown":
            model = value.strip()
    return model, cores


def memory_of(meminfo: str) -> float | None:
    """Total RAM in GiB, from /proc/meminfo."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return done.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def machine() -> dict[str, Any]:
    model, cores = cpu_of(_read("/proc/cpuinfo"))
    return {
        "cpu": model if model != "unknown" else platform.processor() or "unknown",
        "cores": cores or os.cpu_count(),
        "ram_gib": memory_of(_read("/proc/meminfo")),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "python": platform.python_version(),
    }


# --- running -------------------------------------------------------------------------------


@dataclass
class Outcome:
    benchmark: Benchmark
    seconds: float
    figures: dict[str, Any] | None
    error: str | None
    load_before: float
    load_after: float


def last_json_object(stdout: str) -> dict[str, Any] | None:
    """The benchmark's answer: the last line of its output that is a JSON object."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def run_one(benchmark: Benchmark, quick: bool, log: Path) -> Outcome:
    load_before = os.getloadavg()[0]
    start = time.monotonic()
    with log.open("a") as errors:
        errors.write(f"\n== {benchmark.name}: {' '.join(benchmark.command(quick))}\n")
        errors.flush()
        done = subprocess.run(
            [*benchmark.command(quick), "--json"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    seconds = time.monotonic() - start
    figures = last_json_object(done.stdout)
    error = None
    if done.returncode != 0:
        error = f"exit status {done.returncode} (see {log.name})"
    elif figures is None:
        error = f"printed no JSON object (see {log.name})"
    return Outcome(benchmark, seconds, figures, error, load_before, os.getloadavg()[0])


def run_all(
    benchmarks: Sequence[Benchmark],
    quick: bool,
    log: Path,
    started: Callable[[Benchmark], None] = lambda b: None,
    finished: Callable[[Outcome], None] = lambda o: None,
) -> list[Outcome]:
    outcomes = []
    for benchmark in benchmarks:
        started(benchmark)
        outcome = run_one(benchmark, quick, log)
        finished(outcome)
        outcomes.append(outcome)
    return outcomes


# --- the table -----------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"
    return "-" if value is None else str(value)


def scalars(figures: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The figures a table cell can hold (numbers, strings, booleans, None)."""
    return [(k, v) for k, v in figures.items() if not isinstance(v, dict | list)]


def markdown(outcomes: Sequence[Outcome], host: Mapping[str, Any], quick: bool) -> str:
    cores = host["cores"]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `adpilot bench{' --quick' if quick else ''}` on {host['date']}, "
        f"commit {host['commit']}.",
        "",
        f"Machine: {host['cpu']}, {cores} cores, {_cell(host['ram_gib'])} GiB RAM, "
        f"Python {host['python']}.",
        "",
        "| benchmark | seconds | load average (1 min) before / after | figure | value |",
        "|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        head = (
            f"| {outcome.benchmark.name} | {outcome.seconds:.0f} | "
            f"{outcome.load_before:.2f} / {outcome.load_after:.2f} |"
        )
        if outcome.error is not None:
            lines.append(f"{head} failed | {outcome.error} |")
            continue
        assert outcome.figures is not None
        for i, (key, value) in enumerate(scalars(outcome.figures)):
            prefix = head if i == 0 else "| | | |"
            lines.append(f"{prefix} `{key}` | {_cell(value)} |")
    lines.append("")
    return "\n".join(lines)


def run(only: str | None, quick: bool, output: Path) -> int:
    """The ``adpilot bench`` command: run, show progress, write the table."""
    from adpilot.progress import add_task, progress_bar

    try:
        benchmarks = chosen(only)
    except ValueError as exc:
        print(f"adpilot bench: {exc}", file=sys.stderr)
        return 2
    output.parent.mkdir(parents=True, exist_ok=True)
    log = output.with_suffix(".log")
    log.write_text("")
    raw = output.with_suffix(".json")
    with progress_bar() as bar:
        task = add_task(bar, "bench", total=len(benchmarks))

        def started(benchmark: Benchmark) -> None:
            bar.update(task, note=f"{benchmark.name}: {benchmark.about}")

        def finished(outcome: Outcome) -> None:
            state = "failed" if outcome.error else "done"
            bar.console.print(f"{outcome.benchmark.name}: {state} in {outcome.seconds:.0f} s")
            bar.advance(task)

        outcomes = run_all(benchmarks, quick, log, started, finished)
        bar.update(task, note="")
    host = machine()
    output.write_text(markdown(outcomes, host, quick))
    raw.write_text(
        json.dumps(
            {"machine": host, "quick": quick, **{o.benchmark.name: o.figures for o in outcomes}},
            indent=2,
            default=str,
        )
        + "\n"
    )
    print(f"wrote {output} (figures as JSON in {raw.name}, progress lines in {log.name})")
    return 1 if any(o.error for o in outcomes) else 0
