"""`dudao try`: chat with the real bot in the terminal, through a local Bot API server.

The bot runs exactly as in production (same Application, database and model) but talks to
`LocalBotApi` on 127.0.0.1, so nobody needs a Telegram token. You play a parent; `!sup CODE`
or `!staff CODE` switches to a supervisor or staff member of the directory (bound with a
real one-time invite, once), `!parent` switches back. Buttons are numbered: type `#1` to press.

Every identity has its own inbox, watched in the background: what the bot sends to the
identity you play is printed as it arrives (whatever you are typing), what it sends to the
others is kept and shown when you switch to them. Logs go to a file, not into the chat, and
quiet hours are off unless asked for, so notifications show at any hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time as wallclock
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, TextIO

from bot.bootstrap import Container, build
from bot.config import Settings
from bot.domain import DomainError
from bot.messages import CATALOGUE, explain, t
from bot.ports import SUPERVISOR_ROLES, Clock
from handlers.telegram.app import bound_port, build_application, http_runner, listen
from localapi.client import FakeUser
from localapi.ptb import polling
from localapi.server import LocalBotApi
from localapi.state import Chat

PARENT_ID = 10_001
OFFICIAL_IDS = {"supervisor": 20_001, "staff": 30_001}
COMMANDS = {"supervisor": "!sup", "staff": "!staff"}
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SANDBOX_LOG = Path("var") / "dudao-try.log"
DRAIN_LIMIT = 30.0  # seconds at most to wait for late replies when the input ends


def official_id(role: str, code: str) -> int:
    """The sandbox's Telegram user id for a directory person (stable across sessions)."""
    return OFFICIAL_IDS[role] + zlib.crc32(code.encode()) % 1000


def render(message: Any) -> list[str]:
    """A bot message as terminal lines, buttons numbered in reading order."""
    lines = [f"🤖 {line}" for line in (message.text or "").splitlines() or [""]]
    number = 0
    for row in (message.reply_markup or {}).get("inline_keyboard", []):
        cells = []
        for button in row:
            number += 1
            cells.append(f"[{number}] {button.get('text', '')}")
        lines.append("   " + "  ".join(cells))
    for row in (message.reply_markup or {}).get("keyboard", []):
        cells = []
        for button in row:
            number += 1
            label = button if isinstance(button, str) else button.get("text", "")
            cells.append(f"[{number}] {label}")
        lines.append("   " + "  ".join(cells))
    return lines


def numbered_buttons(message: Any) -> list[str]:
    markup = message.reply_markup or {}
    out = []
    for row in markup.get("inline_keyboard", []) + markup.get("keyboard", []):
        for button in row:
            out.append(button if isinstance(button, str) else
                       button.get("callback_data") or button.get("text", ""))
    return out


@dataclass
class Identity:
    """One person you can play, with an inbox: what the bot sent them, and how much you saw."""

    who: str
    command: str  # what to type to become this identity
    user: FakeUser
    chat: Chat
    shown_events: int = 0
    shown_answers: int = 0
    seen: int = 0  # events + answers already noticed by the watcher
    hinted: bool = False
    last_with_buttons: Any = None
    printed: dict[int, str | None] = field(default_factory=dict)  # message id -> text shown
    watcher: asyncio.Task[None] | None = None

    def total(self) -> int:
        return len(self.chat.events) + len(self.chat.callback_answers)

    def unread(self) -> int:
        return len(self.chat.events) - self.shown_events


