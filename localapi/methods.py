"""The Bot API methods the local server implements, one function each.

Each method takes a CallContext and returns the `result` of a successful call, or raises
ApiError with the description Telegram gives for the same mistake.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from localapi.formatting import (
    EntityParseError,
    FormattedText,
    format_text,
    utf16_len,
)
from localapi.keyboards import validate_reply_markup
from localapi.limits import RateLimiter
from localapi.media import extension_for, guess_mime_type, image_size
from localapi.params import Params, UploadedFile
from localapi.state import (
    JSON,
    ApiError,
    BotAccount,
    CallbackAnswer,
    Chat,
    ChatMessage,
    StoredFile,
    WebhookConfig,
    bad_request,
    message_json,
    now,
)

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024  # getFile refuses bigger files
_THUMBNAIL_SIDE = 320
_PARSE_MODES = {"html", "markdown", "markdownv2"}
_CHAT_ACTIONS = {
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note",
    "upload_video_note",
}
_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_WEBHOOK_ACTIVE = ("Conflict: can't use getUpdates method while webhook is active; "
                   "use deleteWebhook to delete the webhook first")
_POLL_TERMINATED = ("Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running")
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
_NOT_MODIFIED = ("message is not modified: specified new message content and reply markup "
                 "are exactly the same as a current content and reply markup of the message")


@dataclass
class CallContext:
    """One call: the bot it is for, its parameters and the server services it may use."""

    bot: BotAccount
    params: Params
    limiter: RateLimiter | None
    webhook_changed: Callable[[BotAccount], None]
    is_closing: Callable[[], bool]


Method = Callable[[CallContext], Awaitable[Any]]
METHODS: dict[str, Method] = {}
_M = TypeVar("_M", bound=Method)


def _method(name: str) -> Callable[[_M], _M]:
    """Register a Bot API method under its case-insensitive name."""
    def register(function: _M) -> _M:
        METHODS[name.lower()] = function
        return function
    return register


# --- helpers -------------------------------------------------------------------------------

def _chat_to_write(ctx: CallContext) -> Chat:
    """Return the chat named by chat_id, refusing chats the bot may not write to."""
    raw = ctx.params.raw("chat_id")
    if raw is None or raw == "":
        raise bad_request("chat_id is empty")
    try:
        chat_id = int(raw)
    except (TypeError, ValueError):
        raise bad_request("chat not found") from None
    chat = ctx.bot.chats.get(chat_id)
    if chat is None or not chat.started:
        raise bad_request("chat not found")
    if chat.blocked:
        raise ApiError(403, "Forbidden: bot was blocked by the user")
    return chat


def _formatted(ctx: CallContext, field: str, entities_field: str, limit: int,
               too_long: str) -> tuple[FormattedText, str | None] | None:
    """Parse a text or caption parameter with its parse_mode; None when it is absent."""
    raw = ctx.params.get_str(field)
    if raw is None:
        return None
    parse_mode = ctx.params.get_str("parse_mode")
    if parse_mode is not None and parse_mode.lower() not in _PARSE_MODES:
        raise bad_request("unsupported parse_mode")
    try:
        formatted = format_text(raw, parse_mode)
    except EntityParseError as error:
        raise bad_request(f"can't parse entities: {error}") from None
    if parse_mode is None and entities_field in ctx.params:
        formatted = FormattedText(raw, list(ctx.params.get_json(entities_field) or []))
    if utf16_len(formatted.text) > limit:
        raise bad_request(too_long)
    return formatted, parse_mode


def _text_content(formatted: FormattedText, key: str = "text") -> JSON:
    content: JSON = {key: formatted.text}
    if formatted.entities:
        content["entities" if key == "text" else "caption_entities"] = formatted.entities
    return content


def _reply_to(ctx: CallContext, chat: Chat) -> int | None:
    """Return the id of the message replied to, checking that it exists."""
    reply = ctx.params.get_json("reply_parameters")
    message_id = ctx.params.get_int("reply_to_message_id")
    allow_missing = ctx.params.get_bool("allow_sending_without_reply")
    if isinstance(reply, dict):
        message_id = int(reply.get("message_id", 0))
        allow_missing = bool(reply.get("allow_sending_without_reply", allow_missing))
    if message_id is None:
        return None
    target = chat.messages.get(message_id)
    if target is None or target.deleted:
        if allow_missing:
            return None
        raise bad_request("message to be replied not found")
    return message_id


def _deliver(ctx: CallContext, chat: Chat, content: JSON, *, source_text: str | None,
             parse_mode: str | None) -> JSON:
    """Rate-check, store and announce a bot message; return its Message object."""
    markup = validate_reply_markup(ctx.params.get_json("reply_markup"))
    reply_to = _reply_to(ctx, chat)
    if ctx.limiter is not None:
        ctx.limiter.admit(chat.id)
    message = ChatMessage(
        message_id=chat.next_message_id(), chat_id=chat.id, date=now(), from_bot=True,
        content=content, source_text=source_text, parse_mode=parse_mode,
        reply_markup=markup, reply_to_message_id=reply_to,
    )
    if markup is not None and "keyboard" in markup:
        chat.reply_keyboard = markup
    elif markup is not None and markup.get("remove_keyboard"):
        chat.reply_keyboard = None
    chat.messages[message.message_id] = message
    chat.record_event(message)
    return message_json(ctx.bot, chat, message)


def _caption(ctx: CallContext) -> tuple[JSON, str | None, str | None]:
    """Return the caption fields of a media message, its source text and parse mode."""
    parsed = _formatted(ctx, "caption", "caption_entities", MAX_CAPTION_LENGTH,
                        "message caption is too long")
    if parsed is None:
        return {}, None, None
    formatted, parse_mode = parsed
    return _text_content(formatted, "caption"), ctx.params.get_str("caption"), parse_mode


def _file_by_id(ctx: CallContext, value: str, kind: str) -> StoredFile:
    """Return a stored file the bot refers to by file_id, of the expected kind."""
    stored = ctx.bot.files.get(value)
    if stored is None:
        # Fetching URLs would need the internet; files must be uploaded or known ids.
        raise bad_request("wrong file identifier/HTTP URL specified")
    if stored.kind != kind:
        raise bad_request(
            f"can't use file of type {stored.kind.capitalize()} as {kind.capitalize()}")
    return stored


def _editable_message(ctx: CallContext) -> tuple[Chat, ChatMessage]:
    """Return the bot message named by chat_id and message_id for an edit."""
    if "inline_message_id" in ctx.params:
        raise bad_request("message to edit not found")  # inline mode is not simulated
    chat_id = ctx.params.get_int("chat_id", required=True)
    message_id = ctx.params.get_int("message_id", required=True)
    chat = ctx.bot.chats.get(chat_id or 0)
    if chat is None:
        raise bad_request("chat not found")
    message = chat.messages.get(message_id or 0)
    if message is None or message.deleted:
        raise bad_request("message to edit not found")
    if not message.from_bot:
        raise bad_request("message can't be edited")
    return chat, message


def _inline_markup(ctx: CallContext) -> JSON | None:
    """Return the inline keyboard of an edit; other markups are refused."""
    markup = validate_reply_markup(ctx.params.get_json("reply_markup"))
    if markup is not None and "inline_keyboard" not in markup:
        raise bad_request("inline keyboard expected")
    return markup


def _apply_edit(ctx: CallContext, chat: Chat, message: ChatMessage, content: JSON,
                markup: JSON | None, source_text: str | None, parse_mode: str | None) -> JSON:
    """Change a bot message unless nothing changes; announce the edit."""
    if content == message.content and markup == message.reply_markup:
        raise bad_request(_NOT_MODIFIED)
    message.content = content
    message.reply_markup = markup
    message.source_text = source_text
    message.parse_mode = parse_mode
    message.edit_date = now()
    chat.record_event(message)
    return message_json(ctx.bot, chat, message)


def _photo_sizes(bot: BotAccount, upload: UploadedFile) -> list[JSON]:
    """Store an uploaded photo and return its PhotoSize list, smallest first."""
    size = image_size(upload.data)
    if size is None:
        raise bad_request("IMAGE_PROCESS_FAILED")
    return store_photo(bot, upload.data, *size)


def store_photo(bot: BotAccount, data: bytes, width: int, height: int) -> list[JSON]:
    """Store a photo as Telegram does (a thumbnail plus the full size); return PhotoSizes."""
    extension = ".jpg"
    scales = [1.0]
    if max(width, height) > _THUMBNAIL_SIDE:
        scales.insert(0, _THUMBNAIL_SIDE / max(width, height))
    sizes: list[JSON] = []
    full: StoredFile | None = None
    for scale in scales:
        # Every size keeps the original bytes: there is no image library to resize with.
        full = bot.store_file(data, "photo", mime_type="image/jpeg", extension=extension)
        full.width, full.height = max(1, round(width * scale)), max(1, round(height * scale))
        sizes.append({"file_id": full.file_id, "file_unique_id": full.file_unique_id,
                      "file_size": full.file_size, "width": full.width, "height": full.height})
    assert full is not None
    full.photo_sizes = sizes
    return sizes


def _command_key(ctx: CallContext) -> str:
    scope = ctx.params.get_json("scope") or {"type": "default"}
    if not isinstance(scope, dict) or "type" not in scope:
        raise bad_request("can't parse BotCommandScope JSON object")
    language = ctx.params.get_str("language_code") or ""
    parts = [str(scope["type"]), str(scope.get("chat_id", "")), str(scope.get("user_id", ""))]
    return "/".join([*parts, language])


# --- identity and updates ------------------------------------------------------------------

@_method("getMe")
async def get_me(ctx: CallContext) -> JSON:
    """Return the bot's User object."""
    return ctx.bot.me_json()


