"""Reminder helpers on the `services` world: a case in rectification, the clock, what was queued."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import TimeRules
from bot.domain import Disposition
from bot.reminders import ReminderService
from bot.services import CaseService
from storage.db import session_factory
from storage.models import OutboxRow
from tests.support.outbox import Shown, shown
from tests.support.services import filing, tip

TZ = ZoneInfo("Asia/Shanghai")
DEADLINE = date(2026, 12, 10)
SUPERVISOR, STAFF = 2001, 3001  # S01 (responsible for SCH01) and ST1, as seeded


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=TZ)


def reminders(service: CaseService) -> ReminderService:
    return ReminderService(service.uow, service, TimeRules(), TZ)


async def rectifying(service: CaseService, deadline: date = DEADLINE) -> str:
    """A case approved for rectification by `deadline` (filed 2026-11-23)."""
    reference = (await filing(service).file_tip(tip())).reference
    await service.perform(SUPERVISOR, reference, lambda c, a, now: c.accept(a, now))
    await service.perform(SUPERVISOR, reference, lambda c, a, now: c.propose(
        a, Disposition.RECTIFY, now, deadline=deadline))
    await service.perform(STAFF, reference, lambda c, a, now: c.approve_proposal(a, now))
    return reference


async def rows(engine: AsyncEngine, kind_prefix: str) -> list[Shown]:
    async with session_factory(engine)() as s:
        found = await s.execute(select(OutboxRow).where(OutboxRow.kind.startswith(kind_prefix))
                                .order_by(OutboxRow.id))
        return [shown(row) for row in found.scalars()]
