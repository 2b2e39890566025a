"""Office staff (督导室) in Telegram: triage, approvals, 回头看, extensions, 督办, case history,
unbinding and exports.

Handlers stay thin: they parse the update, call `bot.office.OfficeService` (which refuses
anyone not bound as staff) and render with `views_office`. Buttons are `protocol`'s office
families; the comments staff are asked for are `flows` questions answered here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from html import escape
from typing import Any

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import Application, BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot.domain import (
    CATEGORIES,
    Case,
    CaseAction,
    DomainError,
    InvalidInput,
    Status,
    parse_reference,
)
from bot.export import default_file_name
from bot.hotspots import notice as hotspot_notice
from bot.intake import normalise_text
from bot.merging import MergingService
from bot.messages import t
from bot.office import QUEUE_LIMIT, OfficeService
from bot.reports import file_name, summary_text
from bot.triage import TriageService
from handlers.telegram import flows, protocol
from handlers.telegram import views_office as views
from handlers.telegram.context import DudaoContext
from handlers.telegram.views import refusal_alert, refusal_html, render_notice

log = logging.getLogger(__name__)

COMMENT_MAX = 500
EXPORT_DEFAULT_DAYS = 30


def _service(context: DudaoContext) -> OfficeService:
    return context.services.office


def _triage(context: DudaoContext) -> TriageService:
    return context.services.container.triage


def _merging(context: DudaoContext) -> MergingService:
    return context.services.container.merging


def _user_id(update: Update) -> int:
    user = update.effective_user
    assert user is not None
    return user.id


async def _reply(update: Update, text: str, markup: InlineKeyboardMarkup | None = None,
                 ) -> Message | None:
    message = update.effective_message
    if message is None:
        return None
    return await message.reply_html(text, reply_markup=markup)


async def _reply_parts(update: Update, parts: list[str],
                       markup: InlineKeyboardMarkup | None) -> None:
    for index, part in enumerate(parts):
        await _reply(update, part, markup if index == len(parts) - 1 else None)


async def _drop_buttons(update: Update) -> None:
    """Take the buttons off the pressed message so a second tap has nothing to press."""
    query = update.callback_query
    if query is None:
        return
    with contextlib.suppress(BadRequest):
        await query.edit_message_reply_markup(None)


async def _set_buttons(update: Update, markup: InlineKeyboardMarkup | None) -> None:
    query = update.callback_query
    assert query is not None
    with contextlib.suppress(BadRequest):  # "message is not modified" on a repeated tap
        await query.edit_message_reply_markup(markup)



# --- commands ---------------------------------------------------------------------------
async def _command(update: Update, context: DudaoContext, run: Any) -> None:
    """Run a staff command; any refusal (not staff, bad case) is told in Chinese."""
    try:
        await run()
    except DomainError as err:
        await _reply(update, refusal_html(err))


async def office_menu(update: Update, context: DudaoContext) -> None:
    """Show the office menu with the size of each queue."""
    async def run() -> None:
        text, markup = views.menu(await _service(context).counts(_user_id(update)))
        await _reply(update, text, markup)
    await _command(update, context, run)


async def _show_queue(update: Update, context: DudaoContext, kind: str) -> None:
    service = _service(context)
    user_id = _user_id(update)
    tz = service.rules.tz
    if kind == "overdue":
        text, markup = views.overdue_list(await service.overdue(user_id))
    elif kind == "extensions":
        text, markup = views.queue(kind, await service.extension_requests(user_id), tz)
    elif kind == "triage":
        # Uncertain first: a decision there teaches the model most.
        text, markup = views.queue(kind, await _triage(context).queue(user_id, QUEUE_LIMIT), tz)
    else:
        status = {"triage": Status.TRIAGE, "approvals": Status.PROPOSED,
                  "verify": Status.RECTIFICATION_REPORTED}[kind]
        text, markup = views.queue(kind, await service.queue(user_id, status), tz)
    await _reply(update, text, markup)


def _queue_command(kind: str) -> Any:
    async def handler(update: Update, context: DudaoContext) -> None:
        await _command(update, context, lambda: _show_queue(update, context, kind))
    handler.__doc__ = f"List the {kind} queue."
    return handler


triage_command = _queue_command("triage")
approvals_command = _queue_command("approvals")
verify_command = _queue_command("verify")
extensions_command = _queue_command("extensions")
overdue_command = _queue_command("overdue")


async def _show_case(update: Update, context: DudaoContext, reference: str,
                     with_history: bool) -> None:
    service = _service(context)
    detail = await service.detail(_user_id(update), reference)
    parts, markup = views.case_card(detail, service.rules.tz, with_history=with_history,
                                    today=service.today())
    if update.callback_query:
        await _answer(update)
    await _reply_parts(update, parts, markup)


async def case_command(update: Update, context: DudaoContext) -> None:
    """Show one case with its full audit history: /case SJ-2026-000123."""
    async def run() -> None:
        await _service(context).staff(_user_id(update))
        if not context.args or parse_reference(context.args[0]) is None:
            raise InvalidInput("office.case.usage")
        await _show_case(update, context, context.args[0], with_history=True)
    await _command(update, context, run)


async def entity_command(update: Update, context: DudaoContext) -> None:
    """Set the school or institution of an open case: /entity 编号 名称或代码.

    A directory code or a name the resolver is certain of is used at once (an audit event;
    routing follows); otherwise the candidates are listed with their codes."""
    async def run() -> None:
        await _service(context).staff(_user_id(update))
        args = context.args or []
        if len(args) < 2 or parse_reference(args[0]) is None:
            raise InvalidInput("office.entity.usage")
        reference, name = args[0], normalise_text(" ".join(args[1:]))[:50]
        intake = context.services.intake
        chosen = intake.by_code(name)
        if chosen is None:
            found = [c for c in await intake.search(name) if c.kind != "district"]
            if not found:
                raise InvalidInput("office.entity.not_found", name=name)
            certain = len(found) == 1 or found[0].score - found[1].score >= 10
            if not (certain and found[0].score >= 90):
                lines = [t("office.entity.choose", reference=escape(reference))]
                lines += [t("office.entity.option", code=escape(c.code), name=escape(c.name))
                          for c in found]
                await _reply(update, "\n".join(lines))
                return
            chosen = found[0]
        case, person = await _triage(context).set_entity(_user_id(update), reference,
                                                         chosen.kind, chosen.code)
        key = "office.entity.set_moved" if person else "office.entity.set"
        await _reply(update, t(key, reference=escape(case.reference), name=escape(chosen.name),
                               person=escape(person.name) if person else ""))
    await _command(update, context, run)


async def retrain_command(update: Update, context: DudaoContext) -> None:
    """Retrain the classifier now from the corpus plus staff corrections (staff only).

    Training runs in the background; every staff member hears the outcome (installed, or
    the old model kept and why)."""
    async def run() -> None:
        service = context.services.container.retrain
        if service is None:
            raise InvalidInput("retrain.unavailable")
        await service.request(_user_id(update))
        context.application.create_task(service.run(), name="retrain")
        await _reply(update, t("retrain.started"))
    await _command(update, context, run)


async def unbind_command(update: Update, context: DudaoContext) -> None:
    """Release a person's chat binding: /unbind DX01."""
    async def run() -> None:
        service = _service(context)
        await service.staff(_user_id(update))
        if not context.args:
            raise InvalidInput("office.unbind.usage")
        person = await context.services.container.invites.unbind(_user_id(update),
                                                                 context.args[0][:32])
        await _reply(update, t("office.unbind.done", name=escape(person.name),
                               code=escape(person.code)))
    await _command(update, context, run)


