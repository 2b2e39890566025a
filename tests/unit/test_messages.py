"""The catalogue: every literal key used in code exists, and every text is Chinese."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.domain import CATEGORIES, Disposition, Rating, Status
from bot.messages import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]
KEY_USE = re.compile(r"""\bt\(\s*["']([a-z_][a-z0-9_.]*)["']""")
DOMAIN_KEY = re.compile(
    r"""(?:DomainError|InvalidTransition|PermissionDenied|InvalidInput)\(\s*["']([a-z_.]+)["']""")


def test_every_literal_key_in_code_is_in_the_catalogue() -> None:
    missing = []
    for folder in ("bot", "handlers", "classifier", "scheduler", "storage"):
        for path in (ROOT / folder).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            for key in KEY_USE.findall(source) + DOMAIN_KEY.findall(source):
                if key not in CATALOGUE:
                    missing.append(f"{path.relative_to(ROOT)}: {key}")
    assert missing == []


def test_every_enum_value_has_a_chinese_name() -> None:
    keys = [f"category.{c}" for c in CATEGORIES] + [f"status.{s.value}" for s in Status]
    keys += [f"disposition.{d.value}" for d in Disposition] + [f"rating.{r.value}" for r in Rating]
    assert [k for k in keys if k not in CATALOGUE] == []


def test_texts_are_chinese() -> None:
    cjk = re.compile(r"[\u4e00-\u9fff]")
    english = re.compile(r"[A-Za-z]{3,}")

    def untranslated(text: str) -> bool:
        bare = re.sub(r"\{[^}]*\}|<[^>]+>|/[a-z]+", "", text)
        return not cjk.search(bare) and bool(english.search(bare))

    assert [k for k, v in CATALOGUE.items() if untranslated(v)] == []


def test_every_menu_command_has_a_description() -> None:
    from handlers.telegram.app import COMMANDS
    from handlers.telegram.staff import STAFF_COMMANDS, SUPERVISOR_COMMANDS

    names = set(COMMANDS) | set(STAFF_COMMANDS) | set(SUPERVISOR_COMMANDS)
    assert [n for n in sorted(names) if f"command.{n}" not in CATALOGUE] == []


def test_a_file_that_cannot_be_written_is_explained_in_chinese(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli_export import write_output

    assert write_output(str(tmp_path / "no-such-folder" / "x.csv"), b"a") == 1
    said = capsys.readouterr().err
    assert "文件夹不存在" in said and "No such file" not in said
    assert write_output(str(tmp_path), b"a") == 1  # a folder where a file name belongs
    assert "请写上文件名" in capsys.readouterr().err
