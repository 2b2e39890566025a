"""Reports and exports for office staff in chat: the 半月报/季度通报 and the case workbook.

Both are computed from the read model's facts (bot/facts.py) by bot/export.py and
bot/reports.py; this service checks the caller is staff and bounds what may be asked.
`build` makes every file of a period's report (figures, chart, workbook, DOCX 通报) for the
scheduled delivery (bot/report_delivery.py) and `dudao report`, which check their readers
themselves.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from bot.documents import DocumentKind, DocumentRules, chinese_date, render_docx
from bot.domain import InvalidInput
from bot.export import ExportRow, export_rows, to_xlsx
from bot.facts import CaseFacts
from bot.messages import t
from bot.notices import tell_robots
from bot.ports import Clock, Notice, UnitOfWorkFactory
from bot.reports import (
    Period,
    PeriodKind,
    Report,
    build_report,
    bulletin_context,
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
    decide_working_days: int = 2


@dataclass(frozen=True)
class ReportFiles:
    """A period's report in every form staff receive it."""

    report: Report
    rows: list[ExportRow]
    chart: bytes  # PNG
    workbook: bytes  # XLSX: figures, chart, case rows
    bulletin: bytes  # DOCX 通报 from the office's template


class ReportingService:
    """The office's reports and exports, for bound staff only."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, rules: ReportingRules,
                 documents: DocumentRules | None = None) -> None:
        self.uow = uow
        self.clock = clock
        self.rules = rules
        self.documents = documents or DocumentRules(
            office_name=t("document.default_office"), seal_text="", templates_dir="",
            tz=rules.tz)

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
            rows = await self._rows(uow.case_facts, date_from, date_to, mask=False)
        data = await asyncio.to_thread(to_xlsx, rows, date_from, date_to)
        return data, len(rows)

    async def report(self, user_id: int, kind: PeriodKind,
                     previous: bool = False) -> tuple[Report, bytes, bytes]:
        """The half-month or quarterly report: its figures, the workbook and the chart."""
        await staff_member(self.uow, user_id)
        files = await self.build(period_of(kind, self.today(), previous), with_bulletin=False)
        await self.post_to_groups(files.report.period, files.report)
        return files.report, files.workbook, files.chart

    async def post_to_groups(self, period: Period, report: Report | None = None) -> int:
        """The period's figures to the office's group robots that take reports (config
        [dingtalk], [wecom]): once a day per period, however often the report is built, sent
        or asked for. Computes the figures only when a robot still waits for them."""
        key = f"figures:{period.kind}:{period.start}:{self.today()}"
        async with self.uow.read() as uow:
            keys = [f"{key}@{robot.channel}{robot.chat_id}" for robot in uow.robots
                    if robot.wants(GROUP_REPORT_KIND)]
            if not keys or not set(keys) - await uow.outbox.queued_keys(keys):
                return 0
        if report is None:
            report, _ = await self.figures(period)
        async with self.uow() as uow:
            queued = await tell_robots(uow, GROUP_REPORT_KIND, Notice.plain(summary_text(report)),
                                       self.clock.now(), dedup_key=key)
            await uow.commit()
        return queued

    async def figures(self, period: Period, *, mask: bool = False,
                      ) -> tuple[Report, list[ExportRow]]:
        """The period's figures and case rows (no permission check: callers decide)."""
        today = self.today()
        async with self.uow.read() as uow:
            rows = await self._rows(uow.case_facts, period.start, period.end, mask=mask)
            schools = await uow.directory.supervised_school_count()
            visited = months = 0
            for month_start in _months(period, today):
                next_month = month_bounds(month_start)[1]
                visited += schools - len(await uow.directory.unvisited_schools(month_start,
                                                                               next_month))
                months += 1
            visits = await uow.directory.visit_count(period.start, min(period.end, today))
        return build_report(period, rows, (visited, schools * months), visits), rows

    async def build(self, period: Period, *, mask: bool = False,
                    with_bulletin: bool = True) -> ReportFiles:
        """Every file of the period's report: figures, chart, workbook, DOCX 通报."""
        report, rows = await self.figures(period, mask=mask)
        chart = await asyncio.to_thread(chart_png, report)  # matplotlib blocks
        workbook = await asyncio.to_thread(to_workbook, report, rows, chart)
        bulletin = await self.bulletin(report) if with_bulletin else b""
        return ReportFiles(report, rows, chart, workbook, bulletin)

    async def bulletin(self, report: Report) -> bytes:
        """The 通报 as DOCX from the office's template."""
        rules = self.documents
        number = t("document.number.quarterly_bulletin", year=report.period.start.year,
                   quarter=(report.period.start.month - 1) // 3 + 1) \
            if report.period.kind == "quarter" else t(
                "document.number.half_bulletin", year=report.period.start.year,
                month=report.period.start.month,
                half=1 if report.period.start.day == 1 else 2)
        context = bulletin_context(report, rules.office_name, rules.seal_text,
                                   chinese_date(self.today()), number)
        return await asyncio.to_thread(render_docx,
                                       rules.template(DocumentKind.QUARTERLY_BULLETIN), context)

    async def _rows(self, facts: CaseFacts, date_from: date, date_to: date, *,
                    mask: bool) -> list[ExportRow]:
        rules = self.rules
        return await export_rows(facts, date_from, date_to, tz=rules.tz, now=self.clock.now(),
                                 accept_days=rules.accept_working_days,
                                 propose_days=rules.propose_working_days,
                                 decide_days=rules.decide_working_days, mask=mask)


def _months(period: Period, today: date) -> list[date]:
    """The first days of the months whose visits count: a half month's month; each month of
    a quarter up to today's (the whole quarter once it is over)."""
    last = min(period.end, max(today, period.start))
    if period.kind != "quarter":
        return [month_bounds(last)[0]]
    months = []
    month = period.start
    while month <= last:
        months.append(month)
        month = month_bounds(month)[1]
    return months
