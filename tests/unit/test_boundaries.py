"""The layers' import rules, checked on the source: bot/ is the boundary, not an adapter."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Adapters and frameworks the domain and services must not know (bootstrap wires them).
FORBIDDEN_IN_BOT = ("storage", "sqlalchemy", "telegram", "aiohttp")
COMPOSITION_ROOT = "bot/bootstrap.py"
# Today's offenders, owned by other work in progress; the list only ever shrinks.
ALLOWED = {
    ("bot/cli.py", "sqlalchemy"),
    ("bot/directory.py", "sqlalchemy"),
    ("bot/directory.py", "storage"),
    ("bot/export.py", "sqlalchemy"),
    ("bot/export.py", "storage"),
    ("bot/runner.py", "sqlalchemy"),
    ("bot/runner.py", "storage"),
    ("classifier/cli.py", "bot"),
    ("classifier/training.py", "bot"),
}


def imported_packages(path: Path) -> set[str]:
    """Top-level packages a module imports anywhere (lazy imports in functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def offences() -> set[tuple[str, str]]:
    out = set()
    for path in sorted((ROOT / "bot").glob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name != COMPOSITION_ROOT:
            out |= {(name, p) for p in imported_packages(path) & set(FORBIDDEN_IN_BOT)}
    for path in sorted((ROOT / "classifier").rglob("*.py")):
        if "bot" in imported_packages(path):
            out.add((path.relative_to(ROOT).as_posix(), "bot"))
    return out


def test_bot_depends_on_ports_not_adapters() -> None:
    assert offences() - ALLOWED == set()


def test_allow_list_names_only_real_offenders() -> None:
    # An entry that no longer offends must be removed, so the list keeps shrinking.
    assert ALLOWED - offences() == set()


def test_the_import_walker_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from sqlalchemy.orm import aliased\n")
    assert imported_packages(module) == {"os", "sqlalchemy"}