def _export_range(args: list[str], today: date) -> tuple[date, date]:
    if not args:
        return today - timedelta(days=EXPORT_DEFAULT_DAYS - 1), today
    if len(args) != 2:
        raise InvalidInput("office.export.usage")
    try:
        return date.fromisoformat(args[0]), date.fromisoformat(args[1])
    except ValueError as exc:
        raise InvalidInput("office.export.usage") from exc


async def export_command(update: Update, context: DudaoContext) -> None:
    """Send the cases of the last 30 days (or /export FROM TO) as an XLSX document."""
    async def run() -> None:
        service = _service(context)
        await service.staff(_user_id(update))
        date_from, date_to = _export_range(list(context.args or []), service.today())
        data, count = await context.services.container.reporting.export_xlsx(
            _user_id(update), date_from, date_to)
        message = update.effective_message
        assert message is not None
        await message.reply_document(
            document=data, filename=default_file_name(date_from, date_to, "xlsx"),
            caption=t("office.export.caption", date_from=date_from.isoformat(),
                      date_to=date_to.isoformat(), count=count))
    await _command(update, context, run)


async def reports_command(update: Update, context: DudaoContext) -> None:
    """Offer the half-month and quarterly reports (半月报, 季度通报)."""
    async def run() -> None:
        await _service(context).staff(_user_id(update))
        await _reply(update, t("report.choose"), views.report_keyboard())
    await _command(update, context, run)


