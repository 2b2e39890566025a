"""Supervisor (责任督学) Telegram handlers: work assigned cases and log school visits.

Thin by design: each handler parses what was pressed or typed, calls `SupervisionService`
(which re-checks the supervisor, the assignment and the status on the server) and renders
the answer with `views_supervisor`. Questions answered by text are remembered only as
`context.awaiting` strings starting with "sv:" (parent.on_text forwards them here):

    sv:back:REF              reason for handing back to triage
    sv:ask:REF               question relayed to the parent
    sv:note:REF:DISP[:DATE]  optional note of a proposal (DATE: rectification deadline)
    sv:dept:REF              receiving department of a transfer (转办)
    sv:done:REF              note (and photos) reporting rectification done
    sv:ext:REF:DATE          reason for an extension to DATE
    sv:vnote:SCHOOL:DATE     note of a school visit (a photo with caption also answers)
    sv:vphoto:SCHOOL:DATE    optional photo of that visit
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.domain import Disposition, DomainError, InvalidInput
from bot.intake import normalise_text
from bot.messages import t
from bot.services import EvidenceInput
from bot.supervision import SupervisionService
from handlers.telegram import views_supervisor as views
from handlers.telegram.context import DudaoContext

NOTE_LIMIT = 500  # notes, reasons and questions
DEPARTMENT_LIMIT = 100  # the transfer_to column's width
VISIT_NOTE_KEY = "sv_visit_note"  # a visit's note while its optional photo is asked for
SKIPPABLE = frozenset({"note", "done", "vnote", "vphoto"})
# Refusals that leave the question open so the supervisor can simply answer again.
RETRY_KEYS = frozenset({"case.error.comment_required", "case.error.transfer_target_required",
                        "sv.error.too_long", "sv.error.text_expected"})

Args = list[str]
ButtonHandler = Callable[[Update, DudaoContext, SupervisionService, Args], Awaitable[None]]


def register(app: Any) -> None:
    """Add the supervisor commands and buttons (call before the generic parent handlers)."""
    private = filters.ChatType.PRIVATE
    app.add_handlers([
        CommandHandler("cases", cases_command, filters=private),
        CommandHandler("visit", visit_command, filters=private),
        CommandHandler("visits", visits_command, filters=private),
        CallbackQueryHandler(on_button, pattern=r"^s:"),
    ])


def service(context: DudaoContext) -> SupervisionService:
    """The supervision service from the container."""
    return context.services.supervision


async def _reply(update: Update, reply: views.Reply) -> Message | None:
    message = update.effective_message
    if message is None:
        return None
    text, markup = reply
    return await message.reply_html(text, reply_markup=markup)


def _wake(context: DudaoContext) -> None:
    """Send the notifications the service just queued (the parent, staff) without waiting."""
    context.services.wake_delivery()


def _user_id(update: Update) -> int:
    user = update.effective_user
    assert user is not None
    return user.id


# --- commands ---------------------------------------------------------------------------
async def cases_command(update: Update, context: DudaoContext) -> None:
    """List the supervisor's open cases, most urgent first."""
    svc = service(context)
    try:
        lines = await svc.open_cases(_user_id(update))
    except DomainError as err:
        await _reply(update, (views.refusal_html(err), None))
        return
    await _reply(update, views.case_list(lines, svc.rules.tz))


async def visit_command(update: Update, context: DudaoContext) -> None:
    """Start logging a school visit: pick one of the supervisor's schools."""
    try:
        schools = await service(context).schools(_user_id(update))
    except DomainError as err:
        await _reply(update, (views.refusal_html(err), None))
        return
    context.awaiting = None
    await _reply(update, views.school_question(schools))


async def visits_command(update: Update, context: DudaoContext) -> None:
    """Show this month's visited and unvisited schools."""
    try:
        cov = await service(context).coverage(_user_id(update))
    except DomainError as err:
        await _reply(update, (views.refusal_html(err), None))
        return
    await _reply(update, views.coverage(cov))


# --- buttons ------------------------------------------------------------------------------
async def on_button(update: Update, context: DudaoContext) -> None:
    """Dispatch an "s:" button after checking that a bound supervisor pressed it."""
    query = update.callback_query
    assert query is not None
    chat = update.effective_chat
    parts = (query.data or "").split(":")
    svc = service(context)
    try:
        if chat is None or chat.type != ChatType.PRIVATE:
            raise DomainError("sv.error.bad_button")
        await svc.supervisor(_user_id(update))
        handler = BUTTONS.get(parts[1]) if len(parts) >= 2 else None
        if handler is None:
            raise DomainError("sv.error.bad_button")
        await handler(update, context, svc, parts[2:])
    except DomainError as err:
        await query.answer(views.refusal_alert(err), show_alert=True)
        return
    except Exception:
        # Stop the button's spinner; the application's error handler logs and explains.
        with contextlib.suppress(TelegramError):
            await query.answer(t("general.internal_error"), show_alert=True)
        raise
    await query.answer()


