"""The office test world on a real database: a small directory, services, a fake clock.

tests/integration/conftest.py exposes `office_world` as the `world` fixture.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain import Disposition
from bot.filing import FilingService, Rules, TipInput
from bot.invites import InviteService
from bot.merging import MergingService
from bot.office import OfficeRules, OfficeService
from bot.reporting import ReportingRules, ReportingService
from bot.services import CaseService
from bot.triage import TriageService
from storage.db import session_factory
from storage.models import District, Institution, Person, School
from storage.uow import SqlUnitOfWork
from tests.support.clock import FakeClock
from tests.support.sql import Units

TZ = ZoneInfo("Asia/Shanghai")
STAFF, STAFF2, SUP1, SUP2, TUT, PARENT = 3001, 3002, 2001, 2002, 2003, 1001


@dataclass
class World:
    cases: CaseService
    office: OfficeService
    clock: FakeClock
    engine: AsyncEngine
    filing: FilingService
    merging: MergingService
    triage: TriageService
    reporting: ReportingService
    invites: InviteService

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(session_factory(self.engine))


async def seed(engine: AsyncEngine) -> None:
    """One district, two schools, one institution, three supervisors, two staff members."""
    async with session_factory(engine)() as s:
        s.add_all([
            Person(code="S01", name="王督学", role="responsible", telegram_user_id=SUP1),
            Person(code="S02", name="李督学", role="responsible", telegram_user_id=SUP2),
            Person(code="T01", name="赵督学", role="tutoring", telegram_user_id=TUT),
            Person(code="ST1", name="陈老师", role="staff", telegram_user_id=STAFF),
            Person(code="ST2", name="周老师", role="staff", telegram_user_id=STAFF2),
        ])
        await s.flush()
        ids = {p.code: p.id for p in (await s.execute(select(Person))).scalars()}
        s.add(District(code="D01", name="城关镇", kind="乡镇", tutoring_supervisor_id=ids["T01"]))
        await s.flush()
        did = (await s.execute(select(District.id))).scalar_one()
        s.add_all([
            School(code="SCH01", name="青溪县城关第一小学", district_id=did,
                   aliases="城关一小|一小", supervisor_id=ids["S01"]),
            School(code="SCH02", name="实验小学", district_id=did, supervisor_id=ids["S02"]),
            Institution(code="INS01", name="启明星培训学校", district_id=did, licensed=True,
                        aliases="启明星", supervisor_id=ids["T01"]),
        ])
        await s.commit()


async def office_world(engine: AsyncEngine) -> World:
    """The office test world: the directory seeded, case and office services, a fake clock."""
    await seed(engine)
    clock = FakeClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # Monday 10:00 Shanghai
    cases = CaseService(Units(engine), clock)
    office = OfficeService(Units(engine), clock, cases,
                           OfficeRules(tz=TZ, duplicate_window_days=14))
    return World(cases, office, clock, engine,
                 FilingService(cases, Rules(tips_per_hour=1000, threshold=0.6)),
                 MergingService(Units(engine), clock),
                 TriageService(Units(engine), cases),
                 ReportingService(Units(engine), clock, ReportingRules(tz=TZ)),
                 InviteService(Units(engine), clock))


def tip(**kw: object) -> TipInput:
    values: dict[str, object] = {"text": "三年级作业每天写到晚上十一点", "reporter_user_id": PARENT,
                                 "category": "homework_burden", "confidence": 0.95,
                                 "school_code": "SCH01"}
    values.update(kw)
    return TipInput(**values)  # type: ignore[arg-type]


async def count(world: World, model: object, *where: object) -> int:
    async with world.uow() as uow:
        stmt = select(func.count()).select_from(model)  # type: ignore[arg-type]
        if where:
            stmt = stmt.where(*where)  # type: ignore[arg-type]
        return int((await uow.session.execute(stmt)).scalar_one())


async def get(world: World, reference: str):  # type: ignore[no-untyped-def]
    async with world.uow() as uow:
        case = await uow.cases.get(reference)
    assert case is not None
    return case


async def to_rectifying(world: World, reference: str, deadline: date) -> None:
    """Drive an assigned case (to S01) through accept, propose (rectify) and approval."""
    await world.cases.perform(SUP1, reference, lambda c, a, now: c.accept(a, now))
    await world.cases.perform(SUP1, reference, lambda c, a, now: c.propose(
        a, Disposition.RECTIFY, now, note="属实", deadline=deadline))
    await world.office.approve(STAFF, reference)
