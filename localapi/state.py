"""In-memory state of the local Bot API: bots, chats, messages, files and pending updates."""

from __future__ import annotations

import asyncio
import copy
import itertools
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

_TOKEN_ALPHABET = string.ascii_letters + string.digits + "_-"


class ApiError(Exception):
    """A Bot API error answered as {"ok": false, "error_code": ..., "description": ...}."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None):
        super().__init__(f"{error_code} {description}")
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JSON:
        """Return the JSON body Telegram sends for this error."""
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> ApiError:
    """Return Telegram's 400 error with the given detail."""
    return ApiError(400, f"Bad Request: {detail}")


def too_many_requests(retry_after: int) -> ApiError:
    """Return Telegram's 429 error asking the client to wait `retry_after` seconds."""
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)


def now() -> int:
    """Return the current Unix time in whole seconds, as Telegram dates are."""
    return int(time.time())


def new_token(bot_id: int) -> str:
    """Return a token shaped like a real one: '<bot id>:<35 url-safe characters>'."""
    return f"{bot_id}:AA" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(33))


class Signal:
    """A broadcast wake-up: waiters re-check their condition each time notify() is called.

    notify() is synchronous, so any code path (HTTP handler or user action) can wake waiters.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake every current waiter."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float | None) -> bool:
        """Wait until `predicate()` holds or `timeout` seconds pass; return the predicate."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._event.wait()
        except TimeoutError:
            return predicate()
        return True


@dataclass
class StoredFile:
    """A file known to one bot: uploaded by the bot or received from a user."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    kind: str  # photo, document, sticker, voice
    file_name: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0
    photo_sizes: list[JSON] | None = None  # on a photo's largest size: every PhotoSize

    @property
    def file_size(self) -> int:
        """Return the size in bytes."""
        return len(self.data)

    def file_json(self) -> JSON:
        """Return the File object getFile answers with."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
            "file_path": self.file_path,
        }


@dataclass
class ChatMessage:
    """One message in a private chat, from the user or from the bot.

    `content` holds the type-specific Bot API fields (text/entities, photo, document, contact,
    caption ...). For bot messages `source_text` keeps the text exactly as the bot sent it
    (HTML included) while `text` is what the user reads: tags stripped, entities unescaped.
    `reply_markup` keeps any markup the bot attached, reply keyboards included, although
    Telegram only echoes inline keyboards in the Message object.
    """

    message_id: int
    chat_id: int
    date: int
    from_bot: bool
    content: JSON
    source_text: str | None = None
    parse_mode: str | None = None
    reply_markup: JSON | None = None
    reply_to_message_id: int | None = None
    edit_date: int | None = None
    deleted: bool = False

    @property
    def text(self) -> str | None:
        """Return the plain text or caption."""
        value = self.content.get("text", self.content.get("caption"))
        return value if isinstance(value, str) else None

    @property
    def html(self) -> str | None:
        """Return the text as the bot sent it (with HTML tags when parse_mode was HTML)."""
        return self.source_text if self.source_text is not None else self.text

    @property
    def kind(self) -> str:
        """Return the message type: text, photo, document, contact, sticker or voice."""
        for kind in ("photo", "document", "contact", "sticker", "voice"):
            if kind in self.content:
                return kind
        return "text"

    @property
    def inline_keyboard(self) -> list[list[JSON]]:
        """Return the rows of the inline keyboard, empty when there is none."""
        rows = (self.reply_markup or {}).get("inline_keyboard")
        return rows if isinstance(rows, list) else []

    @property
    def buttons(self) -> list[list[str]]:
        """Return the button labels row by row (inline or reply keyboard)."""
        markup = self.reply_markup or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        return [[b if isinstance(b, str) else str(b.get("text", "")) for b in row] for row in rows]

    @property
    def callback_data(self) -> list[str]:
        """Return every callback_data of the inline keyboard, in reading order."""
        return [str(b["callback_data"]) for row in self.inline_keyboard for b in row
                if "callback_data" in b]

    @property
    def file_id(self) -> str | None:
        """Return the file id of a photo (largest size), document, sticker or voice."""
        if "photo" in self.content:
            return str(self.content["photo"][-1]["file_id"])
        for kind in ("document", "sticker", "voice"):
            if kind in self.content:
                return str(self.content[kind]["file_id"])
        return None

    def snapshot(self) -> ChatMessage:
        """Return a deep copy that later edits do not change."""
        return copy.deepcopy(self)


@dataclass
class CallbackAnswer:
    """What the bot answered to one button press."""

    callback_query_id: str
    data: str | None
    text: str | None
    show_alert: bool
    url: str | None


@dataclass
class PendingCallback:
    """A callback query sent to the bot, awaiting answerCallbackQuery."""

    query_id: str
    chat_id: int
    data: str | None
    answered: bool = False


