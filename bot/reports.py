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
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

from bot.domain import CATEGORIES, Disposition, Rating, Status
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


_PERIOD = re.compile(
    r"^(?P<year>\d{4})-(?:[Qq](?P<quarter>[1-4])|(?P<month>\d{1,2})-[Hh](?P<half>[12]))$")


def parse_period(text: str) -> Period:
    """A period named on the command line: 2026-Q4 (a quarter), 2026-12-H1 (the 1st–14th),
    2026-12-H2 (the 15th–month end). ValueError (a Chinese message) for anything else."""
    match = _PERIOD.match(text.strip())
    month = int(match["month"]) if match and match["month"] else 1
    if match is None or not 1 <= month <= 12:
        raise ValueError(t("report.error.period", value=text.strip()[:20]))
    year = int(match["year"])
    if match["quarter"]:
        return quarter(date(year, int(match["quarter"]) * 3, 1))
    return half_month(date(year, month, 1 if match["half"] == "1" else 15))


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
    # Half month: (schools visited this month, schools with a responsible supervisor).
    # Quarter: school-months, i.e. each month of the quarter so far counted (每月至少1次).
    coverage: tuple[int, int]
    # Every stage clock decided (accept, propose, decide, rectification deadline): met, all.
    on_time: tuple[int, int] = (0, 0)
    by_stage: tuple[tuple[str, tuple[int, int]], ...] = ()
    # The work plans' own indicators.
    visits: int = 0  # school visits logged in the period
    rectified: tuple[int, int] = (0, 0)  # (rectified, found true: 立行立改 + 限期整改)
    by_rung: tuple[tuple[Rung, int], ...] = ()  # cases on each rung of the ladder above none
    repeated_schools: tuple[tuple[str, int], ...] = ()  # schools with 2+ cases, most first
    institutions_inspected: int = 0  # institutions whose case a supervisor took up
    declined: int = 0  # tips closed at triage as 不予受理 (counted in total too)


CONTENT = frozenset({Rating.SATISFIED, Rating.BASICALLY_SATISFIED})
STAGES = ("accept", "propose", "decide", "rectify")
FOUND_TRUE = frozenset({Disposition.FIXED, Disposition.RECTIFY})


def build_report(period: Period, rows: list[ExportRow], coverage: tuple[int, int],
                 visits: int = 0) -> Report:
    """Count the export rows of the period's cases (pure: no I/O)."""
    cases = [row for row in rows if not row.merged]
    categories = Counter(row.category for row in cases)
    rated = [row.rating for row in cases if row.rating is not None]
    stages = {name: [0, 0] for name in STAGES}
    for row in cases:
        for name, met, total in row.stages:
            stages[name][0] += met
            stages[name][1] += total
    true = [row for row in cases if row.disposition in FOUND_TRUE]
    done = sum(1 for row in true if row.status is Status.CLOSED)  # approved, or verified
    schools = Counter(row.school for row in cases if row.school)
    return Report(
        on_time=(sum(v[0] for v in stages.values()), sum(v[1] for v in stages.values())),
        by_stage=tuple((name, (v[0], v[1])) for name, v in stages.items()),
        visits=visits, rectified=(done, len(true)),
        repeated_schools=tuple((name, n) for name, n in schools.most_common() if n >= 2),
        institutions_inspected=len({row.institution for row in cases
                                    if row.institution and row.inspected}),
        period=period, total=len(cases), merged=len(rows) - len(cases),
        by_category=[(c, categories[c]) for c in CATEGORIES],
        by_district=Counter(row.district for row in cases).most_common(),
        by_status=Counter(row.status for row in cases).most_common(),
        top_entities=Counter(r.entity for r in cases if r.entity).most_common(TOP_ENTITIES),
        accepted_on_time=_rate([row.accepted_on_time for row in cases]),
        proposed_on_time=_rate([row.proposed_on_time for row in cases]),
        satisfied=(sum(1 for r in rated if r in CONTENT), len(rated)),
        coverage=coverage, by_rung=rung_counts(cases),
        declined=sum(1 for row in cases if row.disposition is Disposition.DECLINED))


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
               coverage_line=coverage_line(report)),
             t("report.line.on_time", rate=percent(report.on_time), stages=stage_text(report))]
    if report.period.kind == "quarter":
        lines.append(t("report.line.indicators", **indicator_params(report)))
    rungs = dict(report.by_rung)
    lines.append(t("report.rungs", supervised=rungs.get(Rung.SUPERVISED, 0),
                   interview=rungs.get(Rung.INTERVIEW, 0),
                   county_report=rungs.get(Rung.COUNTY_REPORT, 0)))
    if report.merged:
        lines.append(t("report.line.merged", merged=report.merged))
    if report.declined:
        lines.append(t("report.line.declined", count=report.declined))
    return "\n".join(lines)