@_method("getUpdates")
async def get_updates(ctx: CallContext) -> list[JSON]:
    """Confirm updates below offset, then long-poll up to `timeout` seconds for new ones."""
    bot, queue = ctx.bot, ctx.bot.updates
    if bot.webhook is not None:
        raise ApiError(409, _WEBHOOK_ACTIVE)
    offset = ctx.params.get_int("offset")
    if offset is not None:
        queue.confirm(offset)
    limit = min(max(ctx.params.get_int("limit") or 100, 1), 100)
    timeout = max(ctx.params.get_float("timeout") or 0.0, 0.0)
    allowed = ctx.params.get_json("allowed_updates")
    if isinstance(allowed, list):
        queue.allowed_updates = [str(kind) for kind in allowed] or None
    bot.poll_generation += 1
    generation = bot.poll_generation
    queue.signal.notify()  # an older poll still waiting now ends with 409

    def ready() -> bool:
        return bool(queue.pending) or bot.poll_generation != generation \
            or bot.webhook is not None or ctx.is_closing()

    await queue.signal.wait_until(ready, timeout)
    if bot.poll_generation != generation:
        raise ApiError(409, _POLL_TERMINATED)
    return queue.pending[:limit]


@_method("setWebhook")
async def set_webhook(ctx: CallContext) -> bool:
    """Store the webhook URL and secret; updates are then POSTed there."""
    url = ctx.params.get_str("url") or ""
    if not url:
        return await delete_webhook(ctx)
    if not url.startswith(("http://", "https://")):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = ctx.params.get_str("secret_token")
    if secret is not None and not _SECRET_TOKEN.match(secret):
        raise bad_request("secret token contains unallowed characters")
    max_connections = ctx.params.get_int("max_connections") or 40
    if not 1 <= max_connections <= 100:
        raise bad_request("bad webhook: max_connections must be between 1 and 100")
    allowed = ctx.params.get_json("allowed_updates")
    if ctx.params.get_bool("drop_pending_updates"):
        ctx.bot.updates.drop_all()
    if isinstance(allowed, list):
        ctx.bot.updates.allowed_updates = [str(kind) for kind in allowed] or None
    ctx.bot.webhook = WebhookConfig(url=url, secret_token=secret,
                                    max_connections=max_connections,
                                    allowed_updates=ctx.bot.updates.allowed_updates)
    ctx.webhook_changed(ctx.bot)
    return True


