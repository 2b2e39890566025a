"""Reports and exports for office staff in chat: the 半月报/季度通报 and the case workbook.

Both are computed from the read model's facts (bot/facts.py) by bot/export.py and
bot/reports.py; this service checks the caller is staff and bounds what may be asked.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from bot.domain import InvalidInput
from bot.export import export_rows, to_xlsx
from bot.notices import tell_robots
from bot.ports import Clock, Notice, UnitOfWorkFactory
from bot.reports import (
    PeriodKind,
    Report,
    build_report,
    chart_png,
    period_of,
    summary_text,
    to_workbook,
)
from bot.services import staff_member
from bot.timerules import month_bounds

CHAT_EXPORT_MAX_DAYS = 366
GROUP_REPORT_KIND = "report.figures"  # a report's figures, posted to the office's groups


@dataclass(frozen=True)
class ReportingRules:
    tz: ZoneInfo
    accept_working_days: int = 1
    propose_working_days: int = 5


class ReportingService:
    """The office's reports and exports, for bound staff only."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, rules: ReportingRules) -> None:
        self.uow = uow
        self.clock = clock
        self.rules = rules

    def today(self) -> date:
        return self.clock.now().astimezone(self.rules.tz).date()

    async def export_xlsx(self, user_id: int, date_from: date,
                          date_to: date) -> tuple[bytes, int]:
        """The cases created on local days date_from..date_to as XLSX, and how many."""
        await staff_member(self.uow, user_id)
        if date_to < date_from:
            raise InvalidInput("export.error.range_order")
        if (date_to - date_from).days > CHAT_EXPORT_MAX_DAYS:
            raise InvalidInput("export.error.range_too_long", days=CHAT_EXPORT_MAX_DAYS)
        async with self.uow.read() as uow:
            rows = await export_rows(uow.case_facts, date_from, date_to, tz=self.rules.tz,
                                     now=self.clock.now(),
                                     accept_days=self.rules.accept_working_days,
                                     propose_days=self.rules.propose_working_days)
        data = await asyncio.to_thread(to_xlsx, rows, date_from, date_to)
        return data, len(rows)

    async def report(self, user_id: int, kind: PeriodKind,
                     previous: bool = False) -> tuple[Report, bytes, bytes]:
        """The half-month or quarterly report: its figures, the workbook and the chart."""
        await staff_member(self.uow, user_id)
        today = self.today()
        period = period_of(kind, today, previous)
        month_start, next_month = month_bounds(min(period.end, today))
        async with self.uow.read() as uow:
            rows = await export_rows(uow.case_facts, period.start, period.end, tz=self.rules.tz,
                                     now=self.clock.now(),
                                     accept_days=self.rules.accept_working_days,
                                     propose_days=self.rules.propose_working_days)
            schools = await uow.directory.supervised_school_count()
            unvisited = len(await uow.directory.unvisited_schools(month_start, next_month))
        report = build_report(period, rows, (schools - unvisited, schools))
        await self._post_to_groups(report, today)
        chart = await asyncio.to_thread(chart_png, report)  # matplotlib blocks
        workbook = await asyncio.to_thread(to_workbook, report, rows, chart)
        return report, workbook, chart

    async def _post_to_groups(self, report: Report, today: date) -> None:
        """The figures to the office's group robots that take reports (config [dingtalk],
        [wecom]): once a day per period, however often staff build it."""
        async with self.uow.read() as uow:
            if not any(robot.wants(GROUP_REPORT_KIND) for robot in uow.robots):
                return
        async with self.uow() as uow:
            await tell_robots(uow, GROUP_REPORT_KIND, Notice.plain(summary_text(report)),
                              self.clock.now(), dedup_key=f"figures:{report.period.kind}:"
                              f"{report.period.start}:{today}")
            await uow.commit()
