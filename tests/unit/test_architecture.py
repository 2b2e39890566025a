"""The layering rules of docs/architecture.md, checked on the source (imports read with ast).

Every import counts, also those inside functions: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers", "classifier", "scheduler", "storage", "localapi")
# The composition root builds the adapters; the command line starts transports. Nothing else
# in bot/ may import an adapter.
COMPOSITION_ROOT = {"bot.bootstrap"}
COMMAND_LINE = {"bot.cli", "bot.cli_classifier", "bot.cli_export", "bot.runner"}
PROTOCOL_MODULE = "handlers.telegram.protocol"


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module name `name` imports (absolute and relative, top level and lazy)."""
    names: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _internal(imported: set[str]) -> set[str]:
    """The project's modules among `imported`, with the packages Python runs to import them
    (importing `a.b.c` executes `a/__init__.py` and `a/b/__init__.py` first)."""
    found = set()
    for name in imported:
        parts = name.split(".")
        found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {name for name in found if name in MODULES}


def _top(imported: set[str]) -> set[str]:
    return {name.split(".")[0] for name in imported}


def test_no_import_cycle_between_modules() -> None:
    graph = {name: _internal(found) - {name} for name, found in IMPORTS.items()}
    # A package's __init__ importing its own modules is a face, not a dependency back.
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target):], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def test_classifier_knows_nothing_of_the_bot() -> None:
    offenders = {name: sorted(_top(found) & {"bot", "handlers", "storage", "scheduler"})
                 for name, found in IMPORTS.items() if name.startswith("classifier")}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_domain_and_services_import_no_transport_and_no_database() -> None:
    offenders = {}
    for name, found in IMPORTS.items():
        if not name.startswith("bot"):
            continue
        banned = {"telegram", "aiohttp"}
        if name not in COMPOSITION_ROOT:
            banned |= {"sqlalchemy", "storage", "scheduler"}
        if name not in COMPOSITION_ROOT | COMMAND_LINE:
            banned |= {"handlers", "localapi"}
        hits = sorted(_top(found) & banned)
        if hits:
            offenders[name] = hits
    assert offenders == {}


def test_storage_and_the_classifier_import_no_transport() -> None:
    offenders = {name: sorted(_top(found) & {"telegram", "handlers", "aiohttp"})
                 for name, found in IMPORTS.items()
                 if name.startswith(("storage", "classifier", "scheduler"))}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_simulator_is_not_a_dudao_transport() -> None:
    assert not (ROOT / "handlers" / "localapi").exists()
    offenders = {name: sorted(_top(found) & {"bot", "handlers", "storage", "classifier"})
                 for name, found in IMPORTS.items() if name.startswith("localapi")}
    assert {name: found for name, found in offenders.items() if found} == {}


# Callback data looks like "c:rate:SJ-2026-000001:satisfied": a short prefix, a colon, a verb.
_CALLBACK_LITERAL = re.compile(r"^[a-z]{1,4}:[a-z]{1,10}(:|$)")


def test_callback_data_is_written_and_read_only_by_the_protocol_module() -> None:
    offenders = []
    for name, path in MODULES.items():
        if name == PROTOCOL_MODULE or not name.startswith(("bot", "handlers", "scheduler")):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            literal = None
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literal = node.value
            elif (isinstance(node, ast.JoinedStr) and node.values
                  and isinstance(node.values[0], ast.Constant)):
                literal = str(node.values[0].value)
            if literal is not None and _CALLBACK_LITERAL.match(literal):
                offenders.append(f"{name}:{node.lineno}: {literal!r}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("split", "rsplit") and node.args
                    and isinstance(node.args[0], ast.Constant) and node.args[0].value == ":"):
                offenders.append(f"{name}:{node.lineno}: split(':')")
    assert offenders == []


def _test_suite_imports_from_tests() -> dict[str, set[str]]:
    """For each file under tests/, the modules of the `tests` package it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        package = ".".join(parts[:-1])
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                names.update(f"{base}.{alias.name}" for alias in node.names)
        found[str(path.relative_to(ROOT))] = {
            name for name in names if name == "tests" or name.startswith("tests.")}
    return found


def test_no_test_module_imports_another_and_helpers_come_from_tests_support() -> None:
    helpers = ("tests.support.", "tests.fixtures.")  # shared helpers, and the fixture builder
    wrong = {path: sorted(name for name in imported if not name.startswith(helpers))
             for path, imported in _test_suite_imports_from_tests().items()}
    assert {path: names for path, names in wrong.items() if names} == {}
    support = {path: sorted(imported) for path, imported in _test_suite_imports_from_tests().items()
               if path.startswith("tests/support/")
               and any(not name.startswith("tests.support.") for name in imported)}
    assert support == {}  # support modules build on each other, never on tests
