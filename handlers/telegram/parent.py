"""Parent-facing Telegram handlers: file a tip, follow cases, add information, rate."""

from __future__ import annotations

import logging
import os
import re
import signal
from collections import deque
from typing import Any

from telegram import Message, ReplyKeyboardRemove, Update
from telegram.error import TelegramError

from bot.domain import Actor, CaseAction, DomainError, Role, Status
from bot.filing import TipInput
from bot.intake import normalise_text
from bot.messages import t
from bot.parents import ParentService
from bot.services import EvidenceInput
from handlers.telegram import flows, keyboards, protocol, views
from handlers.telegram.context import Draft, DudaoContext

log = logging.getLogger(__name__)

# Ids of taps already answered (Telegram accepts one answer per tap); recent ones suffice.
_answered: deque[str] = deque(maxlen=1000)
_MOBILE = re.compile(r"^\+?(?:86)?1[3-9]\d{9}$")
_DOCUMENT_TYPES = ("image/", "application/pdf", "application/msword",
                   "application/vnd.openxmlformats-officedocument", "application/vnd.ms-excel",
                   "text/plain", "video/")


async def _reply(update: Update, text: str, markup: views.Markup = None) -> Message | None:
    message = update.effective_message
    if message is None:
        return None
    return await message.reply_html(text, reply_markup=markup)


def _parents(context: DudaoContext) -> ParentService:
    return context.services.container.parents


async def _refuse(update: Update, err: DomainError) -> None:
    """Say why an action was refused: as a button alert if the tap is unanswered, else a message."""
    query = update.callback_query
    if query is not None and query.id not in _answered:
        _answered.append(query.id)
        await query.answer(views.refusal_alert(err), show_alert=True)
    else:
        await _reply(update, views.refusal_html(err))


async def _ack(update: Update) -> None:
    """Answer a button tap once (Telegram allows one answer per tap)."""
    query = update.callback_query
    if query is not None and query.id not in _answered:
        _answered.append(query.id)
        try:
            await query.answer()
        except TelegramError:  # the tap's spinner stops by itself; the action goes on
            log.warning("could not answer a button tap", exc_info=True)


async def start(update: Update, context: DudaoContext) -> None:
    """Greet the parent and say what happens to a tip (or bind staff via a deep link)."""
    if context.args and context.args[0].startswith("bind_"):
        from handlers.telegram.staff import bind_with_code

        await bind_with_code(update, context, context.args[0].removeprefix("bind_"))
        return
    await _reply(update, views.welcome())


async def help_command(update: Update, context: DudaoContext) -> None:
    """Explain the commands of the sender's role (parent, supervisor or office staff)."""
    user = update.effective_user
    role = (await context.services.cases.identify(user.id)).role if user else Role.PARENT
    key = {Role.STAFF: "staff.help", Role.SUPERVISOR: "supervisor.help"}.get(role, "parent.help")
    await _reply(update, t(key))


async def privacy_command(update: Update, context: DudaoContext) -> None:
    """Explain who sees what."""
    await _reply(update, t("parent.privacy",
                           days=context.services.settings.evidence.retention_days))


async def report_command(update: Update, context: DudaoContext) -> None:
    """Start a tip explicitly."""
    flows.close(context)
    context.draft = None
    await _reply(update, t("parent.report.prompt"))


async def cancel_command(update: Update, context: DudaoContext) -> None:
    """End any open question or draft, whoever asked it; nothing stored is touched."""
    had = context.draft is not None or flows.current(context) is not None
    context.draft = None
    flows.close(context)
    await _reply(update, t("parent.cancelled" if had else "parent.nothing_to_cancel"),
                 ReplyKeyboardRemove())


async def on_text(update: Update, context: DudaoContext) -> None:
    """Free text: the answer to the open question, else the start or rest of a tip."""
    await flows.on_text(update, context, _tip_text)


async def _tip_text(update: Update, context: DudaoContext) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    await _new_tip(update, context, message.text)


async def _new_tip(update: Update, context: DudaoContext, raw: str) -> None:
    services = context.services
    text = normalise_text(raw)
    limit = services.settings.cases.max_text_chars
    if not text:
        await _reply(update, t("parent.tip.empty"))
        return
    draft = context.draft
    combined = f"{draft.text}\n{text}" if draft else text
    if len(combined) > limit:
        await _reply(update, t("parent.tip.too_long", length=len(combined), limit=limit))
        return
    user = update.effective_user
    assert user is not None
    actor, may_file = await services.filing.filing_status(user.id)
    if actor.role is not Role.PARENT:
        # Bound supervisors and staff work through their menus; their free text is no tip.
        await _reply(update, t("official.free_text"))
        return
    if not may_file:
        await _reply(update, t("tip.error.rate_limited",
                               limit=services.settings.cases.tips_per_hour))
        return
    analysis = await services.intake.analyse(combined)
    entity = draft.entity if draft and draft.entity else analysis.certain
    context.draft = Draft(text=combined, analysis=analysis, entity=entity,
                          evidence=draft.evidence if draft else [])
    await _ask_next(update, context)


