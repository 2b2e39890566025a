"""Parent-facing Telegram handlers: file a tip, follow cases, add information, rate."""

from __future__ import annotations

import logging
import re
from collections import deque
from typing import Any

from telegram import Message, ReplyKeyboardRemove, Update
from telegram.error import TelegramError

from bot.domain import DomainError, Rating, Role
from bot.filing import TipInput
from bot.intake import normalise_text
from bot.messages import explain, t
from bot.services import EvidenceInput
from handlers.telegram import views
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


async def _refuse(update: Update, err: DomainError) -> None:
    """Say why an action was refused: as a button alert if the tap is unanswered, else a message."""
    text = explain(err.key, err.params)
    query = update.callback_query
    if query is not None and query.id not in _answered:
        _answered.append(query.id)
        await query.answer(text[:190], show_alert=True)
    else:
        await _reply(update, text)


async def _ack(update: Update) -> None:
    """Answer a button tap once (Telegram allows one answer per tap)."""
    query = update.callback_query
    if query is not None and query.id not in _answered:
        _answered.append(query.id)
        await query.answer()


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
    await _reply(update, t("parent.privacy"))


async def report_command(update: Update, context: DudaoContext) -> None:
    """Start a tip explicitly."""
    context.awaiting = None
    context.draft = None
    await _reply(update, t("parent.report.prompt"))


async def cancel_command(update: Update, context: DudaoContext) -> None:
    """Drop whatever is being composed; nothing stored is touched."""
    had = context.draft is not None or context.awaiting is not None
    context.draft = None
    context.awaiting = None
    await _reply(update, t("parent.cancelled" if had else "parent.nothing_to_cancel"),
                 ReplyKeyboardRemove())


async def on_text(update: Update, context: DudaoContext) -> None:
    """Route free text to the question the bot is on, or start/extend a tip."""
    message = update.effective_message
    assert message is not None and message.text is not None
    awaiting = context.awaiting or ""
    delegate = _official_module(awaiting)
    if delegate is not None:
        await delegate.on_awaited_text(update, context)
    elif awaiting == "school_name":
        await _entity_typed(update, context, message.text)
    elif awaiting.startswith("info:"):
        await _add_information(update, context, awaiting.removeprefix("info:"), message.text)
    elif awaiting.startswith("comment:"):
        _, reference, rating = awaiting.split(":", 2)
        await _rate(update, context, reference, rating, message.text)
    elif awaiting == "contact":
        await _contact_typed(update, context, message.text)
    else:
        await _new_tip(update, context, message.text)


def _official_module(awaiting: str) -> Any:
    """The supervisor or office module that asked the question, if one did."""
    if awaiting.startswith("sv:"):
        from handlers.telegram import supervisor

        return supervisor
    if awaiting.startswith("of:"):
        from handlers.telegram import office

        return office
    return None


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


async def _ask_next(update: Update, context: DudaoContext) -> None:
    draft = context.draft
    assert draft is not None
    needs_entity = draft.analysis.category != "other" and draft.entity is None
    if needs_entity and context.awaiting != "entity_skipped":
        context.awaiting = None
        text, markup = views.entity_question(draft.analysis.candidates)
        await _reply(update, text, markup)
        return
    context.awaiting = None
    text, markup = views.tip_summary(draft.analysis, draft.entity, len(draft.evidence))
    await _reply(update, text, markup)


async def _entity_typed(update: Update, context: DudaoContext, name: str) -> None:
    draft = context.draft
    if draft is None:
        context.awaiting = None
        await _new_tip(update, context, name)
        return
    candidates = await context.services.intake.search(normalise_text(name)[:50])
    draft.analysis = _with_candidates(draft.analysis, candidates)
    context.awaiting = None
    if not candidates:
        await _reply(update, t("parent.draft.entity_not_found"))
        context.awaiting = "entity_skipped"
        await _ask_next(update, context)
        return
    text, markup = views.entity_question(candidates)
    await _reply(update, text, markup)


def _with_candidates(analysis: Any, candidates: Any) -> Any:
    from dataclasses import replace

    return replace(analysis, candidates=tuple(candidates))


async def draft_button(update: Update, context: DudaoContext) -> None:
    """Buttons of the tip being composed: entity choice, anonymous/named, cancel."""
    query = update.callback_query
    assert query is not None and query.data is not None
    draft = context.draft
    if draft is None:
        await query.answer(t("parent.draft.expired"), show_alert=True)
        return
    await _ack(update)
    parts = query.data.split(":")
    if parts[1] == "ent" and len(parts) == 3:
        choice = parts[2]
        if choice == "type":
            context.awaiting = "school_name"
            await _reply(update, t("parent.draft.type_entity"))
            return
        if choice == "skip":
            context.awaiting = "entity_skipped"
            await _ask_next(update, context)
            return
        if choice.isdigit() and int(choice) < len(draft.analysis.candidates):
            draft.entity = draft.analysis.candidates[int(choice)]
            await _ask_next(update, context)
            return
    elif parts[1] == "anon":
        draft.anonymous = True
        await _file(update, context, phone=None)
        return
    elif parts[1] == "named":
        draft.anonymous = False
        context.awaiting = "contact"
        text, markup = views.contact_request()
        await _reply(update, text, markup)
        return
    elif parts[1] == "cancel":
        context.draft = None
        context.awaiting = None
        await _reply(update, t("parent.cancelled"))
        return
    await _reply(update, t("parent.button.unknown"))


