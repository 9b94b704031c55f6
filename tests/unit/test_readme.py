"""README.md, CONTRIBUTING.md and docs/architecture.md say only what is so.

- Every ``/api/ai`` path they mention (with or without a host, query strings stripped,
  ``<id>`` and ``{id}`` placeholders standing for any path parameter) is in the OpenAPI
  document the gateway builds from the contracts, or is one of the two documents it serves
  beside them; a method named with a path (``POST /api/ai/...``, ``api -X POST ...``, the
  API table's methods column) is one the path answers.
- Every shell block parses with ``bash -n``; in it and in inline code, ``make X`` names a
  Makefile target, ``adpilot ...`` parses with the command's own argparse parser,
  ``python X.py`` names a file whose parser knows each ``--option`` given, and
  ``pytest`` names paths and markers that exist.
- Every repository path in inline code, links and the README's layout tree exists (or
  is a build output git ignores); every ``#anchor`` names a heading; the README's count of
  tables is the migrations' count, and docs/architecture.md's queues and bindings are the
  contracts' topology.

Python blocks are code to write (the examples of adding a route or an event), so their
paths are not checked. Nothing here starts a server.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from adpilot.cli import build_parser
from services.gateway.openapi import build_openapi
from services.gateway.routes import documents
from shared.contracts import topology

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCUMENTS = (README, ROOT / "CONTRIBUTING.md", ROOT / "docs" / "architecture.md")
DOC_IDS = [str(p.relative_to(ROOT)) for p in DOCUMENTS]

PREFIX = "/api/ai"
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SHELLS = ("sh", "bash", "shell")
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
PLACEHOLDER = re.compile(r"^(\{[^{}]*\}|<[^<>]*>)$")


# --- reading the documents ------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    lang: str
    body: str
    line: int  # of the opening fence


def text_of(doc: Path) -> str:
    return doc.read_text(encoding="utf-8")


def blocks(text: str) -> list[Block]:
    return [
        Block(m.group(1).lower(), m.group(2), text.count("\n", 0, m.start()) + 1)
        for m in FENCE.finditer(text)
    ]


def prose(text: str) -> str:
    """The text with fenced blocks blanked out (line numbers kept)."""
    return FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def spans(text: str) -> list[str]:
    """Inline code outside fenced blocks."""
    return SPAN.findall(prose(text))


def section(text: str, heading: str) -> str:
    """From ``heading`` (a whole heading line) to the next heading of its level or above."""
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(f"\n{heading}\n") + 1
    after = re.search(rf"^#{{1,{level}}} ", text[start + len(heading) :], re.MULTILINE)
    return text[start : start + len(heading) + after.start()] if after else text[start:]


# --- (a) /api/ai paths against the OpenAPI document -----------------------------------


def served_paths() -> dict[str, set[str]]:
    """Path template -> methods: the OpenAPI document built from the contracts, and the
    documents the gateway serves beside it (the OpenAPI and AsyncAPI documents)."""
    spec = build_openapi()
    paths = {
        path: {m.upper() for m in ops if m.upper() in HTTP_METHODS}
        for path, ops in spec["paths"].items()
    }
    runtime = SimpleNamespace(settings=SimpleNamespace(exchange="adpilot.events"))
    for route in documents(runtime):  # type: ignore[arg-type]
        paths.setdefault(route.path, set()).add(route.method)
    return paths


SERVED = served_paths()


def _segments(path: str) -> list[str]:
    return [s for s in path.strip("/").split("/") if s]


def _matches(wanted: list[str], template: str, *, loose: bool) -> bool:
    have = _segments(template)
    return len(have) == len(wanted) and all(
        w == h or (PLACEHOLDER.match(w) and (loose or PLACEHOLDER.match(h)))
        for w, h in zip(wanted, have, strict=True)
    )


def templates_for(path: str) -> list[str]:
    """The served templates ``path`` can name. A literal segment stands for itself and a
    placeholder for a path parameter; only when that finds nothing may a placeholder
    stand for a literal segment too (``/api/ai/<resource>/{id}``)."""
    wanted = _segments(path)
    return [t for t in SERVED if _matches(wanted, t, loose=False)] or [
        t for t in SERVED if _matches(wanted, t, loose=True)
    ]


def clean_path(raw: str) -> list[str]:
    """A mentioned path as templates to look up: query string and trailing punctuation
    gone, an optional ``[...]`` part both taken and left out."""
    path = raw.split("?", 1)[0].split("#", 1)[0].rstrip(".,:;)")
    optional = re.search(r"\[([^\]]*)\]", path)
    if optional:
        with_it = path[: optional.start()] + optional.group(1) + path[optional.end() :]
        without = path[: optional.start()] + path[optional.end() :]
        return [p for variant in (with_it, without) for p in clean_path(variant)]
    return [path.rstrip("/")]


# A placeholder may hold spaces (``<campaign id>``); it is made one segment first.
_SPACED_PLACEHOLDER = re.compile(r"<([^<>\n]*)>")
API_PATH = re.compile(r"/api/ai(?:/[^\s`'\"|,;()]*)?")


def checked_text(text: str) -> str:
    """Everything but the Python blocks (code to write, naming routes not yet made)."""
    return FENCE.sub(lambda m: "" if m.group(1).lower() == "python" else m.group(0), text)


def mentioned_paths(text: str) -> list[str]:
    text = _SPACED_PLACEHOLDER.sub(lambda m: "<" + m.group(1).replace(" ", "_") + ">", text)
    found = []
    for raw in API_PATH.findall(checked_text(text)):
        for path in clean_path(raw):
            if path != PREFIX:
                found.append(path)
    return sorted(set(found))


# METHOD /api/ai/... in prose, and `api -X METHOD host/api/ai/...` or `api host/api/ai/...`
# in shell blocks (the README's alias for curl with a key).
METHOD_AND_PATH = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (/api/ai/[^\s`'\"|,;()]*)")
API_CALL = re.compile(
    r"^\s*(?:api|curl)\b(?:\s+-X\s+(?P<method>[A-Z]+))?[^\n]*?\s'?"
    r"(?:https?://)?[\w.-]+:\d+(?P<path>/api/ai[^\s'\"]*)",
    re.MULTILINE,
)


def method_mentions(text: str) -> list[tuple[str, str]]:
    text = _SPACED_PLACEHOLDER.sub(lambda m: "<" + m.group(1).replace(" ", "_") + ">", text)
    found = [(m.group(1), m.group(2)) for m in METHOD_AND_PATH.finditer(prose(text))]
    for block in blocks(text):
        if block.lang in SHELLS:
            body = block.body.replace("\\\n", " ")
            found += [(m["method"] or "GET", m["path"]) for m in API_CALL.finditer(body)]
    return [(method, path) for method, raw in found for path in clean_path(raw)]


@dataclass(frozen=True)
class TableRow:
    line: str
    paths: tuple[str, ...]
    methods: tuple[str, ...]


TABLE_PATH = re.compile(r"^(?:(?P<methods>[A-Z]+(?:/[A-Z]+)*) )?(?P<path>/[^\s]*)$")


def route_tables(text: str) -> list[TableRow]:
    """Rows of tables whose first cell lists paths under ``/api/ai`` written short
    (``/alerts/{id}/acknowledge``, ``/resolve``: a bare last segment continues the path
    before it). Methods come from the cell (``GET/POST /budgets``) or, in a table whose
    second column is ``methods``, from that column."""
    rows = []
    header: list[str] = []
    for line in prose(text).splitlines():
        if not line.startswith("|"):
            header = []
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not header:
            header = [c.lower() for c in cells]
            continue
        if set(cells[0]) <= set("-: "):
            continue
        paths: list[str] = []
        methods: list[str] = []
        previous = ""
        for code in SPAN.findall(cells[0]):
            m = TABLE_PATH.match(code)
            if not m or m["path"].startswith(PREFIX):
                continue
            short = m["path"]
            full = PREFIX + short
            if not templates_for(full) and previous and short.count("/") == 1:
                full = previous.rsplit("/", 1)[0] + short
            paths.append(full)
            previous = full
            if m["methods"]:
                methods += m["methods"].split("/")
        if not paths:
            continue
        if not methods and len(header) > 1 and header[1] == "methods":
            methods = [w for w in re.findall(r"[A-Z]+", cells[1]) if w in HTTP_METHODS]
        rows.append(TableRow(line, tuple(paths), tuple(methods)))
    return rows


@pytest.mark.parametrize("doc", DOCUMENTS, ids=DOC_IDS)
def test_every_api_path_mentioned_is_served(doc: Path) -> None:
    text = text_of(doc)
    if doc == README:
        assert mentioned_paths(text), "no /api/ai path found in README.md"
    missing = [p for p in mentioned_paths(text) if not templates_for(p)]
    assert not missing, (
        f"{doc.name} mentions /api/ai paths the gateway's OpenAPI document does not have: {missing}"
    )


@pytest.mark.parametrize("doc", DOCUMENTS, ids=DOC_IDS)
def test_every_method_named_with_a_path_is_answered_there(doc: Path) -> None:
    wrong = []
    for method, path in method_mentions(text_of(doc)):
        templates = templates_for(path)
        if templates and not any(method in SERVED[t] for t in templates):
            wrong.append(f"{method} {path}")
        elif not templates:
            wrong.append(f"{method} {path} (no such path)")
    assert not wrong, f"{doc.name} names calls the API does not answer: {wrong}"


def test_the_route_tables_name_served_paths_and_their_methods() -> None:
    rows = route_tables(text_of(README))
    assert rows, "the README's API table was not found"
    wrong = []
    for row in rows:
        missing = [p for p in row.paths if not templates_for(p)]
        if missing:
            wrong.append(f"{row.line}\n    no such path: {missing}")
            continue
        answered = {m for p in row.paths for t in templates_for(p) for m in SERVED[t]}
        unknown = [m for m in row.methods if m not in answered]
        if unknown:
            wrong.append(f"{row.line}\n    none of its paths answers {unknown}")
    assert not wrong, "README route tables:\n" + "\n".join(wrong)


# --- (b) shell commands ---------------------------------------------------------------


def makefile_targets() -> set[str]:
    targets = set()
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9][\w.-]*(?:\s+[A-Za-z0-9][\w.-]*)*)\s*:(?![:=])", line)
        if m:
            targets.update(m.group(1).split())
    return targets


def pytest_markers() -> set[str]:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return set(re.findall(r'^\s*"(\w+):', pyproject, re.MULTILINE))


_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")


def commands(script: str) -> Iterator[list[str]]:
    """Each simple command of a shell snippet as words, with command substitutions as
    commands of their own and leading ``NAME=value`` assignments dropped."""
    script = script.replace("\\\n", " ")
    for line in script.splitlines():
        inner = _SUBSTITUTION.findall(line)
        line = _SUBSTITUTION.sub("X", line)
        for part in [*inner, line]:
            try:
                words = shlex.split(part, comments=True)
            except ValueError:
                continue  # bash -n judges what shlex cannot split
            command: list[str] = []
            for word in [*words, ";"]:
                if word in (";", "&&", "||", "|", "&"):
                    while command and re.match(r"^[A-Za-z_]\w*=", command[0]):
                        command.pop(0)
                    if command:
                        yield command
                    command = []
                else:
                    command.append(word)


def as_arguments(words: list[str]) -> list[str]:
    """Usage notation as arguments: ``[--json]`` is given, ``<id>`` is some value."""
    out = []
    for word in words:
        if word in ("...", "[...]"):
            continue
        word = word.removeprefix("[").removesuffix("]")
        if re.fullmatch(r"<[^<>]*>", word):
            word = "x"
        if word:
            out.append(word)
    return out


def command_problems(words: list[str]) -> list[str]:
    """What is wrong with one command, by what it runs."""
    name = Path(words[0]).name
    args = as_arguments(words[1:])
    if name == "make":
        targets = makefile_targets()
        return [
            f"make {a}: no such target in the Makefile"
            for a in args
            if not a.startswith("-") and "=" not in a and a not in targets
        ]
    if "adpilot" in (Path(w).name for w in words):
        at = [Path(w).name for w in words].index("adpilot")
        given = as_arguments(words[at + 1 :])
        try:
            build_parser().parse_args(given)
        except SystemExit as exc:
            if exc.code not in (0, None):
                return [f"adpilot {' '.join(given)}: the command's parser refuses it"]
        return []
    if name.startswith("python"):
        if args[:1] == ["-m"]:
            module = args[1] if len(args) > 1 else ""
            if (
                not (ROOT / module.replace(".", "/")).exists()
                and not (ROOT / (module.replace(".", "/") + ".py")).exists()
            ):
                return [f"python -m {module}: no such module in the repository"]
            return []
        scripts = [a for a in args if a.endswith(".py")]
        if not scripts:
            return []
        script = ROOT / scripts[0]
        if not script.is_file():
            return [f"{scripts[0]}: no such file"]
        source = script.read_text(encoding="utf-8")
        options = [a.split("=", 1)[0] for a in args if a.startswith("--")]
        return [
            f"{scripts[0]} {opt}: the script declares no such option"
            for opt in options
            if f'"{opt}"' not in source
        ]
    if name == "pytest":
        problems = []
        for i, arg in enumerate(args):
            if args[i - 1 : i] == ["-m"] and i:
                unknown = set(re.findall(r"\w+", arg)) - pytest_markers() - {"and", "or", "not"}
                problems += [f"pytest -m {arg}: no marker {m}" for m in sorted(unknown)]
            elif not arg.startswith("-") and "/" in arg:
                if not (ROOT / arg.split("::", 1)[0]).exists():
                    problems.append(f"pytest {arg}: no such path")
        return problems
    return []


def shell_blocks(doc: Path) -> list[Block]:
    return [b for b in blocks(text_of(doc)) if b.lang in SHELLS]


def inline_commands(doc: Path) -> list[str]:
    return [
        s
        for s in spans(text_of(doc))
        if re.match(r"^(make|adpilot|pytest|\S*python\d?|\.venv/bin/\w+) ", s)
    ]


@pytest.mark.parametrize("doc", DOCUMENTS, ids=DOC_IDS)
def test_every_shell_block_is_valid_bash(doc: Path) -> None:
    found = shell_blocks(doc)
    if doc == README:
        assert found, "README.md has no shell blocks"
    bad = []
    for block in found:
        done = subprocess.run(
            ["bash", "-n"], input=block.body, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            bad.append(f"line {block.line}: {done.stderr.strip()}")
    assert not bad, f"{doc.name}: shell blocks bash cannot parse:\n" + "\n".join(bad)


@pytest.mark.parametrize("doc", DOCUMENTS, ids=DOC_IDS)
def test_every_command_shown_names_what_exists(doc: Path) -> None:
    problems = []
    for block in shell_blocks(doc):
        for words in commands(block.body):
            problems += [f"line {block.line}: {p}" for p in command_problems(words)]
    for code in inline_commands(doc):
        for words in commands(code):
            problems += [f"`{code}`: {p}" for p in command_problems(words)]
    assert not problems, f"{doc.name}:\n" + "\n".join(problems)


# --- (c) paths in the tree ------------------------------------------------------------

TOP_LEVEL = {p.name for p in ROOT.iterdir()}
REPO_PATH = re.compile(r"^[\w.*-]+(?:/[\w.*-]+)*/?$")


def ignored_by_git(path: str) -> bool:
    """A build output (web/dist, tests/browser/artifacts/...) exists only once built."""
    # A pattern for a folder (``dist/``) matches a path not yet made only written as one.
    for candidate in {path, path.rstrip("/") + "/"}:
        try:
            done = subprocess.run(
                ["git", "-C", str(ROOT), "check-ignore", "-q", candidate],
                capture_output=True,
                check=False,
            )
        except FileNotFoundError:
            return False
        if done.returncode == 0:
            return True
    return False


def exists(path: str, base: Path = ROOT) -> bool:
    if "*" in path:
        return any(base.glob(path.rstrip("/")))
    return (base / path).exists()


def repo_paths(text: str) -> list[str]:
    """Inline code that reads as a path from the repository's root."""
    found = []
    for code in spans(text):
        code = code.rstrip(".,:;")
        if "/" in code and REPO_PATH.match(code) and code.split("/", 1)[0] in TOP_LEVEL:
            found.append(code)
    return sorted(set(found))


