"""`dudao calendar import`: the office loads an official schedule for a year the package lacks;
a bot started on the same configuration uses it and no longer warns."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot import timerules
from bot.bootstrap import build
from bot.cli import main
from bot.config import load_settings
from bot.health import check_health
from bot.timerules import is_workday

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "data" / "calendar" / "2027.example.toml"


@pytest.fixture(autouse=True)
def package_calendar_only() -> object:
    timerules.use_schedules([])
    yield None
    timerules.use_schedules([])


def config(tmp_path: Path) -> Path:
    path = tmp_path / "dudao.toml"
    path.write_text('[database]\nurl = "sqlite:///dudao.db"\n[calendar]\ndir = "cal"\n'
                    '[scheduler]\ninterval_seconds = 0\n', encoding="utf-8")
    return path


def test_import_checks_and_stores_the_year(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    conf = config(tmp_path)
    assert main(["calendar", "import", "--config", str(conf), str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "已导入 2027 年的工作日历" in out and str(tmp_path / "cal" / "2027.toml") in out
    assert (tmp_path / "cal" / "2027.toml").read_text(encoding="utf-8") == EXAMPLE.read_text(
        encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text("year = 2027\n[[holidays]]\nstart = 2027-10-07\nend = 2027-10-01\n",
                   encoding="utf-8")
    assert main(["calendar", "import", "--config", str(conf), str(bad)]) == 1
    assert "早于开始日期" in capsys.readouterr().err
    assert main(["calendar", "import", "--config", str(conf), str(tmp_path / "none")]) == 1
    assert "找不到日历文件" in capsys.readouterr().err


async def test_a_started_bot_uses_the_imported_year(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    conf = config(tmp_path)
    settings = load_settings(conf)
    clock = type("Clock", (), {"now": lambda self: datetime(2026, 12, 1, 2, 0, tzinfo=UTC)})()
    from bot.bootstrap import migrate

    migrate(settings)
    container = build(settings, clock=clock)
    try:
        await container.start()
        assert "2027" in caplog.text and "dudao calendar import" in caplog.text
        health = await check_health(container.uow, container.clock,
                                    lambda: container.calendar.status().uncovered_years)
        assert health.calendar_uncovered == (2027,)
        assert is_workday(date(2027, 10, 4)) is True  # guessed: a Monday
        assert main(["calendar", "import", "--config", str(conf), str(EXAMPLE)]) == 0
        assert await container.calendar.run() == 0  # the file is read; nobody to warn
        assert is_workday(date(2027, 10, 4)) is False  # 国庆 per the imported file
        health = await check_health(container.uow, container.clock,
                                    lambda: container.calendar.status().uncovered_years)
        assert health.calendar_uncovered == ()
    finally:
        await container.stop()