async def _contact_typed(update: Update, context: DudaoContext, text: str) -> None:
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
    if context.awaiting != "contact" or context.draft is None:
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
        alternatives=tuple(draft.analysis.alternatives))
    try:
        filed = await context.services.filing.file_tip(tip)
    except DomainError as err:
        await _refuse(update, err)
        return
    # The case is committed; from here on nothing the parent was told can be lost.
    context.draft = None
    context.awaiting = None
    text = views.filed(filed.reference, filed.category, filed.handler_role)
    try:
        await _reply(update, text, ReplyKeyboardRemove())
    except TelegramError:
        # The parent must learn the reference: hand the reply to the outbox, which retries.
        log.warning("reference reply for %s failed; queued for retry", filed.reference)
        await context.services.cases.send_later(user.id, "filed", views.plain(text))


async def on_evidence(update: Update, context: DudaoContext) -> None:
    """A photo or document: evidence for the draft or for the case being supplemented."""
    message = update.effective_message
    user = update.effective_user
    assert message is not None and user is not None
    awaiting = context.awaiting or ""
    delegate = _official_module(awaiting)
    if delegate is not None and hasattr(delegate, "on_awaited_media"):
        await delegate.on_awaited_media(update, context)
        return
    evidence = _evidence_of(message, context)
    if isinstance(evidence, str):
        await _reply(update, evidence)
        return
    if awaiting.startswith("info:"):
        reference = awaiting.removeprefix("info:")
        try:
            await context.services.cases.add_evidence(user.id, reference,
                                                      EvidenceInput(**evidence))
        except DomainError as err:
            await _refuse(update, err)
            return
        await _reply(update, t("parent.evidence.added_to_case", reference=reference))
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
    """Buttons on a parent's case: show, add information, rate, reopen."""
    query = update.callback_query
    user = update.effective_user
    assert query is not None and query.data is not None and user is not None
    parts = query.data.split(":")
    if len(parts) < 3:
        await query.answer(t("parent.button.unknown"), show_alert=True)
        return
    action, reference = parts[1], parts[2]
    cases = context.services.cases
    try:
        if action == "show":
            _, case = await cases.view(user.id, reference)
            await _ack(update)
            text, markup = views.parent_case(case, context.services.settings.tz)
            await _reply(update, text, markup)
        elif action == "info":
            await cases.view(user.id, reference)  # refuses cases that are not theirs
            await _ack(update)
            context.awaiting = f"info:{reference}"
            await _reply(update, t("parent.info.prompt", reference=reference))
        elif action == "rate" and len(parts) == 4 and parts[3] in Rating.__members__.values():
            _, case = await cases.view(user.id, reference)
            await _ack(update)
            context.awaiting = f"comment:{reference}:{parts[3]}"
            await _reply(update, t("parent.rate.comment_prompt"),
                         views.skip_button(f"c:ratenow:{reference}:{parts[3]}"))
        elif action == "ratenow" and len(parts) == 4:
            await _rate(update, context, reference, parts[3], "")
        elif action == "reopen":
            await cases.perform(user.id, reference,
                                lambda c, a, now: c.reopen(a, t("parent.reopen.reason"), now))
            await _ack(update)
            await _reply(update, t("parent.reopened", reference=reference))
        else:
            await query.answer(t("parent.button.unknown"), show_alert=True)
    except DomainError as err:
        await _refuse(update, err)


async def _add_information(update: Update, context: DudaoContext, reference: str,
                           raw: str) -> None:
    user = update.effective_user
    assert user is not None
    text = normalise_text(raw)
    if not text:
        await _reply(update, t("parent.tip.empty"))
        return
    if len(text) > context.services.settings.cases.max_text_chars:
        await _reply(update, t("parent.tip.too_long", length=len(text),
                               limit=context.services.settings.cases.max_text_chars))
        return
    try:
        await context.services.cases.perform(
            user.id, reference, lambda c, a, now: c.add_information(a, text, now))
    except DomainError as err:
        context.awaiting = None
        await _refuse(update, err)
        return
    context.awaiting = None
    await _reply(update, t("parent.info.saved", reference=reference))


async def _rate(update: Update, context: DudaoContext, reference: str, rating: str,
                comment: str) -> None:
    user = update.effective_user
    assert user is not None
    context.awaiting = None
    try:
        value = Rating(rating)
        case = await context.services.cases.perform(
            user.id, reference,
            lambda c, a, now: c.rate(a, value, now, normalise_text(comment)[:500]))
    except ValueError:
        await _reply(update, t("parent.button.unknown"))
        return
    except DomainError as err:
        await _refuse(update, err)
        return
    await _ack(update)
    key = "parent.rated.dissatisfied" if value is Rating.DISSATISFIED and \
        case.reopen_count == 0 else "parent.rated"
    markup = None
    if key == "parent.rated.dissatisfied":
        markup = views.InlineKeyboardMarkup([[views.InlineKeyboardButton(
            t("button.reopen"), callback_data=f"c:reopen:{reference}")]])
    await _reply(update, t(key, reference=reference), markup)
