"""半月报 and 季度通报: periods, figures, the chart image, the workbook, and due-date notices."""

from __future__ import annotations

import io
import os
import warnings
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook

from bot.domain import Disposition, DomainError, Rating
from bot.export import ExportRow
from bot.messages import t
from bot.reminders import report_due
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
from tests.test_office_service import PARENT, STAFF, SUP1, World, tip, world  # noqa: F401

pytestmark = pytest.mark.postgres  # the database test runs on SQLite and PostgreSQL
CI = bool(os.environ.get("CI"))


def row(category: str, district: str, entity: str, accepted: bool | None,
        rating: str = "") -> ExportRow:
    return ExportRow("SJ-2026-000001", datetime(2026, 12, 2, tzinfo=UTC),
                     t(f"category.{category}"), entity, district, t("status.assigned"), "", "",
                     None, None, None, None, accepted, None, rating)


ROWS = [row("homework_burden", "城关镇", "城关第一小学", True, t("rating.satisfied")),
        row("homework_burden", "城关镇", "城关第一小学", False, t("rating.basically_satisfied")),
        row("fees_refund", "青溪镇", "启明星培训学校", None, t("rating.dissatisfied")),
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


@pytest.mark.parametrize(("day", "expected"), [
    (date(2026, 12, 13), None),
    (date(2026, 12, 14), "half:2026-12-01"), (date(2026, 12, 15), "half:2026-12-01"),
    (date(2026, 12, 16), None),
    (date(2026, 12, 24), "quarter:2026-10-01"), (date(2026, 12, 25), "quarter:2026-10-01"),
    (date(2026, 11, 24), None),
    (date(2026, 12, 30), "half:2026-12-15"), (date(2026, 12, 31), "half:2026-12-15"),
    (date(2027, 2, 27), "half:2027-02-15"),
])
def test_when_a_report_falls_due(day: date, expected: str | None) -> None:
    due = report_due(day)
    assert (due[1] if due else None) == expected


def test_figures_count_the_period_rows() -> None:
    report = build_report(half_month(date(2026, 12, 10)), ROWS, (30, 40))
    assert report.total == 4
    assert report.by_category[0] == ("作业负担", 2) and len(report.by_category) == 6
    assert report.by_district == [("城关镇", 3), ("青溪镇", 1)]
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
    cases, office = world.cases, world.office
    first = (await world.filing.file_tip(tip())).reference
    await world.filing.file_tip(tip(category="fees_refund", school_code=None,
                             institution_code="INS01"))
    await cases.perform(SUP1, first, lambda c, a, now: c.accept(a, now))
    await cases.perform(SUP1, first, lambda c, a, now: c.propose(
        a, Disposition.FIXED, now, note="已调整"))
    await cases.perform(STAFF, first, lambda c, a, now: c.approve_proposal(a, now))
    await cases.perform(PARENT, first, lambda c, a, now: c.rate(a, Rating.SATISFIED, now))
    report, workbook, chart = await office.report(STAFF, "half")
    assert report.period.start == date(2026, 11, 15) and report.total == 2
    assert dict(report.by_category)["作业负担"] == 1 and dict(report.by_category)["收费退费"] == 1
    assert report.satisfied == (1, 1) and report.accepted_on_time == (1, 1)
    assert report.coverage == (0, 2)  # two schools with a supervisor, none visited yet
    assert chart.startswith(b"\x89PNG") and workbook.startswith(b"PK")
    with pytest.raises(DomainError):
        await office.report(SUP1, "quarter")  # staff only
