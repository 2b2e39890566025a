"""Supervisor (责任督学) Telegram handlers: work assigned cases and log school visits.

Thin by design: each handler reads what was pressed (`protocol`'s supervisor families) or
typed, calls `SupervisionService` (which re-checks the supervisor, the assignment and the
status on the server) and renders the answer with `views_supervisor`. The questions a
supervisor answers by text or photo are `flows` questions registered here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import date
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
from handlers.telegram import flows, protocol
from handlers.telegram import views_supervisor as views
from handlers.telegram.context import DudaoContext
from handlers.telegram.views import refusal_alert, refusal_html

NOTE_LIMIT = 500  # notes, reasons and questions
DEPARTMENT_LIMIT = 100  # the transfer_to column's width
# Refusals that leave the question open so the supervisor can simply answer again.
RETRY_KEYS = frozenset({"case.error.comment_required", "case.error.transfer_target_required",
                        "sv.error.too_long", "sv.error.text_expected", "sv.error.bad_deadline",
                        "sv.error.deadline_past", "sv.error.deadline_too_far"})

CaseStep = Callable[[Update, DudaoContext, SupervisionService, str], Awaitable[None]]


def register(app: Any) -> None:
    """Add the supervisor commands and buttons (call before the generic parent handlers)."""
    private = filters.ChatType.PRIVATE
    app.add_handlers([
        CommandHandler("cases", cases_command, filters=private),
        CommandHandler("visit", visit_command, filters=private),
        CommandHandler("visits", visits_command, filters=private),
        CallbackQueryHandler(on_button, pattern=protocol.namespace_pattern("s")),
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
        await _reply(update, (refusal_html(err), None))
        return
    await _reply(update, views.case_list(lines, svc.rules.tz))


async def visit_command(update: Update, context: DudaoContext) -> None:
    """Start logging a visit: pick one of the supervisor's schools or institutions."""
    svc = service(context)
    try:
        schools = await svc.schools(_user_id(update))
        institutions = await svc.institutions(_user_id(update))
    except DomainError as err:
        await _reply(update, (refusal_html(err), None))
        return
    flows.close(context)
    await _reply(update, views.school_question(schools, institutions))


async def visits_command(update: Update, context: DudaoContext) -> None:
    """Show this month's visited and unvisited schools."""
    try:
        cov = await service(context).coverage(_user_id(update))
    except DomainError as err:
        await _reply(update, (refusal_html(err), None))
        return
    await _reply(update, views.coverage(cov))


# --- buttons ------------------------------------------------------------------------------
async def on_button(update: Update, context: DudaoContext) -> None:
    """Dispatch a supervisor button after checking that a bound supervisor pressed it."""
    query = update.callback_query
    assert query is not None
    chat = update.effective_chat
    svc = service(context)
    try:
        if chat is None or chat.type != ChatType.PRIVATE:
            raise DomainError("sv.error.bad_button")
        await svc.supervisor(_user_id(update))
        pressed = protocol.parse_any(query.data, protocol.SUPERVISOR_FAMILIES)
        if isinstance(pressed, protocol.SupervisorCase):
            await _CASE_STEPS[pressed.step](update, context, svc, pressed.reference)
        elif pressed is not None:
            await _BUTTONS[type(pressed)](update, context, svc, pressed)
        else:
            raise DomainError("sv.error.bad_button")
    except DomainError as err:
        await query.answer(refusal_alert(err), show_alert=True)
        return
    except Exception:
        # Stop the button's spinner; the application's error handler logs and explains.
        with contextlib.suppress(TelegramError):
            await query.answer(t("general.internal_error"), show_alert=True)
        raise
    await query.answer()


async def _accept(update: Update, context: DudaoContext, svc: SupervisionService,
                  reference: str) -> None:
    case = await svc.accept(_user_id(update), reference)
    await _reply(update, views.accepted(case, svc.rules.propose_working_days))


