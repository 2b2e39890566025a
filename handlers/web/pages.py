"""The console's other pages: the audit timeline's wording, the dashboard with its chart and
downloads, and the directory with its import preview."""

from __future__ import annotations

import asyncio
import base64
import binascii
import tempfile
from dataclasses import dataclass
from datetime import date, tzinfo
from pathlib import Path

from aiohttp import web

from bot.bootstrap import Container
from bot.console import CaseView
from bot.directory.files import read_directory_files
from bot.directory.problems import DirectoryFileError, describe_source
from bot.directory.rows import DirectoryData
from bot.directory.service import DirectoryImportError, import_directory, preview_directory
from bot.domain import CaseEvent, DomainError, Role, Status
from bot.messages import CATALOGUE, t
from bot.reports import PeriodKind
from bot.services import staff_member
from handlers.web.common import container_of, login_required, problem, refusal, render

UPLOAD_LIMIT = 900 * 1024  # below the server's 1 MiB body limit
DIRECTORY_ROWS = 200


def category_name(category: str) -> str:
    return CATALOGUE.get(f"category.{category}", category)


def status_name(status: Status | str | None) -> str:
    if status is None:
        return ""
    return CATALOGUE.get(f"status.{Status(status).value}", str(status))


@dataclass(frozen=True)
class Step:
    """One line of a case's timeline, in the words the chat uses."""

    at: str
    who: str
    what: str
    moved: str
    comment: str
    channel: str


def timeline(view: CaseView, tz: tzinfo) -> list[Step]:
    return [_step(e, view.people, tz) for e in view.case.events]


def _step(event: CaseEvent, people: dict[str, str], tz: tzinfo) -> Step:
    if event.actor_role is Role.PARENT:
        who = t("office.who.parent")
    elif event.actor_role is Role.SYSTEM:
        who = t("office.who.system")
    else:
        who = people.get(event.actor, event.actor)
    what = CATALOGUE.get(f"office.action.{event.action}", event.action)
    moved = ""
    if event.from_status is not None and event.from_status is not event.to_status:
        moved = f"{status_name(event.from_status)} → {status_name(event.to_status)}"
    channel = str(event.data.get("channel", ""))
    return Step(event.at.astimezone(tz).strftime("%Y-%m-%d %H:%M"), who, what, moved,
                event.comment, CATALOGUE.get(f"web.channel.{channel}", "") if channel else "")


# --- dashboard --------------------------------------------------------------------------

def _kind(request: web.Request) -> PeriodKind:
    return "half" if request.query.get("kind") == "half" else "quarter"


async def dashboard(request: web.Request) -> web.StreamResponse:
    user = login_required(request)
    c = container_of(request)
    if not user.is_staff:
        try:
            coverage = await c.supervision.coverage(user.user_id)
            cases = await c.supervision.open_cases(user.user_id)
        except DomainError as err:
            return refusal(request, err)
        return render(request, "dashboard_supervisor.html", coverage=coverage, cases=cases)
    kind = _kind(request)
    try:
        report, _, chart = await c.reporting.report(user.user_id, kind)
        weeks = await c.console.weeks(user, report.period.start,
                                      min(report.period.end, c.console.today()))
    except DomainError as err:
        return refusal(request, err)
    rates = [(t("web.dash.accepted_on_time"), *report.accepted_on_time),
             (t("web.dash.proposed_on_time"), *report.proposed_on_time),
             (t("web.dash.satisfied"), *report.satisfied),
             (t(f"web.dash.coverage.{report.period.kind}"), *report.coverage)]
    return render(request, "dashboard.html", report=report, kind=kind, rates=rates, weeks=weeks,
                  most_week=max([w.filed for w in weeks] + [1]),
                  chart=base64.b64encode(chart).decode(), today=c.console.today(),
                  most=max([n for _, n in report.by_category] + [1]),
                  most_status=max([n for _, n in report.by_status] + [1]),
                  most_district=max([n for _, n in report.by_district] + [1]))


async def chart(request: web.Request) -> web.StreamResponse:
    user = login_required(request)
    try:
        _, _, png = await container_of(request).reporting.report(user.user_id, _kind(request))
    except DomainError as err:
        return refusal(request, err)
    return web.Response(body=png, content_type="image/png")


