"""The time loop's simulated quarter: run the scheduler day by day, read what it queued."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import TimeRules
from bot.reminders import ReminderService
from bot.services import CaseService
from storage.db import session_factory
from storage.models import OutboxRow
from tests.support.clock import FakeClock

TZ = ZoneInfo("Asia/Shanghai")


def local(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TZ)


@dataclass(frozen=True)
class Queued:
    day: date  # the local day it was queued
    kind: str
    chat_id: int
    key: str  # the notice's catalogue key
    reference: str | None
    dedup: str | None
    params: dict[str, object]  # the notice's parameters

    @property
    def text(self) -> str:
        return " ".join(str(value) for value in self.params.values())


async def queued_since(engine: AsyncEngine, after_id: int) -> tuple[list[Queued], int]:
    """Rows queued after row `after_id`, and the last id."""
    async with session_factory(engine)() as s:
        rows = (await s.execute(select(OutboxRow).where(OutboxRow.id > after_id)
                                .order_by(OutboxRow.id))).scalars().all()
    out = [Queued(r.created_at.astimezone(TZ).date(), r.kind, r.chat_id,
                  (r.notice or {}).get("key", ""), (r.notice or {}).get("reference"),
                  r.dedup_key, dict((r.notice or {}).get("params") or {})) for r in rows]
    return out, (rows[-1].id if rows else after_id)


Action = Callable[[CaseService], Awaitable[object]]


async def simulate(service: CaseService, clock: FakeClock, engine: AsyncEngine,
                   start: date, end: date, actions: dict[datetime, Action],
                   down: frozenset[date] = frozenset(),
                   instances: int = 2) -> list[Queued]:
    """Walk the days from `start` to `end`: at 09:00 and 15:00 every scheduler instance runs
    (none on the `down` days); `actions` happen at their moments in between. Returns every
    row queued, in order."""
    schedulers = [ReminderService(service.uow, service, TimeRules(), TZ)
                  for _ in range(instances)]
    moments = sorted(actions)
    day, last, seen = start, 0, []
    while day <= end:
        for hour in (9, 15):
            run_at = local(day, hour)
            while moments and moments[0] < run_at:
                clock.current = moments[0]
                await actions[moments.pop(0)](service)
            if day in down:
                continue
            clock.current = run_at
            for scheduler in schedulers:
                await scheduler.run()
        day += timedelta(days=1)
    while moments:
        clock.current = moments[0]
        await actions[moments.pop(0)](service)
    found, last = await queued_since(engine, last)
    seen.extend(found)
    return seen