@contextlib.contextmanager
def logs_to_file(path: Path) -> Iterator[None]:
    """Send log records (and Python warnings) to `path` instead of the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter(LOG_FORMAT))
    terminal = [h for h in root.handlers
                if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
                and getattr(h, "stream", None) in (sys.stderr, sys.stdout)]
    level = root.level
    for handler in terminal:
        root.removeHandler(handler)
    root.addHandler(to_file)
    if level == logging.NOTSET or level > logging.INFO:
        root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        root.removeHandler(to_file)
        to_file.close()
        root.setLevel(level)
        for handler in terminal:
            root.addHandler(handler)


class Sandbox:
    """One terminal session: every identity's inbox, and who you are now."""

    def __init__(self, api: LocalBotApi, container: Container, out: TextIO,
                 files: Path = Path("var") / "sandbox", quiet: float = 0.8) -> None:
        self.api = api
        self.quiet = quiet  # seconds of silence that count as "the bot has finished"
        self.container = container
        self.out = out
        self.files = files  # where photos and documents the bot sends are saved to open
        self.identities: dict[int, Identity] = {}
        self.current = self._identity(PARENT_ID, t("sandbox.who_parent"), "!parent")

    # --- the terminal ---

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    @property
    def user(self) -> FakeUser:
        return self.current.user

    @property
    def last_with_buttons(self) -> Any:
        return self.current.last_with_buttons

    # --- inboxes ---

    def _identity(self, user_id: int, who: str, command: str) -> Identity:
        known = self.identities.get(user_id)
        if known is not None:
            return known
        user = self.api.user(user_id, first_name=who)
        identity = Identity(who, command, user, self.api.bot().chats[user_id])
        # What the bot sent before this session (a chat bound in an earlier one) counts as read.
        identity.shown_events = len(identity.chat.events)
        identity.shown_answers = len(identity.chat.callback_answers)
        identity.seen = identity.total()
        self.identities[user_id] = identity
        identity.watcher = asyncio.get_running_loop().create_task(self._watch(identity))
        return identity

    async def _watch(self, identity: Identity) -> None:
        """Print what arrives for the current identity at once; note it for the others."""
        while True:
            await identity.chat.signal.wait_until(lambda: identity.total() > identity.seen, None)
            identity.seen = identity.total()
            if identity is self.current:
                self.flush(identity)
            elif not identity.hinted and identity.unread():
                identity.hinted = True
                self.say(t("sandbox.inbox_hint", who=identity.who, command=identity.command))

    def flush(self, identity: Identity) -> None:
        """Print the bot's messages, edits and pop-up answers this identity has not seen."""
        answers = identity.chat.callback_answers
        for answer in answers[identity.shown_answers:]:
            if answer.text:
                self.say(t("sandbox.alert" if answer.show_alert else "sandbox.toast",
                           text=answer.text))
        identity.shown_answers = len(answers)
        events = identity.chat.events
        while identity.shown_events < len(events):
            message = events[identity.shown_events]
            identity.shown_events += 1
            self._show(identity, message)
        identity.seen = max(identity.seen, identity.total())

    def _show(self, identity: Identity, message: Any) -> None:
        edited = message.message_id in identity.printed
        if edited and identity.printed[message.message_id] == message.text:
            # Only the buttons changed (usually taken away after a press): nothing to read.
            if not message.reply_markup and identity.last_with_buttons is not None \
                    and identity.last_with_buttons.message_id == message.message_id:
                identity.last_with_buttons = None
            if not message.reply_markup:
                return
        if edited:
            self.say(t("sandbox.edited"))
        identity.printed[message.message_id] = message.text
        for line in render(message):
            self.say(line)
        if message.kind in ("photo", "document") and message.file_id:
            self.say(t("sandbox.file_saved", path=self.save(identity.user, message)))
        if message.reply_markup:
            identity.last_with_buttons = message

    def save(self, user: FakeUser, message: Any) -> Path:
        """Write a photo or document the bot sent to `files`, so it can be opened."""
        name = (message.content.get("document", {}).get("file_name")
                or f"{message.kind}-{message.message_id}.png")
        self.files.mkdir(parents=True, exist_ok=True)
        target = self.files / Path(name).name  # never a path the bot chose
        target.write_bytes(user.download(message.file_id))
        return target

    async def drain(self, limit: float = DRAIN_LIMIT) -> None:
        """Wait until the bot has been silent for `quiet` seconds (the input has ended)."""
        deadline = wallclock.monotonic() + limit
        while wallclock.monotonic() < deadline:
            before = sum(i.total() for i in self.identities.values())
            await asyncio.sleep(self.quiet)
            if sum(i.total() for i in self.identities.values()) == before:
                break
        self.flush(self.current)

    async def close(self) -> None:
        for identity in self.identities.values():
            if identity.watcher is not None:
                identity.watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await identity.watcher

    async def adopt_bound(self) -> None:
        """Open the inboxes of directory people bound to this sandbox in an earlier session."""
        async with self.container.uow.read() as uow:
            people = await uow.directory.people()
        for person in people:
            role = "staff" if person.role == "staff" else "supervisor"
            if person.telegram_user_id == official_id(role, person.code):
                identity = self._identity(person.telegram_user_id, self._who(role, person),
                                          f"{COMMANDS[role]} {person.code}")
                identity.chat.started = True  # they wrote to the bot in an earlier session

    # --- switching ---

    @staticmethod
    def _who(role: str, person: Any) -> str:
        role_name = CATALOGUE.get(f"role.{person.role}", person.role)
        return t("sandbox.who_official", role=role_name, name=person.name, code=person.code)

    def _switch_to(self, identity: Identity) -> None:
        """Make `identity` the current one, first showing what arrived for it meanwhile."""
        self.current = identity
        identity.hinted = False
        if identity.unread():
            self.say(t("sandbox.inbox", who=identity.who, count=identity.unread()))
        self.flush(identity)

    async def become(self, role: str, code: str | None) -> None:
        if role == "parent":
            self.say(t("sandbox.now_parent"))
            self._switch_to(self.identities[PARENT_ID])
            return
        assert code
        code = code.strip().upper()
        async with self.container.uow.read() as uow:
            person = await uow.directory.person(code)
        wanted = {"staff"} if role == "staff" else SUPERVISOR_ROLES
        user_id = official_id(role, code)
        if person is not None and person.role in wanted and person.telegram_user_id == user_id:
            identity = self._identity(user_id, self._who(role, person), f"{COMMANDS[role]} {code}")
            self.say(t("sandbox.now_official_bound", who=identity.who))
            self._switch_to(identity)
            return
        invite, _ = await self.container.invites.issue(code, role)  # refuses unknown codes
        assert person is not None
        identity = self._identity(user_id, self._who(role, person), f"{COMMANDS[role]} {code}")
        self.say(t("sandbox.now_official", code=code))
        self._switch_to(identity)
        await identity.user.send_text(f"/bind {invite}")

    # --- one typed line ---

    async def handle(self, line: str) -> bool:
        """Act on one typed line; False ends the session. Replies are printed as they come."""
        line = line.strip()
        command, _, argument = line.partition(" ")
        argument = argument.strip()
        if line in ("!quit", "!exit", "!q"):
            return False
        if line in ("!help", "!h", ""):
            self.say(t("sandbox.help"))
        elif line.startswith("#") and line[1:].isdigit():
            await self._press(int(line[1:]) - 1)
        elif command == "!photo":
            await self._send_photo(argument)
        elif command == "!doc":
            await self._send_document(argument)
        elif line == "!contact":
            await self.user.send_contact()
        elif line == "!parent":
            await self.become("parent", None)
        elif command in ("!sup", "!staff"):
            role = "supervisor" if command == "!sup" else "staff"
            if not argument:
                self.say(t("sandbox.usage_sup" if role == "supervisor" else "sandbox.usage_staff"))
                return True
            try:
                await self.become(role, argument)
            except DomainError as exc:  # an unknown code, explained in Chinese
                self.say(t("sandbox.bind_failed", error=explain(exc.key, exc.params)))
        elif line.startswith("!"):
            self.say(t("sandbox.unknown_command", command=command))
        else:
            await self.user.send_text(line)
        return True

    async def _press(self, index: int) -> None:
        message = self.last_with_buttons
        buttons = numbered_buttons(message) if message is not None else []
        if not 0 <= index < len(buttons):
            self.say(t("sandbox.no_such_button"))
            return
        try:
            await self.user.press(buttons[index])
        except LookupError:
            self.say(t("sandbox.no_such_button"))

    def _read(self, argument: str) -> tuple[Path, bytes] | None:
        path = Path(argument).expanduser()
        try:
            return path, path.read_bytes()
        except OSError:
            self.say(t("sandbox.no_file", path=argument))
            return None

    async def _send_photo(self, argument: str) -> None:
        if not argument:
            await self.user.send_photo()
            return
        found = self._read(argument)
        if found is not None:
            await self.user.send_photo(found[1])

    async def _send_document(self, argument: str) -> None:
        if not argument:
            self.say(t("sandbox.usage_doc"))
            return
        found = self._read(argument)
        if found is not None:
            await self.user.send_document(found[1], found[0].name)