async def hotspots_command(update: Update, context: DudaoContext) -> None:
    """The schools, institutions and townships with the most tips lately, with buttons."""
    async def run() -> None:
        found = await context.services.container.hotspots.for_staff(_user_id(update))
        await _reply(update, *render_notice(hotspot_notice(found)))
    await _command(update, context, run)


_NIGHT_WORDS = {"on": True, "开": True, "开启": True, "off": False, "关": False, "关闭": False}


async def night_command(update: Update, context: DudaoContext) -> None:
    """Show or switch the sender's night alerts: /night, /night on, /night off."""
    async def run() -> None:
        service = _service(context)
        args = [a.lower() for a in (context.args or [])]
        if not args:
            on = await service.night_alerts(_user_id(update))
            await _reply(update, *views.night_alerts(on))
            return
        if len(args) != 1 or args[0] not in _NIGHT_WORDS:
            await service.staff(_user_id(update))
            raise InvalidInput("office.night.usage")
        on = await service.set_night_alerts(_user_id(update), _NIGHT_WORDS[args[0]])
        await _reply(update, *views.night_alerts(on, changed=True))
    await _command(update, context, run)


# --- buttons ----------------------------------------------------------------------------
async def on_button(update: Update, context: DudaoContext) -> None:
    """Every office button; forged or stale data is refused and changes nothing."""
    query = update.callback_query
    assert query is not None
    pressed = protocol.parse_any(query.data, protocol.OFFICE_FAMILIES)
    try:
        if pressed is None:
            raise InvalidInput("office.error.bad_button")
        if isinstance(pressed, protocol.OfficeCase):
            await _CASE_STEPS[pressed.step](update, context, pressed.reference)
        else:
            await _BUTTONS[type(pressed)](update, context, pressed)
    except DomainError as err:
        await query.answer(refusal_alert(err), show_alert=True)


def _category(index: int) -> str:
    if index >= len(CATEGORIES):
        raise InvalidInput("office.error.bad_button")
    return CATEGORIES[index]


async def _answer(update: Update, text: str | None = None) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(text[:190] if text else None)


async def _b_queue(update: Update, context: DudaoContext, pressed: protocol.ShowQueue) -> None:
    await _service(context).staff(_user_id(update))
    await _answer(update)
    await _show_queue(update, context, pressed.queue.value)


async def _b_open(update: Update, context: DudaoContext, reference: str) -> None:
    await _show_case(update, context, reference, with_history=False)


async def _b_history(update: Update, context: DudaoContext, reference: str) -> None:
    await _show_case(update, context, reference, with_history=True)


async def _b_triage(update: Update, context: DudaoContext, reference: str) -> None:
    """Tap 1 (or 改派): show the categories on the pressed message."""
    case = await _service(context).check(_user_id(update), reference, CaseAction.TRIAGE,
                                         CaseAction.REASSIGN)
    await _answer(update, t("office.triage.pick_category"))
    await _set_buttons(update, views.category_keyboard(case))


async def _b_category(update: Update, context: DudaoContext,
                      pressed: protocol.TriageCategory) -> None:
    """Category chosen: show the supervisors, the responsible ones first."""
    reference = pressed.reference
    category = _category(pressed.category)
    service = _service(context)
    await service.check(_user_id(update), reference, CaseAction.TRIAGE, CaseAction.REASSIGN)
    choices = await _triage(context).supervisor_choices(_user_id(update), reference, category)
    await _answer(update, views.category_chosen(category))
    await _set_buttons(update, views.supervisor_keyboard(reference, pressed.category, choices,
                                                         0))


async def _b_page(update: Update, context: DudaoContext, pressed: protocol.TriagePage) -> None:
    category = _category(pressed.category)
    choices = await _triage(context).supervisor_choices(_user_id(update), pressed.reference,
                                                        category)
    await _answer(update)
    await _set_buttons(update, views.supervisor_keyboard(pressed.reference, pressed.category,
                                                         choices, pressed.page))


async def _b_assign(update: Update, context: DudaoContext,
                    pressed: protocol.TriageAssign) -> None:
    """Tap 2: category and supervisor in one transaction; the supervisor is notified."""
    case, person = await _triage(context).triage(_user_id(update), pressed.reference,
                                                 _category(pressed.category),
                                                 pressed.supervisor)
    await _answer(update)
    await _drop_buttons(update)
    await _reply(update, views.triaged(case, person.name))


