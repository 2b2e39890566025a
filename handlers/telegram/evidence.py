"""Buttons every role may press on a case: 查看证据 (its files) and the office's documents.

The callback data only names the case; `bot/evidence.py` and `bot/documents.py` decide on the
server who may see or issue what. Photos go as albums (sendMediaGroup, up to ten), other
files one by one; a cleaned copy uploaded for a supervisor has its new file id remembered so
later views send it by id.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from telegram import Bot, InputFile, InputMediaPhoto, Message, Update
from telegram.ext import Application, CallbackQueryHandler

from bot.documents import DocumentKind
from bot.domain import DomainError
from bot.evidence import Downloader, EvidenceView, Outgoing
from bot.messages import t
from handlers.telegram import protocol
from handlers.telegram.context import DudaoContext
from handlers.telegram.views import refusal_alert

log = logging.getLogger(__name__)
ALBUM_MAX = 10
_KINDS = {protocol.DocumentKind.RECTIFICATION_NOTICE: DocumentKind.RECTIFICATION_NOTICE,
          protocol.DocumentKind.SUPERVISION_LETTER: DocumentKind.SUPERVISION_LETTER}


def telegram_downloader(bot: Bot) -> Downloader:
    """A file's bytes by its file id, through the Bot API (getFile, then the download)."""
    async def download(file_id: str) -> bytes:
        found = await bot.get_file(file_id)
        return bytes(await found.download_as_bytearray())
    return download


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CallbackQueryHandler(evidence_button,
                                         pattern=protocol.namespace_pattern("e")))


async def evidence_button(update: Update, context: DudaoContext) -> None:
    query = update.callback_query
    user = update.effective_user
    assert query is not None and user is not None
    pressed = protocol.parse_any(query.data, protocol.EVIDENCE_FAMILIES)
    if pressed is None:
        await query.answer(t("evidence.error.stale"), show_alert=True)
        return
    container = context.services.container
    try:
        if isinstance(pressed, protocol.ShowEvidence):
            view = await container.evidence.open(user.id, pressed.reference,
                                                 telegram_downloader(context.bot))
            await query.answer()
            await _send_view(context, user.id, view)
        elif isinstance(pressed, protocol.IssueDocument):
            issued = await container.documents.issue(user.id, _KINDS[pressed.kind],
                                                     pressed.reference)
            await query.answer()
            await context.bot.send_document(user.id, InputFile(issued.data,
                                                               filename=issued.file_name),
                                            caption=t(f"document.sent.{issued.kind.value}",
                                                      reference=issued.reference))
    except DomainError as err:
        await query.answer(refusal_alert(err), show_alert=True)


async def _send_view(context: DudaoContext, chat_id: int, view: EvidenceView) -> None:
    if not view.files:
        await context.bot.send_message(chat_id, t("evidence.none", reference=view.reference))
        return
    cleaned = any(f.cleaned_upload or f.kind == "photo" for f in view.files) \
        and view.role.value == "supervisor"
    await context.bot.send_message(chat_id, t(
        "evidence.header.cleaned" if cleaned else "evidence.header",
        reference=view.reference, count=len(view.files)))
    photos = [f for f in view.files if f.kind == "photo"]
    others = [f for f in view.files if f.kind != "photo"]
    for start in range(0, len(photos), ALBUM_MAX):
        await _send_photos(context, chat_id, photos[start:start + ALBUM_MAX])
    for item in others:
        message = await context.bot.send_document(chat_id, _media(item))
        if item.cleaned_upload and message.document is not None:
            await context.services.container.evidence.remember_clean(
                item.evidence_id, message.document.file_id)
    if view.unreadable:
        await context.bot.send_message(chat_id, t("evidence.unreadable",
                                                  count=view.unreadable))


async def _send_photos(context: DudaoContext, chat_id: int, batch: Sequence[Outgoing]) -> None:
    messages: Sequence[Message]
    if len(batch) == 1:
        messages = [await context.bot.send_photo(chat_id, _media(batch[0]))]
    else:
        messages = await context.bot.send_media_group(
            chat_id, [InputMediaPhoto(_media(item)) for item in batch])
    for item, message in zip(batch, messages, strict=False):
        if item.cleaned_upload and message.photo:
            await context.services.container.evidence.remember_clean(
                item.evidence_id, message.photo[-1].file_id)


def _media(item: Outgoing) -> str | InputFile:
    if item.data is not None:
        return InputFile(item.data, filename=item.file_name or "evidence")
    assert item.file_id is not None
    return item.file_id