@dataclass
class Chat:
    """A private chat between one user and one bot; the chat id is the user id."""

    user: JSON
    phone_number: str | None = None
    messages: dict[int, ChatMessage] = field(default_factory=dict)
    events: list[ChatMessage] = field(default_factory=list)  # bot messages and edits, in order
    callback_answers: list[CallbackAnswer] = field(default_factory=list)
    chat_actions: list[str] = field(default_factory=list)
    reply_keyboard: JSON | None = None
    started: bool = False  # Telegram refuses to write to users who never wrote first
    blocked: bool = False
    signal: Signal = field(default_factory=Signal)
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def id(self) -> int:
        """Return the chat id (equal to the user id)."""
        return int(self.user["id"])

    def chat_json(self) -> JSON:
        """Return the Chat object of this private chat."""
        chat: JSON = {"id": self.id, "type": "private", "first_name": self.user["first_name"]}
        for key in ("last_name", "username"):
            if key in self.user:
                chat[key] = self.user[key]
        return chat

    def next_message_id(self) -> int:
        """Return the next message id; ids are shared by both sides and only grow."""
        return next(self._message_ids)

    def bot_messages(self) -> list[ChatMessage]:
        """Return the bot's messages still in the chat, oldest first."""
        return [m for m in self.messages.values() if m.from_bot and not m.deleted]

    def record_event(self, message: ChatMessage) -> None:
        """Remember a new or edited bot message and wake whoever waits for one."""
        self.events.append(message.snapshot())
        self.signal.notify()


@dataclass
class WebhookConfig:
    """A webhook set with setWebhook."""

    url: str
    secret_token: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None


class UpdateQueue:
    """Updates not yet confirmed by the bot, in update_id order."""

    def __init__(self) -> None:
        self.pending: list[JSON] = []
        self.signal = Signal()
        self.allowed_updates: list[str] | None = None
        self._ids = itertools.count(1)

    def push(self, kind: str, payload: JSON) -> JSON:
        """Append an update of the given kind ("message", "callback_query" ...)."""
        update: JSON = {"update_id": next(self._ids), kind: payload}
        if not self.allowed_updates or kind in self.allowed_updates:
            self.pending.append(update)
            self.signal.notify()
        return update

    def confirm(self, offset: int) -> None:
        """Forget updates below `offset`; a negative offset keeps only the last -offset ones."""
        if offset < 0:
            self.pending = self.pending[offset:]
        else:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]

    def drop_all(self) -> None:
        """Forget every pending update (drop_pending_updates)."""
        self.pending.clear()


@dataclass
class BotAccount:
    """One bot known to the server, with its chats, files, commands and update queue."""

    id: int
    token: str
    first_name: str
    username: str
    chats: dict[int, Chat] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)
    files_by_path: dict[str, StoredFile] = field(default_factory=dict)
    callbacks: dict[str, PendingCallback] = field(default_factory=dict)
    commands: dict[str, list[JSON]] = field(default_factory=dict)  # key: scope + language
    menu_buttons: dict[int | None, JSON] = field(default_factory=dict)  # None: the default
    updates: UpdateQueue = field(default_factory=UpdateQueue)
    webhook: WebhookConfig | None = None
    poll_generation: int = 0  # a newer getUpdates ends an older one with 409 Conflict
    _file_numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def user_json(self) -> JSON:
        """Return the bot's User object as it appears in `from` fields."""
        return {"id": self.id, "is_bot": True, "first_name": self.first_name,
                "username": self.username}

    def me_json(self) -> JSON:
        """Return the User object getMe answers with."""
        return {
            **self.user_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def store_file(self, data: bytes, kind: str, *, file_name: str | None = None,
                   mime_type: str | None = None, extension: str = "") -> StoredFile:
        """Keep a file and give it a new file_id and file_path."""
        number = next(self._file_numbers)
        prefix = {"photo": "AgAC", "document": "BQAC", "sticker": "CAAC", "voice": "AwAC"}
        stored = StoredFile(
            file_id=prefix.get(kind, "BQAC") + "AgIAAxkBAA" + secrets.token_urlsafe(40),
            file_unique_id="AQAD" + secrets.token_urlsafe(9),
            file_path=f"{kind}s/file_{number}{extension}",
            data=data,
            kind=kind,
            file_name=file_name,
            mime_type=mime_type,
        )
        self.files[stored.file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored


def message_json(bot: BotAccount, chat: Chat, message: ChatMessage,
                 *, with_reply: bool = True) -> JSON:
    """Return the Message object Telegram sends for `message`."""
    body: JSON = {
        "message_id": message.message_id,
        "from": bot.user_json() if message.from_bot else dict(chat.user),
        "chat": chat.chat_json(),
        "date": message.date,
        **copy.deepcopy(message.content),
    }
    if message.edit_date is not None:
        body["edit_date"] = message.edit_date
    replied = chat.messages.get(message.reply_to_message_id or 0)
    if with_reply and replied is not None:
        body["reply_to_message"] = message_json(bot, chat, replied, with_reply=False)
    markup = message.reply_markup
    if message.from_bot and markup is not None and "inline_keyboard" in markup:
        # Telegram echoes inline keyboards only; reply keyboards live on the client.
        body["reply_markup"] = copy.deepcopy(markup)
    return body
