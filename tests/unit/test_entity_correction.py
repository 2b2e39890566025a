"""Parents and staff correct the school or institution of a tip; routing follows, audited."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain import DomainError, Status
from bot.filing import FilingService, Rules, TipInput
from bot.services import CaseService
from bot.supervision import SupervisionRules, SupervisionService
from bot.triage import TriageService
from tests.support.fakes import Entity, FakeClock, FakeStore, FakeUnitOfWorkFactory

PARENT, SUP1, SUP2, TUTOR, LIAISON, STAFF = 1001, 2001, 2002, 2003, 2004, 3001
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class World:
    def __init__(self) -> None:
        store = FakeStore()
        store.add_person("S01", "王督学", "responsible", SUP1)
        store.add_person("S02", "李督学", "responsible", SUP2)
        store.add_person("T01", "赵督学", "tutoring", TUTOR)
        store.add_person("T02", "钱督学", "tutoring", LIAISON)
        store.add_person("ST1", "陈老师", "staff", STAFF)
        store.districts["D01"] = ("城关镇", "T01")
        store.districts["D02"] = ("东湖街道", "T01")
        store.schools["SCH01"] = Entity("城关第一小学", "D01", "S01")
        store.schools["SCH02"] = Entity("东湖小学", "D02", "S02")
        store.institutions["INS01"] = Entity("智学堂", "D02", "T02")
        self.uow = FakeUnitOfWorkFactory(store)
        self.cases = CaseService(self.uow, FakeClock(NOW))
        self.filing = FilingService(self.cases, Rules(threshold=0.6))
        self.triage = TriageService(self.uow, self.cases)
        self.supervision = SupervisionService(self.uow, self.cases.clock, self.cases,
                                              SupervisionRules(tz=UTC))

    @property
    def store(self) -> FakeStore:
        return self.uow.store


@pytest.fixture
def world() -> World:
    return World()


def tip(**kw: object) -> TipInput:
    values: dict[str, object] = {"text": "三年级作业每天写到晚上十一点", "reporter_user_id": PARENT,
                                 "category": "homework_burden", "confidence": 0.95}
    values.update(kw)
    return TipInput(**values)  # type: ignore[arg-type]


async def test_a_parent_s_pick_routes_the_tip_and_the_filing_records_the_correction(
        world: World) -> None:
    filed = await world.filing.file_tip(tip(school_code="SCH02", detected_entity="SCH01"))
    case = world.store.cases[filed.reference]
    assert (case.status, case.assignee_code, case.district_code) == (Status.ASSIGNED, "S02",
                                                                    "D02")
    assert case.events[0].action == "filed"
    assert case.events[0].data["entity_detected"] == "SCH01"


async def test_a_confirmed_detection_records_no_correction(world: World) -> None:
    filed = await world.filing.file_tip(tip(school_code="SCH01", detected_entity="SCH01"))
    assert "entity_detected" not in world.store.cases[filed.reference].events[0].data


async def test_staff_set_the_school_of_a_triage_case_and_routing_follows(world: World) -> None:
    filed = await world.filing.file_tip(tip(confidence=0.3))
    assert filed.status is Status.TRIAGE
    world.store.outbox.clear()
    case, person = await world.triage.set_entity(STAFF, filed.reference, "school", "SCH02")
    assert person is not None and person.code == "S02"
    assert (case.status, case.school_code, case.district_code, case.assignee_code) == (
        Status.ASSIGNED, "SCH02", "D02", "S02")
    stored = world.store.cases[filed.reference]
    [entity_set] = [e for e in stored.events if e.action == "entity_set"]
    assert entity_set.data == {"kind": "school", "old": None, "new": "SCH02"}
    assert stored.events[-1].action == "assigned"
    assert SUP2 in {m.chat_id for m in world.store.outbox}


async def test_staff_correct_an_accepted_case_to_an_institution(world: World) -> None:
    filed = await world.filing.file_tip(tip(school_code="SCH01", category="unlicensed_tutoring",
                                            text="智学堂在东湖街道周末上课"))
    # Routed to the township's tutoring supervisor (the wrong place), who accepted it.
    assert world.store.cases[filed.reference].assignee_code == "T01"
    await world.supervision.accept(TUTOR, filed.reference)
    assert world.store.cases[filed.reference].status is Status.ACCEPTED
    case, person = await world.triage.set_entity(STAFF, filed.reference, "institution", "INS01")
    assert (case.institution_code, case.school_code) == ("INS01", None)
    assert person is not None and person.code == "T02" and case.assignee_code == "T02"


async def test_same_supervisor_means_no_reassignment(world: World) -> None:
    world.store.schools["SCH03"] = Entity("城关第二小学", "D01", "S01")
    filed = await world.filing.file_tip(tip(school_code="SCH01"))
    case, person = await world.triage.set_entity(STAFF, filed.reference, "school", "SCH03")
    assert person is None and case.assignee_code == "S01" and case.school_code == "SCH03"
    assert case.events[-1].action == "entity_set"


@pytest.mark.parametrize(("user", "kind", "code"), [
    (PARENT, "school", "SCH02"),  # not staff
    (SUP1, "school", "SCH02"),  # not staff
    (STAFF, "school", "NOPE"),  # not in the directory
    (STAFF, "district", "D02"),  # a district is no school or institution
    (STAFF, "school", "SCH01"),  # unchanged
])
async def test_a_refused_correction_changes_nothing(world: World, user: int, kind: str,
                                                    code: str) -> None:
    filed = await world.filing.file_tip(tip(school_code="SCH01"))
    before = len(world.store.cases[filed.reference].events)
    with pytest.raises(DomainError):
        await world.triage.set_entity(user, filed.reference, kind, code)
    case = world.store.cases[filed.reference]
    assert (len(case.events), case.school_code, case.assignee_code) == (before, "SCH01", "S01")


async def test_the_triage_queue_puts_the_most_uncertain_tip_first(world: World) -> None:
    margins = {"clear": (("homework_burden", 0.55), ("other", 0.05)),  # margin 0.50
               "torn": (("homework_burden", 0.40), ("other", 0.38)),  # margin 0.02
               "unsure": (("homework_burden", 0.45), ("other", 0.25))}  # margin 0.20
    refs = {}
    for name, alternatives in margins.items():
        filed = await world.filing.file_tip(tip(text=f"{name} 作业太多", confidence=0.5,
                                                alternatives=alternatives))
        refs[filed.reference] = name
    queue = await world.triage.queue(STAFF, 10)
    assert [refs[c.reference] for c in queue] == ["torn", "unsure", "clear"]
    assert len(await world.triage.queue(STAFF, 2)) == 2
    with pytest.raises(DomainError):
        await world.triage.queue(SUP1, 10)
