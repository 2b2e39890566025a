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


def test_report_writes_each_format_and_refuses_a_bad_period(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from docx import Document
    from openpyxl import load_workbook

    cfg = config(tmp_path)
    out = tmp_path / "q4.xlsx"
    assert main(["report", "--config", cfg, "--period", "2026-Q4", "--out", str(out)]) == 0
    assert load_workbook(io.BytesIO(out.read_bytes())).worksheets[0].title == "汇总"
    err = capsys.readouterr().err
    assert "2026年第4季度" in err and f"已导出到 {out}" in err
    docx = tmp_path / "half.docx"
    assert main(["report", "--config", cfg, "--period", "2026-12-H1", "--out",
                 str(docx)]) == 0
    body = "\n".join(p.text for p in Document(io.BytesIO(docx.read_bytes())).paragraphs)
    assert "2026年12月1日至14日" in body
    png = tmp_path / "chart.bin"
    assert main(["report", "--config", cfg, "--period", "2026-12-H2", "--format", "png",
                 "--out", str(png)]) == 2  # .bin is not a report format
    assert main(["report", "--config", cfg, "--period", "2026-12-H2", "--format", "png",
                 "--out", str(tmp_path / "chart.png")]) == 0
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["report", "--config", cfg, "--period", "2026-Q5"])
    assert "报告期“2026-Q5”无法识别" in capsys.readouterr().err
