"""Office staff (督导室) in Telegram: triage, approvals, 回头看, extensions, 督办, case history,
unbinding and exports.

Handlers stay thin: they parse the update, call `bot.office.OfficeService` (which refuses
anyone not bound as staff) and render with `views_office`. Buttons carry "o:" data and
questions awaiting free text use `context.awaiting` strings starting with "of:".
"""

from __future__ import annotations

import contextlib
import logging
from datetime import date, timedelta
from html import escape
from typing import Any

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import Application, BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot.domain import CATEGORIES, DomainError, InvalidInput, Status, parse_reference
from bot.intake import normalise_text
from bot.merging import MergingService
from bot.messages import explain, t
from bot.office import OfficeService
from bot.reports import file_name, summary_text
from bot.triage import TriageService
from handlers.telegram import views_office as views
from handlers.telegram.context import DudaoContext

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


def _wake(context: DudaoContext) -> None:
    context.services.wake_delivery()


# --- commands ---------------------------------------------------------------------------
def _explain_html(err: DomainError) -> str:
    """A refusal for an HTML reply: parameters may echo what the user typed."""
    return explain(err.key, {k: escape(str(v)) for k, v in err.params.items()})


async def _command(update: Update, context: DudaoContext, run: Any) -> None:
    """Run a staff command; any refusal (not staff, bad case) is told in Chinese."""
    try:
        await run()
    except DomainError as err:
        await _reply(update, _explain_html(err))


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


async def unbind_command(update: Update, context: DudaoContext) -> None:
    """Release a person's chat binding: /unbind DX01."""
    async def run() -> None:
        service = _service(context)
        await service.staff(_user_id(update))
        if not context.args:
            raise InvalidInput("office.unbind.usage")
        person = await service.unbind(_user_id(update), context.args[0][:32])
        _wake(context)
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
        data, count = await service.export_xlsx(_user_id(update), date_from, date_to)
        message = update.effective_message
        assert message is not None
        from bot.export import default_file_name

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


# --- buttons ----------------------------------------------------------------------------
async def on_button(update: Update, context: DudaoContext) -> None:
    """Every "o:" button; forged or stale data is refused and changes nothing."""
    query = update.callback_query
    assert query is not None
    parts = (query.data or "").split(":")
    handler = _BUTTONS.get(parts[1]) if len(parts) >= 3 else None
    try:
        if handler is None:
            raise InvalidInput("office.error.bad_button")
        await handler(update, context, parts[2:])
    except DomainError as err:
        await query.answer(explain(err.key, err.params)[:190], show_alert=True)


def _args(args: list[str], count: int) -> list[str]:
    if len(args) != count or not all(args):
        raise InvalidInput("office.error.bad_button")
    return args


def _category(index: str) -> str:
    if not index.isdigit() or int(index) >= len(CATEGORIES):
        raise InvalidInput("office.error.bad_button")
    return CATEGORIES[int(index)]


async def _answer(update: Update, text: str | None = None) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(text[:190] if text else None)


async def _b_queue(update: Update, context: DudaoContext, args: list[str]) -> None:
    (kind,) = _args(args, 1)
    if kind not in ("triage", "approvals", "verify", "extensions", "overdue"):
        raise InvalidInput("office.error.bad_button")
    await _service(context).staff(_user_id(update))
    await _answer(update)
    await _show_queue(update, context, kind)


async def _b_open(update: Update, context: DudaoContext, args: list[str]) -> None:
    (reference,) = _args(args, 1)
    await _show_case(update, context, reference, with_history=False)


async def _b_history(update: Update, context: DudaoContext, args: list[str]) -> None:
    (reference,) = _args(args, 1)
    await _show_case(update, context, reference, with_history=True)


async def _b_triage(update: Update, context: DudaoContext, args: list[str]) -> None:
    """Tap 1 (or 改派): show the categories on the pressed message."""
    (reference,) = _args(args, 1)
    case = await _service(context).check(_user_id(update), reference, Status.TRIAGE,
                                         Status.ASSIGNED, Status.ACCEPTED)
    await _answer(update, t("office.triage.pick_category"))
    await _set_buttons(update, views.category_keyboard(case))


async def _b_category(update: Update, context: DudaoContext, args: list[str]) -> None:
    """Category chosen: show the supervisors, the responsible ones first."""
    reference, index = _args(args, 2)
    category = _category(index)
    service = _service(context)
    await service.check(_user_id(update), reference, Status.TRIAGE, Status.ASSIGNED,
                        Status.ACCEPTED)
    choices = await _triage(context).supervisor_choices(_user_id(update), reference, category)
    await _answer(update, views.category_chosen(category))
    await _set_buttons(update, views.supervisor_keyboard(reference, int(index), choices, 0))


