"""Reports that arrive by themselves: on a due day the scheduler inside the real bot sends the
半月报 to staff (figures, chart, workbook, DOCX 通报), once, and not again after a restart."""

from __future__ import annotations

import io
import shutil
from datetime import date, datetime, time
from pathlib import Path

from docx import Document
from openpyxl import load_workbook
from sqlalchemy import text

from bot.filing import TipInput
from tests.support.e2e import Dudao, running_dudao, settle

STAFF, PARENT = 72002, 72003


async def report_rows(dudao: Dudao) -> list[tuple[int, str, str]]:
    async with dudao.container.uow() as uow:
        found = await uow.session.execute(text(
            "SELECT chat_id, kind, dedup_key FROM outbox WHERE kind LIKE 'report.%' "
            "ORDER BY id"))
        return [tuple(r) for r in found.all()]  # type: ignore[misc]


async def test_a_due_day_sends_the_report_to_staff_once_not_twice_after_a_restart(
        tmp_path: Path, sqlite_template: Path, shipped_classifier: object) -> None:
    target = tmp_path / "e2e.db"
    shutil.copy(sqlite_template, target)
    options = {"scheduler": {"interval_seconds": 0.1},
               "evidence": {"dir": str(tmp_path / "evidence")}}
    async with running_dudao(f"sqlite:///{target}", shipped_classifier, **options) as dudao:
        staff = dudao.user(STAFF, "林晓琳")
        await dudao.bind(staff, "DDS01", role="staff")
        await dudao.container.filing.file_tip(TipInput(
            text="城关一小三年级作业每天写到十一点，电话13812345678", reporter_user_id=PARENT,
            category="homework_burden", confidence=0.97, school_code="QX-S001"))
        tz = dudao.container.settings.tz
        await settle(0.3)  # a normal day (23 November): the scheduler sends no report
        assert await report_rows(dudao) == []
        # 15 December, 10:00: the 半月报 of 1–14 December is due today.
        dudao.clock.current = datetime.combine(date(2026, 12, 15), time(10), tzinfo=tz)
        summary = await staff.wait_for_message(lambda m: "定期报表" in (m.text or ""),
                                               timeout=10)
        assert "2026年12月1日至14日" in (summary.text or "")
        chart = await staff.wait_for_message(lambda m: m.kind == "photo", timeout=10)
        workbook = await staff.wait_for_message(
            lambda m: m.kind == "document" and str(m.content["document"].get(
                "file_name", "")).endswith(".xlsx"), timeout=10)
        bulletin = await staff.wait_for_message(
            lambda m: m.kind == "document" and str(m.content["document"].get(
                "file_name", "")).endswith(".docx"), timeout=10)
        assert staff.download(chart.file_id or "").startswith(b"\x89PNG")
        sheets = load_workbook(io.BytesIO(staff.download(workbook.file_id or ""))).worksheets
        assert len(sheets) == 2
        body = "\n".join(p.text for p in Document(io.BytesIO(
            staff.download(bulletin.file_id or ""))).paragraphs)
        assert "2026年12月1日至14日" in body and "{{" not in body
        await settle(0.5)  # several more scheduler runs on the same day: nothing more
        rows = await report_rows(dudao)
        assert rows == [(STAFF, "report.half", "report:half:2026-12-01:DDS01")]
        reports = [m for m in staff.messages if m.from_bot and "定期报表" in (m.text or "")]
        assert len(reports) == 1
    # A restart (a new process on the same database) on the same day queues nothing more.
    async with running_dudao(f"sqlite:///{target}", shipped_classifier, **options) as again:
        again.clock.current = datetime.combine(date(2026, 12, 15), time(11), tzinfo=tz)
        await settle(0.5)
        assert await report_rows(again) == rows
        assert not [m for m in again.api.user(STAFF).messages if m.from_bot]
