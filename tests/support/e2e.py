"""End-to-end harness: the real dudao Application polling a local Bot API server on 127.0.0.1.

Use the `dudao` fixture (defined in tests/e2e/conftest.py from `running_dudao`): it imports the
sample county directory into a fresh database, loads the shipped classifier, starts the
Application with long polling against `LocalBotApi`, and gives helpers to play parents,
supervisors and staff. Telegram is never contacted.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.bootstrap import Container, build
from bot.config import Settings
from bot.directory.files import read_directory_files
from bot.directory.service import import_directory
from handlers.telegram.app import build_application
from handlers.telegram.context import BotServices
from localapi.client import FakeUser
from localapi.ptb import polling
from localapi.server import LocalBotApi

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "directory"


@dataclass
class MovableClock:
    """A clock tests move by hand (business hours by default, so no quiet-hour delays)."""

    current: datetime

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


@dataclass
class Dudao:
    api: LocalBotApi
    container: Container
    services: BotServices
    app: Any
    clock: MovableClock

    def user(self, user_id: int, first_name: str = "家长", username: str | None = None,
             ) -> FakeUser:
        return self.api.user(user_id, first_name=first_name, username=username)

    async def deliver(self) -> None:
        """Send everything due in the outbox now: wait for what the delivery loop holds, then
        run a pass. The loop also claims rows when a commit queues some, and every second, so
        who sent a row is not fixed: a test counts what arrived, not what this pass sent."""
        await self.container.delivery.idle()
        await self.container.outbox.run_once(wait=True)
        await self.container.delivery.idle()

    async def bind(self, user: FakeUser, person_code: str, role: str = "supervisor") -> None:
        """Bind `user` to a directory person the way a real one does: /bind CODE."""
        code, _ = await self.container.invites.issue(person_code, role)
        await user.send_text(f"/bind {code}")
        reply = await user.wait_for_message(timeout=10)
        assert "绑定成功" in (reply.text or ""), reply.text

    async def uow_count(self, sql: str) -> int:
        from sqlalchemy import text

        async with self.container.uow() as uow:
            return int((await uow.session.execute(text(sql))).scalar_one())


@asynccontextmanager
async def running_dudao(db_url: str, classifier: Any,
                        **settings_overrides: Any) -> AsyncIterator[Dudao]:
    """Start the whole bot on `db_url` against a fresh local Bot API server."""
    async with LocalBotApi() as api:
        settings = Settings(telegram={"token": api.token, "base_url": api.base_url,
                                      "base_file_url": api.base_file_url},
                            database={"url": db_url},
                            # Reminders run only where a test drives them (test_reminders_e2e).
                            # A simulated user reads as fast as the bot writes: no per-chat
                            # pace unless a test is about Telegram's limits (it overrides).
                            **{"scheduler": {"interval_seconds": 0},
                               "delivery": {"per_chat_per_second": 30, "per_chat_burst": 30},
                               **settings_overrides})
        # Monday 10:00 in Shanghai: working hours, outside quiet hours.
        clock = MovableClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC).astimezone(settings.tz))
        container = build(settings, clock=clock, classifier=classifier)
        try:
            await import_directory(container.uow,
                                   read_directory_files(sorted(SAMPLE.glob("*.csv"))))
        except BaseException:
            await container.stop()
            raise
        app = build_application(container)
        async with polling(app, timeout=1):  # post_init/post_shutdown: start/stop
            yield Dudao(api, container, app.bot_data["services"], app, clock)


async def settle(seconds: float = 0.2) -> None:
    """Give the bot a moment to finish work that sends nothing back."""
    await asyncio.sleep(seconds)


# A parent files a tip and reads its reference back.
REF = re.compile(r"SJ-\d{4}-\d{6}")
HOMEWORK = ("城关一小三年级数学老师每天布置两个多小时的作业，"
            "孩子天天写到晚上十一点，还要家长批改签字")


def reference_in(text: str | None) -> str:
    match = REF.search(text or "")
    assert match, text
    return match.group(0)


async def file_anonymously(dudao: Dudao, user_id: int, text: str = HOMEWORK) -> str:
    parent = dudao.user(user_id)
    await parent.send_text(text)
    summary = await parent.wait_for_message(timeout=10)
    assert "匿名提交" in str(summary.reply_markup)
    await parent.press("匿名提交")
    return reference_in((await parent.wait_for_message(lambda m: "案件编号" in (m.text or ""),
                                                       timeout=10)).text)
