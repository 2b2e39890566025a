"""The office's own working-day calendar (bot/workcalendar.py, bot/timerules.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot import timerules
from bot.timerules import add_working_days, is_workday, uncovered_years
from bot.workcalendar import (
    CalendarFileError,
    CalendarFolder,
    CalendarService,
    import_schedule,
    parse_schedule,
    read_schedule,
)
from tests.support.office2 import STAFF, TZ, make_world

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "data" / "calendar" / "2027.example.toml"
SCHEDULE = """
year = 2027
[[holidays]]
name = "国庆节"
start = 2027-10-01
end = 2027-10-07
[[workdays]]
date = 2027-10-09
"""


@pytest.fixture(autouse=True)
def no_imported_calendar() -> Iterator[None]:
    """Each test starts and ends with the package's calendar only."""
    timerules.use_schedules([])
    yield
    timerules.use_schedules([])


def test_a_year_from_the_file_decides_its_working_days() -> None:
    schedule = parse_schedule(SCHEDULE)
    assert is_workday(date(2027, 10, 4)) is True  # the package does not know 2027: Mon-Fri
    assert is_workday(date(2027, 10, 9)) is False  # a Saturday
    timerules.use_schedules([schedule])
    assert is_workday(date(2027, 10, 4)) is False  # a holiday from the file
    assert is_workday(date(2027, 10, 9)) is True  # its 调休 Saturday
    assert is_workday(date(2027, 10, 8)) is True  # an ordinary Friday
    assert is_workday(date(2027, 10, 10)) is False  # an ordinary Sunday
    # Three working days from Thursday 30 September 2027: Fri 1 Oct..Thu 7 Oct are off, so
    # Fri 8, Sat 9 (调休), Mon 11.
    start = datetime(2027, 9, 30, 10, 0, tzinfo=UTC)
    assert add_working_days(start, 3).date() == date(2027, 10, 11)


def test_the_file_wins_over_the_package_and_the_cache_follows_an_import() -> None:
    assert is_workday(date(2026, 10, 5)) is False  # 国庆 2026 in the package
    own = parse_schedule(SCHEDULE.replace("2027", "2026").replace("2026-10-07", "2026-10-08")
                         .replace("2026-10-09", "2026-10-10"))
    assert is_workday(date(2026, 10, 8)) is True  # the package: 国庆 runs to the 7th
    timerules.use_schedules([own])  # e.g. a corrected notice for a year the package knows
    assert is_workday(date(2026, 10, 8)) is False  # the file: to the 8th
    assert is_workday(date(2026, 9, 20)) is False  # the package's 调休 Sunday is not in it
    timerules.use_schedules([])  # the cached answers go with the schedules
    assert is_workday(date(2026, 10, 8)) is True and is_workday(date(2026, 9, 20)) is True


def test_the_example_file_parses_and_says_it_is_not_official() -> None:
    schedule = read_schedule(EXAMPLE)
    assert schedule.year == 2027 and schedule.holidays and schedule.workdays
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "NOT the official" in text and "国务院办公厅" in text


@pytest.mark.parametrize(("text", "fragment"), [
    ("year = 2027", "没有任何放假安排"),
    ("holidays = 1", "年份"),
    ("year = 2027\n[[holidays]]\nstart = 2027-10-07\nend = 2027-10-01", "早于"),
    ("year = 2027\n[[holidays]]\nstart = 2028-01-01\nend = 2028-01-02", "不在 2027 年内"),
    ("year = 2027\n[[holidays]]\nstart = \"2027-10-01\"\nend = 2027-10-02", "日期"),
    (SCHEDULE + "[[workdays]]\ndate = 2027-10-12\n", "本来就是"),
    (SCHEDULE + "[[workdays]]\ndate = 2027-10-02\n", "同时"),
    ("extra = 1\n" + SCHEDULE, "无法识别"),
    ("year = = 2027", "TOML"),
])
def test_a_bad_file_is_refused_with_the_reason(text: str, fragment: str) -> None:
    with pytest.raises(CalendarFileError, match=fragment):
        parse_schedule(text)


def test_import_stores_the_year_and_a_running_process_picks_it_up(tmp_path: Path) -> None:
    source = tmp_path / "in.toml"
    source.write_text(SCHEDULE, encoding="utf-8")
    folder = CalendarFolder(tmp_path / "calendar")
    assert folder.refresh() is True and timerules.imported_years() == ()
    assert folder.refresh() is False  # nothing changed: nothing read
    schedule, stored = import_schedule(source, tmp_path / "calendar")
    assert stored == tmp_path / "calendar" / "2027.toml" and schedule.year == 2027
    assert folder.refresh() is True
    assert timerules.imported_years() == (2027,) and is_workday(date(2027, 10, 4)) is False
    bad = tmp_path / "bad.toml"
    bad.write_text("year = 2027", encoding="utf-8")
    with pytest.raises(CalendarFileError):
        import_schedule(bad, tmp_path / "calendar")
    kept, given = read_schedule(stored), read_schedule(source)  # the stored year is untouched
    assert (kept.holidays, kept.workdays) == (given.holidays, given.workdays)


def test_the_next_60_days_must_be_covered() -> None:
    assert uncovered_years(date(2026, 10, 1)) == []
    assert uncovered_years(date(2026, 11, 23)) == [2027]  # 60 days reach January 2027
    timerules.use_schedules([parse_schedule(SCHEDULE)])
    assert uncovered_years(date(2026, 11, 23)) == []


async def test_staff_are_warned_in_chat_at_most_once_a_day(tmp_path: Path) -> None:
    world = make_world()  # today: Monday 23 November 2026
    service = CalendarService(world.uow, world.clock, TZ, CalendarFolder(tmp_path))
    assert service.warn_at_start().uncovered_years == (2027,)
    assert await service.run() == 1
    assert await service.run() == 0
    [sent] = world.db.sent_to(STAFF)
    assert sent.kind == "calendar.warning" and sent.notice.params["years"] == "2027"
    world.clock.advance(days=1)
    assert await service.run() == 1  # the next day, again
    (tmp_path / "2027.toml").write_text(SCHEDULE, encoding="utf-8")
    world.clock.advance(days=1)
    assert await service.run() == 0  # imported: nothing to warn about
    assert service.status().ok
    assert len(world.db.sent_to(STAFF)) == 2


def test_a_quarter_across_national_day_2026_counts_the_tiaoxiu_saturday() -> None:
    # 国庆 2026: 1–7 October off, Saturday 10 October worked (the package's data).
    start = datetime(2026, 9, 30, 9, 0, tzinfo=UTC)
    assert add_working_days(start, 1).date() == date(2026, 10, 8)
    assert add_working_days(start, 3).date() == date(2026, 10, 10)
    assert [d for d in (date(2026, 10, 1) + timedelta(days=n) for n in range(10))
            if is_workday(d)] == [date(2026, 10, 8), date(2026, 10, 9), date(2026, 10, 10)]