async def _hand_back(update: Update, context: DudaoContext, svc: SupervisionService,
                     reference: str) -> None:
    case = await svc.check_step(_user_id(update), reference, "back")
    flows.ask(context, flows.HandBackReason(case.reference))
    await _reply(update, views.prompt("sv.back.prompt", reference=case.reference))


async def _ask(update: Update, context: DudaoContext, svc: SupervisionService,
               reference: str) -> None:
    case = await svc.check_step(_user_id(update), reference, "ask")
    flows.ask(context, flows.QuestionForParent(case.reference))
    await _reply(update, views.prompt("sv.ask.prompt", reference=case.reference))


async def _propose(update: Update, context: DudaoContext, svc: SupervisionService,
                   reference: str) -> None:
    case = await svc.check_step(_user_id(update), reference, "propose")
    flows.close(context)
    await _reply(update, views.disposition_question(case.reference))


async def _pick_disposition(update: Update, context: DudaoContext, svc: SupervisionService,
                            pressed: protocol.PickDisposition) -> None:
    case = await svc.check_step(_user_id(update), pressed.reference, "propose")
    ref, disposition = case.reference, pressed.disposition
    if disposition is Disposition.RECTIFY:
        # The buttons offer 7/15/30 days; a date typed instead answers the open question.
        flows.ask(context, flows.DeadlineDate(ref))
        await _reply(update, views.deadline_question(ref, svc.deadline_choices()))
    elif disposition is Disposition.TRANSFERRED:
        flows.ask(context, flows.TransferDepartment(ref))
        await _reply(update, views.prompt("sv.prop.dept_prompt", reference=ref))
    elif disposition in (Disposition.UNFOUNDED, Disposition.FIXED):
        flows.ask(context, flows.ProposalNote(ref, disposition))
        await _reply(update, views.prompt("sv.prop.note_prompt", skip="button.skip",
                                          disposition=t(f"disposition.{disposition.value}")))
    else:
        raise DomainError("case.error.bad_disposition")


async def _pick_deadline(update: Update, context: DudaoContext, svc: SupervisionService,
                         pressed: protocol.PickDeadline) -> None:
    case = await svc.check_step(_user_id(update), pressed.reference, "propose")
    deadline = svc.deadline_after(pressed.days)
    await _ask_note(update, context, case.reference, deadline)


async def _answer_deadline(update: Update, context: DudaoContext, svc: SupervisionService,
                           question: flows.DeadlineDate, text: str,
                           photo: EvidenceInput | None) -> None:
    """A typed deadline: checked (no past date, at most a year ahead), then the note."""
    _text_only(photo)
    case = await svc.check_step(_user_id(update), question.reference, "propose")
    deadline = svc.deadline_from_text(text)
    await _ask_note(update, context, case.reference, deadline)


async def _ask_note(update: Update, context: DudaoContext, reference: str,
                    deadline: date) -> None:
    flows.ask(context, flows.ProposalNote(reference, Disposition.RECTIFY, deadline))
    await _reply(update, views.prompt(
        "sv.prop.note_prompt", skip="button.skip",
        disposition=t("disposition.rectify") + t(
            "sv.prop.detail.deadline", date=deadline.isoformat())))


async def _done(update: Update, context: DudaoContext, svc: SupervisionService,
                reference: str) -> None:
    case = await svc.check_step(_user_id(update), reference, "done")
    flows.ask(context, flows.RectificationNote(case.reference))
    await _reply(update, views.prompt("sv.done.prompt", skip="button.sv.submit",
                                      reference=case.reference))


async def _extend(update: Update, context: DudaoContext, svc: SupervisionService,
                  reference: str) -> None:
    case = await svc.check_step(_user_id(update), reference, "extend")
    flows.close(context)
    await _reply(update, views.extension_question(
        case, svc.extension_choices(case, svc.today())))


