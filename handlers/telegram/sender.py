"""Telegram as the outbox's transport, and Telegram's flood limits kept by construction.

Every request that sends a message (the handlers' replies and the outbox's notices alike)
waits in `TelegramLimits` before it is made: at most `messages_per_second` attempts a second
for the whole bot, about one a second per private chat with a small burst, and 20 a minute
per group. A 429 that still arrives pauses only the chat it was about, for its retry_after.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from html import escape
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError, TimedOut
from telegram.ext import BaseRateLimiter, ExtBot

from bot.messages import t
from bot.outbox import SendResult
from bot.ports import OutboxMessage
from bot.report_delivery import NOTICE_KEY, ReportDelivery, period_of_notice
from bot.reports import file_name, summary_text
from handlers.telegram.views import UnrenderableNotice, render_outbox

log = logging.getLogger(__name__)
# Bot API methods that put a message in a chat: these count against Telegram's limits.
SENDING = ("send", "copyMessage", "copyMessages", "forwardMessage", "forwardMessages")
HANDLER_RETRIES = 2  # a handler's reply waits out this many 429s (the outbox's: none, it
# has its own lane pause)
MAX_CHAT_LIMITERS = 20_000  # idle per-chat limiters are dropped past this many
CHAT_POLL = 0.05  # seconds between looks at a chat that must wait its turn


@dataclass(frozen=True)
class Limits:
    messages_per_second: float = 29.0
    per_chat_per_second: float = 0.9
    per_chat_burst: int = 3
    group_messages_per_minute: float = 19.0


class Spacing:
    """Hands out turns for at most `rate` attempts in any one-second window, spread out.

    Turns follow a schedule 1/(rate - 0.5) apart; a turn given late (a busy event loop) lets the
    next ones catch up on up to CATCH_UP seconds of missed turns, no closer than half a slot
    apart, so load does not lower the rate; a log of the turns of the last second caps them
    at `rate` in any one-second window whatever happens.

    Not aiolimiter here: its leaky bucket re-checks after each sleep and drifts (measured
    27.0/s when set to 28/s, too slow for a 3,000-message burst), it cannot catch up after
    a stall, and with a burst capacity it allows up to twice the rate within one second.
    """

    CATCH_UP = 0.25

    def __init__(self, rate: float) -> None:
        self.limit = max(1, int(rate))
        # The schedule runs half a turn a second below the cap, so that turns a stall made
        # late can be made up without the cap stopping them.
        self.gap = 1.0 / max(rate - 0.5, 0.5)
        self._next = 0.0
        self._turns: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:  # waiters queue in order; each sleeps for its own turn
            loop = asyncio.get_running_loop()
            capped = False  # the last wait was for the one-second cap: no catching up after
            while True:
                now = loop.time()
                while self._turns and self._turns[0] <= now - 1.0:
                    self._turns.popleft()
                # Idle, or just held by the cap: the schedule starts from now. Running
                # late: up to CATCH_UP seconds of missed turns may be made up.
                floor = now if capped or not self._turns else now - self.CATCH_UP
                self._next = max(self._next, floor)
                wait = self._next - now
                capped = False
                if self._turns:
                    wait = max(wait, self._turns[-1] + self.gap / 2 - now)
                    if len(self._turns) >= self.limit and self._turns[0] + 1.0 - now > wait:
                        wait, capped = self._turns[0] + 1.0 - now, True
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            self._turns.append(now)
            self._next += self.gap


class TelegramLimits:
    """Waits before each message so that Telegram's limits are never exceeded.

    Overall: `Spacing` (see why there). Per chat: aiolimiter's AsyncLimiter (a leaky
    bucket; the limiter python-telegram-bot's own AIORateLimiter is built on): small, well
    kept, fair to waiters and already installed with PTB; its bucket holds
    `per_chat_burst` messages refilled at `per_chat_per_second`, Telegram's "about one a
    second, short bursts tolerated". Per group: one message every 60/rate seconds.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._overall = Spacing(self.limits.messages_per_second)
        self._chats: dict[int, AsyncLimiter] = {}
        self._paused_until: dict[int, float] = {}

    def _chat(self, chat_id: int) -> AsyncLimiter:
        limiter = self._chats.get(chat_id)
        if limiter is None:
            if len(self._chats) >= MAX_CHAT_LIMITERS:
                self._forget_idle()
            if chat_id < 0:  # groups and channels
                limiter = AsyncLimiter(1, 60.0 / self.limits.group_messages_per_minute)
            else:
                burst = self.limits.per_chat_burst
                limiter = AsyncLimiter(burst, burst / self.limits.per_chat_per_second)
            self._chats[chat_id] = limiter
        return limiter

    def _forget_idle(self) -> None:
        for chat_id, limiter in list(self._chats.items()):
            if limiter.has_capacity(limiter.max_rate):  # drained: it remembers nothing
                del self._chats[chat_id]

    async def acquire(self, chat_id: int | None) -> None:
        """Wait until one more message may go to `chat_id` (None: only the overall limit).

        The chat is waited for first without taking anything, so a chat that must wait holds
        no overall turn; it is charged only once the overall turn came, right before the
        request leaves: charged earlier, a message that then waited for its overall turn
        would leave bunched with the next one to its chat (Telegram counts on arrival)."""
        if chat_id is None:
            await self._overall.acquire()
            return
        loop = asyncio.get_running_loop()
        while (until := self._paused_until.get(chat_id, 0.0)) > loop.time():
            await asyncio.sleep(until - loop.time())
        self._paused_until.pop(chat_id, None)
        chat = self._chat(chat_id)
        while not chat.has_capacity():
            await asyncio.sleep(CHAT_POLL)
        await self._overall.acquire()
        await chat.acquire()  # at once, unless another request to this chat came between

    def pause(self, chat_id: int | None, seconds: float) -> None:
        """Telegram answered 429 about `chat_id`: hold that chat (only) for `seconds`."""
        if chat_id is None:
            return
        until = asyncio.get_running_loop().time() + seconds
        self._paused_until[chat_id] = max(until, self._paused_until.get(chat_id, 0.0))