async def _b_decline(update: Update, context: DudaoContext, reference: str) -> None:
    """不予受理 at triage: checked now, then the reason (told to the parent) is asked."""
    case = await _service(context).check(_user_id(update), reference, CaseAction.DECLINE)
    await _answer(update)
    flows.ask(context, flows.DeclineReason(case.reference))
    await _reply(update, t("office.ask.decline", reference=case.reference))


async def _b_approve(update: Update, context: DudaoContext, reference: str) -> None:
    case = await _service(context).approve(_user_id(update), reference)
    await _answer(update)
    await _drop_buttons(update)
    await _reply(update, views.done("approved", case))


async def _b_reject(update: Update, context: DudaoContext, reference: str) -> None:
    case = await _service(context).check(_user_id(update), reference, CaseAction.REJECT)
    await _answer(update)
    flows.ask(context, flows.RejectProposal(case.reference))
    await _reply(update, t("office.ask.reject", reference=case.reference))


async def _b_verify_ok(update: Update, context: DudaoContext, reference: str) -> None:
    case = await _service(context).verify_passed(_user_id(update), reference)
    await _answer(update)
    await _drop_buttons(update)
    await _reply(update, views.done("verified", case))


async def _b_verify_no(update: Update, context: DudaoContext, reference: str) -> None:
    """回头看 failed: offer new deadlines on the pressed message."""
    service = _service(context)
    case = await service.check(_user_id(update), reference, CaseAction.VERIFY_FAIL)
    await _answer(update)
    await _reply(update, t("office.ask.new_deadline", reference=case.reference),
                 views.verify_fail_keyboard(case.reference, service.verify_fail_choices()))


async def _b_verify_deadline(update: Update, context: DudaoContext,
                             pressed: protocol.VerifyDeadline) -> None:
    service = _service(context)
    deadline = service.deadline_after(pressed.days)
    case = await service.check(_user_id(update), pressed.reference, CaseAction.VERIFY_FAIL)
    await _answer(update)
    await _drop_buttons(update)
    flows.ask(context, flows.VerificationFailed(case.reference, deadline))
    await _reply(update, t("office.ask.verify_comment", reference=case.reference,
                           deadline=deadline.isoformat()))


async def _b_extension_ok(update: Update, context: DudaoContext, reference: str) -> None:
    case = await _service(context).grant_extension(_user_id(update), reference)
    await _answer(update)
    await _drop_buttons(update)
    await _reply(update, views.done("extended", case))


async def _b_extension_no(update: Update, context: DudaoContext, reference: str) -> None:
    case = await _service(context).check(_user_id(update), reference,
                                         CaseAction.REFUSE_EXTENSION)
    await _answer(update)
    flows.ask(context, flows.RefuseExtension(case.reference))
    await _reply(update, t("office.ask.refuse_extension", reference=case.reference))


async def _b_supervise(update: Update, context: DudaoContext, reference: str) -> None:
    case = await _service(context).supervise(_user_id(update), reference)
    await _answer(update, t("office.done.supervised_toast"))
    await _reply(update, views.done("supervised", case))


async def _b_interview(update: Update, context: DudaoContext, reference: str) -> None:
    """The ladder asked for a 约谈: ask its day, then who, then the outcome."""
    case = await _service(context).check(_user_id(update), reference,
                                         CaseAction.RECORD_INTERVIEW)
    await _answer(update)
    flows.ask(context, flows.InterviewDate(case.reference))
    await _reply(update, t("office.ask.interview_date", reference=case.reference))


async def _b_county_report(update: Update, context: DudaoContext, reference: str) -> None:
    case = await _service(context).check(_user_id(update), reference,
                                         CaseAction.RECORD_COUNTY_REPORT)
    await _answer(update)
    flows.ask(context, flows.CountyReport(case.reference))
    await _reply(update, t("office.ask.county_report", reference=case.reference))


async def _b_merge(update: Update, context: DudaoContext, pressed: protocol.Merge) -> None:
    """Merge tapped on a possible duplicate: checked now, then confirmed (it is final)."""
    source, target = await _merging(context).check_merge(_user_id(update), pressed.source,
                                                          pressed.target)
    await _answer(update)
    text, markup = views.merge_question(source, target)
    await _reply(update, text, markup)


async def _b_merge_confirmed(update: Update, context: DudaoContext,
                             pressed: protocol.MergeConfirmed) -> None:
    source, target = await _merging(context).merge(_user_id(update), pressed.source,
                                                   pressed.target)
    await _answer(update)
    await _drop_buttons(update)
    await _reply(update, views.merged(source, target))


