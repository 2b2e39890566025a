"""Every text and keyboard a supervisor sees, rendered from the catalogue, HTML-escaped.

Callback data (`protocol`) only names what was pressed; the server re-checks the
supervisor, the assignment and the status for every press.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta, tzinfo
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain import Actor, Case, CaseEvent, Disposition, Role, Status
from bot.messages import CATALOGUE, t
from bot.privacy import mask_personal_data
from bot.supervision import CaseLine, Coverage, SupervisorCase, VisitLogged
from handlers.telegram import keyboards
from handlers.telegram import protocol as p

Reply = tuple[str, InlineKeyboardMarkup | None]
HISTORY_SHOWN = 5
COMMENT_SHOWN = 80
PROPOSALS = (Disposition.UNFOUNDED, Disposition.FIXED, Disposition.RECTIFY,
             Disposition.TRANSFERRED)


def _button(text: str, data: p.CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=data.pack())


def _short_date(day: date) -> str:
    return f"{day.month}月{day.day}日"


def _when(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def actions(case: Case) -> InlineKeyboardMarkup | None:
    """The buttons for what the assigned supervisor may do next with this case."""
    assignee = Actor(Role.SUPERVISOR, person_code=case.assignee_code)
    return keyboards.supervisor_keyboard(case.reference, case.next_actions(assignee))


def _event_line(event: CaseEvent, tz: tzinfo) -> str:
    key = f"sv.history.{event.action}"
    what = t(key) if key in CATALOGUE else escape(event.action)
    comment = mask_personal_data(event.comment)
    if len(comment) > COMMENT_SHOWN:
        comment = comment[:COMMENT_SHOWN] + "…"
    line = t("sv.case.history_line", at=_when(event.at, tz), what=what)
    return line + (t("sv.case.history_comment", comment=escape(comment)) if comment else "")


def case_detail(view: SupervisorCase, tz: tzinfo) -> Reply:
    """One case as its supervisor sees it: never the parent's name or phone."""
    case = view.case
    lines = [t("sv.case.head", reference=case.reference,
               category=t(f"category.{case.category}"),
               entity=escape(view.entity_name) if view.entity_name else t("sv.case.no_entity"),
               status=t(f"status.{case.status.value}")),
             t("sv.case.text", text=escape(mask_personal_data(case.text))),
             t("sv.case.evidence", count=view.evidence_count)]
    if view.accept_due:
        lines.append(t("sv.case.accept_due", due=_when(view.accept_due, tz)))
    if view.propose_due:
        lines.append(t("sv.case.propose_due", due=_when(view.propose_due, tz)))
    if case.disposition and case.status is not Status.CLOSED:
        lines.append(t("sv.case.disposition", disposition=t(f"disposition.{case.disposition}")))
    if case.rectify_deadline and case.status in (Status.PROPOSED, Status.RECTIFYING,
                                                 Status.RECTIFICATION_REPORTED):
        late = (view.today - case.rectify_deadline).days
        lines.append(t("sv.case.deadline", date=case.rectify_deadline.isoformat())
                     + (t("sv.case.overdue", days=late)
                        if late > 0 and case.status is Status.RECTIFYING else ""))
    if case.pending_extension:
        lines.append(t("sv.case.pending_extension", date=case.pending_extension.isoformat()))
    if view.duplicates:
        lines.append(t("sv.case.duplicates", references="、".join(view.duplicates[:5])))
    lines.append(t("sv.case.history_title"))
    lines += [_event_line(e, tz) for e in case.events[-HISTORY_SHOWN:]]
    return "\n".join(lines), _with_evidence(actions(case), case.reference,
                                            view.evidence_count)


def _with_evidence(markup: InlineKeyboardMarkup | None, reference: str,
                   count: int) -> InlineKeyboardMarkup | None:
    rows: list[list[InlineKeyboardButton | None]] = \
        [list(row) for row in markup.inline_keyboard] if markup else []
    return keyboards.markup(rows + keyboards.evidence_rows(reference, count))


def case_list(lines: Sequence[CaseLine], tz: tzinfo) -> Reply:
    """The supervisor's open cases, most urgent first, each a button that opens it."""
    if not lines:
        return t("sv.cases.empty"), None
    text = [t("sv.cases.title", count=len(lines))]
    rows = []
    for line in lines:
        due = ""
        if line.overdue_days > 0:
            due = t("sv.cases.overdue", days=line.overdue_days)
        elif line.due is not None:
            due = t("sv.cases.due", due=line.due.astimezone(tz).strftime("%m-%d %H:%M"))
        text.append(t("sv.cases.line", reference=line.reference,
                      category=t(f"category.{line.category}"),
                      status=t(f"status.{line.status.value}"), due=due))
        mark = "⚠ " if line.overdue_days > 0 else ""
        rows.append([_button(f"{mark}{line.reference} {t(f'status.{line.status.value}')}",
                             p.SupervisorCase(p.SvStep.OPEN, line.reference))])
    return "\n".join(text), InlineKeyboardMarkup(rows)


def accepted(case: Case, propose_days: int) -> Reply:
    return (t("sv.accepted", reference=case.reference, days=propose_days),
            actions(case))