def heading_anchors(text: str) -> set[str]:
    anchors = set()
    for m in re.finditer(r"^#{1,6} (.+)$", prose(text), re.MULTILINE):
        title = m.group(1).strip().lower()
        anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("doc", DOCUMENTS, ids=DOC_IDS)
def test_every_repository_path_in_inline_code_exists(doc: Path) -> None:
    missing = [p for p in repo_paths(text_of(doc)) if not exists(p) and not ignored_by_git(p)]
    assert not missing, f"{doc.name} names paths that are not in the repository: {missing}"


@pytest.mark.parametrize("doc", DOCUMENTS, ids=DOC_IDS)
def test_every_link_leads_somewhere(doc: Path) -> None:
    text = text_of(doc)
    anchors = heading_anchors(text)
    wrong = []
    for target in LINK.findall(prose(text)):
        if re.match(r"^[a-z]+:", target):
            continue  # a URL
        path, _, anchor = target.partition("#")
        if path:
            if not (doc.parent / path).exists():
                wrong.append(target)
        elif anchor not in anchors:
            wrong.append(target)
    assert not wrong, f"{doc.name} links to what is not there: {wrong}"


def layout_entries() -> list[tuple[str, str, list[str]]]:
    """The README's layout tree as (entry, folder, names): each line's top-level entry
    (``services/optimizer/``), the folder it is about (``services/optimizer/core/``) and
    the files and folders it names, which are looked for in that folder, in its entry or
    at the repository's root."""
    block = blocks(section(text_of(README), "## Project layout"))[0].body
    entries = []
    top = folder = ""
    for line in block.splitlines():
        if m := re.match(r"^(\S+/)\s", line):
            top = folder = m.group(1)
            entries.append(("", "", [top]))
            line = line[m.end() :]
        elif m := re.match(r"^  (\S+/)\s", line):
            folder = top + m.group(1)
            entries.append(("", "", [folder]))
            line = line[m.end() :]
        names = re.findall(r"[\w.*-]+(?:/[\w.*-]+)*(?:\.py\b|/(?=[\s,;:)]|$))", line)
        entries.append((top, folder, names))
    return entries