async def _ask_next(update: Update, context: DudaoContext, *,
                    entity_skipped: bool = False) -> None:
    draft = context.draft
    assert draft is not None
    flows.close(context)
    needs_entity = draft.analysis.category != "other" and draft.entity is None
    if needs_entity and not entity_skipped:
        text, markup = views.entity_question(draft.analysis.candidates)
        await _reply(update, text, markup)
        return
    text, markup = views.tip_summary(draft.analysis, draft.entity, len(draft.evidence))
    await _reply(update, text, markup)


@flows.answers(flows.EntityName)
async def _entity_typed(update: Update, context: DudaoContext,
                        question: flows.EntityName) -> None:
    message = update.effective_message
    assert message is not None
    name = message.text or ""
    draft = context.draft
    flows.close(context)
    if draft is None:
        await _new_tip(update, context, name)
        return
    candidates = await context.services.intake.search(normalise_text(name)[:50])
    draft.analysis = _with_candidates(draft.analysis, candidates)
    if not candidates:
        await _reply(update, t("parent.draft.entity_not_found"))
        await _ask_next(update, context, entity_skipped=True)
        return
    text, markup = views.entity_question(candidates)
    await _reply(update, text, markup)


def _with_candidates(analysis: Any, candidates: Any) -> Any:
    from dataclasses import replace

    return replace(analysis, candidates=tuple(candidates))


async def draft_button(update: Update, context: DudaoContext) -> None:
    """Buttons of the tip being composed: entity choice, anonymous/named, cancel."""
    query = update.callback_query
    assert query is not None
    draft = context.draft
    if draft is None:
        await query.answer(t("parent.draft.expired"), show_alert=True)
        return
    await _ack(update)
    pressed = protocol.parse_any(query.data, protocol.DRAFT_FAMILIES)
    if isinstance(pressed, protocol.EntityReject):
        # "不是这所": offer the other candidates (or typing the name) instead of this one.
        rejected = draft.entity
        draft.entity = None
        others = tuple(c for c in draft.analysis.candidates
                       if rejected is None or c.code != rejected.code)
        draft.analysis = _with_candidates(draft.analysis, others)
        question, keyboard = views.entity_question(others)
        await _reply(update, question, keyboard)
        return
    if isinstance(pressed, protocol.EntityPick):
        if pressed.index < len(draft.analysis.candidates):
            draft.entity = draft.analysis.candidates[pressed.index]
            await _ask_next(update, context)
            return
    elif isinstance(pressed, protocol.DraftButton):
        choice = pressed.choice
        if choice is protocol.DraftChoice.TYPE_ENTITY:
            flows.ask(context, flows.EntityName())
            await _reply(update, t("parent.draft.type_entity"))
        elif choice is protocol.DraftChoice.SKIP_ENTITY:
            await _ask_next(update, context, entity_skipped=True)
        elif choice is protocol.DraftChoice.ANONYMOUS:
            draft.anonymous = True
            await _file(update, context, phone=None)
        elif choice is protocol.DraftChoice.NAMED:
            draft.anonymous = False
            flows.ask(context, flows.ContactNumber())
            text, markup = views.contact_request()
            await _reply(update, text, markup)
        else:
            context.draft = None
            flows.close(context)
            await _reply(update, t("parent.cancelled"))
        return
    await _reply(update, t("parent.button.unknown"))


@flows.answers(flows.ContactNumber)
async def _contact_typed(update: Update, context: DudaoContext,
                         question: flows.ContactNumber) -> None:
    message = update.effective_message
    assert message is not None
    text = message.text or ""
    if text.strip() == t("button.no_phone"):
        await _file(update, context, phone=None)
    elif _MOBILE.match(text.strip().replace(" ", "").replace("-", "")):
        await _file(update, context, phone=text.strip())
    else:
        await _reply(update, t("parent.contact.invalid"))


async def on_contact(update: Update, context: DudaoContext) -> None:
    """A phone number shared with the contact button; only the sender's own counts."""
    message = update.effective_message
    user = update.effective_user
    assert message is not None and message.contact is not None and user is not None
    if not isinstance(flows.current(context), flows.ContactNumber) or context.draft is None:
        await _reply(update, t("parent.contact.unexpected"), ReplyKeyboardRemove())
        return
    if message.contact.user_id != user.id:
        await _reply(update, t("parent.contact.not_own"))
        return
    await _file(update, context, phone=message.contact.phone_number)


