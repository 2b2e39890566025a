"""`dudao try`: chat with the real bot in the terminal, through a local Bot API server.

The bot runs exactly as in production (same Application, database and model) but talks to
`LocalBotApi` on 127.0.0.1, so nobody needs a Telegram token. You play a parent; `!sup CODE`
or `!staff CODE` switches to a supervisor or staff member of the directory (bound with a
real one-time invite), `!parent` switches back. Buttons are numbered: type `#1` to press.
"""

from __future__ import annotations

import asyncio
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from bot.bootstrap import Container, build
from bot.config import Settings
from bot.messages import t
from handlers.telegram.app import build_application
from localapi.client import FakeUser
from localapi.ptb import polling
from localapi.server import LocalBotApi

PARENT_ID = 10_001
OFFICIAL_IDS = {"supervisor": 20_001, "staff": 30_001}


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


class Sandbox:
    """One terminal session: who you are now and what you read last."""

    def __init__(self, api: LocalBotApi, container: Container, out: TextIO,
                 files: Path = Path("var") / "sandbox", quiet: float = 0.8) -> None:
        self.api = api
        self.quiet = quiet  # seconds of silence that end the bot's answer
        self.container = container
        self.out = out
        self.files = files  # where photos and documents the bot sends are saved to open
        self.user: FakeUser = api.user(PARENT_ID, first_name="体验家长")
        self.last_with_buttons: Any = None

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    async def show_replies(self) -> None:
        """Print bot messages until the bot has been silent for `self.quiet` seconds."""
        while True:
            try:
                message = await self.user.wait_for_message(timeout=self.quiet)
            except TimeoutError:
                return
            if message is None:
                return
            for line in render(message):
                self.say(line)
            if message.kind in ("photo", "document") and message.file_id:
                self.say(t("sandbox.file_saved", path=self.save(message)))
            if message.reply_markup:
                self.last_with_buttons = message

    def save(self, message: Any) -> Path:
        """Write a photo or document the bot sent to `files`, so it can be opened."""
        name = (message.content.get("document", {}).get("file_name")
                or f"{message.kind}-{message.message_id}.png")
        self.files.mkdir(parents=True, exist_ok=True)
        target = self.files / Path(name).name  # never a path the bot chose
        target.write_bytes(self.user.download(message.file_id))
        return target

    async def become(self, role: str, code: str | None) -> None:
        self.last_with_buttons = None
        if role == "parent":
            self.user = self.api.user(PARENT_ID, first_name="体验家长")
            self.say(t("sandbox.now_parent"))
            return
        assert code
        user_id = OFFICIAL_IDS[role] + zlib.crc32(code.encode()) % 1000
        self.user = self.api.user(user_id, first_name=code)
        invite, _ = await self.container.invites.issue(code, role)
        self.say(t("sandbox.now_official", code=code))
        await self.user.send_text(f"/bind {invite}")

    async def handle(self, line: str) -> bool:
        """Act on one typed line; False ends the session."""
        line = line.strip()
        if line in ("!quit", "!exit", "!q"):
            return False
        if line in ("!help", "!h", ""):
            self.say(t("sandbox.help"))
            return True
        if line.startswith("#") and line[1:].isdigit():
            buttons = numbered_buttons(self.last_with_buttons) if self.last_with_buttons else []
            index = int(line[1:]) - 1
            if not 0 <= index < len(buttons):
                self.say(t("sandbox.no_such_button"))
                return True
            try:
                await self.user.press(buttons[index])
            except LookupError:
                self.say(t("sandbox.no_such_button"))
                return True
        elif line == "!photo":
            await self.user.send_photo()
        elif line == "!contact":
            await self.user.send_contact()
        elif line == "!parent":
            await self.become("parent", None)
        elif line.startswith(("!sup ", "!staff ")):
            role = "supervisor" if line.startswith("!sup ") else "staff"
            try:
                await self.become(role, line.split(maxsplit=1)[1].strip())
            except Exception as exc:  # a DomainError for an unknown code, shown plainly
                self.say(t("sandbox.bind_failed", error=getattr(exc, "key", str(exc))))
                return True
        else:
            await self.user.send_text(line)
        await self.show_replies()
        return True


async def run_sandbox(settings: Settings, classifier: Any,
                      read_line: Callable[[], str] = input, out: TextIO = sys.stdout,
                      files: Path = Path("var") / "sandbox", quiet: float = 0.8) -> int:
    """Start the bot against a local Bot API server and chat in the terminal."""
    async with LocalBotApi() as api:
        local = settings.model_copy(update={"telegram": settings.telegram.model_copy(update={
            "token": api.token, "base_url": api.base_url, "base_file_url": api.base_file_url,
            "mode": "polling"})})
        container = build(local, classifier=classifier)
        # polling() runs the app's post_init/post_shutdown: the container's start/stop.
        async with polling(build_application(container), timeout=1):
            session = Sandbox(api, container, out, files, quiet)
            session.say(t("sandbox.intro"))
            while True:
                try:
                    line = await asyncio.to_thread(read_line)
                except EOFError:
                    break
                if not await session.handle(line):
                    break
    return 0