def _one(args: Args, count: int = 1) -> Args:
    """The button's arguments, refused unless there are exactly `count` of them."""
    if len(args) != count or not all(args):
        raise DomainError("sv.error.bad_button")
    return args


async def _accept(update: Update, context: DudaoContext, svc: SupervisionService,
                  args: Args) -> None:
    case = await svc.accept(_user_id(update), _one(args)[0])
    _wake(context)
    await _reply(update, views.accepted(case, svc.rules.propose_working_days))


async def _hand_back(update: Update, context: DudaoContext, svc: SupervisionService,
                     args: Args) -> None:
    case = await svc.check_step(_user_id(update), _one(args)[0], "back")
    context.awaiting = f"sv:back:{case.reference}"
    await _reply(update, views.prompt("sv.back.prompt", reference=case.reference))


async def _ask(update: Update, context: DudaoContext, svc: SupervisionService,
               args: Args) -> None:
    case = await svc.check_step(_user_id(update), _one(args)[0], "ask")
    context.awaiting = f"sv:ask:{case.reference}"
    await _reply(update, views.prompt("sv.ask.prompt", reference=case.reference))


async def _propose(update: Update, context: DudaoContext, svc: SupervisionService,
                   args: Args) -> None:
    case = await svc.check_step(_user_id(update), _one(args)[0], "propose")
    context.awaiting = None
    await _reply(update, views.disposition_question(case.reference))


async def _pick_disposition(update: Update, context: DudaoContext, svc: SupervisionService,
                            args: Args) -> None:
    reference, value = _one(args, 2)
    case = await svc.check_step(_user_id(update), reference, "propose")
    ref = case.reference
    if value == Disposition.RECTIFY.value:
        context.awaiting = None
        await _reply(update, views.deadline_question(ref, svc.deadline_choices()))
    elif value == Disposition.TRANSFERRED.value:
        context.awaiting = f"sv:dept:{ref}"
        await _reply(update, views.prompt("sv.prop.dept_prompt", reference=ref))
    elif value in (Disposition.UNFOUNDED.value, Disposition.FIXED.value):
        context.awaiting = f"sv:note:{ref}:{value}"
        await _reply(update, views.prompt("sv.prop.note_prompt", skip="button.skip",
                                          disposition=t(f"disposition.{value}")))
    else:
        raise DomainError("case.error.bad_disposition")


async def _pick_deadline(update: Update, context: DudaoContext, svc: SupervisionService,
                         args: Args) -> None:
    reference, days = _one(args, 2)
    case = await svc.check_step(_user_id(update), reference, "propose")
    if not days.isdigit():
        raise DomainError("sv.error.bad_button")
    deadline = svc.deadline_after(int(days))
    context.awaiting = f"sv:note:{case.reference}:{Disposition.RECTIFY.value}:{deadline}"
    await _reply(update, views.prompt(
        "sv.prop.note_prompt", skip="button.skip",
        disposition=t("disposition.rectify") + t(
            "sv.prop.detail.deadline", date=deadline.isoformat())))


async def _done(update: Update, context: DudaoContext, svc: SupervisionService,
                args: Args) -> None:
    case = await svc.check_step(_user_id(update), _one(args)[0], "done")
    context.awaiting = f"sv:done:{case.reference}"
    await _reply(update, views.prompt("sv.done.prompt", skip="button.sv.submit",
                                      reference=case.reference))


async def _extend(update: Update, context: DudaoContext, svc: SupervisionService,
                  args: Args) -> None:
    case = await svc.check_step(_user_id(update), _one(args)[0], "extend")
    context.awaiting = None
    await _reply(update, views.extension_question(
        case, svc.extension_choices(case, svc.today())))


async def _pick_extension(update: Update, context: DudaoContext, svc: SupervisionService,
                          args: Args) -> None:
    reference, days = _one(args, 2)
    case = await svc.check_step(_user_id(update), reference, "extend")
    target = dict(svc.extension_choices(case, svc.today())).get(
        int(days) if days.isdigit() else -1)
    if target is None:
        raise DomainError("sv.error.bad_button")
    context.awaiting = f"sv:ext:{case.reference}:{target}"
    await _reply(update, views.prompt("sv.ext.reason_prompt", reference=case.reference,
                                      date=target.isoformat()))