async def _b_merge_cancelled(update: Update, context: DudaoContext,
                             pressed: protocol.MergeCancelled) -> None:
    """Cancel on the merge question: nothing changes, the question loses its buttons."""
    await _service(context).staff(_user_id(update))
    await _answer(update)
    await _drop_buttons(update)
    await _reply(update, views.merge_cancelled(pressed.source, pressed.target))


async def _b_not_duplicate(update: Update, context: DudaoContext,
                           pressed: protocol.NotDuplicate) -> None:
    case = await _merging(context).dismiss_duplicate(_user_id(update), pressed.reference,
                                                     pressed.other)
    await _answer(update)
    await _reply(update, views.dismissed(case, pressed.other.strip().upper()))


async def _b_night(update: Update, context: DudaoContext,
                   pressed: protocol.NightSwitch) -> None:
    on = await _service(context).set_night_alerts(_user_id(update), pressed.on)
    await _answer(update)
    text, markup = views.night_alerts(on, changed=True)
    query = update.callback_query
    assert query is not None
    with contextlib.suppress(BadRequest):
        await query.edit_message_text(text, reply_markup=markup)


async def _b_hotspot(update: Update, context: DudaoContext,
                     pressed: protocol.HotspotCases) -> None:
    hotspots = context.services.container.hotspots
    name, lines = await hotspots.tips_about(_user_id(update), pressed.place.value,
                                            pressed.code)
    await _answer(update)
    await _reply(update, *views.hotspot_cases(name, lines, hotspots.rules.days,
                                              _service(context).rules.tz))


async def _b_report(update: Update, context: DudaoContext, pressed: protocol.ReportPick) -> None:
    """Build the chosen report: its figures as a message, the chart, the workbook."""
    report, workbook, chart = await context.services.container.reporting.report(
        _user_id(update), pressed.kind.value, pressed.previous)
    await _answer(update)
    message = update.effective_message
    assert message is not None
    await _reply(update, escape(summary_text(report)))
    caption = t("report.caption", period=report.period.label)
    await message.reply_photo(chart, caption=caption)
    await message.reply_document(workbook, filename=file_name(report.period), caption=caption)


Step = protocol.OfficeStep
_CASE_STEPS: dict[protocol.OfficeStep, Callable[[Update, DudaoContext, str], Awaitable[None]]] = {
    Step.OPEN: _b_open, Step.HISTORY: _b_history, Step.TRIAGE: _b_triage,
    Step.DECLINE: _b_decline,
    Step.APPROVE: _b_approve, Step.REJECT: _b_reject, Step.VERIFY_PASS: _b_verify_ok,
    Step.VERIFY_FAIL: _b_verify_no, Step.GRANT_EXTENSION: _b_extension_ok,
    Step.REFUSE_EXTENSION: _b_extension_no, Step.SUPERVISE: _b_supervise,
    Step.INTERVIEW: _b_interview, Step.COUNTY_REPORT: _b_county_report,
}
_BUTTONS: dict[type[protocol.CallbackData], Any] = {
    protocol.ShowQueue: _b_queue, protocol.TriageCategory: _b_category,
    protocol.TriagePage: _b_page, protocol.TriageAssign: _b_assign,
    protocol.VerifyDeadline: _b_verify_deadline, protocol.Merge: _b_merge,
    protocol.MergeConfirmed: _b_merge_confirmed, protocol.NotDuplicate: _b_not_duplicate,
    protocol.MergeCancelled: _b_merge_cancelled,
    protocol.ReportPick: _b_report, protocol.NightSwitch: _b_night,
    protocol.HotspotCases: _b_hotspot,
}


# --- free-text answers ------------------------------------------------------------------
async def _comment(update: Update) -> str | None:
    """The comment just typed, or None (told why) when it is empty or too long."""
    message = update.effective_message
    assert message is not None
    text = normalise_text(message.text or "")
    if not text:
        await _reply(update, t("office.comment.empty"))
        return None
    if len(text) > COMMENT_MAX:
        await _reply(update, t("office.comment.too_long", length=len(text), limit=COMMENT_MAX))
        return None
    return text


async def _text_only(update: Update, context: DudaoContext, question: flows.Question) -> None:
    """A photo or file while a comment is awaited: ask for text."""
    await _reply(update, t("office.comment.text_only"))


