"""What stops a command from starting is said in one Chinese line, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[2]
CLOSED_PG = "postgresql://clerk:hunter2@127.0.0.1:1/dudao"  # port 1: nothing listens


def config(tmp_path: Path, extra: str = "") -> str:
    path = tmp_path / "dudao.toml"
    path.write_text('[database]\nurl = "sqlite:///dudao.db"\n' + extra, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("command", [
    ["run"], ["migrate"], ["directory", "import", str(ROOT / "data" / "directory")],
    ["invite", "--staff", "DDS01"], ["export", "--from", "2026-11-01", "--to", "2026-11-30"],
])
def test_an_unreachable_postgresql_is_one_chinese_message(
        command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DUDAO_DATABASE__URL", CLOSED_PG)
    code = main([*command, "--config", config(tmp_path)])
    assert code in (1, 2)
    err = capsys.readouterr().err
    assert "无法连接数据库 postgresql://clerk:***@127.0.0.1:1/dudao" in err
    assert "环境变量 DUDAO_DATABASE__URL" in err
    assert "Traceback" not in err and "hunter2" not in err
    assert len(err.strip().splitlines()) <= 4


def test_a_missing_configured_directory_folder_is_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope"
    code = main(["run", "--config", config(
        tmp_path, f'[directory]\nimport_on_start = ["{missing}"]\n')])
    assert code == 2
    err = capsys.readouterr().err
    assert f"[directory] import_on_start 中的路径不存在：{missing}" in err
    assert "Traceback" not in err and "不支持的文件类型" not in err


def test_a_bad_configured_directory_file_is_explained(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "people.txt").write_text("code,name\n", encoding="utf-8")
    code = main(["run", "--config", config(
        tmp_path, '[directory]\nimport_on_start = ["people.txt"]\n')])
    assert code == 1
    err = capsys.readouterr().err
    assert "启动时导入目录文件失败" in err and "people.txt" in err
    assert "Traceback" not in err


def test_run_with_an_empty_directory_warns_that_nothing_can_be_routed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code = main(["run", "--config", config(tmp_path, "[directory]\nimport_on_start = []\n")])
    assert code == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "举报无法分派" in line]
    assert len(warnings) == 1 and "dudao directory import" in warnings[0]


def test_run_with_the_sample_directory_does_not_warn(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    directory = ROOT / "data" / "directory"
    assert main(["run", "--config", config(
        tmp_path, f'[directory]\nimport_on_start = ["{directory}"]\n')]) == 0
    assert "举报无法分派" not in capsys.readouterr().err


def test_an_sqlite_file_that_cannot_be_created_is_one_chinese_message(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").write_text("a file, not a folder", encoding="utf-8")
    path = tmp_path / "dudao.toml"
    path.write_text('[database]\nurl = "sqlite:///taken/dudao.db"\n', encoding="utf-8")
    assert main(["migrate", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "无法打开 SQLite 数据库" in err and "配置文件 [database] url" in err
    assert "Traceback" not in err
