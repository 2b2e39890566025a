"""Every text and keyboard the Telegram bot shows, rendered from the catalogue, HTML-escaped.

Callback data comes from `protocol` and only names what was pressed; the server re-checks
everything it names, so a forged button can do nothing but be refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, tzinfo
from html import escape, unescape
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.domain import Actor, Case, CaseEvent, Disposition, DomainError, Role, Status
from bot.intake import EntityChoice, TipAnalysis
from bot.messages import explain, t
from bot.notices import TRANSLATED, filed_notice
from bot.ports import Notice, OutboxMessage
from bot.privacy import mask_personal_data
from handlers.telegram import keyboards
from handlers.telegram import protocol as p

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None


def category_name(category: str) -> str:
    return t(f"category.{category}")


def status_name(status: Status | str) -> str:
    return t(f"status.{Status(status).value}")


def local(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def refusal_html(err: DomainError) -> str:
    """A domain refusal for an HTML message: its parameters may echo user input or directory
    names, so every one is escaped."""
    return explain(err.key, {k: escape(str(v)) for k, v in err.params.items()})


def refusal_alert(err: DomainError) -> str:
    """A domain refusal for a button's pop-up (plain text; Telegram caps it at 200)."""
    return explain(err.key, err.params)[:190]


def welcome() -> str:
    return t("parent.welcome")


def tip_summary(analysis: TipAnalysis, entity: EntityChoice | None,
                evidence_count: int) -> tuple[str, InlineKeyboardMarkup]:
    """The draft before filing: what we understood, and the anonymous/named choice."""
    where = escape(entity.name) if entity else t("parent.draft.no_entity")
    text = t("parent.draft.summary", category=category_name(analysis.category), where=where,
             evidence=evidence_count)
    rows = [
        [_draft(t("button.anonymous"), p.DraftChoice.ANONYMOUS),
         _draft(t("button.named"), p.DraftChoice.NAMED)],
        [_draft(t("button.cancel"), p.DraftChoice.CANCEL)],
    ]
    if entity is not None:
        rows.insert(1, [InlineKeyboardButton(t("button.not_this_entity"),
                                             callback_data=p.EntityReject().pack())])
    return text, InlineKeyboardMarkup(rows)


def entity_question(candidates: Sequence[EntityChoice]) -> tuple[str, InlineKeyboardMarkup]:
    """Ask the parent to confirm which school or institution they mean."""
    rows = [[InlineKeyboardButton(c.name, callback_data=p.EntityPick(i).pack())]
            for i, c in enumerate(candidates[:5])]
    rows.append([_draft(t("button.type_name"), p.DraftChoice.TYPE_ENTITY),
                 _draft(t("button.skip_entity"), p.DraftChoice.SKIP_ENTITY)])
    key = "parent.draft.pick_entity" if candidates else "parent.draft.ask_entity"
    return t(key), InlineKeyboardMarkup(rows)


def _draft(text: str, choice: p.DraftChoice) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=p.DraftButton(choice).pack())


def contact_request() -> tuple[str, ReplyKeyboardMarkup]:
    keyboard = ReplyKeyboardMarkup(
        [[KeyboardButton(t("button.share_phone"), request_contact=True)],
         [KeyboardButton(t("button.no_phone"))]],
        one_time_keyboard=True, resize_keyboard=True)
    return t("parent.draft.ask_contact"), keyboard


def filed(reference: str, category: str, handler_role: str) -> str:
    """The reply to a filed tip: the same text its outbox row renders (bot.notices)."""
    return notice_text(filed_notice(reference, category, handler_role))


def notice_text(notice: Notice) -> str:
    """A notice's text (HTML): the catalogue texts with their parameters translated."""
    params = {name: _notice_param(name, value) for name, value in notice.params.items()}
    return "\n".join(t(key, **params) for key in (notice.key, *notice.more))


def case_list(cases: Sequence[Case]) -> tuple[str, InlineKeyboardMarkup | None]:
    if not cases:
        return t("parent.mycases.empty"), None
    lines = [t("parent.mycases.title")]
    rows = []
    for case in cases:
        lines.append(t("parent.mycases.line", reference=case.reference,
                       category=category_name(case.category), status=_parent_status(case)))
        question = pending_question(case)
        if question:
            lines.append(t("parent.mycases.question", question=escape(question)))
        rows.append([InlineKeyboardButton(case.reference,
                                          callback_data=p.ShowCase(case.reference).pack())])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


_PARENT_VISIBLE = {"filed", "routed", "to_triage", "assigned", "accepted", "info_requested",
                   "info_added", "approved", "rectification_reported", "verified",
                   "verification_failed", "deadline_extended", "rated", "reopened", "merged",
                   "merged_case_closed", "declined", "handed_back"}


def pending_question(case: Case) -> str | None:
    """The supervisor's question the parent has not answered yet (需补充材料), if any."""
    if case.status is not Status.AWAITING_INFO:
        return None
    return next((e.comment for e in reversed(case.events) if e.action == "info_requested"),
                None)


def _parent_status(case: Case) -> str:
    """A merged case is not closed for its parent until the case it joined is."""
    if case.awaiting_merged_outcome:
        return t("parent.mycases.merged")
    return status_name(case.status)


def _event_line(event: CaseEvent, tz: tzinfo) -> str:
    return t("parent.history.line", at=local(event.at, tz),
             what=t(f"history.{event.action}"))


