"""半月报 and 季度通报: periods, figures, the chart image, the workbook, and due-date notices."""

from __future__ import annotations

import io
import os
import warnings
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from bot.domain import Disposition, DomainError, Rating, Status
from bot.export import ExportRow
from bot.messages import t
from bot.reports import (
    build_report,
    chart_png,
    chinese_font,
    half_month,
    period_of,
    quarter,
    summary_text,
    to_workbook,
)
from tests.support.worlds import PARENT, STAFF, SUP1, World, tip

pytestmark = pytest.mark.postgres  # the database test runs on SQLite and PostgreSQL
CI = bool(os.environ.get("CI"))


def row(category: str, district: str, entity: str, accepted: bool | None,
        rating: Rating | None = None, status: Status = Status.ASSIGNED,
        merged_into: str | None = None) -> ExportRow:
    return ExportRow("SJ-2026-000001", datetime(2026, 12, 2, tzinfo=UTC), category, entity,
                     district, status, None, "", None, None, None, None, accepted, None, rating,
                     merged_into, Status.ACCEPTED if merged_into else None)


ROWS = [row("homework_burden", "城关镇", "城关第一小学", True, Rating.SATISFIED),
        row("homework_burden", "城关镇", "城关第一小学", False, Rating.BASICALLY_SATISFIED),
        row("fees_refund", "青溪镇", "启明星培训学校", None, Rating.DISSATISFIED),
        row("other", "城关镇", "", True)]


def test_half_months_and_quarters() -> None:
    assert (half_month(date(2026, 12, 14)).start, half_month(date(2026, 12, 14)).end) == (
        date(2026, 12, 1), date(2026, 12, 14))
    assert half_month(date(2026, 12, 15)).end == date(2026, 12, 31)
    assert half_month(date(2027, 2, 20)).end == date(2027, 2, 28)
    previous = period_of("half", date(2026, 12, 3), previous=True)
    assert (previous.start, previous.end) == (date(2026, 11, 15), date(2026, 11, 30))
    assert (quarter(date(2026, 12, 20)).start, quarter(date(2026, 12, 20)).end) == (
        date(2026, 10, 1), date(2026, 12, 31))
    last = period_of("quarter", date(2027, 1, 5), previous=True)
    assert (last.start, last.end) == (date(2026, 10, 1), date(2026, 12, 31))
    assert last.label == "2026年第4季度"
    assert half_month(date(2026, 12, 3)).label == "2026年12月1日至14日"


def test_figures_count_the_period_rows() -> None:
    report = build_report(half_month(date(2026, 12, 10)), ROWS, (30, 40))
    assert report.total == 4
    assert report.by_category[0] == ("homework_burden", 2) and len(report.by_category) == 6
    assert report.by_district == [("城关镇", 3), ("青溪镇", 1)]
    assert report.by_status == [(Status.ASSIGNED, 4)] and report.merged == 0
    assert report.accepted_on_time == (2, 3)
    assert report.satisfied == (2, 3)
    assert report.top_entities[0] == ("城关第一小学", 2)
    text = summary_text(report)
    assert "共 4 件" in text and "作业负担 2" in text and "66.7%" in text and "30/40" in text
    assert "违规校外培训" not in text  # categories without cases are not listed


def test_empty_period_says_so() -> None:
    report = build_report(half_month(date(2026, 12, 10)), [], (0, 0))
    assert "暂无数据" in summary_text(report) and "按类别：无" in summary_text(report)
    assert chart_png(report).startswith(b"\x89PNG")


