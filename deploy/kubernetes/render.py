"""Render the adpilot chart with Helm's own template engine, without a helm binary or a
cluster (helm-python-sdk, one of the dev dependencies). The chart's tests render through
this; so can anyone without helm:

    python deploy/kubernetes/render.py --values deploy/kubernetes/examples/managed-services.yaml
    python deploy/kubernetes/render.py --upgrade     # what `helm upgrade` would apply
    python deploy/kubernetes/render.py --lint        # `helm lint --strict`
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent / "chart"
# Findings of `helm lint` at these severities fail it (2 warning, 3 error).
LINT_FAILS_AT = 2


def merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``, maps merged key by key as Helm merges values files."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def load_values(files: Iterable[Path | str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for file in files:
        values = merged(values, yaml.safe_load(Path(file).read_text(encoding="utf-8")) or {})
    return values


def render(
    values: Mapping[str, Any] | None = None,
    *,
    release: str = "adpilot",
    namespace: str = "adpilot",
    upgrade: bool = False,
) -> str:
    """The manifests `helm template` (or, with ``upgrade``, `helm upgrade`) would make, as
    one YAML stream, each document headed by the template it came from."""
    from helm_python.chart import Chart

    with Chart.load(CHART) as chart:
        files = chart.render(
            dict(values or {}),
            name=release,
            namespace=namespace,
            revision=2 if upgrade else 1,
            is_install=not upgrade,
            is_upgrade=upgrade,
        )
    out = []
    for path in sorted(files):
        text = files[path].strip()
        if path.endswith("NOTES.txt") or not text:
            continue
        for doc in text.split("\n---\n"):
            doc = doc.strip().removeprefix("---").strip()
            if doc:
                out.append(f"---\n# Source: {path}\n{doc}\n")
    return "".join(out)


def lint(values: Mapping[str, Any] | None = None) -> list[str]:
    """What `helm lint --strict` finds wrong with the chart under ``values``."""
    from helm_python.chart import lint as helm_lint

    report = helm_lint(CHART, dict(values or {}), strict=True)
    return [
        f"{m.get('path', '')}: {m.get('error', '')}"
        for m in report.get("messages", [])
        if int(m.get("severity", 0)) >= LINT_FAILS_AT
    ] + [str(e) for e in report.get("errors", []) or []]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--values", action="append", default=[], metavar="FILE", help="a values file (repeatable)"
    )
    parser.add_argument(
        "--values-json",
        action="append",
        default=[],
        metavar="JSON",
        help="values as a JSON object, merged over the files (repeatable)",
    )
    parser.add_argument("--release", default="adpilot", help="release name (default adpilot)")
    parser.add_argument("--namespace", default="adpilot", help="namespace (default adpilot)")
    parser.add_argument(
        "--upgrade", action="store_true", help="render an upgrade rather than an install"
    )
    parser.add_argument("--lint", action="store_true", help="lint the chart instead")
    args = parser.parse_args(argv)
    values = load_values(args.values)
    for text in args.values_json:
        values = merged(values, json.loads(text))
    if args.lint:
        problems = lint(values)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    sys.stdout.write(
        render(values, release=args.release, namespace=args.namespace, upgrade=args.upgrade)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
