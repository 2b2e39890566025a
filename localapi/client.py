"""The user side of the local Bot API: a simulated Telegram user chatting with one bot."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote, urlencode

from localapi.formatting import command_entities
from localapi.media import extension_for, guess_mime_type, image_size, tiny_png
from localapi.methods import document_json, store_photo
from localapi.state import (
    JSON,
    BotAccount,
    CallbackAnswer,
    Chat,
    ChatMessage,
    PendingCallback,
    message_json,
    now,
)

MessagePredicate = Callable[[ChatMessage], bool]


def _has_event(chat: Chat, index: int) -> Callable[[], bool]:
    """Return a check that the chat's event number `index` exists."""
    return lambda: index < len(chat.events)


class FakeUser:
    """A Telegram user in a private chat with a bot (chat id = user id).

    Actions (send_text, press ...) become updates for the bot at once. Reading is cursor
    based: wait_for_message returns the first bot message or edit the user has not yet read
    since their last action, so "send, wait, wait" walks through a multi-message reply.
    """

    def __init__(self, bot: BotAccount, chat: Chat) -> None:
        self._bot = bot
        self._chat = chat
        self._cursor = len(chat.events)

    # --- identity ---

    @property
    def id(self) -> int:
        """Return the user id, also the private chat's id."""
        return self._chat.id

    @property
    def first_name(self) -> str:
        """Return the user's first name."""
        return str(self._chat.user["first_name"])

    @property
    def username(self) -> str | None:
        """Return the user's username, if any."""
        username = self._chat.user.get("username")
        return str(username) if username is not None else None

    @property
    def phone_number(self) -> str | None:
        """Return the phone number shared by request_contact buttons."""
        return self._chat.phone_number

    @property
    def menu_button(self) -> JSON:
        """The menu button this user's chat shows (setChatMenuButton), or the default."""
        button = self._bot.menu_buttons.get(self.id) or self._bot.menu_buttons.get(None)
        return dict(button or {"type": "commands"})

    def init_data(self, *, auth_date: int | None = None) -> str:
        """The signed launch data Telegram gives a Mini App this user opens (initData)."""
        fields = {"auth_date": str(auth_date if auth_date is not None else now()),
                  "query_id": "AA" + secrets.token_hex(8),
                  "user": json.dumps({"id": self.id, "first_name": self.first_name},
                                     ensure_ascii=False, separators=(",", ":"))}
        check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
        secret = hmac.new(b"WebAppData", self._bot.token.encode(), hashlib.sha256).digest()
        fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
        return urlencode(fields)

    def open_mini_app(self, *, auth_date: int | None = None) -> str:
        """The address Telegram opens for the menu button's Mini App: its URL with the
        signed launch data in the fragment, as Telegram's clients do."""
        button = self.menu_button
        if button.get("type") != "web_app":
            raise ValueError("this chat's menu button does not open a Mini App")
        data = quote(self.init_data(auth_date=auth_date), safe="")
        return f"{button['web_app']['url']}#tgWebAppData={data}&tgWebAppVersion=8.0"

    # --- acting ---

    async def send_text(self, text: str, *, reply_to: int | None = None) -> ChatMessage:
        """Send a text message; /commands get bot_command entities."""
        content: JSON = {"text": text}
        entities = command_entities(text)
        if entities:
            content["entities"] = entities
        return self._send(content, reply_to=reply_to)

    async def send_photo(self, data: bytes | None = None, *, caption: str | None = None,
                         ) -> ChatMessage:
        """Send a photo (a small valid PNG unless `data` is given)."""
        data = data if data is not None else tiny_png()
        width, height = image_size(data) or (1280, 960)
        content: JSON = {"photo": store_photo(self._bot, data, width, height)}
        return self._send(self._with_caption(content, caption))

    async def send_document(self, data: bytes, file_name: str = "document.pdf", *,
                            mime_type: str | None = None, caption: str | None = None,
                            ) -> ChatMessage:
        """Send a file as a document."""
        mime_type = mime_type or guess_mime_type(file_name)
        stored = self._bot.store_file(data, "document", file_name=file_name,
                                      mime_type=mime_type,
                                      extension=extension_for(file_name, mime_type))
        return self._send(self._with_caption({"document": document_json(stored)}, caption))

    async def send_contact(self, phone_number: str | None = None, *,
                           first_name: str | None = None, user_id: int | None = None,
                           ) -> ChatMessage:
        """Share a contact; by default the user's own, as a request_contact button does."""
        own = phone_number is None
        phone = phone_number or self._chat.phone_number or f"+86138{self.id % 10**8:08d}"
        contact: JSON = {"phone_number": phone,
                         "first_name": first_name or self.first_name}
        if own or user_id is not None:
            contact["user_id"] = user_id if user_id is not None else self.id
        return self._send({"contact": contact})

    async def send_sticker(self, emoji: str = "😀") -> ChatMessage:
        """Send a sticker."""
        stored = self._bot.store_file(b"RIFF\x00\x00\x00\x00WEBPVP8 ", "sticker",
                                      mime_type="image/webp", extension=".webp")
        sticker: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                         "type": "regular", "width": 512, "height": 512, "is_animated": False,
                         "is_video": False, "emoji": emoji, "file_size": stored.file_size}
        return self._send({"sticker": sticker})

    async def send_voice(self, duration: int = 3, data: bytes = b"OggS\x00voice") -> ChatMessage:
        """Send a voice note."""
        stored = self._bot.store_file(data, "voice", mime_type="audio/ogg", extension=".oga")
        voice: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                       "duration": duration, "mime_type": "audio/ogg",
                       "file_size": stored.file_size}
        return self._send({"voice": voice})

    async def press(self, button: str) -> str | None:
        """Press a button by its text or callback_data.

        Inline buttons are looked up on the newest bot message that has one; pressing sends a
        callback_query and returns its id. Otherwise the current reply keyboard is used:
        the button's text is sent, or the user's contact for a request_contact button
        (returns None).
        """
        for message in reversed(self._chat.bot_messages()):
            for row in message.inline_keyboard:
                for candidate in row:
                    if button in (candidate.get("text"), candidate.get("callback_data")):
                        return self._press_inline(message, candidate)
        for row in (self._chat.reply_keyboard or {}).get("keyboard", []):
            for candidate in row:
                text = candidate if isinstance(candidate, str) else candidate.get("text")
                if text != button:
                    continue
                if isinstance(candidate, dict) and candidate.get("request_contact"):
                    await self.send_contact()
                else:
                    await self.send_text(button)
                return None
        raise LookupError(f"no button {button!r} in chat {self.id}; visible: {self._visible()}")

    async def press_forged(self, callback_data: str,
                           message: ChatMessage | None = None) -> str:
        """Send a callback_query with any data, as a tampered client could; return its id.

        It comes from `message` (default: the newest bot message), whatever its buttons.
        """
        target = message or self.last_message
        if target is None:
            raise LookupError(f"no bot message in chat {self.id} to press on")
        return self._press_inline(target, {"text": "forged", "callback_data": callback_data})

    def block(self) -> None:
        """Block the bot: its messages now fail with 403 Forbidden."""
        self._chat.blocked = True

    def unblock(self) -> None:
        """Unblock the bot."""
        self._chat.blocked = False

    # --- reading ---

    @property
    def messages(self) -> list[ChatMessage]:
        """Return the bot's messages in this chat, as they are now (edits applied)."""
        return self._chat.bot_messages()

    @property
    def last_message(self) -> ChatMessage | None:
        """Return the newest bot message still in the chat."""
        messages = self._chat.bot_messages()
        return messages[-1] if messages else None

    @property
    def reply_keyboard(self) -> list[list[str]] | None:
        """Return the labels of the reply keyboard shown to the user, if any."""
        markup = self._chat.reply_keyboard
        if markup is None:
            return None
        return [[b if isinstance(b, str) else str(b.get("text", "")) for b in row]
                for row in markup.get("keyboard", [])]

    @property
    def callback_answers(self) -> list[CallbackAnswer]:
        """Return the bot's answers to this user's button presses."""
        return list(self._chat.callback_answers)

    @property
    def chat_actions(self) -> list[str]:
        """Return the chat actions ("typing" ...) the bot sent to this chat."""
        return list(self._chat.chat_actions)

    async def wait_for_message(self, predicate: MessagePredicate | None = None,
                               timeout: float | None = 5.0) -> ChatMessage:
        """Wait for the next unread bot message or edit (matching `predicate`) and return it.

        The returned object is a snapshot taken when the message was sent or edited;
        `timeout=None` waits for ever.
        """
        events = self._chat.events

        def unread_match() -> int | None:
            for index in range(self._cursor, len(events)):
                if predicate is None or predicate(events[index]):
                    return index
            return None

        if not await self._chat.signal.wait_until(lambda: unread_match() is not None, timeout):
            latest = [m.text for m in events[-3:]]
            raise TimeoutError(f"no new bot message in chat {self.id} within {timeout}s; "
                               f"latest: {latest}")
        index = unread_match()
        assert index is not None
        self._cursor = index + 1
        return events[index]

    def follow(self) -> AsyncIterator[ChatMessage]:
        """Yield every bot message and edit from this call on, in order, whatever the user does.

        Independent of wait_for_message's cursor: meant for transcripts (the sandbox).
        """
        chat = self._chat
        start = len(chat.events)  # taken now, not at the first iteration

        async def messages() -> AsyncIterator[ChatMessage]:
            for index in itertools.count(start):
                await chat.signal.wait_until(_has_event(chat, index), None)
                yield chat.events[index]

        return messages()

    async def wait_for_callback_answer(self, query_id: str | None = None,
                                       timeout: float = 5.0) -> CallbackAnswer:
        """Wait until the bot answers a button press (the given one, or any new one)."""
        answers = self._chat.callback_answers
        seen = len(answers)

        def found() -> CallbackAnswer | None:
            candidates = answers if query_id is not None else answers[seen:]
            for answer in candidates:
                if query_id is None or answer.callback_query_id == query_id:
                    return answer
            return None

        if not await self._chat.signal.wait_until(lambda: found() is not None, timeout):
            raise TimeoutError(f"no callback answer in chat {self.id} within {timeout}s")
        answer = found()
        assert answer is not None
        return answer

    def download(self, file_id: str) -> bytes:
        """Return the bytes of a file the bot sent (or the user sent)."""
        return self._bot.files[file_id].data

    # --- internals ---

    def _send(self, content: JSON, *, reply_to: int | None = None) -> ChatMessage:
        chat = self._chat
        chat.started = True
        chat.blocked = False  # writing to a bot unblocks it, as /start does
        message = ChatMessage(message_id=chat.next_message_id(), chat_id=chat.id, date=now(),
                              from_bot=False, content=content, reply_to_message_id=reply_to)
        chat.messages[message.message_id] = message
        self._cursor = len(chat.events)
        self._bot.updates.push("message", message_json(self._bot, chat, message))
        return message

    def _press_inline(self, message: ChatMessage, button: JSON) -> str:
        if "callback_data" not in button:
            raise LookupError(f"button {button.get('text')!r} sends nothing to the bot")
        query_id = str(secrets.randbits(63))
        data = str(button["callback_data"])
        self._bot.callbacks[query_id] = PendingCallback(query_id, self._chat.id, data)
        self._cursor = len(self._chat.events)
        self._bot.updates.push("callback_query", {
            "id": query_id,
            "from": dict(self._chat.user),
            "message": message_json(self._bot, self._chat, message),
            "chat_instance": str((self._chat.id * 1_000_003 + self._bot.id) % 2**62),
            "data": data,
        })
        return query_id

    def _with_caption(self, content: JSON, caption: str | None) -> JSON:
        if caption:
            content["caption"] = caption
            entities = command_entities(caption)
            if entities:
                content["caption_entities"] = entities
        return content

    def _visible(self) -> list[list[str]]:
        rows = [row for m in self._chat.bot_messages() for row in m.buttons]
        return rows + (self.reply_keyboard or [])
