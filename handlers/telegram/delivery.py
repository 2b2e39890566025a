"""Deliver the outbox: every notification the services queued, once, surviving errors.

Rows are claimed with a lease (and SKIP LOCKED on PostgreSQL) so two instances never send
the same row; a row is marked sent only after Telegram accepted it, so a crash or a
Telegram error means "sent late", never "lost".
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.bootstrap import Container
from bot.services import REPLY_KINDS
from bot.timerules import QuietHours
from handlers.telegram.views import UnrenderableNotice, render_outbox

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)


class OutboxDelivery:
    def __init__(self, container: Container, bot: Bot) -> None:
        self.container = container
        self.bot = bot
        rules = container.settings.time_rules
        self.quiet = QuietHours(rules.quiet_start, rules.quiet_end)
        self._lock = asyncio.Lock()

    async def run_once(self, limit: int = 100, *, wait: bool = False) -> int:
        """Send what is due now; returns how many messages Telegram accepted.

        A run already in progress makes this one return at once unless `wait` is set.
        """
        if self._lock.locked() and not wait:
            return 0
        async with self._lock:
            return await self._run(limit)

    async def _run(self, limit: int) -> int:
        clock = self.container.clock
        now = clock.now()
        async with self.container.uow.read() as uow:
            if not await uow.outbox.has_due(now):  # the usual case: no writer lock taken
                return 0
        async with self.container.uow() as uow:
            rows = await uow.outbox.claim_due(now, LEASE, limit)
            night_ok = {p.telegram_user_id for p in await uow.directory.people("staff")
                        if p.night_pings and p.telegram_user_id}
            await uow.commit()
        sent = 0
        local_now = now.astimezone(self.container.settings.tz)
        for row in rows:
            if (self.quiet.contains(local_now) and row.chat_id not in night_ok
                    and row.kind not in REPLY_KINDS):
                await self._settle(row.id, postpone=self.quiet.next_allowed(local_now))
                continue
            try:
                text, markup = render_outbox(row)
                await self.bot.send_message(row.chat_id, text, parse_mode=ParseMode.HTML,
                                            reply_markup=markup)
            except RetryAfter as exc:
                wait = exc.retry_after if isinstance(exc.retry_after, int | float) else \
                    exc.retry_after.total_seconds()
                await self._settle(row.id, error="429", retry=timedelta(seconds=float(wait)))
            except Forbidden as exc:  # the user blocked the bot: try again much later
                await self._settle(row.id, error=str(exc), retry=timedelta(hours=6))
            except UnrenderableNotice as exc:  # never sendable by this version: set aside
                log.error("outbox %s cannot be rendered: %s", row.id, exc)
                await self._settle(row.id, error=str(exc), retry=timedelta(days=1))
            except BadRequest as exc:
                log.warning("outbox %s refused by Telegram: %s", row.id, exc)
                await self._settle(row.id, error=str(exc), retry=timedelta(hours=1))
            except (NetworkError, TelegramError) as exc:
                backoff = timedelta(seconds=min(3600, 5 * 2 ** min(row.attempts, 10)))
                await self._settle(row.id, error=str(exc), retry=backoff)
            else:
                await self._settle(row.id, sent=True)
                sent += 1
        return sent

    async def _settle(self, row_id: int, *, sent: bool = False, error: str = "",
                      retry: timedelta | None = None, postpone: object = None) -> None:
        now = self.container.clock.now()
        async with self.container.uow() as uow:
            if sent:
                await uow.outbox.mark_sent(row_id, now)
            elif postpone is not None:
                await uow.outbox.postpone(row_id, postpone)  # type: ignore[arg-type]
            else:
                await uow.outbox.mark_failed(row_id, error, now + (retry or LEASE))
            await uow.commit()