@_method("deleteWebhook")
async def delete_webhook(ctx: CallContext) -> bool:
    """Remove the webhook; updates wait for getUpdates again."""
    if ctx.params.get_bool("drop_pending_updates"):
        ctx.bot.updates.drop_all()
    ctx.bot.webhook = None
    ctx.webhook_changed(ctx.bot)
    return True


@_method("getWebhookInfo")
async def get_webhook_info(ctx: CallContext) -> JSON:
    """Return the WebhookInfo object."""
    hook = ctx.bot.webhook
    info: JSON = {"url": hook.url if hook else "", "has_custom_certificate": False,
                  "pending_update_count": len(ctx.bot.updates.pending)}
    if hook is not None:
        info["ip_address"] = "127.0.0.1"
        info["max_connections"] = hook.max_connections
        if hook.allowed_updates:
            info["allowed_updates"] = hook.allowed_updates
        if hook.last_error_date is not None:
            info["last_error_date"] = hook.last_error_date
            info["last_error_message"] = hook.last_error_message
    return info


# --- messages ------------------------------------------------------------------------------

@_method("sendMessage")
async def send_message(ctx: CallContext) -> JSON:
    """Send a text message (4096 characters at most after entity parsing)."""
    chat = _chat_to_write(ctx)
    parsed = _formatted(ctx, "text", "entities", MAX_TEXT_LENGTH, "message is too long")
    if parsed is None or not parsed[0].text.strip():
        raise bad_request("message text is empty")
    formatted, parse_mode = parsed
    return _deliver(ctx, chat, _text_content(formatted), source_text=ctx.params.get_str("text"),
                    parse_mode=parse_mode)