def coverage_line(report: Report) -> str:
    return t(f"report.coverage.{report.period.kind}", visited=report.coverage[0],
             schools=report.coverage[1], coverage=percent(report.coverage))


def stage_text(report: Report) -> str:
    return "，".join(t(f"report.stage.{name}", rate=percent(value))
                    for name, value in report.by_stage)


def rung_text(report: Report) -> str:
    return "，".join(t(f"report.rung.{rung.value}", count=n) for rung, n in report.by_rung)


def indicator_params(report: Report) -> dict[str, str | int]:
    """The work plans' indicators as catalogue parameters (message, workbook, 通报)."""
    repeated = "、".join(t("report.repeated", name=name, count=n)
                        for name, n in report.repeated_schools[:TOP_ENTITIES])
    return {"visits": report.visits, "found_by_visits": t("report.found_by_visits"),
            "found_by_tips": report.total, "rectification_rate": percent(report.rectified),
            "rectified": report.rectified[0], "found_true": report.rectified[1],
            "escalation": rung_text(report) or t("report.none"),
            "repeated_schools": repeated or t("report.none"),
            "institutions_inspected": report.institutions_inspected}


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
    ws.append([t("report.rate.on_time"), percent(report.on_time),
               f"{report.on_time[0]}/{report.on_time[1]}"])
    for name, value in report.by_stage:
        ws.append([t(f"report.rate.stage.{name}"), percent(value), f"{value[0]}/{value[1]}"])
    ws.append([t("report.rate.rectified"), percent(report.rectified),
               f"{report.rectified[0]}/{report.rectified[1]}"])
    ws.append([t("report.count.visits"), report.visits])
    ws.append([t("report.count.tips"), report.total])
    ws.append([t("report.count.institutions"), report.institutions_inspected])
    for rung, n in report.by_rung:
        ws.append([t(f"report.rung.label.{rung.value}"), n])
    if report.merged:
        ws.append([t("report.line.merged", merged=report.merged)])
    tables: tuple[tuple[str, list[tuple[str, int]]], ...] = (
        ("category", [(category_label(c), n) for c, n in report.by_category]),
        ("district", [(district_label(d), n) for d, n in report.by_district]),
        ("status", [(status_label(s), n) for s, n in report.by_status]),
        ("entity", report.top_entities),
        ("repeated", list(report.repeated_schools)))
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


def file_name(period: Period, fmt: str = "xlsx") -> str:
    kind = "quarter" if period.kind == "quarter" else "half-month"
    return f"dudao-{kind}-report-{period.start.isoformat()}_{period.end.isoformat()}.{fmt}"


def bulletin_context(report: Report, office_name: str, seal: str, issued_on: str,
                     number: str) -> dict[str, object]:
    """The quarterly 通报's placeholders (data/templates/quarterly_bulletin.docx)."""
    stage = dict(report.by_stage)
    return {
        "office_name": office_name, "seal": seal, "issued_on": issued_on, "number": number,
        "period": report.period.label, "start": report.period.start.isoformat(),
        "end": report.period.end.isoformat(), "total": report.total, "merged": report.merged,
        "categories": [(category_label(c), n) for c, n in report.by_category if n]
        or [(t("report.none"), 0)],
        "on_time": percent(report.on_time),
        "accepted_on_time": percent(stage.get("accept", (0, 0))),
        "proposed_on_time": percent(stage.get("propose", (0, 0))),
        "decided_on_time": percent(stage.get("decide", (0, 0))),
        "rectified_on_time": percent(stage.get("rectify", (0, 0))),
        "satisfied": percent(report.satisfied), "coverage": percent(report.coverage),
        "coverage_detail": coverage_line(report), **indicator_params(report)}