def prompt(key: str, *, skip: str | None = None, **params: object) -> Reply:
    """A question answered by text; `skip` names the button that answers it with nothing."""
    markup = InlineKeyboardMarkup([[_button(t(skip), p.SkipAnswer())]]) if skip else None
    return t(key, **params), markup


def disposition_question(reference: str) -> Reply:
    rows = [[_button(t(f"disposition.{d.value}"), p.PickDisposition(reference, d))]
            for d in PROPOSALS]
    return t("sv.prop.prompt", reference=reference), InlineKeyboardMarkup(rows)


def deadline_question(reference: str, choices: Sequence[tuple[int, date, bool]]) -> Reply:
    rows = [[_button(t("button.sv.days_default" if default else "button.sv.days", days=days,
                       date=_short_date(deadline)), p.PickDeadline(reference, days))]
            for days, deadline, default in choices]
    return t("sv.prop.deadline_prompt"), InlineKeyboardMarkup(rows)


def recheck_question(reference: str, choices: Sequence[tuple[int, date, bool]]) -> Reply:
    """The 回头看 re-check's result: the rectification holds, or a new deadline."""
    rows = [[_button(t("button.sv.recheck_ok"), p.RecheckResult(reference, 0))]]
    rows += [[_button(t("button.sv.recheck_no", days=days, date=_short_date(deadline)),
                      p.RecheckResult(reference, days))] for days, deadline, _ in choices]
    return t("sv.recheck.question", reference=reference), InlineKeyboardMarkup(rows)


def proposed(case: Case) -> Reply:
    detail = ""
    if case.disposition is Disposition.RECTIFY and case.rectify_deadline:
        detail = t("sv.prop.detail.deadline", date=case.rectify_deadline.isoformat())
    elif case.disposition is Disposition.TRANSFERRED:
        detail = t("sv.prop.detail.transfer", department=escape(case.transfer_to))
    disposition = t(f"disposition.{case.disposition.value}") if case.disposition else ""
    return t("sv.prop.done", reference=case.reference, disposition=disposition,
             detail=detail), None


def extension_question(case: Case, choices: Sequence[tuple[int, date]]) -> Reply:
    current = case.rectify_deadline.isoformat() if case.rectify_deadline else t("sv.case.none")
    rows = [[_button(t("button.sv.plus_days", days=days, date=_short_date(target)),
                     p.PickExtension(case.reference, days))] for days, target in choices]
    return t("sv.ext.prompt", reference=case.reference, deadline=current), \
        InlineKeyboardMarkup(rows)


def school_question(schools: Sequence[tuple[str, str]],
                    institutions: Sequence[tuple[str, str]] = ()) -> Reply:
    """Which school (责任督学) or tutoring institution (联系督导) was visited."""
    if not schools and not institutions:
        return t("sv.visit.no_schools"), None
    rows = [[_button(name, p.VisitSchool(code))] for code, name in schools]
    rows += [[_button(t("sv.visit.institution_button", name=name), p.VisitInstitution(code))]
             for code, name in institutions]
    key = "sv.visit.pick_school" if not institutions else (
        "sv.visit.pick_institution" if not schools else "sv.visit.pick_place")
    return t(key), InlineKeyboardMarkup(rows)


def visit_date_question(code: str, name: str, today: date, *,
                        institution: bool = False) -> Reply:
    days = [today - timedelta(days=n) for n in range(3)]
    row = [_button(t(f"button.sv.day{n}", date=_short_date(day)),
                   p.VisitInstitutionDate(code, day) if institution else p.VisitDate(code, day))
           for n, day in enumerate(days)]
    key = "sv.visit.pick_date_institution" if institution else "sv.visit.pick_date"
    return t(key, school=escape(name)), InlineKeyboardMarkup([row])


def visit_saved(logged: VisitLogged) -> Reply:
    cov = logged.coverage
    photo = t("sv.visit.with_photo") if logged.with_photo else ""
    if logged.institution:
        return t("sv.visit.saved_institution", date=logged.visit_date.isoformat(),
                 name=escape(logged.school_name), photo=photo,
                 visited=len(cov.institutions_visited), total=cov.institutions_total), None
    return t("sv.visit.saved", date=logged.visit_date.isoformat(),
             school=escape(logged.school_name), photo=photo,
             visited=len(cov.visited), total=cov.total), None


def coverage(cov: Coverage) -> Reply:
    if cov.total == 0 and cov.institutions_total == 0:
        return t("sv.visit.no_schools"), None
    lines = []
    if cov.total:
        lines.append(t("sv.visits.title", year=cov.month_start.year,
                       month=cov.month_start.month, visited=len(cov.visited), total=cov.total))
        lines += [t("sv.visits.visited", school=escape(name)) for _, name in cov.visited]
        lines += [t("sv.visits.unvisited", school=escape(name)) for _, name in cov.unvisited]
    if cov.institutions_total:
        lines.append(t("sv.visits.institutions_title", year=cov.month_start.year,
                       month=cov.month_start.month, visited=len(cov.institutions_visited),
                       total=cov.institutions_total))
        lines += [t("sv.visits.visited", school=escape(name))
                  for _, name in cov.institutions_visited]
        lines += [t("sv.visits.institution_unvisited", name=escape(name))
                  for _, name in cov.institutions_unvisited]
    lines.append(t("sv.visits.hint"))
    return "\n".join(lines), None

