"""The import arrows point one way.

Services never import each other (they meet only in ``shared/`` and through events).
Inside the optimizer each feature package (rules, pools, experiments...) imports only
itself, ``services.optimizer.core``, ``shared`` and third-party code; ``core`` imports no
feature; only ``app`` puts the features together. Imports are read with :mod:`ast`, so
an import inside a function or under ``TYPE_CHECKING`` counts as much as one at the top.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"
OPTIMIZER = "services.optimizer"
CORE = f"{OPTIMIZER}.core"
# Modules of the optimizer that live beside its packages rather than in one.
OPTIMIZER_TOP = {OPTIMIZER, f"{OPTIMIZER}.app"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(source: str, module: str, is_package: bool) -> Iterator[str]:
    """Every module ``source`` imports, absolute; ``from a import b`` yields ``a.b`` too,
    since ``b`` may be a submodule."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def features() -> set[str]:
    return {
        f"{OPTIMIZER}.{p.parent.name}"
        for p in (SERVICES / "optimizer").glob("*/__init__.py")
        if p.parent.name != "core"
    }


def wrong_arrows(module: str, imports: set[str], services: set[str], feats: set[str]) -> list[str]:
    """The imports of ``module`` that break the layering, as ``module -> target``."""
    wrong: list[str] = []
    own_service = ".".join(module.split(".")[:2])
    for target in sorted(imports):
        if not within(target, "services"):
            continue
        other = ".".join(target.split(".")[:2])
        if other in services and other != own_service:
            wrong.append(f"{module} -> {target} (a service imports another service)")
            continue
        if own_service != OPTIMIZER or not within(target, OPTIMIZER):
            continue
        if target == OPTIMIZER:
            continue  # the package itself, as in ``from services.optimizer import x``
        home = next((f for f in feats if within(module, f)), None)
        target_home = next((f for f in feats if within(target, f)), None)
        if within(module, CORE):
            if target_home is not None or target in OPTIMIZER_TOP:
                wrong.append(f"{module} -> {target} (core imports a feature)")
        elif home is not None:
            if target_home not in (None, home) or target in OPTIMIZER_TOP:
                wrong.append(f"{module} -> {target} (a feature imports another feature)")
            elif target_home is None and not within(target, CORE):
                wrong.append(f"{module} -> {target} (a feature imports outside core)")
    return wrong


def all_modules() -> dict[str, tuple[Path, bool]]:
    return {
        module_name(path): (path, path.name == "__init__.py")
        for path in SERVICES.rglob("*.py")
        if "migrations" not in path.parts
    }


def services() -> set[str]:
    return {f"services.{p.parent.name}" for p in SERVICES.glob("*/__init__.py")}


def test_the_import_arrows_point_one_way() -> None:
    svcs, feats = services(), features()
    assert {"services.decision", "services.alerts", "services.gateway", OPTIMIZER} <= svcs
    assert {f"{OPTIMIZER}.rules", f"{OPTIMIZER}.pools", f"{OPTIMIZER}.experiments"} <= feats
    wrong: list[str] = []
    for module, (path, is_package) in sorted(all_modules().items()):
        imports = set(imported(path.read_text(), module, is_package))
        wrong += wrong_arrows(module, imports, svcs, feats)
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_every_optimizer_module_lives_in_core_or_a_feature() -> None:
    feats = features()
    loose = [
        m
        for m in all_modules()
        if within(m, OPTIMIZER)
        and m not in OPTIMIZER_TOP
        and not within(m, CORE)
        and not any(within(m, f) for f in feats)
    ]
    assert not loose, f"modules outside core and the features: {loose}"


def test_a_wrong_arrow_is_caught() -> None:
    """The check itself: each kind of wrong arrow is named, the right ones are not."""
    svcs = {"services.decision", "services.alerts", "services.gateway", OPTIMIZER}
    feats = {f"{OPTIMIZER}.rules", f"{OPTIMIZER}.pools"}

    def arrows(module: str, source: str) -> list[str]:
        return wrong_arrows(module, set(imported(source, module, False)), svcs, feats)

    rules = f"{OPTIMIZER}.rules.runner"
    core = f"{CORE}.act"
    assert arrows(rules, "from services.optimizer.pools.pool import next_due")
    assert arrows(rules, "from services.optimizer import pools")
    assert arrows(rules, "from ..pools import pool")
    assert arrows(rules, "from services.optimizer.app import SPEC")
    assert arrows(core, "import services.optimizer.rules.rule")
    assert arrows(core, "from services.optimizer import rules")
    assert arrows("services.decision.app", "from services.alerts.app import SPEC")
    assert arrows("services.gateway.app", "from services.optimizer.core import limits")
    assert not arrows(rules, "from services.optimizer.core.act import act\nimport numpy")
    assert not arrows(rules, "from . import rule\nfrom services.optimizer.rules import routes")
    assert not arrows(rules, "from shared.db import listening")
    assert not arrows(core, "from services.optimizer.core import limits")
    assert not arrows(f"{OPTIMIZER}.app", "from services.optimizer.rules import routes")