def sandbox_settings(settings: Settings, api: LocalBotApi, quiet_hours: bool) -> Settings:
    """The settings the sandbox runs with: the local Bot API, quiet hours off by default."""
    update: dict[str, Any] = {"telegram": settings.telegram.model_copy(update={
        "token": api.token, "base_url": api.base_url, "base_file_url": api.base_file_url,
        "mode": "polling"})}
    if not quiet_hours:
        update["time_rules"] = settings.time_rules.model_copy(
            update={"quiet_start": time(0, 0), "quiet_end": time(0, 0)})  # an empty period
    return settings.model_copy(update=update)


async def run_sandbox(settings: Settings, classifier: Any,
                      read_line: Callable[[], str] = input, out: TextIO = sys.stdout,
                      files: Path = Path("var") / "sandbox", quiet: float = 0.8, *,
                      log_file: Path = SANDBOX_LOG,
                      quiet_hours: bool = False, clock: Clock | None = None) -> int:
    """Start the bot against a local Bot API server and chat in the terminal."""
    rules = settings.time_rules
    with logs_to_file(log_file):
        async with LocalBotApi() as api:
            container = build(sandbox_settings(settings, api, quiet_hours), clock=clock,
                              classifier=classifier)
            # The local server has no flood limits and one person reads: no pacing.
            app = build_application(container, rate_limiter=False)
            async with contextlib.AsyncExitStack() as stack:
                # The same HTTP server as `dudao run` (health, metrics, the office console),
                # so the link /web gives opens; a busy port is said and the chat goes on.
                runner = http_runner(app)
                await runner.setup()
                stack.push_async_callback(runner.cleanup)
                await listen(runner, container, announce=False)
                # polling() runs the app's post_init/post_shutdown: the container's start/stop
                await stack.enter_async_context(polling(app, timeout=1))
                session = Sandbox(api, container, out, files, quiet)
                session.say(t("sandbox.intro"))
                session.say(t("sandbox.quiet_on" if quiet_hours else "sandbox.quiet_off",
                              start=f"{rules.quiet_start:%H:%M}", end=f"{rules.quiet_end:%H:%M}"))
                port = bound_port(runner)
                web = container.settings.web
                session.say(t("sandbox.web", url=web.base_url(port)) if port is not None
                            else t("sandbox.web_busy", port=web.listen_port))
                session.say(t("sandbox.log_file", path=log_file))
                await session.adopt_bound()
                try:
                    while True:
                        try:
                            line = await asyncio.to_thread(read_line)
                        except EOFError:
                            await session.drain()
                            break
                        if not await session.handle(line):
                            await session.drain()
                            break
                finally:
                    await session.close()
    return 0
