"""Time rules: the Chinese working-day calendar, service clocks, pings and quiet hours."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

log = logging.getLogger(__name__)


@lru_cache(maxsize=4096)
def is_workday(day: date) -> bool:
    """True on a Chinese statutory working day (调休 Saturdays included, holidays excluded)."""
    import chinese_calendar

    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        # The calendar package covers only the years the State Council has announced;
        # beyond them weekends are the best honest guess until the package is updated.
        _warn_uncovered_year(day.year)
        return day.weekday() < 5


@lru_cache(maxsize=64)
def _warn_uncovered_year(year: int) -> None:
    log.warning("chinese-calendar has no holiday data for %s; using Mon-Fri", year)


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