async def _b_page(update: Update, context: DudaoContext, args: list[str]) -> None:
    reference, index, page = _args(args, 3)
    category = _category(index)
    if not page.isdigit():
        raise InvalidInput("office.error.bad_button")
    choices = await _triage(context).supervisor_choices(_user_id(update), reference, category)
    await _answer(update)
    await _set_buttons(update, views.supervisor_keyboard(reference, int(index), choices,
                                                         int(page)))


async def _b_assign(update: Update, context: DudaoContext, args: list[str]) -> None:
    """Tap 2: category and supervisor in one transaction; the supervisor is notified."""
    reference, index, code = _args(args, 3)
    case, person = await _triage(context).triage(_user_id(update), reference,
                                                 _category(index), code)
    _wake(context)
    await _answer(update)
    await _drop_buttons(update)
    await _reply(update, views.triaged(case, person.name))


async def _b_approve(update: Update, context: DudaoContext, args: list[str]) -> None:
    (reference,) = _args(args, 1)
    case = await _service(context).approve(_user_id(update), reference)
    _wake(context)
    await _answer(update)
    await _drop_buttons(update)
    await _reply(update, views.done("approved", case))


async def _b_reject(update: Update, context: DudaoContext, args: list[str]) -> None:
    (reference,) = _args(args, 1)
    case = await _service(context).check(_user_id(update), reference, Status.PROPOSED)
    await _answer(update)
    context.awaiting = f"of:rej:{case.reference}"
    await _reply(update, t("office.ask.reject", reference=case.reference))


async def _b_verify_ok(update: Update, context: DudaoContext, args: list[str]) -> None:
    (reference,) = _args(args, 1)
    case = await _service(context).verify_passed(_user_id(update), reference)
    _wake(context)
    await _answer(update)
    await _drop_buttons(update)
    await _reply(update, views.done("verified", case))


async def _b_verify_no(update: Update, context: DudaoContext, args: list[str]) -> None:
    """回头看 failed: offer new deadlines on the pressed message."""
    (reference,) = _args(args, 1)
    service = _service(context)
    case = await service.check(_user_id(update), reference, Status.RECTIFICATION_REPORTED)
    await _answer(update)
    await _reply(update, t("office.ask.new_deadline", reference=case.reference),
                 views.verify_fail_keyboard(case.reference, service.verify_fail_choices()))


async def _b_verify_deadline(update: Update, context: DudaoContext, args: list[str]) -> None:
    reference, days = _args(args, 2)
    service = _service(context)
    if not days.isdigit():
        raise InvalidInput("office.error.bad_button")
    deadline = service.deadline_after(int(days))
    case = await service.check(_user_id(update), reference, Status.RECTIFICATION_REPORTED)
    await _answer(update)
    await _drop_buttons(update)
    context.awaiting = f"of:vf:{case.reference}:{deadline.isoformat()}"
    await _reply(update, t("office.ask.verify_comment", reference=case.reference,
                           deadline=deadline.isoformat()))


async def _b_extension_ok(update: Update, context: DudaoContext, args: list[str]) -> None:
    (reference,) = _args(args, 1)
    case = await _service(context).grant_extension(_user_id(update), reference)
    _wake(context)
    await _answer(update)
    await _drop_buttons(update)
    await _reply(update, views.done("extended", case))


async def _b_extension_no(update: Update, context: DudaoContext, args: list[str]) -> None:
    (reference,) = _args(args, 1)
    case = await _service(context).check(_user_id(update), reference, Status.RECTIFYING)
    if case.pending_extension is None:
        raise InvalidInput("case.error.no_pending_extension")
    await _answer(update)
    context.awaiting = f"of:xno:{case.reference}"
    await _reply(update, t("office.ask.refuse_extension", reference=case.reference))


async def _b_supervise(update: Update, context: DudaoContext, args: list[str]) -> None:
    (reference,) = _args(args, 1)
    case = await _service(context).supervise(_user_id(update), reference)
    _wake(context)
    await _answer(update, t("office.done.supervised_toast"))
    await _reply(update, views.done("supervised", case))


async def _b_merge(update: Update, context: DudaoContext, args: list[str]) -> None:
    """Merge tapped on a possible duplicate: checked now, then confirmed (it is final)."""
    source_ref, target_ref = _args(args, 2)
    source, target = await _merging(context).check_merge(_user_id(update), source_ref,
                                                          target_ref)
    await _answer(update)
    text, markup = views.merge_question(source, target)
    await _reply(update, text, markup)