def _retry_seconds(exc: RetryAfter) -> float:
    wait = exc.retry_after
    return float(wait) if isinstance(wait, int | float) else wait.total_seconds()


def _chat_of(data: dict[str, Any]) -> int | None:
    chat_id = data.get("chat_id")
    if isinstance(chat_id, int):
        return chat_id
    if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
        return int(chat_id)
    return None


class PacedRequests(BaseRateLimiter[dict[str, Any]]):
    """python-telegram-bot's rate limiter hook: every sending request waits its turn in
    `TelegramLimits` (replacing AIORateLimiter, whose burst of 30 on top of 30/s let the bot
    try 44-54 sends in one second, and which paced private chats only after their 429s).

    `rate_limit_args={"retries": n}` sets how many 429s a request waits out (default 2);
    the outbox passes 0 and pauses its lane itself.
    """

    def __init__(self, limits: TelegramLimits) -> None:
        self.limits = limits

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self, callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[
            dict[str, Any]]]],
        args: Any, kwargs: dict[str, Any], endpoint: str, data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if not endpoint.startswith(SENDING):
            return await callback(*args, **kwargs)
        chat_id = _chat_of(data)
        retries = (rate_limit_args or {}).get("retries", HANDLER_RETRIES)
        while True:
            await self.limits.acquire(chat_id)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                seconds = _retry_seconds(exc)
                self.limits.pause(chat_id, seconds)
                log.warning("Telegram asked to wait %.0f s (%s to %s)", seconds, endpoint,
                            chat_id)
                if retries <= 0:
                    raise
                retries -= 1


class TelegramSender:
    """Renders a row with the chat views and maps python-telegram-bot's errors to a result.

    A scheduled report's row (bot/report_delivery.py) is sent as its figures, the chart, the
    workbook and the DOCX 通报, built now by `reports`. The bot's `PacedRequests` keeps
    Telegram's limits; this sender makes one attempt per message."""

    channel = "telegram"

    def __init__(self, bot: ExtBot[Any], reports: ReportDelivery | None = None) -> None:
        self.bot = bot
        self.reports = reports

    async def send(self, message: OutboxMessage, *, silent: bool = False) -> SendResult:
        try:
            if (message.notice or {}).get("key") == NOTICE_KEY:
                await self._send_report(message, silent)
                return SendResult.sent()
            text, markup = render_outbox(message)
            # One attempt: a 429 comes back here and pauses this row's lane.
            await self.bot.send_message(
                message.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup,
                disable_notification=silent,
                rate_limit_args={"retries": 0} if self.bot.rate_limiter else None)
        except UnrenderableNotice as exc:  # stored by a version that knew this notice
            return SendResult.unsendable(str(exc))
        except RetryAfter as exc:
            return SendResult.slow_down(_retry_seconds(exc))
        except Forbidden as exc:  # the user blocked the bot
            return SendResult.blocked(str(exc))
        except BadRequest as exc:
            return SendResult.refused(str(exc))
        except TimedOut as exc:  # Telegram may have delivered it: a repeat may duplicate
            return SendResult.uncertain(str(exc))
        except TelegramError as exc:  # NetworkError, server errors: try again soon
            return SendResult.failed(str(exc))
        return SendResult.sent()

    async def _send_report(self, message: OutboxMessage, silent: bool) -> None:
        period = period_of_notice((message.notice or {}).get("params") or {})
        if period is None or self.reports is None:
            raise UnrenderableNotice(f"report row {message.id} cannot be built here")
        files = await self.reports.files(period)
        chat, caption = message.chat_id, t("report.caption", period=period.label)
        await self.bot.send_message(chat, escape(t("report.delivery.intro") + "\n"
                                                 + summary_text(files.report)),
                                    parse_mode=ParseMode.HTML, disable_notification=silent)
        await self.bot.send_photo(chat, files.chart, caption=caption,
                                  disable_notification=silent)
        await self.bot.send_document(chat, files.workbook, filename=file_name(period),
                                     caption=caption, disable_notification=silent)
        await self.bot.send_document(chat, files.bulletin, filename=file_name(period, "docx"),
                                     caption=t("report.delivery.bulletin",
                                               period=period.label),
                                     disable_notification=silent)
