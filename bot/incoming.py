"""Incoming updates taken in once: a redelivered webhook update is not handled again."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.ports import Clock, UnitOfWorkFactory

log = logging.getLogger(__name__)
KEEP = timedelta(days=1)  # Telegram stops redelivering an update long before this
PRUNE_EVERY = timedelta(hours=1)


class IncomingUpdates:
    """Records update ids in the database (shared by every instance), for a day."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock
        self.repeats = 0  # redeliveries answered without handling them again
        self._pruned_at = clock.now()

    async def first_time(self, update_id: int) -> bool:
        """True the first time an update id is seen on this database, False after."""
        now = self.clock.now()
        async with self.uow() as uow:
            first = await uow.updates.first_seen(update_id, now)
            if now - self._pruned_at >= PRUNE_EVERY:
                self._pruned_at = now
                await uow.updates.forget_before(now - KEEP)
            await uow.commit()
        if not first:
            self.repeats += 1
            log.info("update %s was delivered again; not handled twice", update_id)
        return first
