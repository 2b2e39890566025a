"""Case exports for office staff (XLSX and CSV): one row per case.

Rows are computed from the case facts (bot/facts.py) with the service clocks of
bot/clocks.py, and stay typed (enums, category ids, datetimes) so reports can count them;
Chinese appears only when a row becomes cells. Times are shown in the office's time zone;
XLSX cells hold real dates so Excel sorts and filters them.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.clocks import ClockDays, first_clocks, rectification_met, service_clocks, stage_tally
from bot.domain import Disposition, Rating, Status
from bot.escalation import Rung, rung
from bot.facts import CaseFact, CaseFacts, Progress
from bot.messages import t
from bot.privacy import mask_personal_data

Format = Literal["xlsx", "csv"]
FORMATS: tuple[Format, ...] = ("xlsx", "csv")
MAX_DAYS = 3660  # ten years: a bigger range is a typo, not a report

COLUMNS: tuple[tuple[str, int], ...] = (  # catalogue key suffix, column width
    ("reference", 17), ("created", 17), ("category", 14), ("entity", 28), ("district", 12),
    ("status", 16), ("disposition", 14), ("assignee", 10), ("accept_due", 17),
    ("propose_due", 17), ("rectify_deadline", 12), ("closed", 17), ("accepted_on_time", 12),
    ("proposed_on_time", 14), ("decided_on_time", 12), ("rectified_on_time", 12),
    ("rating", 10), ("merged_into", 17), ("text", 60),
)


@dataclass(frozen=True)
class ExportRow:
    """One case as exports and reports read it: its facts in local time, and its clocks."""

    reference: str
    created: datetime
    category: str  # category id
    entity: str  # the school's or institution's name
    district: str
    status: Status
    disposition: Disposition | None
    assignee: str
    accept_due: datetime | None
    propose_due: datetime | None
    rectify_deadline: date | None
    closed: datetime | None
    accepted_on_time: bool | None  # None: no clock ran, or it is still running in time
    proposed_on_time: bool | None
    rating: Rating | None
    merged_into: str | None = None  # the case this tip joined
    merged_into_status: Status | None = None
    text: str = ""  # the tip (masked unless the reader is staff)
    decided_on_time: bool | None = None  # staff decided the first proposal in time
    rectified_on_time: bool | None = None  # the rectification deadline (as /overdue)
    # Every stage clock decided so far: (accept|propose|decide|rectify, met, decided).
    stages: tuple[tuple[str, int, int], ...] = ()
    school: str = ""  # the school's name ("" when the case is about none)
    institution: str = ""  # the institution's name
    inspected: bool = False  # a supervisor took the case up (accepted it)
    rung: Rung = Rung.NONE  # the escalation ladder's rung (bot/escalation.py)

    @property
    def merged(self) -> bool:
        """A tip merged into another case: counted under that case, not on its own."""
        return self.merged_into is not None

    def values(self) -> list[Any]:
        """The row's cells, in COLUMNS order, as staff read them."""
        return [self.reference, self.created, t(f"category.{self.category}"), self.entity,
                self.district, self._status_text(),
                t(f"disposition.{self.disposition}") if self.disposition else "",
                self.assignee, self.accept_due, self.propose_due, self.rectify_deadline,
                self.closed, _flag(self.accepted_on_time), _flag(self.proposed_on_time),
                _flag(self.decided_on_time), _flag(self.rectified_on_time),
                t(f"rating.{self.rating}") if self.rating else "", self.merged_into or "",
                self.text]

    def _status_text(self) -> str:
        if self.merged_into and self.merged_into_status and not self.disposition:
            # A merged tip waiting for its case: say where it went, not "closed, no result".
            return t("export.merged_status", reference=self.merged_into,
                     status=t(f"status.{self.merged_into_status}"))
        return t(f"status.{self.status}")


def _flag(value: bool | None) -> str:
    return "" if value is None else t("export.yes" if value else "export.no")


def headers() -> list[str]:
    return [t(f"export.column.{key}") for key, _ in COLUMNS]