def _attachment(data: bytes, name: str) -> web.Response:
    return web.Response(body=data, headers={
        "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "Content-Disposition": f'attachment; filename="{name}"'})


async def report_download(request: web.Request) -> web.StreamResponse:
    user = login_required(request)
    try:
        report, workbook, _ = await container_of(request).reporting.report(
            user.user_id, _kind(request))
    except DomainError as err:
        return refusal(request, err)
    period = report.period
    return _attachment(workbook, f"report-{period.start}-{period.end}.xlsx")


async def export_download(request: web.Request) -> web.StreamResponse:
    user = login_required(request)
    c = container_of(request)
    try:
        start = date.fromisoformat(request.query.get("from", ""))
        end = date.fromisoformat(request.query.get("to", ""))
    except ValueError:
        return problem(request, 400, t("web.error.dates"))
    try:
        data, _ = await c.reporting.export_xlsx(user.user_id, start, end)
    except DomainError as err:
        return refusal(request, err)
    return _attachment(data, f"cases-{start}-{end}.xlsx")


# --- directory --------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    kind: str
    code: str
    name: str
    detail: str


async def directory(request: web.Request) -> web.StreamResponse:
    """Schools, institutions and people; staff only; search by code or name."""
    user = login_required(request)
    c = container_of(request)
    try:
        await staff_member(c.uow, user.user_id)
    except DomainError as err:
        return refusal(request, err)
    words = request.query.get("q", "").strip()[:50].casefold()
    async with c.uow.read() as uow:
        people = await uow.directory.people()
        entities = await uow.directory.entity_rows()
    entries = [Entry(t(f"web.dir.role.{p.role}"), p.code, p.name,
                     t("web.dir.bound") if p.telegram_user_id else t("web.dir.unbound"))
               for p in people]
    entries += [Entry(t(f"web.dir.kind.{kind}"), code, name, "、".join(aliases))
                for kind, code, name, aliases, _ in entities]
    if words:
        entries = [e for e in entries if words in e.code.casefold() or words in e.name.casefold()]
    return render(request, "directory.html", entries=entries[:DIRECTORY_ROWS],
                  total=len(entries), words=request.query.get("q", ""))


async def _upload(request: web.Request) -> tuple[str, bytes]:
    form = await request.post()
    upload = form.get("file")
    if isinstance(upload, web.FileField):
        return Path(upload.filename or "upload.csv").name, upload.file.read(UPLOAD_LIMIT + 1)
    try:  # the confirm form sends the previewed file back
        return (Path(str(form.get("name", "upload.csv"))).name,
                base64.b64decode(str(form.get("data", "")), validate=True))
    except (binascii.Error, ValueError):
        return "", b""


def _read(name: str, data: bytes) -> DirectoryData:
    """The uploaded file read as the CLI reads one (blocking: in a thread)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        return read_directory_files([path])


@dataclass(frozen=True)
class PreviewRow:
    where: str
    table: str
    code: str
    name: str
    added: bool


async def _row_preview(c: Container, data: DirectoryData) -> list[PreviewRow]:
    """Each row of the files with its row number and whether its code is new."""
    tables = (("districts", "district", data.districts), ("schools", "school", data.schools),
              ("institutions", "institution", data.institutions),
              ("people", "person", [*data.supervisors, *data.staff]))
    out = []
    async with c.uow.read() as uow:
        for table, kind, rows in tables:
            codes = [row.code for row in rows]
            known = await uow.directory.names(kind, codes) if codes else {}
            out += [PreviewRow(describe_source(row.source), t(f"dirimport.table.{table}"),
                               row.code, str(getattr(row, "name", "")), row.code not in known)
                    for row in rows]
    return out


async def _directory_changed(c: Container) -> None:
    """After an import: drop cached names and reload the entity resolver's words."""
    cache = getattr(c.uow, "directory_cache", None)
    if cache is not None:
        cache.clear()
    if c.intake is not None:
        await c.intake.load_directory(c.uow())


async def directory_preview(request: web.Request) -> web.StreamResponse:
    return await _directory_step(request, confirm=False)


async def directory_import(request: web.Request) -> web.StreamResponse:
    return await _directory_step(request, confirm=True)


async def _directory_step(request: web.Request, *, confirm: bool) -> web.StreamResponse:
    user = login_required(request)
    c = container_of(request)
    try:
        await staff_member(c.uow, user.user_id)
    except DomainError as err:
        return refusal(request, err)
    name, data = await _upload(request)
    if not data or len(data) > UPLOAD_LIMIT or Path(name).suffix.lower() not in (".csv",
                                                                                 ".xlsx"):
        return problem(request, 400, t("web.dir.bad_file"))
    rows: list[PreviewRow] = []
    try:
        parsed = await asyncio.to_thread(_read, name, data)
        if confirm:
            report = await import_directory(c.uow, parsed)
            await _directory_changed(c)
        else:
            report = await preview_directory(c.uow, parsed)
            rows = await _row_preview(c, parsed)
    except DirectoryFileError as err:
        return render(request, "directory_preview.html", status=400, refused=str(err).split("\n"),
                      report=None, name=name, data="", confirmed=False)
    except DirectoryImportError as err:
        return render(request, "directory_preview.html", status=400, refused=err.problems,
                      report=None, name=name, data="", confirmed=False)
    return render(request, "directory_preview.html", refused=[], report=report, name=name,
                  data=base64.b64encode(data).decode(), confirmed=confirm, rows=rows)
