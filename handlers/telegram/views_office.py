"""Every text and keyboard office staff see, rendered from the catalogue, HTML-escaped.

Callback data (`protocol`) only names what was pressed; the server re-checks everything.
Staff see everything about a case, the reporter's name and phone included.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain import (
    CATEGORIES,
    Actor,
    Case,
    CaseAction,
    CaseEvent,
    Disposition,
    Role,
    Status,
    parse_reference,
)
from bot.facts import TipLine
from bot.messages import CATALOGUE, t
from bot.office import Counts, Duplicate, OverdueItem, StaffCase
from bot.triage import SupervisorChoice
from handlers.telegram import keyboards
from handlers.telegram import protocol as p
from handlers.telegram.keyboards import button as _button
from handlers.telegram.keyboards import markup as _keyboard

PAGE_SIZE = 8  # supervisor buttons per page
MESSAGE_LIMIT = 3800  # Telegram allows 4096; leave room for the HTML tags
COMMENT_LIMIT = 300  # per history line; the full text stays in the database
LIST_LIMIT = 20
MERGE_ACTIONS = frozenset({"merged", "merge_received", "merged_case_closed",
                           "duplicate_dismissed"})
DUPLICATE_BUTTONS = 3  # possible duplicates offered for merging, best match first


def _local(moment: datetime | None, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else ""


def category_name(category: str) -> str:
    return t(f"category.{category}")


def status_name(status: Status | str) -> str:
    return t(f"status.{Status(status).value}")


def staff_only() -> str:
    return t("case.error.staff_only")


# --- menu and queues ------------------------------------------------------------------
def menu(counts: Counts) -> tuple[str, InlineKeyboardMarkup | None]:
    """The office menu: each queue with how much waits in it."""
    items = [("triage", counts.triage), ("approvals", counts.approvals),
             ("verify", counts.verifications), ("extensions", counts.extensions),
             ("overdue", counts.overdue)]
    rows = [[_button(t(f"office.menu.{kind}", count=n), p.ShowQueue(p.Queue(kind)))]
            for kind, n in items]
    return t("office.menu.title"), _keyboard(rows)


def queue(kind: str, cases: Sequence[Case], tz: tzinfo) -> tuple[str, InlineKeyboardMarkup | None]:
    """A list of cases waiting for the office, one button per case."""
    if not cases:
        return t(f"office.queue.{kind}.empty"), None
    lines = [t(f"office.queue.{kind}.title", count=len(cases))]
    rows = []
    for case in cases[:LIST_LIMIT]:
        lines.append(t("office.queue.line", reference=case.reference,
                       category=category_name(case.category), status=status_name(case.status),
                       at=_local(case.updated_at or case.created_at, tz)))
        rows.append([_button(t("office.button.open", reference=case.reference),
                             p.OfficeCase(p.OfficeStep.OPEN, case.reference))])
    if len(cases) > LIST_LIMIT:
        lines.append(t("office.queue.more", count=len(cases) - LIST_LIMIT))
    return "\n".join(lines), _keyboard(rows)


def overdue_list(items: Sequence[OverdueItem]) -> tuple[str, InlineKeyboardMarkup | None]:
    """Cases past a clock, each with a 督办 button."""
    if not items:
        return t("office.queue.overdue.empty"), None
    lines = [t("office.queue.overdue.title", count=len(items))]
    rows = []
    for item in items[:LIST_LIMIT]:
        case = item.case
        supervised = t("office.overdue.supervised") if case.supervised_at else ""
        lines.append(t("office.overdue.line", reference=case.reference,
                       clock=t(f"office.clock.{item.clock}"),
                       due=item.due.strftime("%Y-%m-%d %H:%M"), days=item.days,
                       supervised=supervised))
        rows.append([_button(t("office.button.supervise_ref", reference=case.reference),
                             p.OfficeCase(p.OfficeStep.SUPERVISE, case.reference)),
                     _button(t("office.button.details"),
                             p.OfficeCase(p.OfficeStep.OPEN, case.reference))])
    if len(items) > LIST_LIMIT:
        lines.append(t("office.queue.more", count=len(items) - LIST_LIMIT))
    return "\n".join(lines), _keyboard(rows)


# --- one case -------------------------------------------------------------------------
def _percent(value: float) -> str:
    """A model's confidence, rounded down: 0.8695 under a 0.87 threshold reads 86 %, not the
    87 % that would make its trip to triage look like a mistake."""
    return f"{math.floor(value * 100)}%"


def case_card(detail: StaffCase, tz: tzinfo, *, with_history: bool,
              today: date) -> tuple[list[str], InlineKeyboardMarkup | None]:
    """Everything staff need about a case, split into message-sized parts; the last part
    carries the buttons valid now."""
    case = detail.case
    lines = [t("office.case.head", reference=case.reference, status=status_name(case.status),
               created=_local(case.created_at, tz))]
    guess, confidence = detail.guess
    lines.append(t("office.case.category", category=category_name(case.category),
                   guess=category_name(guess), confidence=_percent(confidence)))
    if detail.alternatives:
        alternatives = "、".join(f"{category_name(c)} {_percent(p)}"
                                for c, p in detail.alternatives if c != guess)
        if alternatives:
            lines.append(t("office.case.alternatives", alternatives=alternatives))
    entity = escape(detail.entity_name) if detail.entity_name else t("office.case.no_entity")
    district = f"（{escape(detail.district_name)}）" if detail.district_name else ""
    lines.append(t("office.case.entity", entity=entity, district=district))
    lines.append(t("office.case.assignee", name=escape(detail.assignee_name)
                   if detail.assignee_name else t("office.case.nobody")))
    lines.append(_reporter(case))
    if detail.evidence_count:
        lines.append(t("office.case.evidence", count=detail.evidence_count))
    lines += _disposition_lines(case, today)
    if detail.duplicates:
        lines.append(t("office.case.duplicates", references="、".join(
            f"{d.reference}（{d.score:.0f}）" for d in detail.duplicates[:5])))
    if case.merged_into:
        lines.append(t("office.case.merged_into", reference=case.merged_into))
    merged_here = [str(e.data.get("from")) for e in case.events if e.action == "merge_received"]
    if merged_here:
        lines.append(t("office.case.merged_here", references="、".join(merged_here)))
    lines.append(t("office.case.text", text=escape(case.text)))
    parts = [_split_text("\n".join(lines))]
    if with_history:
        history = [t("office.history.title")]
        history += [_event_line(e, detail.people, tz) for e in case.events]
        parts.append(history)
    rows = (_action_rows(case) + duplicate_rows(case, detail.duplicates)
            + keyboards.evidence_rows(case.reference, detail.evidence_count)
            + keyboards.document_rows(case.reference, issuable_documents(case)))
    return _pack(parts), _keyboard(rows)


def issuable_documents(case: Case) -> list[p.DocumentKind]:
    """整改通知书 once a rectification is ordered; 督办函 once a 督办 is issued (open cases)."""
    kinds = []
    if case.disposition is Disposition.RECTIFY and case.rectify_deadline is not None \
            and case.status in (Status.RECTIFYING, Status.RECTIFICATION_REPORTED):
        kinds.append(p.DocumentKind.RECTIFICATION_NOTICE)
    if case.supervised_at is not None and case.is_open:
        kinds.append(p.DocumentKind.SUPERVISION_LETTER)
    return kinds


def merge_direction(case: Case, other: str) -> tuple[str, str]:
    """(source, target): the later-filed tip joins the earlier one (references count up)."""
    mine, theirs = parse_reference(case.reference), parse_reference(other)
    if mine is not None and theirs is not None and (theirs[1], theirs[2]) > (mine[1], mine[2]):
        return other, case.reference
    return case.reference, other


def duplicate_rows(case: Case, duplicates: Sequence[Duplicate],
                   ) -> list[list[InlineKeyboardButton | None]]:
    """Per possible duplicate: merge (the later tip into the earlier) or keep apart."""
    rows: list[list[InlineKeyboardButton | None]] = []
    for duplicate in duplicates[:DUPLICATE_BUTTONS]:
        source, target = merge_direction(case, duplicate.reference)
        label = (t("office.button.merge_into", reference=target) if source == case.reference
                 else t("office.button.merge_here", reference=source))
        rows.append([_button(label, p.Merge(source, target)),
                     _button(t("office.button.not_duplicate", reference=duplicate.reference),
                             p.NotDuplicate(case.reference, duplicate.reference))])
    return rows


def merge_question(source: Case, target: Case) -> tuple[str, InlineKeyboardMarkup | None]:
    """Ask staff to confirm an irreversible merge."""
    return (t("office.ask.merge", source=source.reference, target=target.reference),
            _keyboard([[_button(t("office.button.merge_confirm"),
                                p.MergeConfirmed(source.reference, target.reference)),
                        _button(t("button.cancel"),
                                p.MergeCancelled(source.reference, target.reference))]]))


def merge_cancelled(source: str, target: str) -> str:
    return t("office.done.merge_cancelled", source=source, target=target)


def merged(source: Case, target: Case) -> str:
    return t("office.done.merged", source=source.reference, target=target.reference)


def dismissed(case: Case, other: str) -> str:
    return t("office.done.dismissed", reference=case.reference, other=escape(other))


def _reporter(case: Case) -> str:
    if case.anonymous:
        return t("office.case.reporter_anonymous")
    return t("office.case.reporter", name=escape(case.reporter_name or "—"),
             phone=escape(case.reporter_phone or t("office.case.no_phone")))


def _disposition_lines(case: Case, today: date) -> list[str]:
    lines = []
    if case.disposition is not None:
        lines.append(t("office.case.disposition",
                       disposition=t(f"disposition.{case.disposition.value}"),
                       note=escape(case.disposition_note) or "—"))
    if case.transfer_to:
        lines.append(t("office.case.transfer", to=escape(case.transfer_to)))
    if case.rectify_deadline:
        late = (today - case.rectify_deadline).days
        key = "office.case.deadline_late" if late > 0 and case.status is Status.RECTIFYING \
            else "office.case.deadline"
        lines.append(t(key, deadline=case.rectify_deadline.isoformat(), days=late))
    if case.pending_extension:
        lines.append(t("office.case.extension", deadline=case.pending_extension.isoformat()))
    if case.supervised_at:
        lines.append(t("office.case.supervised"))
    if case.rating:
        lines.append(t("office.case.rating", rating=t(f"rating.{case.rating.value}"),
                       comment=escape(case.rating_comment) or "—"))
    return lines


def _who(event: CaseEvent, people: dict[str, str]) -> str:
    if event.actor_role is Role.PARENT:
        return t("office.who.parent")
    if event.actor_role is Role.SYSTEM:
        return t("office.who.system")
    return escape(people.get(event.actor, event.actor))


def _event_line(event: CaseEvent, people: dict[str, str], tz: tzinfo) -> str:
    what = CATALOGUE.get(f"office.action.{event.action}", event.action)
    detail = _event_detail(event, people)
    moved = (t("office.history.moved", frm=status_name(event.from_status),
               to=status_name(event.to_status))
             if event.from_status is not None and event.from_status is not event.to_status
             else t("office.history.stayed", status=status_name(event.to_status)))
    line = t("office.history.line", at=_local(event.at, tz), who=_who(event, people),
             what=what + detail, moved=moved)
    if event.comment:
        comment = event.comment if len(event.comment) <= COMMENT_LIMIT else \
            event.comment[:COMMENT_LIMIT] + "…"
        line += "\n" + t("office.history.comment", comment=escape(comment))
    return line


def _event_detail(event: CaseEvent, people: dict[str, str]) -> str:
    data = event.data
    if event.action in ("assigned", "routed") and data.get("assignee"):
        code = str(data["assignee"])
        return t("office.history.to_person", name=escape(people.get(code, code)))
    if event.action == "recategorised":
        return t("office.history.recategorised", old=category_name(str(data.get("old"))),
                 new=category_name(str(data.get("new"))))
    if event.action == "entity_set":
        return t("office.history.entity_set", old=escape(str(data.get("old") or "—")),
                 new=escape(str(data.get("new"))))
    if event.action == "proposed" and data.get("disposition"):
        text = t("office.history.disposition",
                 disposition=t(f"disposition.{data['disposition']}"))
        if data.get("deadline"):
            text += t("office.history.deadline", deadline=data["deadline"])
        if data.get("transfer_to"):
            text += t("office.history.transfer", to=escape(str(data["transfer_to"])))
        return text
    if event.action in ("verification_failed",) and data.get("deadline"):
        return t("office.history.deadline", deadline=data["deadline"])
    if event.action in ("deadline_extended", "extension_requested") and data.get("new"):
        return t("office.history.deadline", deadline=data["new"])
    if event.action == "rated" and data.get("rating"):
        return t("office.history.rating", rating=t(f"rating.{data['rating']}"))
    for key in ("into", "from", "other"):  # merged, merge_received / merged_case_closed, …
        if event.action in MERGE_ACTIONS and data.get(key):
            return t("office.history.case_ref", reference=escape(str(data[key])))
    return ""


def _split_text(text: str) -> list[str]:
    """One long block (the tip text can be long) as lines no part of which is too long."""
    out: list[str] = []
    for line in text.split("\n"):
        while len(line) > MESSAGE_LIMIT:
            cut = MESSAGE_LIMIT
            amp = line.rfind("&", cut - 8, cut)
            if amp != -1 and ";" not in line[amp:cut]:
                cut = amp  # never split an HTML entity such as &amp;
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    return out


def _pack(parts: Sequence[Sequence[str]]) -> list[str]:
    """Join lines into as few messages as fit under Telegram's limit."""
    messages: list[str] = []
    current = ""
    for lines in parts:
        for line in lines:
            candidate = f"{current}\n{line}" if current else line
            if len(candidate) > MESSAGE_LIMIT and current:
                messages.append(current)
                current = line
            else:
                current = candidate
        if current:
            messages.append(current)
            current = ""
    return messages