async def _decided(update: Update, context: DudaoContext, key: str,
                   decide: Callable[[OfficeService, int], Awaitable[Case]]) -> None:
    """Run the decision the comment completes; one answer per question, whatever the outcome."""
    flows.close(context)
    try:
        case = await decide(_service(context), _user_id(update))
    except DomainError as err:
        await _reply(update, refusal_html(err))
        return
    await _reply(update, views.done(key, case))


@flows.answers(flows.RejectProposal, media=_text_only)
async def _answer_reject(update: Update, context: DudaoContext,
                         question: flows.RejectProposal) -> None:
    text = await _comment(update)
    if text is not None:
        await _decided(update, context, "rejected",
                       lambda service, user: service.reject(user, question.reference, text))


@flows.answers(flows.VerificationFailed, media=_text_only)
async def _answer_verification_failed(update: Update, context: DudaoContext,
                                      question: flows.VerificationFailed) -> None:
    text = await _comment(update)
    if text is not None:
        await _decided(update, context, "verify_failed",
                       lambda service, user: service.verify_failed(
                           user, question.reference, question.deadline, text))


@flows.answers(flows.RefuseExtension, media=_text_only)
async def _answer_refuse_extension(update: Update, context: DudaoContext,
                                   question: flows.RefuseExtension) -> None:
    text = await _comment(update)
    if text is not None:
        await _decided(update, context, "extension_refused",
                       lambda service, user: service.refuse_extension(
                           user, question.reference, text))


@flows.answers(flows.DeclineReason, media=_text_only)
async def _answer_decline(update: Update, context: DudaoContext,
                          question: flows.DeclineReason) -> None:
    text = await _comment(update)
    if text is not None:
        await _decided(update, context, "declined",
                       lambda service, user: _triage(context).decline(
                           user, question.reference, text))


def _interview_day(text: str, today: date) -> date | None:
    """The 约谈's day as typed: 今天, 昨天 or YYYY-MM-DD, not after today; None if not."""
    words = {"今天": today, "昨天": today - timedelta(days=1)}
    if text in words:
        return words[text]
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if day <= today else None


@flows.answers(flows.InterviewDate, media=_text_only)
async def _answer_interview_date(update: Update, context: DudaoContext,
                                 question: flows.InterviewDate) -> None:
    text = await _comment(update)
    if text is None:
        return
    day = _interview_day(text.strip(), _service(context).today())
    if day is None:
        await _reply(update, t("office.error.bad_date"))
        return
    flows.ask(context, flows.InterviewWho(question.reference, day))
    await _reply(update, t("office.ask.interview_who"))


@flows.answers(flows.InterviewWho, media=_text_only)
async def _answer_interview_who(update: Update, context: DudaoContext,
                                question: flows.InterviewWho) -> None:
    text = await _comment(update)
    if text is not None:
        flows.ask(context, flows.InterviewOutcome(question.reference, question.day, text))
        await _reply(update, t("office.ask.interview_outcome"))


@flows.answers(flows.InterviewOutcome, media=_text_only)
async def _answer_interview_outcome(update: Update, context: DudaoContext,
                                    question: flows.InterviewOutcome) -> None:
    text = await _comment(update)
    if text is not None:
        await _decided(update, context, "interviewed",
                       lambda service, user: service.record_interview(
                           user, question.reference, question.day, question.who, text))


@flows.answers(flows.CountyReport, media=_text_only)
async def _answer_county_report(update: Update, context: DudaoContext,
                                question: flows.CountyReport) -> None:
    text = await _comment(update)
    if text is not None:
        await _decided(update, context, "county_reported",
                       lambda service, user: service.record_county_report(
                           user, question.reference, text))


# --- wiring -----------------------------------------------------------------------------
COMMANDS = {
    "office": office_menu, "triage": triage_command, "approvals": approvals_command,
    "verify": verify_command, "extensions": extensions_command, "overdue": overdue_command,
    "case": case_command, "unbind": unbind_command, "export": export_command,
    "reports": reports_command, "night": night_command, "hotspots": hotspots_command,
    "entity": entity_command, "retrain": retrain_command,
}


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    """The office handlers, to be placed before the generic parent handlers."""
    private = filters.ChatType.PRIVATE
    out: list[BaseHandler[Any, Any, Any]] = [
        CommandHandler(name, callback, filters=private) for name, callback in COMMANDS.items()]
    out.append(CallbackQueryHandler(on_button, pattern=protocol.namespace_pattern("o")))
    return out


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the office commands and buttons (call before the parent handlers)."""
    app.add_handlers(handlers())
