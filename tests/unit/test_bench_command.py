"""``adpilot bench`` without running a benchmark: which ones ``--only`` picks, what it reads
of the machine, how it finds a benchmark's answer and the table it writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from adpilot import bench
from adpilot.cli import build_parser

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz
cpu MHz\t\t: 2899.968

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz
"""
HOST = {
    "cpu": "Test CPU",
    "cores": 2,
    "ram_gib": 3.8,
    "date": "2026-12-07 23:40 UTC",
    "commit": "abc1234",
    "python": "3.11.7",
}


def test_only_picks_the_named_benchmarks_in_their_usual_order() -> None:
    assert [b.name for b in bench.chosen("pipeline, bus")] == ["bus", "pipeline"]
    assert [b.name for b in bench.chosen(None)] == list(bench.NAMES)
    with pytest.raises(ValueError, match="unknown benchmark nope"):
        bench.chosen("bus,nope")


def test_quick_runs_each_benchmark_with_its_small_sizes() -> None:
    agency = next(b for b in bench.BENCHMARKS if b.name == "agency")
    assert agency.command(quick=True)[1].endswith("bench/agency.py")
    assert "--campaigns" in agency.command(quick=True)
    assert "--campaigns" not in agency.command(quick=False)
    soak = next(b for b in bench.BENCHMARKS if b.name == "soak")
    assert "--find-peak" in soak.command(quick=False)
    for benchmark in bench.BENCHMARKS:
        assert (bench.ROOT / benchmark.script).is_file(), benchmark.script


def test_the_cpu_and_the_memory_are_read_from_proc() -> None:
    assert bench.cpu_of(CPUINFO) == ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", 2)
    assert bench.cpu_of("") == ("unknown", 0)
    assert bench.memory_of("MemTotal:        4026532 kB\nMemFree: 1 kB\n") == 3.8
    assert bench.memory_of("") is None


def test_the_answer_is_the_last_json_object_printed() -> None:
    out = 'progress\n{"a": 1}\nnot json\n{"b": 2}\n[1, 2]\n'
    assert bench.last_json_object(out) == {"b": 2}
    assert bench.last_json_object("nothing here\n") is None


def _outcome(
    name: str, figures: dict[str, object] | None, error: str | None = None
) -> bench.Outcome:
    benchmark = next(b for b in bench.BENCHMARKS if b.name == name)
    return bench.Outcome(benchmark, 12.3, figures, error, 0.5, 1.25)


def test_the_table_has_the_machine_every_scalar_figure_and_the_failures() -> None:
    text = bench.markdown(
        [
            _outcome("bus", {"pipeline_rows_per_s": 812.5, "rows_lost": 0, "steps": [1]}),
            _outcome("agency", None, "exit status 1 (see RESULTS.log)"),
        ],
        HOST,
        quick=True,
    )
    assert "`adpilot bench --quick` on 2026-12-07 23:40 UTC, commit abc1234" in text
    assert "Machine: Test CPU, 2 cores, 3.8 GiB RAM" in text
    assert "| bus | 12 | 0.50 / 1.25 | `pipeline_rows_per_s` | 812.5 |" in text
    assert "| | | | `rows_lost` | 0 |" in text
    assert "steps" not in text
    assert "| agency | 12 | 0.50 / 1.25 | failed | exit status 1 (see RESULTS.log) |" in text


def test_the_command_refuses_an_unknown_benchmark(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["bench", "--only", "nope", "--output", str(tmp_path / "R.md")]
    )
    assert args.run(args, None) == 2
    assert not (tmp_path / "R.md").exists()
