"""Telegram as the outbox's transport: send one row, say how it went."""

from __future__ import annotations

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.outbox import SendResult
from bot.ports import OutboxMessage
from handlers.telegram.views import UnrenderableNotice, render_outbox


class TelegramSender:
    """Renders a row with the chat views and maps python-telegram-bot's errors to a result."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, message: OutboxMessage, *, silent: bool = False) -> SendResult:
        try:
            text, markup = render_outbox(message)
            await self.bot.send_message(message.chat_id, text, parse_mode=ParseMode.HTML,
                                        reply_markup=markup, disable_notification=silent)
        except UnrenderableNotice as exc:  # stored by a version that knew this notice
            return SendResult.unsendable(str(exc))
        except RetryAfter as exc:
            wait = exc.retry_after
            return SendResult.slow_down(float(wait) if isinstance(wait, int | float)
                                        else wait.total_seconds())
        except Forbidden as exc:  # the user blocked the bot
            return SendResult.blocked(str(exc))
        except BadRequest as exc:
            return SendResult.refused(str(exc))
        except TelegramError as exc:  # NetworkError, TimedOut and the rest: try again soon
            return SendResult.failed(str(exc))
        return SendResult.sent()
