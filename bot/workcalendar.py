"""The office's own working-day calendar: official schedules beyond the calendar package.

chinese-calendar knows only the years the State Council had announced when it was released;
for later years dudao would silently count Monday to Friday. An operator loads the official
schedule from a small TOML file (`dudao calendar import FILE`; the format is documented in
docs/operator.md and data/calendar/2027.example.toml): it is checked, then stored as
`<[calendar] dir>/<year>.toml`, and every process using that folder picks it up (at start and
on the scheduler's next run). For the years it covers it wins over the package.

Staff are warned in chat (at most once a day), the log at start and `/health` say so, when
the next 60 days reach a year no calendar covers.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.messages import t
from bot.ports import Clock, Notice, UnitOfWorkFactory
from bot.timerules import YearSchedule, uncovered_years, use_schedules

log = logging.getLogger(__name__)
LOOKAHEAD_DAYS = 60  # how far ahead the calendar must be known
MAX_FILE_BYTES = 64 * 1024


class CalendarFileError(ValueError):
    """A calendar file that cannot be used; the message says what to fix, in Chinese."""


def parse_schedule(text: str, source: str = "") -> YearSchedule:
    """Read one year's schedule from TOML text, or say (in Chinese) what is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CalendarFileError(t("calendar.error.toml", detail=str(exc))) from exc
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2100:
        raise CalendarFileError(t("calendar.error.year"))
    unknown = sorted(set(data) - {"year", "holidays", "workdays"})
    if unknown:
        raise CalendarFileError(t("calendar.error.unknown_key", keys="、".join(unknown)))
    holidays: set[date] = set()
    for index, item in enumerate(_tables(data, "holidays"), start=1):
        start, end = _date(item, "start", "holidays", index), _date(item, "end", "holidays",
                                                                      index)
        if end < start:
            raise CalendarFileError(t("calendar.error.range", index=index, start=start,
                                      end=end))
        day = start
        while day <= end:
            holidays.add(_in_year(day, year))
            day += timedelta(days=1)
    workdays: set[date] = set()
    for index, item in enumerate(_tables(data, "workdays"), start=1):
        day = _in_year(_date(item, "date", "workdays", index), year)
        if day.weekday() < 5:
            raise CalendarFileError(t("calendar.error.weekday_workday", date=day))
        if day in holidays:
            raise CalendarFileError(t("calendar.error.both", date=day))
        workdays.add(day)
    if not holidays:
        raise CalendarFileError(t("calendar.error.no_holidays", year=year))
    return YearSchedule(year, frozenset(holidays), frozenset(workdays), source)


def _tables(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    found = data.get(key, [])
    if not isinstance(found, list) or not all(isinstance(i, dict) for i in found):
        raise CalendarFileError(t("calendar.error.tables", key=key))
    return found


def _date(item: dict[str, Any], key: str, table: str, index: int) -> date:
    value = item.get(key)
    if not isinstance(value, date) or isinstance(value, datetime):
        raise CalendarFileError(t("calendar.error.date", table=table, index=index, key=key))
    return value


def _in_year(day: date, year: int) -> date:
    if day.year != year:
        raise CalendarFileError(t("calendar.error.other_year", date=day, year=year))
    return day


def read_schedule(path: Path) -> YearSchedule:
    """Read and check a calendar file."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise CalendarFileError(t("calendar.error.too_big", path=path))
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise CalendarFileError(t("calendar.error.not_found", path=path)) from exc
    except UnicodeDecodeError as exc:
        raise CalendarFileError(t("calendar.error.not_utf8", path=path)) from exc
    return parse_schedule(text, str(path))


def import_schedule(source: Path, folder: Path) -> tuple[YearSchedule, Path]:
    """Check `source` and store it as `<folder>/<year>.toml` (replacing that year's file
    atomically); the checked schedule and where it was stored."""
    schedule = read_schedule(source)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{schedule.year}.toml"
    temporary = folder / f".{schedule.year}.toml.tmp"
    temporary.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    os.replace(temporary, target)
    return schedule, target


class CalendarFolder:
    """The stored schedules: loaded into bot/timerules.py at start and again whenever the
    folder's files change (another process imported a year)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._signature: tuple[tuple[str, int, int], ...] | None = None

    def _current_signature(self) -> tuple[tuple[str, int, int], ...]:
        if not self.folder.is_dir():
            return ()
        found = []
        for path in sorted(self.folder.glob("*.toml")):
            stat = path.stat()
            found.append((path.name, stat.st_mtime_ns, stat.st_size))
        return tuple(found)

    def refresh(self) -> bool:
        """Load the schedules if the files changed since the last look; True if loaded."""
        signature = self._current_signature()
        if signature == self._signature:
            return False
        schedules = []
        for name, _, _ in signature:
            try:
                schedules.append(read_schedule(self.folder / name))
            except CalendarFileError as exc:  # stored by hand, not by the import
                log.error("calendar file %s skipped: %s", self.folder / name, exc)
        use_schedules(schedules)
        self._signature = signature
        if schedules:
            log.info("working-day calendar imported for %s",
                     ", ".join(str(s.year) for s in schedules))
        return True


@dataclass(frozen=True)
class CalendarStatus:
    """What `/health` and the warnings say about the calendar."""

    uncovered_years: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return not self.uncovered_years


class CalendarService:
    """Keeps the calendar loaded and warns staff when the next 60 days are not covered."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, tz: ZoneInfo,
                 folder: CalendarFolder) -> None:
        self.uow = uow
        self.clock = clock
        self.tz = tz
        self.folder = folder

    def today(self) -> date:
        return self.clock.now().astimezone(self.tz).date()

    def status(self) -> CalendarStatus:
        self.folder.refresh()
        return CalendarStatus(tuple(uncovered_years(self.today(), LOOKAHEAD_DAYS)))

    def warn_at_start(self) -> CalendarStatus:
        """Load the schedules and log a warning if the next 60 days are not covered."""
        status = self.status()
        if not status.ok:
            log.warning(t("calendar.log.uncovered", years=_years(status.uncovered_years),
                          days=LOOKAHEAD_DAYS))
        return status

    async def run(self) -> int:
        """The scheduler's pass: reload changed files; warn staff once a day if needed."""
        status = self.status()
        if status.ok:
            return 0
        today = self.today()
        notice = Notice("calendar.warning", {"years": _years(status.uncovered_years),
                                             "days": LOOKAHEAD_DAYS})
        async with self.uow.read() as uow:
            staff = [p for p in await uow.directory.people("staff") if p.telegram_user_id]
            keys = {p.code: f"calendar:{today}:{p.code}" for p in staff}
            queued = await uow.outbox.queued_keys(list(keys.values()))
        waiting = [p for p in staff if keys[p.code] not in queued]
        if not waiting:
            return 0
        sent = 0
        async with self.uow() as uow:
            for person in waiting:
                assert person.telegram_user_id is not None
                sent += await uow.outbox.enqueue(person.telegram_user_id, "calendar.warning",
                                                 notice, self.clock.now(),
                                                 dedup_key=keys[person.code])
            await uow.commit()
        return sent


def _years(years: tuple[int, ...]) -> str:
    return "、".join(str(y) for y in years)