async def _b_merge_confirmed(update: Update, context: DudaoContext, args: list[str]) -> None:
    source_ref, target_ref = _args(args, 2)
    source, target = await _merging(context).merge(_user_id(update), source_ref, target_ref)
    _wake(context)
    await _answer(update)
    await _drop_buttons(update)
    await _reply(update, views.merged(source, target))


async def _b_not_duplicate(update: Update, context: DudaoContext, args: list[str]) -> None:
    reference, other = _args(args, 2)
    case = await _merging(context).dismiss_duplicate(_user_id(update), reference, other)
    await _answer(update)
    await _reply(update, views.dismissed(case, other.strip().upper()))


async def _b_report(update: Update, context: DudaoContext, args: list[str]) -> None:
    """Build the chosen report: its figures as a message, the chart, the workbook."""
    kind, previous = _args(args, 2)
    if kind not in ("half", "quarter") or previous not in ("0", "1"):
        raise InvalidInput("office.error.bad_button")
    report, workbook, chart = await _service(context).report(
        _user_id(update), "half" if kind == "half" else "quarter", previous == "1")
    await _answer(update)
    message = update.effective_message
    assert message is not None
    await _reply(update, escape(summary_text(report)))
    caption = t("report.caption", period=report.period.label)
    await message.reply_photo(chart, caption=caption)
    await message.reply_document(workbook, filename=file_name(report.period), caption=caption)


_BUTTONS: dict[str, Any] = {
    "q": _b_queue, "open": _b_open, "hist": _b_history, "tri": _b_triage, "tc": _b_category,
    "tp": _b_page, "ta": _b_assign, "apv": _b_approve, "rej": _b_reject, "vok": _b_verify_ok,
    "vno": _b_verify_no, "vd": _b_verify_deadline, "xok": _b_extension_ok,
    "xno": _b_extension_no, "sup": _b_supervise, "mrg": _b_merge, "mrgy": _b_merge_confirmed,
    "nd": _b_not_duplicate, "rep": _b_report,
}


# --- free-text answers ------------------------------------------------------------------
async def on_awaited_text(update: Update, context: DudaoContext) -> None:
    """The comment staff were asked for (reject, verification failed, refuse extension)."""
    message = update.effective_message
    assert message is not None
    parts = (context.awaiting or "").split(":")
    text = normalise_text(message.text or "")
    if not text:
        await _reply(update, t("office.comment.empty"))
        return
    if len(text) > COMMENT_MAX:
        await _reply(update, t("office.comment.too_long", length=len(text), limit=COMMENT_MAX))
        return
    service = _service(context)
    user_id = _user_id(update)
    context.awaiting = None  # one answer per question, whatever the outcome
    try:
        if parts[1:2] == ["rej"] and len(parts) == 3:
            case = await service.reject(user_id, parts[2], text)
            key = "rejected"
        elif parts[1:2] == ["vf"] and len(parts) == 4:
            case = await service.verify_failed(user_id, parts[2], date.fromisoformat(parts[3]),
                                               text)
            key = "verify_failed"
        elif parts[1:2] == ["xno"] and len(parts) == 3:
            case = await service.refuse_extension(user_id, parts[2], text)
            key = "extension_refused"
        else:
            raise InvalidInput("office.error.bad_button")
    except DomainError as err:
        await _reply(update, _explain_html(err))
        return
    _wake(context)
    await _reply(update, views.done(key, case))


async def on_awaited_media(update: Update, context: DudaoContext) -> None:
    """A photo or file while a comment is awaited: ask for text."""
    await _reply(update, t("office.comment.text_only"))


# --- wiring -----------------------------------------------------------------------------
COMMANDS = {
    "office": office_menu, "triage": triage_command, "approvals": approvals_command,
    "verify": verify_command, "extensions": extensions_command, "overdue": overdue_command,
    "case": case_command, "unbind": unbind_command, "export": export_command,
    "reports": reports_command,
}


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    """The office handlers, to be placed before the generic parent handlers."""
    private = filters.ChatType.PRIVATE
    out: list[BaseHandler[Any, Any, Any]] = [
        CommandHandler(name, callback, filters=private) for name, callback in COMMANDS.items()]
    out.append(CallbackQueryHandler(on_button, pattern=r"^o:"))
    return out


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the office commands and buttons (call before the parent handlers)."""
    app.add_handlers(handlers())