async def _file(update: Update, context: DudaoContext, phone: str | None) -> None:
    draft = context.draft
    user = update.effective_user
    assert draft is not None and user is not None
    entity = draft.entity
    tip = TipInput(
        text=draft.text, reporter_user_id=user.id, category=draft.analysis.category,
        confidence=draft.analysis.confidence, model_version=draft.analysis.model_version,
        anonymous=draft.anonymous,
        reporter_name=None if draft.anonymous else user.full_name[:50],
        reporter_phone=None if draft.anonymous else phone,
        school_code=entity.code if entity and entity.kind == "school" else None,
        institution_code=entity.code if entity and entity.kind == "institution" else None,
        district_code=entity.district_code if entity else None,
        evidence=tuple(EvidenceInput(**e) for e in draft.evidence),
        alternatives=tuple(draft.analysis.alternatives),
        detected_entity=draft.analysis.certain.code if draft.analysis.certain else None)
    try:
        filed = await context.services.filing.file_tip(tip)
    except DomainError as err:
        await _refuse(update, err)
        return
    # The case and its reference row (leased to us) are committed: from here on the parent
    # gets the reference even if this process dies before replying (delivery sends the row).
    crash_after_commit_for_tests()
    context.draft = None
    flows.close(context)
    text = views.filed(filed.reference, filed.category, filed.handler_role)
    filing = context.services.filing
    try:
        await _reply(update, text, ReplyKeyboardRemove())
    except TelegramError:
        # The row becomes due now; delivery retries it with back-off.
        log.warning("reference reply for %s failed; delivery retries it", filed.reference)
        await filing.reply_failed(filed.reference)
        context.services.container.delivery.wake()
        return
    await filing.reply_sent(filed.reference)


def crash_after_commit_for_tests() -> None:
    """With DUDAO_TEST_CRASH_AFTER_FILING=1 in the environment the process kills itself
    (SIGKILL) right after a tip is committed, before the reply: the crash the reference row
    exists for, made reproducible for tests/e2e/test_delivery_faults.py. Never set it in
    production."""
    if os.environ.get("DUDAO_TEST_CRASH_AFTER_FILING") == "1":
        os.kill(os.getpid(), signal.SIGKILL)


async def on_evidence(update: Update, context: DudaoContext) -> None:
    """A photo or document: the open question's answer if it takes one, else tip evidence."""
    await flows.on_media(update, context, _draft_evidence)


async def _draft_evidence(update: Update, context: DudaoContext) -> None:
    message = update.effective_message
    assert message is not None
    evidence = _evidence_of(message, context)
    if isinstance(evidence, str):
        await _reply(update, evidence)
        return
    draft = context.draft
    if draft is None:
        await _reply(update, t("parent.evidence.no_draft"))
        return
    if len(draft.evidence) >= context.services.settings.cases.max_evidence_files:
        await _reply(update, t("parent.evidence.too_many",
                               limit=context.services.settings.cases.max_evidence_files))
        return
    draft.evidence.append(evidence)
    if message.caption:
        draft.text = f"{draft.text}\n{normalise_text(message.caption)}"
    await _reply(update, t("parent.evidence.added", count=len(draft.evidence)))


async def _case_evidence(update: Update, context: DudaoContext,
                         question: flows.Information) -> None:
    """A photo or document sent as the information asked for: evidence for that case."""
    message = update.effective_message
    user = update.effective_user
    assert message is not None and user is not None
    evidence = _evidence_of(message, context)
    if isinstance(evidence, str):
        await _reply(update, evidence)
        return
    try:
        await _parents(context).add_evidence(user.id, question.reference,
                                             EvidenceInput(**evidence))
    except DomainError as err:
        await _refuse(update, err)
        return
    await _reply(update, t("parent.evidence.added_to_case", reference=question.reference))