def local_bounds(date_from: date, date_to: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants that bound local calendar days date_from..date_to (inclusive)."""
    if date_to < date_from:
        raise ValueError(t("export.error.range_order"))
    if (date_to - date_from).days > MAX_DAYS:
        raise ValueError(t("export.error.range_too_long", days=MAX_DAYS))
    return (datetime.combine(date_from, time(0), tzinfo=tz),
            datetime.combine(date_to + timedelta(days=1), time(0), tzinfo=tz))


def export_row(fact: CaseFact, tz: ZoneInfo, now: datetime, days: ClockDays,
               mask: bool = True) -> ExportRow:
    """A case's row: its facts in local time, its first clocks and every stage clock.

    `mask`: personal data in the tip text is masked (readers who are not staff)."""
    clocks = first_clocks(fact.events, tz, days)
    accept, propose = clocks.accept, clocks.propose
    decide = next((c for c in service_clocks(fact.events, tz, days) if c.name == "decide"),
                  None)
    tally = stage_tally(fact.events, fact.status, fact.rectify_deadline, tz, days, now)
    return ExportRow(
        reference=fact.reference, created=fact.created_at.astimezone(tz),
        category=fact.category, entity=fact.school_name or fact.institution_name or "",
        district=fact.district_name or "", status=fact.status, disposition=fact.disposition,
        assignee=fact.assignee_name or "", accept_due=accept.due if accept else None,
        propose_due=propose.due if propose else None, rectify_deadline=fact.rectify_deadline,
        closed=fact.closed_at.astimezone(tz) if fact.closed_at else None,
        accepted_on_time=accept.met(now) if accept else None,
        proposed_on_time=propose.met(now) if propose else None, rating=fact.rating,
        merged_into=fact.merged_into, merged_into_status=fact.merged_into_status,
        text=mask_personal_data(fact.text) if mask else fact.text,
        decided_on_time=decide.met(now) if decide else None,
        rectified_on_time=rectification_met(fact.events, fact.status, fact.rectify_deadline,
                                            tz, now.astimezone(tz).date()),
        stages=tuple((name, met, total) for name, (met, total) in sorted(tally.items())),
        school=fact.school_name or "", institution=fact.institution_name or "",
        inspected=any(e.to_status is Status.ACCEPTED for e in fact.events),
        rung=rung(fact.events))


async def export_rows(facts: CaseFacts, date_from: date, date_to: date, *, tz: ZoneInfo,
                      now: datetime, accept_days: int = 1, propose_days: int = 5,
                      decide_days: int = 2, progress: Progress | None = None,
                      mask: bool = True) -> list[ExportRow]:
    """One row per case created on local days date_from..date_to, oldest first.

    `mask=False` only for staff: the tip text keeps phone and ID numbers."""
    start, end = local_bounds(date_from, date_to, tz)
    days = ClockDays(accept=accept_days, propose=propose_days, decide=decide_days)
    return [export_row(fact, tz, now, days, mask)
            for fact in await facts.created_between(start, end, progress)]


async def export_cases(facts: CaseFacts, date_from: date, date_to: date, fmt: Format, *,
                       tz: ZoneInfo | None = None, now: datetime | None = None,
                       accept_days: int = 1, propose_days: int = 5, decide_days: int = 2,
                       progress: Progress | None = None, mask: bool = True) -> bytes:
    """The cases created on date_from..date_to (local days) as an XLSX or CSV file.

    `facts` reads an entered unit of work (`uow.case_facts`); nothing is written.
    """
    if fmt not in FORMATS:
        raise ValueError(t("export.error.format", fmt=str(fmt)[:10]))
    tz = tz or ZoneInfo("Asia/Shanghai")
    now = now or datetime.now(tz)
    rows = await export_rows(facts, date_from, date_to, tz=tz, now=now,
                             accept_days=accept_days, propose_days=propose_days,
                             decide_days=decide_days, progress=progress, mask=mask)
    # Building the file is CPU work; keep the event loop free for other chats meanwhile.
    render = to_xlsx if fmt == "xlsx" else to_csv
    return await asyncio.to_thread(render, rows, date_from, date_to)


def _naive(value: Any) -> Any:
    """Excel has no time zones: write local wall-clock time."""
    return value.replace(tzinfo=None) if isinstance(value, datetime) else value


def to_xlsx(rows: Sequence[ExportRow], date_from: date, date_to: date) -> bytes:
    """A workbook with a bold, frozen header row, sized columns and real date cells."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = t("export.sheet")
    write_case_sheet(ws, rows)
    wb.properties.title = t("export.title", date_from=date_from.isoformat(),
                            date_to=date_to.isoformat())
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def write_case_sheet(ws: Any, rows: Sequence[ExportRow]) -> None:
    """One row per case under a bold, frozen, filterable header (export and reports)."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws.append(headers())
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    for index, (_, width) in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    for row in rows:
        ws.append([_naive(v) for v in row.values()])
    for column in ws.iter_cols(min_row=2, max_row=ws.max_row):
        for cell in column:
            if isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif isinstance(cell.value, date):
                cell.number_format = "yyyy-mm-dd"
    if rows:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{len(rows) + 1}"


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def to_csv(rows: Sequence[ExportRow], date_from: date, date_to: date) -> bytes:
    """UTF-8 with a BOM, so Excel opens the Chinese text correctly by double-click."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers())
    for row in rows:
        writer.writerow([_text(v) for v in row.values()])
    return out.getvalue().encode("utf-8-sig")


def default_file_name(date_from: date, date_to: date, fmt: str) -> str:
    return f"dudao-cases-{date_from.isoformat()}_{date_to.isoformat()}.{fmt}"
