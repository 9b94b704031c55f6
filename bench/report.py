"""One way for every benchmark to print its figures: `name: value` lines, or one JSON object."""

from __future__ import annotations

import json
from collections.abc import Mapping


def print_figures(figures: Mapping[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(dict(figures)))
        return
    for name, value in figures.items():
        print(f"{name}: {value}")
