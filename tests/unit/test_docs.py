"""The repository stands alone: README and docs/ link each other, never outside, and say
what the code does (configuration keys, the bot's texts, the screenshots they show)."""

from __future__ import annotations

import csv
import re
import tomllib
from pathlib import Path

from bot.config import Settings
from bot.messages import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GUIDES = ("guide-parent.md", "guide-supervisor.md", "guide-staff.md")
MARKDOWN = [ROOT / "README.md", ROOT / "data" / "directory" / "README.md",
            *sorted(DOCS.glob("*.md"))]
SKIPPED_DIRS = {".git", ".venv", "var", "__pycache__", "node_modules", ".mypy_cache",
                ".ruff_cache", ".pytest_cache"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".cfg", ".ini", ".txt", ".sh", ".mako"}
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CJK = re.compile(r"[\u4e00-\u9fff]")


def _repository_text_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if parts & SKIPPED_DIRS or any(p.endswith(".egg-info") for p in parts):
            continue
        if path.is_file() and (path.suffix in TEXT_SUFFIXES or ".ci" in parts):
            files.append(path)
    return files


def _section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def test_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.startswith(
        "```sh\n"
        "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/dudao run\n"
        "bash .ci/test\n"
        "```\n")


def test_readme_links_every_guide_the_operator_and_the_architecture() -> None:
    section = _section((ROOT / "README.md").read_text(encoding="utf-8"), "Documentation")
    targets = set(LINK.findall(section))
    for name in (*GUIDES, "operator.md", "architecture.md", "benchmarks.md"):
        assert f"docs/{name}" in targets, f"README's Documentation section lacks docs/{name}"
        assert (DOCS / name).is_file()


def test_every_markdown_link_resolves_inside_the_repository() -> None:
    for document in MARKDOWN:
        for target in LINK.findall(document.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue  # a web address (t.me links are examples) or an anchor
            path = (document.parent / target.split("#")[0]).resolve()
            assert path.is_relative_to(ROOT), f"{document.name} points outside: {target}"
            assert path.exists(), f"{document.name} links a missing file: {target}"


def test_nothing_points_outside_the_repository() -> None:
    outside = re.compile(r"SPEC\.md|\.\./shared|/work/(?:shared|notes|main)")
    offenders = [f"{path.relative_to(ROOT)}: {match.group(0)}"
                 for path in _repository_text_files()
                 for match in [outside.search(path.read_text(encoding="utf-8",
                                                             errors="replace"))] if match]
    assert offenders == []


def test_every_screenshot_is_shown_and_every_shown_one_exists() -> None:
    shown = set()
    for guide in GUIDES:
        for target in LINK.findall((DOCS / guide).read_text(encoding="utf-8")):
            if target.startswith("screenshots/"):
                assert (DOCS / target).is_file(), target
                shown.add(target.removeprefix("screenshots/"))
    folder = DOCS / "screenshots"  # the chat's pictures, and the console's under console/
    drawn = {p.relative_to(folder).as_posix() for p in folder.rglob("*.png")}
    assert drawn and drawn == shown


def _settings_keys() -> set[tuple[str, str]]:
    keys = set()
    for name, field in Settings.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and hasattr(model, "model_fields"):
            keys |= {(name, key) for key in model.model_fields}
        else:
            keys.add(("", name))
    return keys


def test_every_configuration_key_is_in_the_example_and_the_operator_guide() -> None:
    example = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    guide = (DOCS / "operator.md").read_text(encoding="utf-8").splitlines()
    for section, key in sorted(_settings_keys()):
        in_example = (key in example if not section else
                      key in example.get(section, {}) or f"# {key} =" in text)
        assert in_example, f"config.example.toml lacks [{section}] {key}"
        rows = [line for line in guide if line.startswith("|")
                and (f"`{key}`" in line or f"] {key}`" in line)]
        if section:
            rows = [line for line in rows if f"`[{section}] " in line]
        assert rows, f"docs/operator.md does not explain [{section}] {key}"


def _known_values() -> list[str]:
    """Values the guides quote inside the bot's texts: names, categories, statuses ..."""
    values = [v for v in CATALOGUE.values() if "{" not in v and len(v) <= 12]
    for table in (ROOT / "data" / "directory").glob("*.csv"):
        with table.open(encoding="utf-8") as handle:
            values += [row["name"] for row in csv.DictReader(handle)]
    return sorted(set(values), key=len, reverse=True)


def test_the_guides_quote_the_bot_exactly() -> None:
    """Every Chinese quotation in the guides is made of pieces of the catalogue's texts (or of
    the screenshots' scripted input), once what stands for a placeholder (a reference, a
    number, a name, a category) is set aside."""
    haystack = "\n".join(CATALOGUE.values())
    examples = (DOCS / "screenshots" / "make_screenshots.py").read_text(encoding="utf-8")
    values = _known_values()
    wrong = []
    for name in (*GUIDES, "operator.md"):
        for quote in re.findall(r"“([^”]*)”", (DOCS / name).read_text(encoding="utf-8")):
            if not CJK.search(quote):
                continue
            general = re.sub(r"SJ-\d{4}-\d{6}|SJ-|\d+(?:\.\d+)?", "…", quote)
            for value in values:
                general = general.replace(value, "…")
            for piece in re.split(r"…+|\\n", general):
                piece = piece.strip()
                if len(piece) >= 3 and piece not in haystack and piece not in examples:
                    wrong.append(f"{name}: “{quote}” ({piece!r})")
    assert wrong == []
