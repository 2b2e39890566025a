"""Telegram as the outbox's transport: send one row, say how it went."""

from __future__ import annotations

from telegram import Bot
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.outbox import OutboxMessage, SendResult
from handlers.telegram.views import markup_from_outbox


class TelegramSender:
    """Renders a row as today and maps python-telegram-bot's errors to a `SendResult`."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, message: OutboxMessage) -> SendResult:
        try:
            await self.bot.send_message(message.chat_id, message.text,
                                        reply_markup=markup_from_outbox(message.markup))
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
