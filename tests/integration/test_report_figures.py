"""A report's figures are the database's: each figure of the quarterly report is checked
against a plain SQL count on the same rows (SQLite and PostgreSQL), the on-time rate counts
every stage clock and agrees with /overdue, and the export carries the tip text (masked for
readers who are not staff) and the case a tip was merged into."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlalchemy import text

from bot.domain import Disposition, Rating, Status
from bot.escalation import Rung
from bot.export import export_rows
from bot.messages import t
from bot.reports import parse_period, quarter
from tests.support.worlds import (
    PARENT,
    STAFF,
    SUP1,
    TZ,
    World,
    get,
    tip,
    to_rectifying,
)

pytestmark = pytest.mark.postgres


async def scalar(world: World, sql: str, **params: object) -> int:
    async with world.uow() as uow:
        return int((await uow.session.execute(text(sql), params)).scalar_one())


async def rows(world: World, sql: str, **params: object) -> list[tuple[object, ...]]:
    async with world.uow() as uow:
        return [tuple(r) for r in (await uow.session.execute(text(sql), params)).all()]


async def scenario(world: World) -> dict[str, str]:
    """Cases in every state the indicators count, filed on Monday 23 November 2026."""
    cases, office = world.cases, world.office
    refs = {}
    refs["fixed"] = (await world.filing.file_tip(tip(text="一小作业太多 13812345678"))).reference
    refs["rectified"] = (await world.filing.file_tip(
        tip(text="一小晚上十一点还在写作业"))).reference
    refs["rectifying"] = (await world.filing.file_tip(tip(text="一小周末也布置大量作业"))).reference
    refs["waiting"] = (await world.filing.file_tip(tip(text="实验小学作业多",
                                                       school_code="SCH02"))).reference
    refs["institution"] = (await world.filing.file_tip(tip(
        text="启明星周末补课", category="unlicensed_tutoring", school_code=None,
        institution_code="INS01"))).reference
    refs["merged"] = (await world.filing.file_tip(tip(text="一小作业太多了",
                                                      reporter_user_id=PARENT + 1))).reference
    await cases.perform(SUP1, refs["fixed"], lambda c, a, now: c.accept(a, now))
    await cases.perform(SUP1, refs["fixed"], lambda c, a, now: c.propose(
        a, Disposition.FIXED, now, note="已调整"))
    await office.approve(STAFF, refs["fixed"])
    await cases.perform(PARENT, refs["fixed"], lambda c, a, now: c.rate(
        a, Rating.SATISFIED, now))
    await to_rectifying(world, refs["rectified"], date(2026, 11, 30))
    await cases.perform(SUP1, refs["rectified"], lambda c, a, now: c.report_rectified(
        a, "已整改", now))
    await office.verify_passed(STAFF, refs["rectified"])
    await to_rectifying(world, refs["rectifying"], date(2026, 11, 27))
    await cases.perform(STAFF, refs["rectifying"], lambda c, a, now: c.supervise(a, now))
    tutor = 2003  # T01
    await cases.perform(tutor, refs["institution"], lambda c, a, now: c.accept(a, now))
    await world.merging.merge(STAFF, refs["merged"], refs["waiting"])
    async with world.uow() as uow:
        await uow.directory.add_visit("S01", "SCH01", date(2026, 11, 24), "", "",
                                      world.clock.now())
        await uow.directory.add_visit("S01", "SCH01", date(2026, 10, 12), "", "",
                                      world.clock.now())
        await uow.commit()
    return refs


async def test_quarterly_figures_match_the_database(world: World) -> None:
    refs = await scenario(world)
    world.clock.current = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)  # Thursday 10:00 Shanghai
    period = quarter(date(2026, 12, 3))
    report, export = await world.reporting.figures(period)
    start = datetime(2026, 10, 1, tzinfo=TZ)
    end = datetime(2027, 1, 1, tzinfo=TZ)
    window = "created_at >= :start AND created_at < :end"
    own = f"{window} AND merged_into_id IS NULL"

    assert report.total == await scalar(world, f"SELECT count(*) FROM cases WHERE {own}",
                                        start=start, end=end) == 5
    assert report.merged == await scalar(
        world, f"SELECT count(*) FROM cases WHERE {window} AND merged_into_id IS NOT NULL",
        start=start, end=end) == 1
    by_category = dict(await rows(
        world, f"SELECT category, count(*) FROM cases WHERE {own} GROUP BY category",
        start=start, end=end))
    assert {c: n for c, n in report.by_category if n} == by_category
    by_status = dict(await rows(
        world, f"SELECT status, count(*) FROM cases WHERE {own} GROUP BY status",
        start=start, end=end))
    assert {s.value: n for s, n in report.by_status} == by_status
    assert report.satisfied == (
        await scalar(world, f"SELECT count(*) FROM cases WHERE {own} AND rating IN "
                     "('satisfied', 'basically_satisfied')", start=start, end=end),
        await scalar(world, f"SELECT count(*) FROM cases WHERE {own} AND rating IS NOT NULL",
                     start=start, end=end)) == (1, 1)
    # 整改完成率: found true (立行立改 or 限期整改) and closed.
    assert report.rectified == (
        await scalar(world, f"SELECT count(*) FROM cases WHERE {own} AND disposition IN "
                     "('fixed', 'rectify') AND status = 'closed'", start=start, end=end),
        await scalar(world, f"SELECT count(*) FROM cases WHERE {own} AND disposition IN "
                     "('fixed', 'rectify')", start=start, end=end)) == (2, 3)
    # Escalation rungs: the case under a 督办 stands on that rung (bot/escalation.rung).
    own_c = "c." + own.replace(" AND ", " AND c.")
    assert dict(report.by_rung)[Rung.SUPERVISED] == await scalar(
        world, "SELECT count(DISTINCT e.case_id) FROM case_events e JOIN cases c "
        f"ON c.id = e.case_id WHERE e.action = 'supervised' AND {own_c}",
        start=start, end=end) == 1
    repeated = await rows(
        world, "SELECT s.name, count(*) FROM cases c JOIN schools s ON s.id = c.school_id "
        f"WHERE c.{own.replace(' AND ', ' AND c.')} GROUP BY s.name HAVING count(*) >= 2",
        start=start, end=end)
    assert list(report.repeated_schools) == [(str(n), int(c)) for n, c in repeated]
    assert report.repeated_schools == (("青溪县城关第一小学", 3),)
    assert report.institutions_inspected == await scalar(
        world, "SELECT count(DISTINCT c.institution_id) FROM cases c WHERE "
        f"c.{own.replace(' AND ', ' AND c.')} AND c.institution_id IS NOT NULL AND EXISTS "
        "(SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.to_status = 'accepted')",
        start=start, end=end) == 1
    assert report.visits == await scalar(
        world, "SELECT count(*) FROM visits WHERE visit_date >= :a AND visit_date <= :b",
        a=date(2026, 10, 1), b=date(2026, 12, 3)) == 2
    # Coverage over the whole quarter: each month's visited schools (Oct: SCH01, Nov: SCH01,
    # Dec: none) over the two supervised schools in each of the three months.
    assert report.coverage == (2, 6)
    # On time: every stage clock; what /overdue lists now is late in the report too.
    overdue = await world.office.overdue(STAFF)
    late_now = {(item.case.reference, item.clock) for item in overdue}
    assert (refs["rectifying"], "rectify") in late_now
    stage = dict(report.by_stage)
    late_total = report.on_time[1] - report.on_time[0]
    assert late_total >= len(late_now) > 0
    assert stage["rectify"] == (1, 2)  # reported in time once, overdue once
    running_late = {ref for ref, clock in late_now if clock != "rectify"}
    for row in export:
        late_stages = {name for name, met, total in row.stages if met < total}
        if row.reference in running_late:
            assert late_stages, row.reference
    assert sum(stage[name][1] for name in ("accept", "propose", "decide", "rectify")) == \
        report.on_time[1]


async def test_the_export_carries_text_masked_and_merged_into(world: World) -> None:
    refs = await scenario(world)
    async with world.uow() as uow:
        masked = await export_rows(uow.case_facts, date(2026, 11, 1), date(2026, 11, 30),
                                   tz=TZ, now=world.clock.now())
        whole = await export_rows(uow.case_facts, date(2026, 11, 1), date(2026, 11, 30),
                                  tz=TZ, now=world.clock.now(), mask=False)
    by_ref = {r.reference: r for r in masked}
    assert "138****5678" in by_ref[refs["fixed"]].text
    assert "13812345678" in {r.reference: r for r in whole}[refs["fixed"]].text
    assert by_ref[refs["merged"]].merged_into == refs["waiting"]
    data, _ = await world.reporting.export_xlsx(STAFF, date(2026, 11, 1), date(2026, 11, 30))
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    header = [c.value for c in sheet[1]]
    merged_col = header.index(t("export.column.merged_into"))
    text_col = header.index(t("export.column.text"))
    cells = {r[0].value: r for r in sheet.iter_rows(min_row=2)}
    assert cells[refs["merged"]][merged_col].value == refs["waiting"]
    assert cells[refs["fixed"]][text_col].value == "一小作业太多 13812345678"  # staff: whole


async def test_the_bulletin_docx_holds_the_quarters_figures(world: World) -> None:
    await scenario(world)
    world.clock.current = datetime(2026, 12, 24, 2, 0, tzinfo=UTC)
    files = await world.reporting.build(parse_period("2026-Q4"))
    body = "\n".join(p.text for p in Document(io.BytesIO(files.bulletin)).paragraphs)
    assert "2026年第4季度" in body and "共受理群众反映问题5件" in body
    assert "作业负担：4件" in body and "违规校外培训：1件" in body
    assert "督办 1 件" in body and "青溪县城关第一小学（3 件）" in body
    assert "{{" not in body and "{%" not in body
    assert files.workbook.startswith(b"PK") and files.chart.startswith(b"\x89PNG")
    assert (await get(world, (await world.filing.file_tip(tip())).reference)).status \
        is Status.ASSIGNED  # building a report changes nothing


def test_periods_parse_and_name_themselves() -> None:
    q4 = parse_period("2026-Q4")
    assert (q4.kind, q4.start, q4.end) == ("quarter", date(2026, 10, 1), date(2026, 12, 31))
    h1, h2 = parse_period("2026-12-H1"), parse_period("2026-12-h2")
    assert (h1.start, h1.end, h2.start, h2.end) == (
        date(2026, 12, 1), date(2026, 12, 14), date(2026, 12, 15), date(2026, 12, 31))
    assert parse_period(" 2027-02-H2 ").end == date(2027, 2, 28)
    for bad in ("2026-Q5", "2026-13-H1", "2026-12", "Q4", "2026-12-H3", ""):
        with pytest.raises(ValueError):
            parse_period(bad)
