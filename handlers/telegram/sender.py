"""Telegram as the outbox's transport: send one row, say how it went."""

from __future__ import annotations

from html import escape

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.messages import t
from bot.outbox import SendResult
from bot.ports import OutboxMessage
from bot.report_delivery import NOTICE_KEY, ReportDelivery, period_of_notice
from bot.reports import file_name, summary_text
from handlers.telegram.views import UnrenderableNotice, render_outbox


class TelegramSender:
    """Renders a row with the chat views and maps python-telegram-bot's errors to a result.

    A scheduled report's row (bot/report_delivery.py) is sent as its figures, the chart, the
    workbook and the DOCX 通报, built now by `reports`."""

    def __init__(self, bot: Bot, reports: ReportDelivery | None = None) -> None:
        self.bot = bot
        self.reports = reports

    async def send(self, message: OutboxMessage, *, silent: bool = False) -> SendResult:
        try:
            if (message.notice or {}).get("key") == NOTICE_KEY:
                await self._send_report(message, silent)
                return SendResult.sent()
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