def test_chart_is_a_png_with_chinese_labels() -> None:
    if chinese_font() is None:
        if CI:
            pytest.fail("no Chinese font: .ci/test installs fonts-wqy-microhei")
        pytest.skip("no Chinese font installed (apt-get install fonts-wqy-microhei)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph warns: make it fail the test
        png = chart_png(build_report(half_month(date(2026, 12, 10)), ROWS, (30, 40)))
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_workbook_holds_figures_chart_and_cases() -> None:
    report = build_report(quarter(date(2026, 12, 10)), ROWS, (30, 40))
    wb = load_workbook(io.BytesIO(to_workbook(report, ROWS, chart_png(report))))
    summary, cases = wb.worksheets
    assert summary.title == "汇总" and cases.title == t("export.sheet")
    assert "2026年第4季度" in str(summary["A1"].value)
    assert len(summary._images) == 1  # the chart, as an image
    values = [c.value for r in summary.iter_rows() for c in r if c.value is not None]
    assert "按时受理率" in values and "66.7%" in values
    assert cases.max_row == len(ROWS) + 1


async def test_office_report_on_a_real_database(world: World) -> None:
    cases = world.cases
    first = (await world.filing.file_tip(tip())).reference
    await world.filing.file_tip(tip(category="fees_refund", school_code=None,
                             institution_code="INS01"))
    await cases.perform(SUP1, first, lambda c, a, now: c.accept(a, now))
    await cases.perform(SUP1, first, lambda c, a, now: c.propose(
        a, Disposition.FIXED, now, note="已调整"))
    await cases.perform(STAFF, first, lambda c, a, now: c.approve_proposal(a, now))
    await cases.perform(PARENT, first, lambda c, a, now: c.rate(a, Rating.SATISFIED, now))
    report, workbook, chart = await world.reporting.report(STAFF, "half")
    assert report.period.start == date(2026, 11, 15) and report.total == 2
    assert dict(report.by_category)["homework_burden"] == 1
    assert dict(report.by_category)["fees_refund"] == 1
    assert report.satisfied == (1, 1) and report.accepted_on_time == (1, 1)
    assert report.coverage == (0, 2)  # two schools with a supervisor, none visited yet
    assert chart.startswith(b"\x89PNG") and workbook.startswith(b"PK")
    with pytest.raises(DomainError):
        await world.reporting.report(SUP1, "quarter")  # staff only


async def test_report_and_overdue_agree_on_a_case_that_waited_for_the_parent(
        world: World) -> None:
    cases, office, clock = world.cases, world.office, world.clock
    start = clock.current  # Monday 23 November, 10:00 in Shanghai
    waited = (await world.filing.file_tip(tip())).reference
    late = (await world.filing.file_tip(tip(text="四年级作业太多，每天写到十点"))).reference
    for reference in (waited, late):
        await cases.perform(SUP1, reference, lambda c, a, now: c.accept(a, now))
    clock.current = start + timedelta(hours=1)
    for reference in (waited, late):
        await cases.perform(SUP1, reference, lambda c, a, now: c.request_info(
            a, "几年级几班？", now))
    clock.current = start + timedelta(days=1, hours=1)  # `late` is answered after a day
    await cases.perform(PARENT, late, lambda c, a, now: c.add_information(a, "四年级二班", now))
    clock.current = start + timedelta(days=4, hours=1)  # `waited` after four days
    await cases.perform(PARENT, waited, lambda c, a, now: c.add_information(a, "三年级", now))
    # Wednesday 2 December: past the five working days, within them plus the wait for `waited`.
    clock.current = start + timedelta(days=9)
    overdue = {item.case.reference: item.clock for item in await office.overdue(STAFF)}
    assert overdue == {late: "propose"}
    await cases.perform(SUP1, waited, lambda c, a, now: c.propose(
        a, Disposition.FIXED, now, note="已调整"))
    report, _, _ = await world.reporting.report(STAFF, "quarter")
    assert report.proposed_on_time == (1, 2)  # `waited` on time, `late` late
    assert report.accepted_on_time == (2, 2)


async def test_a_merged_tip_is_counted_once_under_the_case_it_joined(world: World) -> None:
    target = (await world.filing.file_tip(tip())).reference
    source = (await world.filing.file_tip(tip(text="城关一小三年级每天作业写到十一点",
                                             reporter_user_id=PARENT + 1))).reference
    await world.cases.perform(SUP1, target, lambda c, a, now: c.accept(a, now))
    await world.merging.merge(STAFF, source, target)
    report, workbook, _ = await world.reporting.report(STAFF, "half")
    assert report.total == 1 and report.merged == 1
    assert report.by_status == [(Status.ACCEPTED, 1)]
    assert dict(report.by_category)["homework_burden"] == 1
    assert report.accepted_on_time == (1, 1)
    assert "另有 1 条重复线索" in summary_text(report)
    summary, cases = load_workbook(io.BytesIO(workbook)).worksheets
    values = [c.value for r in summary.iter_rows() for c in r if c.value is not None]
    accepted = t("status.accepted")
    assert accepted in values and not any(str(v).startswith("合并办理（") for v in values)
    status = [c.value for c in cases["F"]][1:]  # the case sheet still lists the merged tip
    assert status == [accepted, t("export.merged_status", reference=target, status=accepted)]