def _evidence_of(message: Message, context: DudaoContext) -> dict[str, Any] | str:
    """Describe the attachment, or say in Chinese why it is refused."""
    item: dict[str, Any]
    limit = context.services.settings.cases.max_evidence_bytes
    if message.photo:
        photo = message.photo[-1]
        size, item = photo.file_size or 0, {"kind": "photo", "file_id": photo.file_id,
                                            "file_unique_id": photo.file_unique_id,
                                            "mime_type": "image/jpeg", "file_name": ""}
    elif message.document:
        doc = message.document
        mime = doc.mime_type or ""
        if not mime.startswith(_DOCUMENT_TYPES):
            return t("parent.evidence.bad_type")
        size, item = doc.file_size or 0, {"kind": "document", "file_id": doc.file_id,
                                          "file_unique_id": doc.file_unique_id,
                                          "mime_type": mime,
                                          "file_name": (doc.file_name or "")[:200]}
    else:
        return t("parent.unsupported")
    if size > limit:
        return t("parent.evidence.too_big", limit_mb=limit // (1024 * 1024))
    item["size"] = size
    return item


async def on_unsupported(update: Update, context: DudaoContext) -> None:
    """Stickers, voice, video notes, locations...: say what is accepted."""
    await _reply(update, t("parent.unsupported"))


async def my_cases(update: Update, context: DudaoContext) -> None:
    """List the parent's cases with their status."""
    user = update.effective_user
    assert user is not None
    cases = await context.services.cases.cases_of_reporter(user.id)
    text, markup = views.case_list(cases)
    await _reply(update, text, markup)


async def case_button(update: Update, context: DudaoContext) -> None:
    """Buttons on a parent's case: show, add information, rate, reopen. Only the case's
    reporter may act on it: anyone else is refused at once, nothing asked, nothing stored."""
    query = update.callback_query
    user = update.effective_user
    assert query is not None and user is not None
    pressed = protocol.parse_any(query.data, protocol.PARENT_FAMILIES)
    parents = _parents(context)
    try:
        if isinstance(pressed, protocol.ShowCase):
            _, case = await context.services.cases.view(user.id, pressed.reference)
            await _ack(update)
            own = await context.services.container.evidence.visible_count(user.id,
                                                                            case.reference)
            text, markup = views.parent_case(case, context.services.settings.tz, own)
            await _reply(update, text, markup)
        elif isinstance(pressed, protocol.AddInfo):
            case = await parents.own_case(user.id, pressed.reference)
            await _ack(update)
            flows.ask(context, flows.Information(case.reference))
            await _reply(update, t("parent.info.prompt", reference=case.reference))
        elif isinstance(pressed, protocol.Rate):
            case = await parents.own_case(user.id, pressed.reference)
            await _ack(update)
            flows.ask(context, flows.RatingComment(case.reference, pressed.rating))
            await _reply(update, t("parent.rate.comment_prompt"), views.skip_button(
                protocol.RateNow(case.reference, pressed.rating)))
        elif isinstance(pressed, protocol.RateNow):
            await _rate(update, context, flows.RatingComment(pressed.reference, pressed.rating),
                        "")
        elif isinstance(pressed, protocol.Reopen):
            case = await parents.reopen(user.id, pressed.reference)
            await _ack(update)
            await _reply(update, t("parent.reopened.triage" if case.status is Status.TRIAGE
                                   else "parent.reopened", reference=case.reference))
        else:
            await query.answer(t("parent.button.unknown"), show_alert=True)
    except DomainError as err:
        await _refuse(update, err)


@flows.answers(flows.Information, media=_case_evidence)
async def _add_information(update: Update, context: DudaoContext,
                           question: flows.Information) -> None:
    user = update.effective_user
    message = update.effective_message
    assert user is not None and message is not None
    text = normalise_text(message.text or "")
    if not text:
        await _reply(update, t("parent.tip.empty"))
        return
    if len(text) > context.services.settings.cases.max_text_chars:
        await _reply(update, t("parent.tip.too_long", length=len(text),
                               limit=context.services.settings.cases.max_text_chars))
        return
    flows.close(context)
    try:
        told = await _parents(context).add_information(user.id, question.reference, text)
    except DomainError as err:
        await _refuse(update, err)
        return
    await _reply(update, t("parent.info.saved" if told else "parent.info.saved_in_case",
                           reference=question.reference))


@flows.answers(flows.RatingComment)
async def _rating_comment(update: Update, context: DudaoContext,
                          question: flows.RatingComment) -> None:
    message = update.effective_message
    assert message is not None
    await _rate(update, context, question, message.text or "")


async def _rate(update: Update, context: DudaoContext, question: flows.RatingComment,
                comment: str) -> None:
    user = update.effective_user
    assert user is not None
    flows.close(context)
    try:
        case = await _parents(context).rate(user.id, question.reference, question.rating,
                                            normalise_text(comment))
    except DomainError as err:
        await _refuse(update, err)
        return
    await _ack(update)
    next_actions = case.next_actions(Actor(Role.PARENT, user_id=user.id))
    if CaseAction.REOPEN in next_actions:
        await _reply(update, t("parent.rated.dissatisfied", reference=case.reference),
                     keyboards.parent_keyboard(case.reference, next_actions))
    else:
        await _reply(update, t("parent.rated", reference=case.reference))
