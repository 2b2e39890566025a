"""Case exports for office staff (XLSX and CSV), one row per case, and `dudao export`.

The export is a read model (like cosmicpython's views.py): one query for the cases with the
names staff read, one per batch for the events the on-time flags come from. Times are shown
in the office's time zone; XLSX cells hold real dates so Excel sorts and filters them.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import aliased

from bot.messages import t
from bot.timerules import add_working_days
from storage.models import CaseEventRow, CaseRow, District, Institution, Person, School
from storage.uow import SqlUnitOfWork

Format = Literal["xlsx", "csv"]
Progress = Callable[[int, int], None]
BATCH = 500
MAX_DAYS = 3660  # ten years: a bigger range is a typo, not a report

COLUMNS: tuple[tuple[str, int], ...] = (  # catalogue key suffix, column width
    ("reference", 17), ("created", 17), ("category", 14), ("entity", 28), ("district", 12),
    ("status", 16), ("disposition", 14), ("assignee", 10), ("accept_due", 17),
    ("propose_due", 17), ("rectify_deadline", 12), ("closed", 17), ("accepted_on_time", 12),
    ("proposed_on_time", 14), ("rating", 10),
)


@dataclass(frozen=True)
class ExportRow:
    reference: str
    created: datetime
    category: str
    entity: str
    district: str
    status: str
    disposition: str
    assignee: str
    accept_due: datetime | None
    propose_due: datetime | None
    rectify_deadline: date | None
    closed: datetime | None
    accepted_on_time: bool | None  # None: no clock ran, or it is still running
    proposed_on_time: bool | None
    rating: str

    def values(self) -> list[Any]:
        return [self.reference, self.created, self.category, self.entity, self.district,
                self.status, self.disposition, self.assignee, self.accept_due,
                self.propose_due, self.rectify_deadline, self.closed,
                _flag(self.accepted_on_time), _flag(self.proposed_on_time), self.rating]


def _flag(value: bool | None) -> str:
    return "" if value is None else t("export.yes" if value else "export.no")


def headers() -> list[str]:
    return [t(f"export.column.{key}") for key, _ in COLUMNS]


@dataclass(frozen=True)
class _Event:
    action: str
    at: datetime
    to_status: str


def on_time_clocks(events: Sequence[_Event], tz: ZoneInfo, now: datetime, accept_days: int,
                   propose_days: int) -> tuple[datetime | None, datetime | None,
                                               bool | None, bool | None]:
    """Accept and propose deadlines of the case's first assignment, and whether each was met.

    The accept clock starts when the case first reached a supervisor (routed or assigned)
    and the propose clock at the first acceptance. A met or missed deadline gives True or
    False; a clock still running gives None (not late yet), one that never started gives None.
    """
    assigned = next((e.at for e in events if e.action in ("routed", "assigned")), None)
    accepted = next((e.at for e in events if e.action == "accepted"), None)
    proposed = next((e.at for e in events if e.action == "proposed"), None)
    accept_due = propose_due = None
    accepted_ok = proposed_ok = None
    if assigned is not None:
        accept_due = add_working_days(assigned.astimezone(tz), accept_days)
        accepted_ok = _met(accepted, accept_due, now)
    if accepted is not None:
        propose_due = add_working_days(accepted.astimezone(tz), propose_days)
        proposed_ok = _met(proposed, propose_due, now)
    return accept_due, propose_due, accepted_ok, proposed_ok


def _met(done: datetime | None, due: datetime, now: datetime) -> bool | None:
    if done is not None:
        return done <= due
    return False if now > due else None


def local_bounds(date_from: date, date_to: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants that bound local calendar days date_from..date_to (inclusive)."""
    if date_to < date_from:
        raise ValueError(t("export.error.range_order"))
    if (date_to - date_from).days > MAX_DAYS:
        raise ValueError(t("export.error.range_too_long", days=MAX_DAYS))
    return (datetime.combine(date_from, time(0), tzinfo=tz),
            datetime.combine(date_to + timedelta(days=1), time(0), tzinfo=tz))


async def export_rows(uow: SqlUnitOfWork, date_from: date, date_to: date, *, tz: ZoneInfo,
                      now: datetime, accept_days: int = 1, propose_days: int = 5,
                      progress: Progress | None = None) -> list[ExportRow]:
    """One row per case created on local days date_from..date_to, oldest first."""
    start, end = local_bounds(date_from, date_to, tz)
    school, inst, dist, person = (aliased(School), aliased(Institution), aliased(District),
                                  aliased(Person))
    target = aliased(CaseRow)
    stmt = (select(CaseRow, school.name, inst.name, dist.name, person.name, target.reference,
                   target.status)
            .outerjoin(target, target.id == CaseRow.merged_into_id)
            .outerjoin(school, school.id == CaseRow.school_id)
            .outerjoin(inst, inst.id == CaseRow.institution_id)
            .outerjoin(dist, dist.id == CaseRow.district_id)
            .outerjoin(person, person.id == CaseRow.assignee_id)
            .where(CaseRow.created_at >= start, CaseRow.created_at < end)
            .order_by(CaseRow.created_at, CaseRow.id))
    found = (await uow.session.execute(stmt)).all()
    total = len(found)
    rows: list[ExportRow] = []
    if progress:
        progress(0, total)
    for offset in range(0, total, BATCH):
        batch = found[offset:offset + BATCH]
        events = await _events(uow, [r[0].id for r in batch])
        for case, school_name, inst_name, district_name, assignee, into, into_status in batch:
            row = _row(case, school_name or inst_name or "", district_name or "",
                       assignee or "", events.get(case.id, []), tz, now, accept_days,
                       propose_days)
            if into and not case.disposition:
                # A merged tip waiting for its case: say where it went, not "closed, no result".
                row = replace(row, status=t("export.merged_status", reference=into,
                                            status=t(f"status.{into_status}")))
            rows.append(row)
        if progress:
            progress(len(rows), total)
    return rows