def test_the_layout_names_real_folders_and_files() -> None:
    entries = layout_entries()
    assert entries, "the README's layout tree was not found"
    missing = [
        f"{name} (under {folder or 'the root'})"
        for top, folder, names in entries
        for name in names
        if not any(exists(name, ROOT / base) for base in {folder, top, ""})
    ]
    assert not missing, f"the README's layout names what is not there: {missing}"


def test_the_count_of_tables_is_the_migrations_count() -> None:
    created: dict[str, set[str]] = {}
    for sql in sorted(ROOT.glob("services/*/migrations/*.sql")):
        service = sql.parent.parent.name
        text = re.sub(r"--[^\n]*", "", sql.read_text(encoding="utf-8"))
        tables = created.setdefault(service, set())
        tables |= set(re.findall(r"(?i)\bcreate\s+table\s+(?:if\s+not\s+exists\s+)?(\w+)", text))
        tables -= set(re.findall(r"(?i)\bdrop\s+table\s+(?:if\s+exists\s+)?(\w+)", text))
    claim = re.search(r"(\d+)\s+tables\s+of\s+their\s+own\s+\(([^)]*)\)", text_of(README))
    assert claim, "the README no longer says how many tables the services own"
    assert int(claim.group(1)) == sum(len(t) for t in created.values()), created
    said = {name: int(n) for name, n in re.findall(r"(\w+)\s+(\d+)", claim.group(2))}
    assert {s: said.get(s) for s in created} == {s: len(t) for s, t in created.items()}


def test_the_architecture_lists_each_queue_with_its_bindings() -> None:
    """docs/architecture.md's table of queues is the contracts' topology."""
    text = text_of(ROOT / "docs" / "architecture.md")
    listed = {
        m.group(1): set(re.findall(r"`([^`]+)`", m.group(2)))
        for m in re.finditer(r"^\| `adpilot\.events\.(\w+)` \|([^\n]*)\|$", text, re.MULTILINE)
    }
    assert listed == {service: set(keys) for service, keys in topology().items()}