async def _pick_extension(update: Update, context: DudaoContext, svc: SupervisionService,
                          pressed: protocol.PickExtension) -> None:
    case = await svc.check_step(_user_id(update), pressed.reference, "extend")
    target = dict(svc.extension_choices(case, svc.today())).get(pressed.days)
    if target is None:
        raise DomainError("sv.error.bad_button")
    flows.ask(context, flows.ExtensionReason(case.reference, target))
    await _reply(update, views.prompt("sv.ext.reason_prompt", reference=case.reference,
                                      date=target.isoformat()))


async def _recheck(update: Update, context: DudaoContext, svc: SupervisionService,
                   reference: str) -> None:
    """回头看 re-check: first the result (holds, or failed with a new deadline), then the note."""
    case = await svc.check_recheck(_user_id(update), reference)
    flows.close(context)
    await _reply(update, views.recheck_question(case.reference, svc.deadline_choices()))


async def _recheck_result(update: Update, context: DudaoContext, svc: SupervisionService,
                          pressed: protocol.RecheckResult) -> None:
    case = await svc.check_recheck(_user_id(update), pressed.reference)
    if pressed.days:
        svc.deadline_after(pressed.days)  # refuses a days value that was never offered
    flows.ask(context, flows.RecheckNote(case.reference, pressed.days))
    await _reply(update, views.prompt("sv.recheck.note_prompt"))


async def _open(update: Update, context: DudaoContext, svc: SupervisionService,
                reference: str) -> None:
    detail = await svc.detail(_user_id(update), reference)
    await _reply(update, views.case_detail(detail, svc.rules.tz))


async def _skip(update: Update, context: DudaoContext, svc: SupervisionService,
                pressed: protocol.SkipAnswer) -> None:
    question = flows.current(context)
    if question is None or not question.skippable or type(question) not in _SUPERVISOR_QUESTIONS:
        raise DomainError("sv.error.expired")
    await _answer(update, context, svc, question, "", None)


async def _visit_school(update: Update, context: DudaoContext, svc: SupervisionService,
                        pressed: protocol.VisitSchool) -> None:
    name = await svc.school_name(_user_id(update), pressed.school)
    flows.close(context)
    await _reply(update, views.visit_date_question(pressed.school, name, svc.today()))


async def _visit_date(update: Update, context: DudaoContext, svc: SupervisionService,
                      pressed: protocol.VisitDate) -> None:
    await svc.school_name(_user_id(update), pressed.school)
    svc.check_visit_date(pressed.day)
    flows.ask(context, flows.VisitNote(pressed.school, pressed.day))
    await _reply(update, views.prompt("sv.visit.note_prompt", skip="button.skip"))


async def _visit_institution(update: Update, context: DudaoContext, svc: SupervisionService,
                             pressed: protocol.VisitInstitution) -> None:
    name = await svc.institution_name(_user_id(update), pressed.institution)
    flows.close(context)
    await _reply(update, views.visit_date_question(pressed.institution, name, svc.today(),
                                                   institution=True))


async def _visit_institution_date(update: Update, context: DudaoContext,
                                  svc: SupervisionService,
                                  pressed: protocol.VisitInstitutionDate) -> None:
    await svc.institution_name(_user_id(update), pressed.institution)
    svc.check_visit_date(pressed.day)
    flows.ask(context, flows.VisitNote(pressed.institution, pressed.day, institution=True))
    await _reply(update, views.prompt("sv.visit.note_prompt_institution", skip="button.skip"))


Step = protocol.SvStep
_CASE_STEPS: dict[protocol.SvStep, CaseStep] = {
    Step.ACCEPT: _accept, Step.HAND_BACK: _hand_back, Step.ASK: _ask, Step.PROPOSE: _propose,
    Step.REPORT_DONE: _done, Step.REQUEST_EXTENSION: _extend, Step.OPEN: _open,
    Step.RECHECK: _recheck,
}
_BUTTONS: dict[type[protocol.CallbackData], Any] = {
    protocol.PickDisposition: _pick_disposition, protocol.PickDeadline: _pick_deadline,
    protocol.PickExtension: _pick_extension, protocol.SkipAnswer: _skip,
    protocol.VisitSchool: _visit_school, protocol.VisitDate: _visit_date,
    protocol.VisitInstitution: _visit_institution,
    protocol.VisitInstitutionDate: _visit_institution_date,
    protocol.RecheckResult: _recheck_result,
}