def actions(case: Case) -> InlineKeyboardMarkup | None:
    """The buttons for what staff may do to this case now."""
    return _keyboard(_action_rows(case))


def _action_rows(case: Case) -> list[list[InlineKeyboardButton | None]]:
    next_actions = case.next_actions(Actor(Role.STAFF))
    if CaseAction.TRIAGE in next_actions:
        return _category_rows(case)
    return keyboards.staff_rows(case.reference, next_actions,
                                pending_extension=case.pending_extension)


def category_keyboard(case: Case) -> InlineKeyboardMarkup | None:
    """Tap 1 of triage: the category (★ the classifier's guess, ✓ the current one)."""
    return _keyboard(_category_rows(case))


def _category_rows(case: Case) -> list[list[InlineKeyboardButton | None]]:
    guess = next((str(e.data.get("category")) for e in case.events if e.action == "filed"),
                 case.category)
    buttons = []
    for index, category in enumerate(CATEGORIES):
        mark = "★" if category == guess else ("✓" if category == case.category else "")
        buttons.append(_button(mark + category_name(category),
                               p.TriageCategory(case.reference, index)))
    rows: list[list[InlineKeyboardButton | None]] = [buttons[i:i + 2]
                                                      for i in range(0, len(buttons), 2)]
    last: list[InlineKeyboardButton | None] = []
    if CaseAction.DECLINE in case.next_actions(Actor(Role.STAFF)):
        last.append(_button(t("office.button.decline"),
                            p.OfficeCase(p.OfficeStep.DECLINE, case.reference)))
    last.append(_button(t("office.button.history"),
                        p.OfficeCase(p.OfficeStep.HISTORY, case.reference)))
    rows.append(last)
    return rows


