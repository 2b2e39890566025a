"""Time rules: the Chinese working-day calendar, service clocks, pings and quiet hours."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class YearSchedule:
    """One year's official schedule: its public holidays and its 调休 working days (the
    weekend days worked in exchange). Every other day is a working day from Monday to
    Friday. Loaded from the office's calendar files (bot/workcalendar.py)."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str = ""

    def is_workday(self, day: date) -> bool:
        if day in self.holidays:
            return False
        return day in self.workdays or day.weekday() < 5


# The imported schedules by year, with a generation number: they win over the calendar
# package for the years they cover. `use_schedules` replaces the pair as a whole (never edits
# it), and the cache of answers is keyed by the generation, so an answer computed from an
# old calendar is never returned once a new one is in use, whichever thread asked.
_SCHEDULES: tuple[int, dict[int, YearSchedule]] = (0, {})


def use_schedules(schedules: Iterable[YearSchedule]) -> None:
    """Make these imported schedules the working-day calendar for their years."""
    global _SCHEDULES
    _SCHEDULES = (_SCHEDULES[0] + 1, {s.year: s for s in schedules})
    _is_workday.cache_clear()  # old generations' answers are never asked for again


def imported_years() -> tuple[int, ...]:
    return tuple(sorted(_SCHEDULES[1]))


def is_workday(day: date) -> bool:
    """True on a Chinese statutory working day (调休 Saturdays included, holidays excluded).

    An imported schedule (`dudao calendar import`) decides for the years it covers; the
    chinese-calendar package for the years the State Council has announced; otherwise
    Monday to Friday (and a warning: see `uncovered_years`). Answers are cached."""
    return _is_workday(day, _SCHEDULES[0])


@lru_cache(maxsize=8192)
def _is_workday(day: date, generation: int) -> bool:
    schedule = _SCHEDULES[1].get(day.year)
    if schedule is not None:
        return schedule.is_workday(day)
    import chinese_calendar

    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        # The calendar package covers only the years the State Council has announced;
        # beyond them weekends are the best honest guess until a schedule is imported.
        _warn_uncovered_year(day.year)
        return day.weekday() < 5


@lru_cache(maxsize=64)
def _warn_uncovered_year(year: int) -> None:
    log.warning("no holiday data for %s (neither imported nor in chinese-calendar); "
                "using Mon-Fri", year)


@lru_cache(maxsize=64)
def package_covers(year: int) -> bool:
    """Whether the installed chinese-calendar package knows this year's holidays."""
    import chinese_calendar

    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def uncovered_years(start: date, days: int = 60) -> list[int]:
    """The years among the `days` days from `start` that no calendar covers (neither an
    imported schedule nor the package): their working days are only guessed."""
    years = sorted({start.year, (start + timedelta(days=days)).year})
    return [y for y in years if y not in _SCHEDULES[1] and not package_covers(y)]


def add_working_days(start: datetime, days: int) -> datetime:
    """The moment `days` working days after `start`, at the same time of day.

    A start on a non-working day counts from the next working day's beginning.
    """
    current = start
    if not is_workday(current.date()):
        current = datetime.combine(current.date(), time(0), tzinfo=start.tzinfo)
        while not is_workday(current.date()):
            current += timedelta(days=1)
        # The clock starts at the beginning of the first working day and runs whole days.
        current = datetime.combine(current.date(), time(23, 59, 59), tzinfo=start.tzinfo)
        days -= 1
    while days > 0:
        current += timedelta(days=1)
        if is_workday(current.date()):
            days -= 1
    return current


@dataclass(frozen=True)
class QuietHours:
    """No pings between start and end (local time), e.g. 22:00–07:00."""

    start: time = time(22, 0)
    end: time = time(7, 0)

    def contains(self, moment: datetime) -> bool:
        t = moment.timetz().replace(tzinfo=None)
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def next_allowed(self, moment: datetime) -> datetime:
        """`moment` itself if outside quiet hours, else the end of the quiet period."""
        if not self.contains(moment):
            return moment
        end_today = datetime.combine(moment.date(), self.end, tzinfo=moment.tzinfo)
        return end_today if moment < end_today else end_today + timedelta(days=1)


def month_bounds(day: date) -> tuple[date, date]:
    """First day of `day`'s month and first day of the next month."""
    first = day.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt
