"""The office's periodic reports: 半月报 (each half month) and 季度通报 (each quarter).

A report counts the cases filed in the period by category, district, school or institution
and status, and gives the on-time, satisfaction and visit-coverage rates, with the counts
drawn as a chart (a PNG image) and everything in one workbook beside the case rows. It counts
the export's typed rows (category ids, Status, Rating), so the figures and the export always
agree; names are translated only when the message, chart or workbook is drawn. A tip merged
into another case is counted once, under the case it joined.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

from bot.domain import CATEGORIES, Rating, Status
from bot.escalation import Rung
from bot.export import ExportRow, write_case_sheet
from bot.messages import t
from bot.timerules import month_bounds

log = logging.getLogger(__name__)
PeriodKind = Literal["half", "quarter"]
TOP_ENTITIES = 10
# Fonts that draw Simplified Chinese, in order of preference (Debian: fonts-wqy-microhei,
# fonts-noto-cjk; the rest are what office PCs and Macs have).
CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Zen Hei",
             "Source Han Sans SC", "Microsoft YaHei", "SimHei", "PingFang SC")


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    start: date
    end: date  # inclusive

    @property
    def label(self) -> str:
        if self.kind == "quarter":
            return t("report.period.quarter", year=self.start.year,
                     quarter=(self.start.month - 1) // 3 + 1)
        return t("report.period.half", year=self.start.year, month=self.start.month,
                 first=self.start.day, last=self.end.day)


def half_month(day: date) -> Period:
    """The half month holding `day`: the 1st–14th, or the 15th–month end."""
    first, next_month = month_bounds(day)
    if day.day < 15:
        return Period("half", first, first.replace(day=14))
    return Period("half", first.replace(day=15), next_month - timedelta(days=1))


def quarter(day: date) -> Period:
    start = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    end_month = start.month + 2
    return Period("quarter", start, month_bounds(date(day.year, end_month, 1))[1]
                  - timedelta(days=1))


def period_of(kind: PeriodKind, day: date, previous: bool = False) -> Period:
    """The current period of `kind` holding `day`, or the one before it."""
    current = half_month(day) if kind == "half" else quarter(day)
    if not previous:
        return current
    return period_of(kind, current.start - timedelta(days=1))


@dataclass(frozen=True)
class Report:
    period: Period
    total: int  # cases filed in the period, merged tips not counted apart
    merged: int  # tips of the period merged into another case
    by_category: list[tuple[str, int]]  # category ids, in CATEGORIES order
    by_district: list[tuple[str, int]]  # district names ("": not known), most first
    by_status: list[tuple[Status, int]]  # most first
    top_entities: list[tuple[str, int]]
    accepted_on_time: tuple[int, int]  # (on time, decided either way)
    proposed_on_time: tuple[int, int]
    satisfied: tuple[int, int]  # (满意 + 基本满意, rated)
    coverage: tuple[int, int]  # (schools visited, schools with a responsible supervisor)
    by_rung: tuple[tuple[Rung, int], ...] = ()  # cases on each rung of the ladder above none


CONTENT = frozenset({Rating.SATISFIED, Rating.BASICALLY_SATISFIED})


def build_report(period: Period, rows: list[ExportRow], coverage: tuple[int, int]) -> Report:
    """Count the export rows of the period's cases (pure: no I/O)."""
    cases = [row for row in rows if not row.merged]
    categories = Counter(row.category for row in cases)
    rated = [row.rating for row in cases if row.rating is not None]
    return Report(
        period=period, total=len(cases), merged=len(rows) - len(cases),
        by_category=[(c, categories[c]) for c in CATEGORIES],
        by_district=Counter(row.district for row in cases).most_common(),
        by_status=Counter(row.status for row in cases).most_common(),
        top_entities=Counter(r.entity for r in cases if r.entity).most_common(TOP_ENTITIES),
        accepted_on_time=_rate([row.accepted_on_time for row in cases]),
        proposed_on_time=_rate([row.proposed_on_time for row in cases]),
        satisfied=(sum(1 for r in rated if r in CONTENT), len(rated)),
        coverage=coverage, by_rung=rung_counts(cases))


def rung_counts(rows: list[ExportRow]) -> tuple[tuple[Rung, int], ...]:
    """How many cases stand on each rung of the escalation ladder (none left out)."""
    counted = Counter(row.rung for row in rows)
    return tuple((r, counted[r]) for r in Rung if r is not Rung.NONE)


def category_label(category: str) -> str:
    return t(f"category.{category}")


def district_label(district: str) -> str:
    return district or t("report.unknown")


def status_label(status: Status) -> str:
    return t(f"status.{status}")


def _rate(flags: list[bool | None]) -> tuple[int, int]:
    decided = [flag for flag in flags if flag is not None]
    return sum(decided), len(decided)


