"""Every service by name, imported only when asked for."""

from __future__ import annotations

import importlib
from pathlib import Path

from shared.contracts import SERVICES
from shared.service import ServiceSpec


def spec_of(name: str) -> ServiceSpec:
    if name not in SERVICES:
        raise KeyError(name)
    spec: ServiceSpec = importlib.import_module(f"services.{name}.app").SPEC
    return spec


def migration_folders() -> dict[str, Path]:
    return {name: Path(__file__).parent / name / "migrations" for name in SERVICES}