def supervisor_keyboard(reference: str, category_index: int,
                        choices: Sequence[SupervisorChoice],
                        page: int) -> InlineKeyboardMarkup | None:
    """Tap 2 of triage: the supervisor (★ the directory's responsible ones first), paged."""
    pages = max(1, -(-len(choices) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = choices[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
    rows: list[list[InlineKeyboardButton | None]] = [[_button(
        ("★" if c.suggested else "") + t("office.button.person", name=c.name,
                                          role=t(f"role.{c.role}")),
        p.TriageAssign(reference, category_index, c.code))] for c in shown]
    nav = []
    if page > 0:
        nav.append(_button(t("office.button.prev"),
                           p.TriagePage(reference, category_index, page - 1)))
    if page < pages - 1:
        nav.append(_button(t("office.button.next"),
                           p.TriagePage(reference, category_index, page + 1)))
    rows.append(nav)
    rows.append([_button(t("office.button.back"), p.OfficeCase(p.OfficeStep.TRIAGE, reference))])
    return _keyboard(rows)


def verify_fail_keyboard(reference: str,
                         choices: Sequence[tuple[int, date]]) -> InlineKeyboardMarkup | None:
    """New rectification deadlines offered when 回头看 fails."""
    return _keyboard([[_button(t("office.button.days", days=d, deadline=deadline.isoformat()),
                               p.VerifyDeadline(reference, d)) for d, deadline in choices]])


def category_chosen(category: str) -> str:
    return t("office.triage.category_chosen", category=category_name(category))


def triaged(case: Case, supervisor_name: str) -> str:
    return t("office.triage.done", reference=case.reference,
             category=category_name(case.category), name=escape(supervisor_name))


def done(key: str, case: Case) -> str:
    """A short confirmation after a transition, naming the new status."""
    return t(f"office.done.{key}", reference=case.reference, status=status_name(case.status),
             deadline=case.rectify_deadline.isoformat() if case.rectify_deadline else "")


def report_keyboard() -> InlineKeyboardMarkup:
    """Which report to build: this or the last half month, this or the last quarter."""
    half, quarter = p.ReportKind.HALF, p.ReportKind.QUARTER
    rows = [[_button(t("report.button.half"), p.ReportPick(half, False)),
             _button(t("report.button.half_previous"), p.ReportPick(half, True))],
            [_button(t("report.button.quarter"), p.ReportPick(quarter, False)),
             _button(t("report.button.quarter_previous"), p.ReportPick(quarter, True))]]
    return InlineKeyboardMarkup([[b for b in row if b is not None] for row in rows])


def night_alerts(on: bool, *, changed: bool = False) -> tuple[str, InlineKeyboardMarkup | None]:
    """The staff member's night alerts and the button that switches them."""
    key = "office.night.on" if on else "office.night.off"
    text = (t("office.night.changed") + "\n" if changed else "") + t(key)
    label = t("office.button.night_off" if on else "office.button.night_on")
    return text, _keyboard([[_button(label, p.NightSwitch(not on))]])


def hotspot_cases(name: str, lines: Sequence[TipLine], days: int,
                  tz: tzinfo) -> tuple[str, InlineKeyboardMarkup | None]:
    """The recent tips about one hotspot, each with a button that opens it."""
    if not lines:
        return t("hotspots.cases.empty", days=days), None
    text = [t("hotspots.cases.title", name=escape(name), days=days, count=len(lines))]
    rows: list[list[InlineKeyboardButton | None]] = []
    for line in lines:
        text.append(t("hotspots.cases.line", reference=line.reference,
                      created=line.created_at.astimezone(tz).strftime("%m-%d"),
                      category=category_name(line.category), status=status_name(line.status)))
        rows.append([_button(t("office.button.open", reference=line.reference),
                             p.OfficeCase(p.OfficeStep.OPEN, line.reference))])
    return "\n".join(text), _keyboard(rows)
