"""`dudao export` on a fresh SQLite database, and the import circle it used to close."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main


def config(tmp_path: Path) -> str:
    path = tmp_path / "dudao.toml"
    path.write_text('[database]\nurl = "sqlite:///dudao.db"\n', encoding="utf-8")
    return str(path)


def test_export_writes_a_csv_with_progress_on_stderr(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cases.csv"
    code = main(["export", "--config", config(tmp_path), "--from", "2026-11-01",
                 "--to", "2026-11-30", "--format", "csv", "--out", str(out)])
    assert code == 0
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and data.decode("utf-8-sig").startswith("案件编号,")
    err = capsys.readouterr().err
    assert "正在导出案件：0/0" in err and f"已导出到 {out}" in err


def test_export_refuses_a_reversed_range(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--config", config(tmp_path), "--from", "2026-11-30",
                 "--to", "2026-11-01"]) == 2
    assert "结束日期不能早于开始日期" in capsys.readouterr().err
    assert not (tmp_path / "dudao.db").exists()  # refused before anything was created


def test_reports_and_exports_import_no_storage_and_no_composition_root() -> None:
    probe = ("import sys, bot.export, bot.reports, bot.clocks; "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'storage'})"
             " + [m for m in sys.modules if m == 'bot.bootstrap'])")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.strip() == "[]"
