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


# --- HTTP at the edge only ---------------------------------------------------------------

# What speaks HTTP: aiohttp's server side, and the API's error type with its makers.
HTTP_MODULES = ("aiohttp.web", "shared.web")
# The gateway's own HTTP plumbing beside its route modules: the metrics intake, forwarding,
# static files and the middlewares.
GATEWAY_EDGE = {
    f"services.gateway.{name}" for name in ("intake", "proxy", "static", "security", "idempotency")
}


def at_the_edge(module: str) -> bool:
    """Route modules (``routes``, ``*_routes``), a service's ``app`` and the gateway's
    plumbing answer requests; everything else is domain code."""
    last = module.rpartition(".")[2]
    return last in ("routes", "app") or last.endswith("_routes") or module in GATEWAY_EDGE


def http_uses(source: str, module: str, is_package: bool) -> list[str]:
    """What of HTTP ``source`` imports or reaches (``aiohttp.web.X`` by attribute)."""
    uses = {
        target
        for target in imported(source, module, is_package)
        if any(within(target, http) for http in HTTP_MODULES)
    }
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "web"
            and isinstance(node.value, ast.Name)
            and node.value.id == "aiohttp"
        ):
            uses.add("aiohttp.web")
    return sorted(uses)


def test_only_the_edge_speaks_http() -> None:
    """Stores, logic and runners raise the domain errors of ``shared.errors``; the edge
    answers them. So no module but a route module, an app or the gateway's plumbing
    imports aiohttp's server side or ``shared.web`` (``ApiError``, ``not_found``...)."""
    speaking = [
        f"{module} -> {', '.join(uses)}"
        for module, (path, is_package) in sorted(all_modules().items())
        if not at_the_edge(module) and (uses := http_uses(path.read_text(), module, is_package))
    ]
    assert not speaking, "domain modules that speak HTTP:\n" + "\n".join(speaking)


def test_speaking_http_is_caught() -> None:
    store = f"{OPTIMIZER}.experiments.store"
    assert http_uses("from shared.web import ApiError", store, False)
    assert http_uses("from shared.web import not_found", store, False)
    assert http_uses("from aiohttp import web", store, False)
    assert http_uses("import aiohttp\nraise aiohttp.web.HTTPNotFound()", store, False)
    assert http_uses("from aiohttp.web import HTTPConflict", store, False)
    assert not http_uses("import aiohttp\nfrom shared.errors import Conflict", store, False)
    assert at_the_edge(f"{OPTIMIZER}.experiments.routes")
    assert at_the_edge("services.gateway.key_routes")
    assert at_the_edge("services.gateway.security")
    assert not at_the_edge(store)
    assert not at_the_edge(f"{CORE}.rollback")


# --- short functions, handlers at module level ---------------------------------------------

MAX_FUNCTION_LINES = 100


def functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def test_every_function_is_short() -> None:
    long = [
        f"{module}.{fn.name}: {fn.end_lineno - fn.lineno + 1} lines"
        for module, (path, _) in sorted(all_modules().items())
        for fn in functions(ast.parse(path.read_text()))
        if fn.end_lineno is not None and fn.end_lineno - fn.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


def closures_in_route_tables(source: str) -> list[str]:
    """Functions defined inside a route table (``routes``, ``*_routes``): a handler is a
    module-level function given its runtime with ``functools.partial``."""
    return [
        f"{fn.name}.{inner.name}"
        for fn in ast.parse(source).body
        if isinstance(fn, ast.FunctionDef) and fn.name.endswith("routes")
        for inner in functions(fn)
        if inner is not fn
    ]


def test_route_tables_define_no_handlers() -> None:
    nested = [
        f"{module}: {name}"
        for module, (path, _) in sorted(all_modules().items())
        for name in closures_in_route_tables(path.read_text())
    ]
    assert not nested, "handlers defined inside route tables:\n" + "\n".join(nested)


def test_a_handler_inside_a_route_table_is_caught() -> None:
    source = (
        "def routes(runtime):\n"
        "    async def create(request):\n"
        "        return runtime\n"
        "    return {1: create}\n"
    )
    assert closures_in_route_tables(source) == ["routes.create"]
    assert not closures_in_route_tables(
        "async def create(runtime, request):\n    return runtime\n"
        "def routes(runtime):\n    return {1: partial(create, runtime)}\n"
    )
