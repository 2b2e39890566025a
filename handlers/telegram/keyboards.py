"""The buttons for a case: one keyboard per role, built from the domain's next actions.

`Case.next_actions(actor)` decides what a role may do now; these functions only lay those
actions out as buttons (labels from the catalogue, data from `protocol`). Notices rendered at
delivery and the case views of `/cases`, `/mycases` and the office use the same functions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain import CaseAction, Rating
from bot.messages import t
from handlers.telegram import protocol as p

log = logging.getLogger(__name__)



def button(text: str, data: p.CallbackData) -> InlineKeyboardButton | None:
    """A button, or None (logged) when its data cannot be carried, e.g. an unusually long
    directory code: a missing button beats a keyboard Telegram refuses."""
    try:
        return InlineKeyboardButton(text, callback_data=data.pack())
    except ValueError:
        log.warning("button dropped, data cannot be packed: %r", data)
        return None


def markup(rows: Sequence[Sequence[InlineKeyboardButton | None]]) -> InlineKeyboardMarkup | None:
    """A keyboard without dropped buttons and empty rows; None when nothing is left."""
    clean = [[b for b in row if b is not None] for row in rows]
    clean = [row for row in clean if row]
    return InlineKeyboardMarkup(clean) if clean else None


def _pairs(buttons: list[InlineKeyboardButton | None]) -> list[list[InlineKeyboardButton | None]]:
    return [buttons[i:i + 2] for i in range(0, len(buttons), 2)]


# --- parent -----------------------------------------------------------------------------------
def parent_rows(reference: str,
                actions: Sequence[CaseAction]) -> list[list[InlineKeyboardButton | None]]:
    rows: list[list[InlineKeyboardButton | None]] = []
    for action in actions:
        if action is CaseAction.ADD_INFO:
            rows.append([button(t("button.add_info"), p.AddInfo(reference))])
        elif action is CaseAction.ANSWER:
            rows.append([button(t("button.answer"), p.AddInfo(reference))])
        elif action is CaseAction.RATE:
            rows.append([button(t(f"rating.{r.value}"), p.Rate(reference, r)) for r in Rating])
        elif action is CaseAction.REOPEN:
            rows.append([button(t("button.reopen"), p.Reopen(reference))])
    return rows


def parent_keyboard(reference: str,
                    actions: Sequence[CaseAction]) -> InlineKeyboardMarkup | None:
    """What a parent may do with their case now."""
    return markup(parent_rows(reference, actions))


# --- supervisor -----------------------------------------------------------------------------
_SUPERVISOR: dict[CaseAction, tuple[str, p.SvStep]] = {
    CaseAction.ACCEPT: ("button.sv.accept", p.SvStep.ACCEPT),
    CaseAction.HAND_BACK: ("button.sv.back", p.SvStep.HAND_BACK),
    CaseAction.PROPOSE: ("button.sv.propose", p.SvStep.PROPOSE),
    CaseAction.ASK: ("button.sv.ask", p.SvStep.ASK),
    CaseAction.REPORT_DONE: ("button.sv.done", p.SvStep.REPORT_DONE),
    CaseAction.REQUEST_EXTENSION: ("button.sv.extend", p.SvStep.REQUEST_EXTENSION),
    CaseAction.RECHECK: ("button.sv.recheck", p.SvStep.RECHECK),
}


def supervisor_keyboard(reference: str, actions: Sequence[CaseAction], *,
                        with_open: bool = False) -> InlineKeyboardMarkup | None:
    """What the assigned supervisor may do now, two to a row; `with_open` adds 查看详情."""
    buttons = [button(t(_SUPERVISOR[a][0]), p.SupervisorCase(_SUPERVISOR[a][1], reference))
               for a in actions if a in _SUPERVISOR]
    rows = _pairs(buttons)
    if with_open:
        rows.append([button(t("button.sv.open"), p.SupervisorCase(p.SvStep.OPEN, reference))])
    return markup(rows)


# --- office staff ---------------------------------------------------------------------------
_STAFF: dict[CaseAction, tuple[str, p.OfficeStep]] = {
    CaseAction.REASSIGN: ("office.button.reassign", p.OfficeStep.TRIAGE),
    CaseAction.SUPERVISE: ("office.button.supervise", p.OfficeStep.SUPERVISE),
    CaseAction.APPROVE: ("office.button.approve", p.OfficeStep.APPROVE),
    CaseAction.REJECT: ("office.button.reject", p.OfficeStep.REJECT),
    CaseAction.VERIFY_PASS: ("office.button.verify_ok", p.OfficeStep.VERIFY_PASS),
    CaseAction.VERIFY_FAIL: ("office.button.verify_no", p.OfficeStep.VERIFY_FAIL),
    CaseAction.GRANT_EXTENSION: ("office.button.extension_ok", p.OfficeStep.GRANT_EXTENSION),
    CaseAction.REFUSE_EXTENSION: ("office.button.extension_no", p.OfficeStep.REFUSE_EXTENSION),
    CaseAction.RECORD_INTERVIEW: ("office.button.interview", p.OfficeStep.INTERVIEW),
    CaseAction.RECORD_COUNTY_REPORT: ("office.button.county_report", p.OfficeStep.COUNTY_REPORT),
}


def staff_rows(reference: str, actions: Sequence[CaseAction], *,
               pending_extension: date | None = None,
               ) -> list[list[InlineKeyboardButton | None]]:
    """What staff may do now, two to a row, then the case's history (triage, which needs
    the categories, is laid out by the office views)."""
    deadline = pending_extension.strftime("%m-%d") if pending_extension else ""
    buttons = [button(t(_STAFF[a][0], deadline=deadline), p.OfficeCase(_STAFF[a][1], reference))
               for a in actions if a in _STAFF]
    rows = _pairs(buttons)
    rows.append([button(t("office.button.history"), p.OfficeCase(p.OfficeStep.HISTORY,
                                                                  reference))])
    return rows


def staff_open(reference: str) -> InlineKeyboardMarkup | None:
    """The one button of a notice to staff: open the case."""
    return markup([[button(t("office.button.open", reference=reference),
                           p.OfficeCase(p.OfficeStep.OPEN, reference))]])


# --- evidence and documents -----------------------------------------------------------------
def evidence_rows(reference: str, count: int) -> list[list[InlineKeyboardButton | None]]:
    """查看证据 for a case with files (none: no button)."""
    if count <= 0:
        return []
    return [[button(t("evidence.button.open", count=count), p.ShowEvidence(reference))]]


def document_rows(reference: str, kinds: Sequence[p.DocumentKind],
                  ) -> list[list[InlineKeyboardButton | None]]:
    """The documents staff may issue for the case now (整改通知书, 督办函)."""
    return [[button(t(f"document.button.{kind.value}"), p.IssueDocument(kind, reference))
             for kind in kinds]] if kinds else []