async def _events(uow: SqlUnitOfWork, case_ids: list[int]) -> dict[int, list[_Event]]:
    stmt = (select(CaseEventRow.case_id, CaseEventRow.action, CaseEventRow.at,
                   CaseEventRow.to_status)
            .where(CaseEventRow.case_id.in_(case_ids))
            .order_by(CaseEventRow.case_id, CaseEventRow.seq))
    out: dict[int, list[_Event]] = {}
    for case_id, action, at, to_status in (await uow.session.execute(stmt)).all():
        out.setdefault(case_id, []).append(_Event(action, at, to_status))
    return out


def _row(case: CaseRow, entity: str, district: str, assignee: str, events: list[_Event],
         tz: ZoneInfo, now: datetime, accept_days: int, propose_days: int) -> ExportRow:
    accept_due, propose_due, accepted_ok, proposed_ok = on_time_clocks(
        events, tz, now, accept_days, propose_days)
    return ExportRow(
        reference=case.reference, created=case.created_at.astimezone(tz),
        category=t(f"category.{case.category}"), entity=entity, district=district,
        status=t(f"status.{case.status}"),
        disposition=t(f"disposition.{case.disposition}") if case.disposition else "",
        assignee=assignee, accept_due=accept_due, propose_due=propose_due,
        rectify_deadline=case.rectify_deadline,
        closed=case.closed_at.astimezone(tz) if case.closed_at else None,
        accepted_on_time=accepted_ok, proposed_on_time=proposed_ok,
        rating=t(f"rating.{case.rating}") if case.rating else "")


async def export_cases(uow: SqlUnitOfWork, date_from: date, date_to: date, fmt: Format, *,
                       tz: ZoneInfo | None = None, now: datetime | None = None,
                       accept_days: int = 1, propose_days: int = 5,
                       progress: Progress | None = None) -> bytes:
    """The cases created on date_from..date_to (local days) as an XLSX or CSV file.

    `uow` is an entered unit of work (`async with container.uow() as uow:`); nothing is
    written, so nothing is committed.
    """
    if fmt not in ("xlsx", "csv"):
        raise ValueError(t("export.error.format", fmt=str(fmt)[:10]))
    tz = tz or ZoneInfo("Asia/Shanghai")
    now = now or datetime.now(tz)
    rows = await export_rows(uow, date_from, date_to, tz=tz, now=now, accept_days=accept_days,
                             propose_days=propose_days, progress=progress)
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


# --- command line: dudao export ---------------------------------------------------------
def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(t("export.error.bad_date", value=text[:20])) from exc


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --from/--to/--format/--out to the `dudao export` subparser (--config is the CLI's)."""
    parser.add_argument("--from", dest="date_from", type=_iso_date, required=True,
                        metavar="YYYY-MM-DD", help="first day (local time), inclusive")
    parser.add_argument("--to", dest="date_to", type=_iso_date, required=True,
                        metavar="YYYY-MM-DD", help="last day (local time), inclusive")
    parser.add_argument("--format", dest="fmt", choices=("xlsx", "csv"), default="xlsx",
                        help="file format (default xlsx)")
    parser.add_argument("--out", metavar="FILE",
                        help="output file (default dudao-cases-FROM_TO.FORMAT; - for stdout)")


class _ProgressLine:
    """Progress on stderr: one updating line on a terminal, a line per batch otherwise."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())

    def __call__(self, done: int, total: int) -> None:
        text = t("export.progress", done=done, total=total)
        if self.tty:
            end = "\n" if done >= total else ""
            self.stream.write("\r" + text + end)
        elif done == 0 or done >= total or total > BATCH:
            self.stream.write(text + "\n")
        self.stream.flush()


async def _export(settings: Any, args: argparse.Namespace, progress: Progress) -> bytes:
    from bot.bootstrap import build

    container = build(settings)
    try:
        rules = settings.time_rules
        async with container.uow.read() as uow:
            return await export_cases(uow, args.date_from, args.date_to, args.fmt,
                                      tz=settings.tz, now=container.clock.now(),
                                      accept_days=rules.accept_working_days,
                                      propose_days=rules.propose_working_days,
                                      progress=progress)
    finally:
        await container.close()


def run_export(args: argparse.Namespace) -> int:
    """`dudao export`: write the cases of a date range to an XLSX or CSV file."""
    from bot.bootstrap import migrate
    from bot.config import ConfigError, load_settings

    try:
        settings = load_settings(getattr(args, "config", None))
        local_bounds(args.date_from, args.date_to, settings.tz)
    except (ConfigError, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    migrate(settings)
    data = asyncio.run(_export(settings, args, _ProgressLine(sys.stderr)))
    target = args.out or default_file_name(args.date_from, args.date_to, args.fmt)
    if target == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    try:
        Path(target).write_bytes(data)
    except OSError as exc:
        print(t("export.error.write", path=target, error=exc.strerror or str(exc)),
              file=sys.stderr)
        return 1
    print(t("export.written", path=target, size=len(data)), file=sys.stderr)
    return 0
