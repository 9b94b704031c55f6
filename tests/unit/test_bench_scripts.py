"""Every benchmark starts as its README line shows it, ``python bench/<name>.py``: from
its own folder, where a module named like one of the standard library's (bench/http.py)
must not hide it. Each script puts the repository's root first, and its own folder
nowhere, before it imports anything beyond the standard library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(
    p.name for p in (ROOT / "bench").glob("*.py") if 'if __name__ == "__main__"' in p.read_text()
)


def _sets_the_path(node: ast.stmt) -> bool:
    """An assignment to ``sys.path[...]``, alone or under a condition."""
    return any(
        isinstance(inner, ast.Assign)
        and isinstance(inner.targets[0], ast.Subscript)
        and ast.unparse(inner.targets[0].value) == "sys.path"
        for inner in ast.walk(node)
    )


def _beyond_the_standard_library(node: ast.stmt) -> bool:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        names = [node.module]
    else:
        return False
    return any(name.split(".")[0] not in sys.stdlib_module_names for name in names)


def test_there_are_scripts_to_check() -> None:
    assert {"soak.py", "capacity.py", "quality.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_benchmark_sets_its_path_before_importing_the_project(script: str) -> None:
    body = ast.parse((ROOT / "bench" / script).read_text()).body
    sets = next((i for i, node in enumerate(body) if _sets_the_path(node)), None)
    first = next(i for i, node in enumerate(body) if _beyond_the_standard_library(node))
    assert sets is not None, f"{script} does not put the repository's root on sys.path"
    assert sets < first, f"{script} imports {ast.unparse(body[first])!r} before setting the path"


def test_a_benchmark_answers_help_when_run_as_a_script() -> None:
    ran = subprocess.run(
        [sys.executable, "bench/soak.py", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "usage:" in ran.stdout