async def _open(update: Update, context: DudaoContext, svc: SupervisionService,
                args: Args) -> None:
    detail = await svc.detail(_user_id(update), _one(args)[0])
    await _reply(update, views.case_detail(detail, svc.rules.tz))


async def _skip(update: Update, context: DudaoContext, svc: SupervisionService,
                args: Args) -> None:
    awaiting = context.awaiting or ""
    parts = awaiting.split(":")
    if args or len(parts) < 2 or parts[0] != "sv" or parts[1] not in SKIPPABLE:
        raise DomainError("sv.error.expired")
    await _answer(update, context, svc, parts, "", None)


async def _visit_school(update: Update, context: DudaoContext, svc: SupervisionService,
                        args: Args) -> None:
    code = _one(args)[0]
    name = await svc.school_name(_user_id(update), code)
    context.awaiting = None
    await _reply(update, views.visit_date_question(code, name, svc.today()))


async def _visit_date(update: Update, context: DudaoContext, svc: SupervisionService,
                      args: Args) -> None:
    code, raw = _one(args, 2)
    await svc.school_name(_user_id(update), code)
    try:
        day = datetime.strptime(raw, "%Y%m%d").date()
    except ValueError as exc:
        raise DomainError("sv.error.bad_button") from exc
    svc.check_visit_date(day)
    context.awaiting = f"sv:vnote:{code}:{day}"
    await _reply(update, views.prompt("sv.visit.note_prompt", skip="button.skip"))


BUTTONS: dict[str, ButtonHandler] = {
    "acc": _accept, "back": _hand_back, "ask": _ask, "prop": _propose,
    "pd": _pick_disposition, "pdl": _pick_deadline, "done": _done, "ext": _extend,
    "extd": _pick_extension, "open": _open, "skip": _skip, "vs": _visit_school,
    "vd": _visit_date,
}


# --- answers typed or sent ----------------------------------------------------------------
async def on_awaited_text(update: Update, context: DudaoContext) -> None:
    """Answer the "sv:" question the bot is on with the text just sent."""
    message = update.effective_message
    assert message is not None
    await _settle(update, context, message.text or "", None)


async def on_awaited_media(update: Update, context: DudaoContext) -> None:
    """A photo while an "sv:" question is open: rectification or visit evidence."""
    message = update.effective_message
    assert message is not None
    svc = service(context)
    if not message.photo:
        await _reply(update, views.prompt("sv.error.photo_only"))
        return
    photo = message.photo[-1]
    if (photo.file_size or 0) > context.services.settings.cases.max_evidence_bytes:
        await _reply(update, views.prompt("sv.error.photo_too_big"))
        return
    await _settle(update, context, message.caption or "", EvidenceInput(
        kind="photo", file_id=photo.file_id, file_unique_id=photo.file_unique_id,
        mime_type="image/jpeg", size=photo.file_size or 0), svc)


async def _settle(update: Update, context: DudaoContext, raw: str,
                  photo: EvidenceInput | None, svc: SupervisionService | None = None) -> None:
    """Run the answer through the service; refusals are shown, retryable ones keep asking."""
    svc = svc or service(context)
    parts = (context.awaiting or "").split(":")
    try:
        await _answer(update, context, svc, parts, raw, photo)
    except DomainError as err:
        if err.key not in RETRY_KEYS:
            context.awaiting = None
        await _reply(update, (views.refusal_html(err), None))


async def _answer(update: Update, context: DudaoContext, svc: SupervisionService,
                  parts: list[str], raw: str, photo: EvidenceInput | None) -> None:
    kind = parts[1] if len(parts) >= 3 else ""
    if kind not in ANSWERS:
        context.awaiting = None
        raise DomainError("sv.error.expired")
    limit = DEPARTMENT_LIMIT if kind == "dept" else NOTE_LIMIT
    text = normalise_text(raw)
    if len(text) > limit:
        raise InvalidInput("sv.error.too_long", length=len(text), limit=limit)
    await ANSWERS[kind](update, context, svc, parts[2:], text, photo)


Answer = Callable[[Update, DudaoContext, SupervisionService, Args, str, EvidenceInput | None],
                  Awaitable[None]]


def _text_only(photo: EvidenceInput | None) -> None:
    if photo is not None:
        raise InvalidInput("sv.error.text_expected")