def parent_case(case: Case, tz: tzinfo,
                own_evidence: int = 0) -> tuple[str, InlineKeyboardMarkup | None]:
    """A parent's view of their case: status and history in plain Chinese (and a button
    to open the files they attached, when there are some)."""
    lines = [t("parent.case.head", reference=case.reference,
               category=category_name(case.category), status=_parent_status(case))]
    if case.merged_into is not None:
        # Only that it was merged and how far it is: never the other case's text or parent.
        lines.append(t("parent.case.merged"))
        if case.awaiting_merged_outcome and case.merged_into_status is not None:
            lines.append(t("parent.case.merged_progress",
                           status=status_name(case.merged_into_status)))
    if case.status is Status.CLOSED and case.disposition is not None:
        lines.append(t("parent.case.outcome", outcome=t(f"disposition.{case.disposition.value}")))
        if case.disposition_note:
            key = ("parent.case.decline_reason" if case.disposition is Disposition.DECLINED
                   else "parent.case.findings")
            lines.append(t(key, text=escape(mask_personal_data(case.disposition_note))))
    question = pending_question(case)
    if question:
        lines.append(t("parent.mycases.question", question=escape(question)))
    lines += [_event_line(e, tz) for e in case.events if e.action in _PARENT_VISIBLE]
    reporter = Actor(Role.PARENT, user_id=case.reporter_user_id)
    rows = keyboards.parent_rows(case.reference, case.next_actions(reporter))
    return "\n".join(lines), keyboards.markup(
        rows + keyboards.evidence_rows(case.reference, own_evidence))


def skip_button(data: p.CallbackData) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t("button.skip"),
                                                       callback_data=data.pack())]])


def plain(html_text: str) -> str:
    """The text of an HTML message without tags, for the plain-text outbox."""
    return unescape(re.sub(r"<[^>]+>", "", html_text))


def render_outbox(row: OutboxMessage) -> tuple[str, InlineKeyboardMarkup | None]:
    """An outbox row as an HTML message and its buttons, rendered now from its notice (rows
    queued before notices were stored keep their plain text and button data).

    Raises UnrenderableNotice for a notice this version cannot render.
    """
    if row.notice is None:
        return escape(row.text), _legacy_markup(row.markup)
    try:
        return render_notice(Notice.from_json(row.notice))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise UnrenderableNotice(f"outbox {row.id}: {exc!r}") from exc


def render_notice(notice: Notice) -> tuple[str, InlineKeyboardMarkup | None]:
    """A notice as an HTML message and its buttons (KeyError etc. for a broken one)."""
    text = notice_text(notice)
    if notice.key == "hotspots.weekly":
        return text, hotspot_keyboard(notice)
    if notice.key in ("reminder.overdue", "reminder.office", "notify.staff.supervised_list"):
        return text, daily_keyboard(notice)
    return text, notice_keyboard(notice)


def daily_keyboard(notice: Notice) -> InlineKeyboardMarkup | None:
    """One button per case a daily reminder names, two to a row."""
    references = [r for r in str(notice.params.get("references", "")).split("\n") if r]
    if notice.audience is Role.SUPERVISOR:
        buttons = [keyboards.button(r, p.SupervisorCase(p.SvStep.OPEN, r)) for r in references]
    else:
        buttons = [keyboards.button(r, p.OfficeCase(p.OfficeStep.OPEN, r)) for r in references]
    return keyboards.markup([buttons[i:i + 2] for i in range(0, len(buttons), 2)])


def hotspot_keyboard(notice: Notice) -> InlineKeyboardMarkup | None:
    """One button per hotspot of the weekly list, each listing that place's tips."""
    places = str(notice.params.get("places", "")).split("\n")
    labels = str(notice.params.get("labels", "")).split("\n")
    rows = []
    for place, label in zip(places, labels, strict=False):
        kind, _, code = place.partition(":")
        if kind in p.Place.__members__.values() and code:
            rows.append([keyboards.button(label, p.HotspotCases(p.Place(kind), code))])
    return keyboards.markup(rows)


class UnrenderableNotice(ValueError):
    """A stored notice this version cannot render (an unknown key, action or parameter)."""


def _notice_param(name: str, value: object) -> str:
    namespace = TRANSLATED.get(name)
    if namespace is not None and value:
        return t(f"{namespace}.{value}")
    return escape(str(value))


def notice_keyboard(notice: Notice) -> InlineKeyboardMarkup | None:
    """The recipient's buttons for the case a notice is about."""
    reference = notice.reference
    if reference is None:
        return None
    if notice.audience is Role.SUPERVISOR:
        return keyboards.supervisor_keyboard(reference, notice.actions,
                                             with_open=notice.open_button)
    if notice.audience is Role.STAFF:
        return keyboards.staff_open(reference) if notice.open_button else None
    return keyboards.parent_keyboard(reference, notice.actions)


def _legacy_markup(spec: dict[str, Any] | None) -> InlineKeyboardMarkup | None:
    """Buttons as rows queued before notices kept them: {"buttons": [[[text, data]]]}."""
    buttons = spec.get("buttons") if spec else None
    if not isinstance(buttons, list):
        return None
    rows = [[InlineKeyboardButton(str(text), callback_data=str(data)) for text, data in row]
            for row in buttons]
    return InlineKeyboardMarkup(rows)
