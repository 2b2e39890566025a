"""The command line as an office clerk meets it: invite, export, --version, --help, classify."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.cli import main

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "directory"


def config(tmp_path: Path) -> str:
    path = tmp_path / "dudao.toml"
    path.write_text('[database]\nurl = "sqlite:///dudao.db"\n', encoding="utf-8")
    return str(path)


@pytest.fixture
def imported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A configuration whose database holds the sample directory."""
    conf = config(tmp_path)
    assert main(["directory", "import", "--config", conf, str(SAMPLE)]) == 0
    capsys.readouterr()
    return conf


# --- dudao invite ----------------------------------------------------------------------------


@pytest.mark.parametrize("hours", ["0", "-5", "721", "100000"])
def test_invite_refuses_absurd_validity(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        hours: str) -> None:
    conf = config(tmp_path)
    assert main(["invite", "--config", conf, "--supervisor", "DX01", "--hours", hours]) == 2
    err = capsys.readouterr().err
    assert f"有效期 {hours} 小时不合理" in err and "1 到 720 小时" in err
    assert not (tmp_path / "dudao.db").exists()  # refused before anything was created


def test_invite_matches_codes_without_case_and_names_the_person_and_database(
        imported: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invite", "--config", imported, "--supervisor", "dx01", "--hours", "24"]) == 0
    out = capsys.readouterr().out
    assert "王建国（DX01，责任督学）" in out and "24 小时" in out
    assert f"已写入数据库：sqlite:///{tmp_path / 'dudao.db'}" in out
    assert main(["invite", "--config", imported, "--staff", "dds01"]) == 0
    assert "林晓琳（DDS01，督导室工作人员）" in capsys.readouterr().out



# --- dudao export ----------------------------------------------------------------------------


def test_export_takes_the_format_from_the_file_name(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    conf = config(tmp_path)
    period = ["--from", "2026-11-01", "--to", "2026-11-30"]
    assert main(["export", "--config", conf, *period, "--out", str(tmp_path / "x.csv")]) == 0
    assert (tmp_path / "x.csv").read_bytes().startswith(b"\xef\xbb\xbf\xe6\xa1\x88")  # 案
    assert main(["export", "--config", conf, *period, "--out", str(tmp_path / "x.XLSX")]) == 0
    assert (tmp_path / "x.XLSX").read_bytes().startswith(b"PK")  # a workbook (zip)
    assert main(["export", "--config", conf, *period, "--out", str(tmp_path / "cases")]) == 0
    assert (tmp_path / "cases").read_bytes().startswith(b"PK")  # no suffix: xlsx


def test_export_refuses_a_format_that_contradicts_the_file_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = config(tmp_path)
    out = tmp_path / "x.csv"
    assert main(["export", "--config", conf, "--from", "2026-11-01", "--to", "2026-11-30",
                 "--format", "xlsx", "--out", str(out)]) == 2
    assert "导出格式 xlsx 与文件名" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "dudao.db").exists()


def test_export_refuses_a_file_name_of_another_format(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = config(tmp_path)
    out = tmp_path / "x.pdf"
    assert main(["export", "--config", conf, "--from", "2026-11-01", "--to", "2026-11-30",
                 "--out", str(out)]) == 2
    assert "扩展名 .pdf 不是可导出的格式" in capsys.readouterr().err
    assert not out.exists()


# --- dudao --version and --help --------------------------------------------------------------


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"dudao {version('dudao')}"


@pytest.mark.parametrize("argv", [[], ["directory"], ["directory", "import"], ["run"], ["try"],
                                  ["migrate"], ["export"], ["invite"], ["train"], ["classify"]])
def test_help_is_chinese(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("用法：dudao") and "选项：" in text and "显示本帮助并退出" in text
    for english in ("usage", "options", "positional arguments", "show this help", "default"):
        assert english not in text
    # Every help line says something in Chinese (options and metavars aside).
    described = [line for line in text.splitlines() if line.startswith("  -")]
    assert described and all(re.search(r"[\u4e00-\u9fff]", line) for line in described)


@pytest.mark.parametrize(("argv", "said"), [
    (["invite", "--hours", "x"], "参数 --hours：不是有效的整数：'x'"),
    (["invite"], "必须给出其中一个参数：--supervisor --staff"),
    (["invite", "--staff", "A", "--supervisor", "B"], "不能与参数 --staff 同时使用"),
    (["expor"], "无效的选择 'expor'"),
    (["export", "--from", "2026-11-01"], "缺少必需的参数：--to"),
    (["migrate", "--bogus"], "无法识别的参数：--bogus"),
])
def test_argument_errors_are_chinese(argv: list[str], said: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("用法：dudao") and said in err and "错误：" in err
    assert "usage" not in err and "error" not in err