def _date(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise DomainError("sv.error.expired") from exc


async def _finished(update: Update, context: DudaoContext, reply: views.Reply) -> None:
    context.awaiting = None
    _wake(context)
    await _reply(update, reply)


async def _answer_back(update: Update, context: DudaoContext, svc: SupervisionService,
                       args: Args, text: str, photo: EvidenceInput | None) -> None:
    _text_only(photo)
    case = await svc.hand_back(_user_id(update), args[0], text)
    await _finished(update, context, views.prompt("sv.back.done", reference=case.reference))


async def _answer_ask(update: Update, context: DudaoContext, svc: SupervisionService,
                      args: Args, text: str, photo: EvidenceInput | None) -> None:
    _text_only(photo)
    case = await svc.ask_parent(_user_id(update), args[0], text)
    await _finished(update, context, views.prompt("sv.ask.done", reference=case.reference))


async def _answer_note(update: Update, context: DudaoContext, svc: SupervisionService,
                       args: Args, text: str, photo: EvidenceInput | None) -> None:
    _text_only(photo)
    try:
        disposition = Disposition(args[1])
    except (ValueError, IndexError) as exc:
        raise DomainError("sv.error.expired") from exc
    deadline = _date(args[2]) if len(args) > 2 else None
    case = await svc.propose(_user_id(update), args[0], disposition, note=text,
                             deadline=deadline)
    await _finished(update, context, views.proposed(case))


async def _answer_department(update: Update, context: DudaoContext, svc: SupervisionService,
                             args: Args, text: str, photo: EvidenceInput | None) -> None:
    _text_only(photo)
    case = await svc.propose(_user_id(update), args[0], Disposition.TRANSFERRED,
                             transfer_to=text)
    await _finished(update, context, views.proposed(case))


async def _answer_done(update: Update, context: DudaoContext, svc: SupervisionService,
                       args: Args, text: str, photo: EvidenceInput | None) -> None:
    reference = args[0]
    if photo is not None:
        await svc.add_rectification_photo(_user_id(update), reference, photo)
        if not text:  # a bare photo: keep asking for the note
            await _reply(update, views.prompt("sv.done.photo_saved", skip="button.sv.submit"))
            return
    case = await svc.report_rectified(_user_id(update), reference, text)
    await _finished(update, context, views.prompt("sv.done.done", reference=case.reference))


async def _answer_extension(update: Update, context: DudaoContext, svc: SupervisionService,
                            args: Args, text: str, photo: EvidenceInput | None) -> None:
    _text_only(photo)
    if len(args) < 2:
        raise DomainError("sv.error.expired")
    target = _date(args[1])
    case = await svc.request_extension(_user_id(update), args[0], target, text)
    await _finished(update, context, views.prompt("sv.ext.done", reference=case.reference,
                                                  date=target.isoformat()))


async def _answer_visit_note(update: Update, context: DudaoContext, svc: SupervisionService,
                             args: Args, text: str, photo: EvidenceInput | None) -> None:
    if len(args) < 2:
        raise DomainError("sv.error.expired")
    if photo is None:  # the note first; then offer the optional photo
        if context.user_data is not None:
            context.user_data[VISIT_NOTE_KEY] = text
        context.awaiting = f"sv:vphoto:{args[0]}:{args[1]}"
        await _reply(update, views.prompt("sv.visit.photo_prompt", skip="button.sv.no_photo"))
        return
    await _log_visit(update, context, svc, args, text, photo)


async def _answer_visit_photo(update: Update, context: DudaoContext, svc: SupervisionService,
                              args: Args, text: str, photo: EvidenceInput | None) -> None:
    if len(args) < 2:
        raise DomainError("sv.error.expired")
    if photo is None and text:  # typed text where a photo (or the skip button) was asked
        await _reply(update, views.prompt("sv.visit.photo_prompt", skip="button.sv.no_photo"))
        return
    note = str((context.user_data or {}).get(VISIT_NOTE_KEY, ""))
    await _log_visit(update, context, svc, args, note, photo)


async def _log_visit(update: Update, context: DudaoContext, svc: SupervisionService,
                     args: Args, note: str, photo: EvidenceInput | None) -> None:
    logged = await svc.log_visit(_user_id(update), args[0], _date(args[1]), note,
                                 photo.file_id if photo else "")
    if context.user_data is not None:
        context.user_data.pop(VISIT_NOTE_KEY, None)
    await _finished(update, context, views.visit_saved(logged))


ANSWERS: dict[str, Answer] = {
    "back": _answer_back, "ask": _answer_ask, "note": _answer_note,
    "dept": _answer_department, "done": _answer_done, "ext": _answer_extension,
    "vnote": _answer_visit_note, "vphoto": _answer_visit_photo,
}
