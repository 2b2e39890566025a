"""Health: what an operator's monitor asks of the database and the outbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.ports import Clock, UnitOfWorkFactory

HEALTHY_OUTBOX_DELAY = 300.0  # seconds a due notification may wait before delivery is "behind"


@dataclass(frozen=True)
class Health:
    """What an operator's monitor asks: is the database there, is delivery keeping up."""

    outbox_due: int
    oldest_due_seconds: float
    # Years within the next 60 days no working-day calendar covers (deadlines are guessed).
    calendar_uncovered: tuple[int, ...] = ()

    @property
    def status(self) -> str:
        return "degraded" if self.oldest_due_seconds > HEALTHY_OUTBOX_DELAY else "ok"


async def check_health(uow: UnitOfWorkFactory, clock: Clock,
                       calendar: Callable[[], tuple[int, ...]] | None = None) -> Health:
    """Read the outbox backlog (raises if the database cannot be reached) and, given
    `calendar`, the years ahead no working-day calendar covers."""
    now = clock.now()
    async with uow.read() as unit:
        due, oldest = await unit.outbox.due_backlog(now)
    waited = (now - oldest).total_seconds() if oldest is not None else 0.0
    return Health(outbox_due=due, oldest_due_seconds=max(0.0, waited),
                  calendar_uncovered=calendar() if calendar is not None else ())