@_method("editMessageText")
async def edit_message_text(ctx: CallContext) -> JSON:
    """Replace a text message's text; a missing reply_markup removes the inline keyboard."""
    chat, message = _editable_message(ctx)
    if message.kind != "text":
        raise bad_request("there is no text in the message to edit")
    parsed = _formatted(ctx, "text", "entities", MAX_TEXT_LENGTH, "MESSAGE_TOO_LONG")
    if parsed is None or not parsed[0].text.strip():
        raise bad_request("message text is empty")
    formatted, parse_mode = parsed
    return _apply_edit(ctx, chat, message, _text_content(formatted), _inline_markup(ctx),
                       ctx.params.get_str("text"), parse_mode)


@_method("editMessageCaption")
async def edit_message_caption(ctx: CallContext) -> JSON:
    """Replace a media message's caption."""
    chat, message = _editable_message(ctx)
    if message.kind == "text":
        raise bad_request("there is no caption in the message to edit")
    caption, source, parse_mode = _caption(ctx)
    content = {k: v for k, v in message.content.items()
               if k not in ("caption", "caption_entities")}
    return _apply_edit(ctx, chat, message, {**content, **caption}, _inline_markup(ctx),
                       source, parse_mode)


@_method("editMessageReplyMarkup")
async def edit_message_reply_markup(ctx: CallContext) -> JSON:
    """Replace (or, without reply_markup, remove) a message's inline keyboard."""
    chat, message = _editable_message(ctx)
    return _apply_edit(ctx, chat, message, message.content, _inline_markup(ctx),
                       message.source_text, message.parse_mode)


@_method("deleteMessage")
async def delete_message(ctx: CallContext) -> bool:
    """Delete a message of the chat (the bot's own or, in private chats, the user's)."""
    chat = ctx.bot.chats.get(ctx.params.get_int("chat_id", required=True) or 0)
    if chat is None:
        raise bad_request("chat not found")
    message = chat.messages.get(ctx.params.get_int("message_id", required=True) or 0)
    if message is None or message.deleted:
        raise bad_request("message to delete not found")
    message.deleted = True
    chat.signal.notify()
    return True


