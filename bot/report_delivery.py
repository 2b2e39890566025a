"""Reports that arrive by themselves: on the due days SPEC names, every bound staff member is
sent the 半月报 or 季度通报 (its figures as a message, the chart, the workbook, the DOCX 通报)
without asking.

Due days: the 半月报 of the 1st–14th on the 15th, that of the 15th–month end on the month's
last day, the 季度通报 on the 25th of the quarter's third month (figures as of that day). A
run that finds a due day in the last `LATE_DAYS` days (the process was down) still sends it.

Once, not twice: the scheduler queues one outbox row per staff member and report, keyed
`report:<kind>:<period start>:<person>`, so a restart or a second instance queues nothing
more. The row names the period; the files are built when the row is delivered (the outbox's
transport calls `files`), so nothing big is stored and the figures are those of the sending
day. Delivery is the outbox's: at least once, quiet hours respected like every reminder.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.ports import Clock, Notice, UnitOfWorkFactory
from bot.reporting import ReportFiles, ReportingService
from bot.reports import Period, half_month, quarter
from bot.timerules import month_bounds

log = logging.getLogger(__name__)
NOTICE_KEY = "report.delivery"
LATE_DAYS = 3  # after downtime, a report due this many days ago is still sent
CACHE_SECONDS = 300.0  # one build serves every staff member's row of the same delivery


def due_on(day: date) -> list[Period]:
    """The reports due on `day` (SPEC: 半月报 before the 15th and the month's end, 季度通报
    before the 25th of the quarter's third month)."""
    due = []
    if day.month % 3 == 0 and day.day == 25:
        due.append(quarter(day))
    last = (month_bounds(day)[1] - timedelta(days=1)).day
    if day.day == 15:
        due.append(half_month(day.replace(day=1)))
    elif day.day == last:
        due.append(half_month(day))
    return due


def due_periods(today: date) -> list[Period]:
    """Reports due today or in the LATE_DAYS days before (each once), oldest first."""
    found: list[Period] = []
    for back in range(LATE_DAYS, -1, -1):
        for period in due_on(today - timedelta(days=back)):
            if period not in found:
                found.append(period)
    return found


def delivery_notice(period: Period) -> Notice:
    return Notice(NOTICE_KEY, {"kind": period.kind, "start": period.start.isoformat(),
                               "end": period.end.isoformat()})


def period_of_notice(params: dict[str, Any]) -> Period | None:
    """The period a delivery row names, or None when the row is not one we can read."""
    try:
        kind, start = str(params["kind"]), date.fromisoformat(str(params["start"]))
    except (KeyError, ValueError):
        return None
    if kind == "quarter":
        return quarter(start)
    if kind == "half":
        return half_month(start)
    return None


@dataclass(frozen=True)
class DeliveryRun:
    queued: int = 0  # rows queued now (already queued ones are not counted)


class ReportDelivery:
    """Queues the due reports (the scheduler's job) and builds their files at delivery."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, reporting: ReportingService,
                 tz: ZoneInfo) -> None:
        self.uow = uow
        self.clock = clock
        self.reporting = reporting
        self.tz = tz
        self._cache: dict[Period, tuple[float, ReportFiles]] = {}
        self._lock = asyncio.Lock()

    async def run(self) -> DeliveryRun:
        """Queue each due report for every bound staff member not yet sent it."""
        now = self.clock.now()
        periods = due_periods(now.astimezone(self.tz).date())
        if not periods:
            return DeliveryRun()
        for period in periods:  # the office's group robots get the figures, once a day
            await self.reporting.post_to_groups(period)
        async with self.uow.read() as uow:
            staff = [p for p in await uow.directory.people("staff") if p.telegram_user_id]
            wanted = [(person, period, f"report:{period.kind}:{period.start}:{person.code}")
                      for period in periods for person in staff]
            queued = await uow.outbox.queued_keys([key for _, _, key in wanted])
        fresh = [(person, period, key) for person, period, key in wanted if key not in queued]
        if not fresh:
            return DeliveryRun()
        count = 0
        async with self.uow() as uow:
            for person, period, key in fresh:
                assert person.telegram_user_id is not None
                count += await uow.outbox.enqueue(person.telegram_user_id,
                                                  f"report.{period.kind}",
                                                  delivery_notice(period), now, dedup_key=key)
            await uow.commit()
        if count:
            log.info("reports queued for staff: %d row(s) for %s", count,
                     ", ".join(p.label for p in periods))
        return DeliveryRun(count)

    async def files(self, period: Period) -> ReportFiles:
        """The period's report files (staff read them: tip text not masked), built once per
        delivery for every recipient."""
        async with self._lock:
            cached = self._cache.get(period)
            if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
                return cached[1]
            files = await self.reporting.build(period, mask=False)
            self._cache = {period: (time.monotonic(), files)}
            return files
