"""Case services on a real database with a tiny directory: the `services` fixture's world.

tests/integration/conftest.py exposes `case_services` as the `services` fixture.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.filing import FilingService, RecentFilings, Rules, TipInput
from bot.services import CaseService
from storage.db import session_factory
from storage.models import District, Person, School
from tests.support.clock import FakeClock
from tests.support.sql import Units


async def seed(engine: AsyncEngine) -> None:
    """A tiny directory: one district, two schools, two supervisors, one staff member."""
    async with session_factory(engine)() as s:
        s.add_all([
            Person(code="S01", name="王督学", role="responsible", telegram_user_id=2001),
            Person(code="S02", name="李督学", role="responsible", telegram_user_id=2002),
            Person(code="T01", name="赵督学", role="tutoring"),
            Person(code="ST1", name="陈老师", role="staff", telegram_user_id=3001),
        ])
        await s.flush()
        ids = {p.code: p.id for p in (await s.execute(select(Person))).scalars()}
        s.add(District(code="D01", name="城关镇", kind="乡镇", tutoring_supervisor_id=ids["T01"]))
        await s.flush()
        did = (await s.execute(select(District.id))).scalar_one()
        s.add_all([
            School(code="SCH01", name="城关第一小学", district_id=did, aliases="城关一小|一小",
                   supervisor_id=ids["S01"]),
            School(code="SCH02", name="实验小学", district_id=did, supervisor_id=ids["S02"]),
        ])
        await s.commit()


RULES = Rules(tips_per_hour=1000, threshold=0.6)


async def case_services(engine: AsyncEngine) -> tuple[CaseService, FakeClock, AsyncEngine]:
    """The directory seeded, a case service on it, its clock (Monday 10:00 UTC) and the engine."""
    await seed(engine)
    clock = FakeClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    service = CaseService(Units(engine), clock)
    return service, clock, engine


def filing(service: CaseService, rules: Rules = RULES,
           recent: RecentFilings | None = None) -> FilingService:
    """Filing on the same units of work as `service`."""
    return FilingService(service, rules, recent)


def tip(user: int = 1001, **kw: object) -> TipInput:
    values: dict[str, object] = {"text": "三年级作业每天写到晚上十一点", "reporter_user_id": user,
                                 "category": "homework_burden", "confidence": 0.95,
                                 "school_code": "SCH01"}
    values.update(kw)
    return TipInput(**values)  # type: ignore[arg-type]