@_method("sendPhoto")
async def send_photo(ctx: CallContext) -> JSON:
    """Send a photo given as an upload or as a known file_id."""
    chat = _chat_to_write(ctx)
    photo = ctx.params.get_file("photo")
    if photo is None:
        raise bad_request("there is no photo in the request")
    if isinstance(photo, UploadedFile):
        sizes = _photo_sizes(ctx.bot, photo)
    else:
        stored = _file_by_id(ctx, photo, "photo")
        sizes = stored.photo_sizes or [{
            "file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size, "width": stored.width, "height": stored.height}]
    caption, source, parse_mode = _caption(ctx)
    return _deliver(ctx, chat, {"photo": sizes, **caption}, source_text=source,
                    parse_mode=parse_mode)


@_method("sendDocument")
async def send_document(ctx: CallContext) -> JSON:
    """Send a document given as an upload or as a known file_id."""
    chat = _chat_to_write(ctx)
    document = ctx.params.get_file("document")
    if document is None:
        raise bad_request("there is no document in the request")
    if isinstance(document, UploadedFile):
        mime_type = guess_mime_type(document.file_name,
                                    document.content_type or "application/octet-stream")
        stored = ctx.bot.store_file(document.data, "document", file_name=document.file_name,
                                    mime_type=mime_type,
                                    extension=extension_for(document.file_name, mime_type))
    else:
        stored = _file_by_id(ctx, document, "document")
    caption, source, parse_mode = _caption(ctx)
    return _deliver(ctx, chat, {"document": document_json(stored), **caption},
                    source_text=source, parse_mode=parse_mode)


_GROUPABLE = {"photo": "photo", "video": "photo", "document": "document", "audio": "audio"}
_media_groups = itertools.count(13_000_000_000_000)


@_method("sendMediaGroup")
async def send_media_group(ctx: CallContext) -> list[JSON]:
    """Send 2-10 photos (or documents) as one album; return its messages.

    Each InputMedia names an upload (attach://<part>) or a known file_id. Photos and videos
    may share an album; documents (and audio) only group with their own kind, as in
    Telegram. Captions are kept as plain text.
    """
    chat = _chat_to_write(ctx)
    media = ctx.params.get_json("media")
    if not isinstance(media, list) or not all(isinstance(m, dict) for m in media):
        raise bad_request("can't parse media JSON object")
    if not 2 <= len(media) <= 10:
        raise bad_request("media must include 2-10 items")
    families = {_GROUPABLE.get(str(m.get("type")), "") for m in media}
    if "" in families:
        raise bad_request("unsupported media type in the group")
    if len(families) > 1:
        raise bad_request("MEDIA_GROUP_INVALID")
    contents: list[JSON] = []
    for item in media:  # check every item before anything is sent
        kind = "photo" if item["type"] in ("photo", "video") else "document"
        value = ctx.params.resolve_file(item.get("media"))
        if value is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if isinstance(value, UploadedFile):
            if kind == "photo":
                body: JSON = {"photo": _photo_sizes(ctx.bot, value)}
            else:
                mime_type = guess_mime_type(value.file_name,
                                            value.content_type or "application/octet-stream")
                body = {"document": document_json(ctx.bot.store_file(
                    value.data, "document", file_name=value.file_name, mime_type=mime_type,
                    extension=extension_for(value.file_name, mime_type)))}
        else:
            stored = _file_by_id(ctx, value, kind)
            body = ({"photo": stored.photo_sizes or [{
                "file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": stored.file_size, "width": stored.width,
                "height": stored.height}]} if kind == "photo"
                    else {"document": document_json(stored)})
        caption = item.get("caption")
        if isinstance(caption, str) and caption:
            if len(caption) > MAX_CAPTION_LENGTH:
                raise bad_request("message caption is too long")
            body["caption"] = caption
        contents.append(body)
    group = str(next(_media_groups))
    reply_to = _reply_to(ctx, chat)
    sent: list[JSON] = []
    for body in contents:
        if ctx.limiter is not None:
            ctx.limiter.admit(chat.id)
        message = ChatMessage(message_id=chat.next_message_id(), chat_id=chat.id, date=now(),
                              from_bot=True, content={**body, "media_group_id": group},
                              source_text=None, parse_mode=None,
                              reply_to_message_id=reply_to)
        chat.messages[message.message_id] = message
        chat.record_event(message)
        sent.append(message_json(ctx.bot, chat, message))
    return sent


def document_json(stored: StoredFile) -> JSON:
    """Return the Document object of a stored file."""
    body: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                  "file_size": stored.file_size}
    if stored.file_name:
        body["file_name"] = stored.file_name
    if stored.mime_type:
        body["mime_type"] = stored.mime_type
    return body


@_method("sendChatAction")
async def send_chat_action(ctx: CallContext) -> bool:
    """Record a chat action such as "typing"."""
    chat = _chat_to_write(ctx)
    action = ctx.params.get_str("action", required=True)
    if action not in _CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    chat.chat_actions.append(str(action))
    return True


@_method("answerCallbackQuery")
async def answer_callback_query(ctx: CallContext) -> bool:
    """Answer a button press once; the answer is shown to the user who pressed."""
    query_id = ctx.params.get_str("callback_query_id", required=True) or ""
    pending = ctx.bot.callbacks.get(query_id)
    if pending is None or pending.answered:
        raise bad_request(_QUERY_INVALID)
    text = ctx.params.get_str("text")
    if text is not None and len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    pending.answered = True
    chat = ctx.bot.chats[pending.chat_id]
    chat.callback_answers.append(CallbackAnswer(
        callback_query_id=query_id, data=pending.data, text=text,
        show_alert=ctx.params.get_bool("show_alert"), url=ctx.params.get_str("url")))
    chat.signal.notify()
    return True


# --- files ---------------------------------------------------------------------------------

@_method("getFile")
async def get_file(ctx: CallContext) -> JSON:
    """Return the File object with the file_path to download it from."""
    file_id = ctx.params.get_str("file_id", required=True) or ""
    stored = ctx.bot.files.get(file_id)
    if stored is None:
        raise bad_request("invalid file_id")
    if stored.file_size > MAX_DOWNLOAD_SIZE:
        raise bad_request("file is too big")
    return stored.file_json()


# --- commands ------------------------------------------------------------------------------

@_method("setMyCommands")
async def set_my_commands(ctx: CallContext) -> bool:
    """Store the command list for a scope and language."""
    commands = ctx.params.get_json("commands")
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    if len(commands) > 100:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    for command in commands:
        name = command.get("command") if isinstance(command, dict) else None
        description = command.get("description") if isinstance(command, dict) else None
        if not isinstance(name, str) or not _COMMAND_NAME.match(name.lower()):
            raise bad_request("BOT_COMMAND_INVALID")
        if not isinstance(description, str) or not 1 <= len(description) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    ctx.bot.commands[_command_key(ctx)] = [
        {"command": c["command"].lower(), "description": c["description"]} for c in commands]
    return True


@_method("getMyCommands")
async def get_my_commands(ctx: CallContext) -> list[JSON]:
    """Return the command list of a scope and language."""
    return list(ctx.bot.commands.get(_command_key(ctx), []))


@_method("deleteMyCommands")
async def delete_my_commands(ctx: CallContext) -> bool:
    """Forget the command list of a scope and language."""
    ctx.bot.commands.pop(_command_key(ctx), None)
    return True


# --- menu button (Mini Apps) ------------------------------------------------------------------

_DEFAULT_MENU_BUTTON: JSON = {"type": "commands"}


def _menu_chat(ctx: CallContext) -> int | None:
    raw = ctx.params.raw("chat_id")
    if raw is None or raw == "":
        return None
    try:
        chat_id = int(raw)
    except (TypeError, ValueError):
        raise bad_request("chat not found") from None
    if chat_id not in ctx.bot.chats:
        raise bad_request("chat not found")
    return chat_id


@_method("setChatMenuButton")
async def set_chat_menu_button(ctx: CallContext) -> bool:
    """Set a private chat's (or the default) menu button; a web_app button needs an https
    URL, as Telegram requires of Mini Apps."""
    chat_id = _menu_chat(ctx)
    button = ctx.params.get_json("menu_button") if ctx.params.raw("menu_button") else None
    if button is None:
        button = _DEFAULT_MENU_BUTTON
    if not isinstance(button, dict) or button.get("type") not in ("commands", "web_app",
                                                                   "default"):
        raise bad_request("can't parse menu button JSON object")
    if button["type"] == "web_app":
        text, app = button.get("text"), button.get("web_app")
        url = app.get("url") if isinstance(app, dict) else None
        if not isinstance(text, str) or not 1 <= len(text) <= 64:
            raise bad_request("BUTTON_TEXT_INVALID")
        if not isinstance(url, str) or not url.startswith("https://"):
            raise bad_request("BUTTON_URL_INVALID")
        button = {"type": "web_app", "text": text, "web_app": {"url": url}}
    if button["type"] == "default":
        ctx.bot.menu_buttons.pop(chat_id, None)
    else:
        ctx.bot.menu_buttons[chat_id] = dict(button)
    return True


@_method("getChatMenuButton")
async def get_chat_menu_button(ctx: CallContext) -> JSON:
    """A chat's menu button, else the default one."""
    chat_id = _menu_chat(ctx)
    found = ctx.bot.menu_buttons.get(chat_id) or ctx.bot.menu_buttons.get(None)
    return dict(found or _DEFAULT_MENU_BUTTON)