# --- answers typed or sent ----------------------------------------------------------------
async def on_awaited_text(update: Update, context: DudaoContext,
                          question: flows.Question) -> None:
    """Answer the supervisor's open question with the text just sent."""
    message = update.effective_message
    assert message is not None
    await _settle(update, context, question, message.text or "", None)


async def on_awaited_media(update: Update, context: DudaoContext,
                           question: flows.Question) -> None:
    """A photo while a supervisor's question is open: rectification or visit evidence."""
    message = update.effective_message
    assert message is not None
    if not message.photo:
        await _reply(update, views.prompt("sv.error.photo_only"))
        return
    photo = message.photo[-1]
    if (photo.file_size or 0) > context.services.settings.cases.max_evidence_bytes:
        await _reply(update, views.prompt("sv.error.photo_too_big"))
        return
    await _settle(update, context, question, message.caption or "", EvidenceInput(
        kind="photo", file_id=photo.file_id, file_unique_id=photo.file_unique_id,
        mime_type="image/jpeg", size=photo.file_size or 0))


async def _settle(update: Update, context: DudaoContext, question: flows.Question, raw: str,
                  photo: EvidenceInput | None) -> None:
    """Run the answer through the service; refusals are shown, retryable ones keep asking."""
    try:
        await _answer(update, context, service(context), question, raw, photo)
    except DomainError as err:
        if err.key not in RETRY_KEYS:
            flows.close(context)
        await _reply(update, (refusal_html(err), None))


async def _answer(update: Update, context: DudaoContext, svc: SupervisionService,
                  question: flows.Question, raw: str, photo: EvidenceInput | None) -> None:
    limit = DEPARTMENT_LIMIT if isinstance(question, flows.TransferDepartment) else NOTE_LIMIT
    text = normalise_text(raw)
    if len(text) > limit:
        raise InvalidInput("sv.error.too_long", length=len(text), limit=limit)
    await _SUPERVISOR_QUESTIONS[type(question)](update, context, svc, question, text, photo)


def _text_only(photo: EvidenceInput | None) -> None:
    if photo is not None:
        raise InvalidInput("sv.error.text_expected")


async def _finished(update: Update, context: DudaoContext, reply: views.Reply) -> None:
    flows.close(context)
    await _reply(update, reply)


async def _answer_back(update: Update, context: DudaoContext, svc: SupervisionService,
                       question: flows.HandBackReason, text: str,
                       photo: EvidenceInput | None) -> None:
    _text_only(photo)
    case = await svc.hand_back(_user_id(update), question.reference, text)
    await _finished(update, context, views.prompt("sv.back.done", reference=case.reference))


async def _answer_ask(update: Update, context: DudaoContext, svc: SupervisionService,
                      question: flows.QuestionForParent, text: str,
                      photo: EvidenceInput | None) -> None:
    _text_only(photo)
    case = await svc.ask_parent(_user_id(update), question.reference, text)
    await _finished(update, context, views.prompt("sv.ask.done", reference=case.reference))


async def _answer_note(update: Update, context: DudaoContext, svc: SupervisionService,
                       question: flows.ProposalNote, text: str,
                       photo: EvidenceInput | None) -> None:
    _text_only(photo)
    case = await svc.propose(_user_id(update), question.reference, question.disposition,
                             note=text, deadline=question.deadline)
    await _finished(update, context, views.proposed(case))


async def _answer_department(update: Update, context: DudaoContext, svc: SupervisionService,
                             question: flows.TransferDepartment, text: str,
                             photo: EvidenceInput | None) -> None:
    _text_only(photo)
    case = await svc.propose(_user_id(update), question.reference, Disposition.TRANSFERRED,
                             transfer_to=text)
    await _finished(update, context, views.proposed(case))


