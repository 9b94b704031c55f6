"""Every service by name, imported only when asked for."""

from __future__ import annotations

import importlib
from pathlib import Path

import services
from shared import metrics_store
from shared.contracts import SERVICES
from shared.db import MigrationSet
from shared.service import ServiceSpec


def spec_of(name: str) -> ServiceSpec:
    if name not in SERVICES:
        raise KeyError(name)
    spec: ServiceSpec = importlib.import_module(f"services.{name}.app").SPEC
    return spec


SERVICES_ROOT = Path(services.__file__).parent

# Services that keep their own copy of campaign metrics, in the one shape
# shared/metrics_store.py defines.
KEEP_CAMPAIGN_METRICS = frozenset({"alerts", "decision", "optimizer"})


def migration_folders() -> dict[str, list[MigrationSet]]:
    """What each service's schema is built from: shared parts it uses, then its own files."""
    return {
        name: [
            *([metrics_store.MIGRATIONS] if name in KEEP_CAMPAIGN_METRICS else []),
            MigrationSet(name, SERVICES_ROOT / name / "migrations"),
        ]
        for name in SERVICES
    }
