"""Helpers for the delivery tests: what the local Bot API saw, and parents filing tips."""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass

from localapi import ApiCall, FakeUser, LocalBotApi
from tests.support.e2e import HOMEWORK, reference_in

SENDING = ("send", "copymessage", "forwardmessage")


def send_attempts(api: LocalBotApi) -> list[ApiCall]:
    """Every attempt to put a message in a chat, refused ones included, oldest first."""
    return [c for c in api.calls if c.method.lower().startswith(SENDING)]


def most_in_any_window(times: list[float], span: float = 1.0) -> int:
    """The largest number of `times` within any window of `span` seconds (ends included)."""
    ordered = sorted(times)
    return max((bisect.bisect_right(ordered, t + span) - i for i, t in enumerate(ordered)),
               default=0)


@dataclass
class Pace:
    attempts: int
    most_per_second: int  # attempts in any one-second window, all chats
    most_per_chat_second: int  # attempts to one chat in any one-second window
    too_many: int  # 429 answers
    provoked: int  # 429 answers of the server's limits (not injected at random)

    def __str__(self) -> str:
        return (f"{self.attempts} send attempts; at most {self.most_per_second} in any second"
                f" overall, {self.most_per_chat_second} to one chat; {self.too_many} 429s, "
                f"{self.provoked} of them provoked by going over the limits")


def pace(api: LocalBotApi) -> Pace:
    calls = send_attempts(api)
    per_chat: dict[str, list[float]] = defaultdict(list)
    for call in calls:
        per_chat[str(call.params.get("chat_id"))].append(call.time)
    return Pace(len(calls), most_in_any_window([c.time for c in calls]),
                max((most_in_any_window(t) for t in per_chat.values()), default=0),
                sum(1 for c in calls if c.status == 429),
                sum(1 for c in calls if c.status == 429 and c.injected is None))


def has_written(api: LocalBotApi, user_id: int, first_name: str = "督学") -> FakeUser:
    """A user who wrote to the bot before (Telegram delivers only to those)."""
    user = api.user(user_id, first_name=first_name)
    api.bot().chats[user_id].started = True
    return user


async def file_tip(user: FakeUser, timeout: float = 60) -> str:
    """Send a tip, file it anonymously, return the reference the bot replied."""
    await user.send_text(HOMEWORK)
    await user.wait_for_message(lambda m: "匿名提交" in str(m.reply_markup), timeout=timeout)
    await user.press("匿名提交")
    filed = await user.wait_for_message(lambda m: "案件编号" in (m.text or ""), timeout=timeout)
    return reference_in(filed.text)


def texts_with(user: FakeUser, needle: str) -> int:
    """How many messages this user got that contain `needle`."""
    return sum(1 for m in user.messages if needle in (m.text or ""))
