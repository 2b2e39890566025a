"""Per-user flood guard: a user sending faster than the limit is told once, then ignored.

It runs before every other handler (group -1). Nothing is stored for an ignored update, and
nothing already saved is touched; the hourly limit on new tips is a separate rule of the
case service.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.messages import t
from handlers.telegram.context import DudaoContext

WINDOW = timedelta(minutes=1)


class FloodGuard:
    """Sliding one-minute window of each user's updates."""

    def __init__(self, per_minute: int, max_users: int = 100_000) -> None:
        self.per_minute = per_minute
        self.max_users = max_users
        self._seen: dict[int, deque[datetime]] = {}
        self._warned: dict[int, datetime] = {}

    def admit(self, user_id: int, now: datetime) -> tuple[bool, bool]:
        """Return (admitted, warn): warn is True for the first refused update of a flood."""
        if len(self._seen) >= self.max_users:  # bounded: forget everyone rather than grow
            self._seen.clear()
            self._warned.clear()
        times = self._seen.setdefault(user_id, deque())
        while times and times[0] <= now - WINDOW:
            times.popleft()
        if len(times) < self.per_minute:
            times.append(now)
            self._warned.pop(user_id, None)
            return True, False
        warned = self._warned.get(user_id)
        if warned is not None and warned > now - WINDOW:
            return False, False
        self._warned[user_id] = now
        return False, True


async def guard(update: object, context: DudaoContext) -> None:
    """Stop this update here if its sender is flooding; say so once."""
    if not isinstance(update, Update) or update.effective_user is None:
        return
    flood: FloodGuard = context.bot_data["flood"]
    admitted, warn = flood.admit(update.effective_user.id,
                                 context.services.container.clock.now())
    if admitted:
        return
    if warn:
        text = t("general.flood", limit=flood.per_minute)
        if update.callback_query is not None:
            await update.callback_query.answer(text, show_alert=True)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(text)
    raise ApplicationHandlerStop