def percent(part: tuple[int, int]) -> str:
    return f"{part[0] / part[1]:.1%}" if part[1] else t("report.no_data")


def summary_text(report: Report) -> str:
    """The report's figures as a short Chinese message."""
    lines = [t("report.title", period=report.period.label, total=report.total),
             t("report.line.categories", items="，".join(
                 f"{category_label(c)} {n}" for c, n in report.by_category if n)
               or t("report.none")),
             t("report.line.districts", items="，".join(
                 f"{district_label(d)} {n}" for d, n in report.by_district[:8])
               or t("report.none")),
             t("report.line.rates", accepted=percent(report.accepted_on_time),
               proposed=percent(report.proposed_on_time), satisfied=percent(report.satisfied),
               visited=report.coverage[0], schools=report.coverage[1],
               coverage=percent(report.coverage))]
    rungs = dict(report.by_rung)
    lines.append(t("report.rungs", supervised=rungs.get(Rung.SUPERVISED, 0),
                   interview=rungs.get(Rung.INTERVIEW, 0),
                   county_report=rungs.get(Rung.COUNTY_REPORT, 0)))
    if report.merged:
        lines.append(t("report.line.merged", merged=report.merged))
    return "\n".join(lines)


@lru_cache(maxsize=1)
def chinese_font() -> str | None:
    """The first installed font that draws Chinese, or None (charts then show boxes)."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    found = next((name for name in CJK_FONTS if name in installed), None)
    if found is None:
        log.warning("no Chinese font for report charts; install one, e.g. "
                    "apt-get install fonts-wqy-microhei")
    return found


def chart_png(report: Report) -> bytes:
    """Cases by category and by district as one PNG (blocking: call in a thread)."""
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no global backend, no GUI state
    from matplotlib.ticker import MaxNLocator

    font = chinese_font()
    families = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    with matplotlib.rc_context({"font.family": families, "axes.unicode_minus": False}), \
            warnings.catch_warnings():
        if font is None:  # without a Chinese font every label would warn; one log line does
            warnings.simplefilter("ignore", UserWarning)
        figure = Figure(figsize=(10, 4.8), dpi=110)
        figure.suptitle(t("report.chart.title", period=report.period.label,
                          total=report.total))
        for axes, title, items in (
                (figure.add_subplot(1, 2, 1), t("report.chart.by_category"),
                 [(category_label(c), n) for c, n in report.by_category]),
                (figure.add_subplot(1, 2, 2), t("report.chart.by_district"),
                 [(district_label(d), n) for d, n in report.by_district[:10]])):
            names = [name for name, _ in items] or [t("report.none")]
            values = [n for _, n in items] or [0]
            bars = axes.barh(names[::-1], values[::-1], color="#3b6ea5")
            axes.bar_label(bars, padding=2)
            axes.set_title(title)
            axes.set_xlabel(t("report.chart.cases"))
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.margins(x=0.15)
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png")
    return out.getvalue()


def to_workbook(report: Report, rows: list[ExportRow], chart: bytes) -> bytes:
    """A workbook: the figures and the chart on the first sheet, the case rows on the second."""
    from openpyxl import Workbook
    from openpyxl.drawing.image import Image
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = t("report.sheet.summary")
    bold = Font(bold=True)
    ws.append([t("report.title", period=report.period.label, total=report.total)])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([])
    for key, value in (("accepted", report.accepted_on_time),
                       ("proposed", report.proposed_on_time),
                       ("satisfied", report.satisfied), ("coverage", report.coverage)):
        ws.append([t(f"report.rate.{key}"), percent(value), f"{value[0]}/{value[1]}"])
    if report.merged:
        ws.append([t("report.line.merged", merged=report.merged)])
    tables: tuple[tuple[str, list[tuple[str, int]]], ...] = (
        ("category", [(category_label(c), n) for c, n in report.by_category]),
        ("district", [(district_label(d), n) for d, n in report.by_district]),
        ("status", [(status_label(s), n) for s, n in report.by_status]),
        ("entity", report.top_entities))
    for heading, items in tables:
        ws.append([])
        ws.append([t(f"report.table.{heading}"), t("report.chart.cases")])
        ws.cell(ws.max_row, 1).font = bold
        ws.cell(ws.max_row, 2).font = bold
        for name, n in items:
            ws.append([name, n])
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 12
    ws.column_dimensions["C"].width = 12
    image = Image(io.BytesIO(chart))
    image.width, image.height = image.width * 0.8, image.height * 0.8
    ws.add_image(image, "E2")
    write_case_sheet(wb.create_sheet(t("export.sheet")), rows)
    wb.properties.title = t("report.title", period=report.period.label, total=report.total)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def file_name(period: Period) -> str:
    kind = "quarter" if period.kind == "quarter" else "half-month"
    return f"dudao-{kind}-report-{period.start.isoformat()}_{period.end.isoformat()}.xlsx"