async def _answer_done(update: Update, context: DudaoContext, svc: SupervisionService,
                       question: flows.RectificationNote, text: str,
                       photo: EvidenceInput | None) -> None:
    reference = question.reference
    if photo is not None:
        await svc.add_rectification_photo(_user_id(update), reference, photo)
        if not text:  # a bare photo: keep asking for the note
            await _reply(update, views.prompt("sv.done.photo_saved", skip="button.sv.submit"))
            return
    case = await svc.report_rectified(_user_id(update), reference, text)
    await _finished(update, context, views.prompt("sv.done.done", reference=case.reference))


async def _answer_extension(update: Update, context: DudaoContext, svc: SupervisionService,
                            question: flows.ExtensionReason, text: str,
                            photo: EvidenceInput | None) -> None:
    _text_only(photo)
    case = await svc.request_extension(_user_id(update), question.reference, question.deadline,
                                       text)
    await _finished(update, context, views.prompt("sv.ext.done", reference=case.reference,
                                                  date=question.deadline.isoformat()))


async def _answer_visit_note(update: Update, context: DudaoContext, svc: SupervisionService,
                             question: flows.VisitNote, text: str,
                             photo: EvidenceInput | None) -> None:
    if photo is None:  # the note first; then offer the optional photo
        flows.ask(context, flows.VisitPhoto(question.school, question.day, text,
                                            question.institution))
        await _reply(update, views.prompt("sv.visit.photo_prompt", skip="button.sv.no_photo"))
        return
    await _log_visit(update, context, svc, question.school, question.day, text, photo,
                     question.institution)


async def _answer_visit_photo(update: Update, context: DudaoContext, svc: SupervisionService,
                              question: flows.VisitPhoto, text: str,
                              photo: EvidenceInput | None) -> None:
    if photo is None and text:  # typed text where a photo (or the skip button) was asked
        await _reply(update, views.prompt("sv.visit.photo_prompt", skip="button.sv.no_photo"))
        return
    await _log_visit(update, context, svc, question.school, question.day, question.note, photo,
                     question.institution)


async def _log_visit(update: Update, context: DudaoContext, svc: SupervisionService,
                     school: str, day: date, note: str, photo: EvidenceInput | None,
                     institution: bool = False) -> None:
    logged = await svc.log_visit(_user_id(update), school, day, note,
                                 photo.file_id if photo else "", institution=institution)
    await _finished(update, context, views.visit_saved(logged))


async def _answer_recheck(update: Update, context: DudaoContext, svc: SupervisionService,
                          question: flows.RecheckNote, text: str,
                          photo: EvidenceInput | None) -> None:
    if not text:  # a bare photo or nothing: the note is what the office reads
        await _reply(update, views.prompt("sv.recheck.note_prompt"))
        return
    case = await svc.recheck(_user_id(update), question.reference, question.days, text,
                             photo.file_id if photo else "")
    if question.days:
        reply = views.prompt("sv.recheck.done_no", reference=case.reference,
                             date=case.rectify_deadline.isoformat()
                             if case.rectify_deadline else "")
    else:
        reply = views.prompt("sv.recheck.done_ok", reference=case.reference)
    await _finished(update, context, reply)


_SUPERVISOR_QUESTIONS: dict[type[flows.Question], Any] = {
    flows.HandBackReason: _answer_back, flows.QuestionForParent: _answer_ask,
    flows.ProposalNote: _answer_note, flows.TransferDepartment: _answer_department,
    flows.RectificationNote: _answer_done, flows.ExtensionReason: _answer_extension,
    flows.VisitNote: _answer_visit_note, flows.VisitPhoto: _answer_visit_photo,
    flows.DeadlineDate: _answer_deadline,
    flows.RecheckNote: _answer_recheck,
}
for _question in _SUPERVISOR_QUESTIONS:
    flows.answers(_question, media=on_awaited_media)(on_awaited_text)
