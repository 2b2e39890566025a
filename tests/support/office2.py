"""A small world of services on the in-memory fakes, for the office2 tests (hotspots,
institution visits, night alerts, 不予受理, what the parent hears, free deadlines)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from bot.config import TimeRules
from bot.domain import Disposition
from bot.filing import FilingService, Rules, TipInput
from bot.office import OfficeRules, OfficeService
from bot.reminders import ReminderService
from bot.services import CaseService
from bot.supervision import SupervisionRules, SupervisionService
from bot.triage import TriageService
from tests.support.fakes import Entity, FakeClock, FakeStore, FakeUnitOfWorkFactory

PARENT, OTHER_PARENT = 1001, 1002
SUP1, SUP2, TUTOR, STAFF = 2001, 2002, 2003, 3001
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
TZ = ZoneInfo("UTC")


@dataclass
class World:
    uow: FakeUnitOfWorkFactory
    clock: FakeClock
    cases: CaseService
    filing: FilingService
    office: OfficeService
    triage: TriageService
    supervision: SupervisionService
    reminders: ReminderService

    @property
    def db(self) -> FakeStore:
        return self.uow.store


def make_world() -> World:
    store = FakeStore()
    store.add_person("S01", "王督学", "responsible", SUP1)
    store.add_person("S02", "李督学", "responsible", SUP2)
    store.add_person("T01", "赵督学", "tutoring", TUTOR)
    store.add_person("ST1", "陈老师", "staff", STAFF)
    store.districts["D01"] = ("城关镇", "T01")
    store.schools["SCH01"] = Entity("城关第一小学", "D01", "S01", ("城关一小",))
    store.schools["SCH02"] = Entity("实验小学", "D01", "S02")
    store.institutions["INS01"] = Entity("启明星培训", "D01", "T01")
    store.institutions["INS02"] = Entity("小太阳托管", "D01", "T01")
    uow = FakeUnitOfWorkFactory(store)
    clock = FakeClock(NOW)
    cases = CaseService(uow, clock)
    return World(uow, clock, cases, FilingService(cases, Rules(tips_per_hour=100,
                                                               threshold=0.6)),
                 OfficeService(uow, clock, cases, OfficeRules(tz=TZ)),
                 TriageService(uow, cases),
                 SupervisionService(uow, clock, cases, SupervisionRules(tz=TZ)),
                 ReminderService(uow, cases, TimeRules(), TZ))


def tip(user: int = PARENT, **kw: object) -> TipInput:
    values: dict[str, object] = {"text": "三年级作业每天写到晚上十一点", "reporter_user_id": user,
                                 "category": "homework_burden", "confidence": 0.95,
                                 "school_code": "SCH01"}
    values.update(kw)
    return TipInput(**values)  # type: ignore[arg-type]


async def rectifying(world: World, deadline: date, note: str = "作业公示不到位") -> str:
    """A case of SUP1 in rectification until `deadline`."""
    filed = await world.filing.file_tip(tip())
    await world.supervision.accept(SUP1, filed.reference)
    await world.supervision.propose(SUP1, filed.reference, Disposition.RECTIFY,
                                    note=note, deadline=deadline)
    await world.office.approve(STAFF, filed.reference)
    return filed.reference
