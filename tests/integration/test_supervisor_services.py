"""Supervisor use cases (bot/supervision.py) on real databases: SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain import Disposition, DomainError, Status
from bot.filing import FilingService, Rules, TipInput
from bot.services import CaseService, EvidenceInput
from bot.supervision import SupervisionRules, SupervisionService
from handlers.telegram import views_supervisor as views
from storage.db import session_factory
from storage.models import District, OutboxRow, Person, School, VisitRow
from tests.support.clock import FakeClock
from tests.support.outbox import Shown, shown
from tests.support.sql import Units

pytestmark = pytest.mark.postgres
TZ = ZoneInfo("Asia/Shanghai")
PARENT, OTHER_PARENT = 1001, 1002
SUP, OTHER_SUP, TUTOR, STAFF = 2001, 2002, 2003, 3001


RULES = Rules(tips_per_hour=1000, threshold=0.6)


@dataclass
class World:
    cases: CaseService
    sv: SupervisionService
    clock: FakeClock
    engine: AsyncEngine

    async def file(self, text: str = "三年级作业每天写到晚上十一点", **kw: object) -> str:
        values: dict[str, object] = {"text": text, "reporter_user_id": PARENT,
                                     "category": "homework_burden", "confidence": 0.95,
                                     "school_code": "SCH01"}
        values.update(kw)
        return (await FilingService(self.cases, RULES).file_tip(TipInput(**values))).reference  # type: ignore[arg-type]

    async def outbox(self, chat_id: int) -> list[Shown]:
        async with session_factory(self.engine)() as s:
            rows = await s.execute(select(OutboxRow).where(OutboxRow.chat_id == chat_id)
                                   .order_by(OutboxRow.id))
            return [shown(row) for row in rows.scalars()]

    async def status(self, reference: str) -> Status:
        return (await self.cases.view(STAFF, reference))[1].status


async def seed(engine: AsyncEngine) -> None:
    """Two responsible supervisors (S01 has two schools), a tutoring supervisor, staff."""
    async with session_factory(engine)() as s:
        s.add_all([
            Person(code="S01", name="王督学", role="responsible", telegram_user_id=SUP),
            Person(code="S02", name="李督学", role="responsible", telegram_user_id=OTHER_SUP),
            Person(code="T01", name="赵督学", role="tutoring", telegram_user_id=TUTOR),
            Person(code="ST1", name="陈老师", role="staff", telegram_user_id=STAFF),
        ])
        await s.flush()
        ids = {p.code: p.id for p in (await s.execute(select(Person))).scalars()}
        s.add(District(code="D01", name="城关镇", tutoring_supervisor_id=ids["T01"]))
        await s.flush()
        did = (await s.execute(select(District.id))).scalar_one()
        s.add_all([
            School(code="SCH01", name="城关第一小学", district_id=did, supervisor_id=ids["S01"]),
            School(code="SCH03", name="城关第三中学", district_id=did, supervisor_id=ids["S01"]),
            School(code="SCH02", name="实验小学", district_id=did, supervisor_id=ids["S02"]),
        ])
        await s.commit()


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    await seed(engine)
    # Monday 2026-11-23, 10:00 in Shanghai: a working day.
    clock = FakeClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    uow = Units(engine)
    cases = CaseService(uow, clock)
    sv = SupervisionService(uow, clock, cases, SupervisionRules(tz=TZ))
    return World(cases, sv, clock, engine)


async def test_accept_notifies_the_parent_and_a_second_tap_is_told_politely(world) -> None:
    ref = await world.file()
    case = await world.sv.accept(SUP, ref)
    assert case.status is Status.ACCEPTED
    with pytest.raises(DomainError) as err:
        await world.sv.accept(SUP, ref)
    assert err.value.key == "sv.error.already_accepted"
    _, stored = await world.cases.view(STAFF, ref)
    assert [e.action for e in stored.events] == ["filed", "routed", "accepted"]
    assert [r.kind for r in await world.outbox(PARENT)] == ["filed", "accepted"]


@pytest.mark.parametrize("user", [PARENT, STAFF, 999_999])
async def test_anyone_but_a_bound_supervisor_is_refused_before_anything(world, user) -> None:
    ref = await world.file()
    calls = [world.sv.accept(user, ref), world.sv.open_cases(user), world.sv.detail(user, ref),
             world.sv.schools(user), world.sv.hand_back(user, ref, "不是我的"),
             world.sv.log_visit(user, "SCH01", date(2026, 11, 23), "")]
    for call in calls:
        with pytest.raises(DomainError) as err:
            await call
        # bound staff are pointed to their own commands; anyone else to /bind
        assert err.value.key == ("sv.error.staff_not_supervisor" if user == STAFF
                                 else "sv.error.not_supervisor")
    assert await world.status(ref) is Status.ASSIGNED


async def test_another_supervisor_cannot_touch_or_see_the_case(world) -> None:
    ref = await world.file(text="联系我13812345678")
    for attempt in (world.sv.accept(OTHER_SUP, ref), world.sv.detail(OTHER_SUP, ref),
                    world.sv.check_step(OTHER_SUP, ref, "back"),
                    world.sv.propose(OTHER_SUP, ref, Disposition.UNFOUNDED)):
        with pytest.raises(DomainError) as err:
            await attempt
        assert err.value.key == "case.error.not_found"
    assert await world.status(ref) is Status.ASSIGNED
    assert await world.sv.open_cases(OTHER_SUP) == []


async def test_dialogue_steps_are_refused_at_the_first_button(world) -> None:
    ref = await world.file()
    for step in ("ask", "propose", "done", "extend"):  # none is valid before accepting
        with pytest.raises(DomainError) as err:
            await world.sv.check_step(SUP, ref, step)
        assert err.value.key == "case.error.wrong_status"
    assert (await world.sv.check_step(SUP, ref, "back")).reference == ref
    assert len((await world.cases.view(STAFF, ref))[1].events) == 2  # the dry run saved nothing


async def test_propose_rectification_with_the_default_deadline(world) -> None:
    ref = await world.file()
    await world.sv.accept(SUP, ref)
    choices = world.sv.deadline_choices()
    assert [(d, default) for d, _, default in choices] == [(7, False), (15, True), (30, False)]
    assert choices[1][1] == date(2026, 12, 8)
    case = await world.sv.propose(SUP, ref, Disposition.RECTIFY, note="限期减少作业量",
                                  deadline=world.sv.deadline_after(15))
    assert case.status is Status.PROPOSED and case.rectify_deadline == date(2026, 12, 8)
    assert case.events[-1].data["disposition"] == "rectify"
    assert [r.kind.endswith("proposed") for r in await world.outbox(STAFF)] == [True]
    with pytest.raises(DomainError):
        world.sv.deadline_after(9)  # only offered periods


async def test_transfer_needs_a_department(world) -> None:
    ref = await world.file()
    await world.sv.accept(SUP, ref)
    with pytest.raises(DomainError) as err:
        await world.sv.propose(SUP, ref, Disposition.TRANSFERRED, transfer_to="  ")
    assert err.value.key == "case.error.transfer_target_required"
    case = await world.sv.propose(SUP, ref, Disposition.TRANSFERRED, transfer_to="市场监管局")
    assert case.transfer_to == "市场监管局" and case.status is Status.PROPOSED


async def test_hand_back_goes_to_triage_with_the_reason_for_staff(world) -> None:
    ref = await world.file()
    with pytest.raises(DomainError):
        await world.sv.hand_back(SUP, ref, "   ")
    case = await world.sv.hand_back(SUP, ref, "该校不归我负责")
    assert case.status is Status.TRIAGE and case.assignee_code is None
    staff = await world.outbox(STAFF)
    assert staff[-1].kind.endswith("handed_back") and "该校不归我负责" in staff[-1].text
    with pytest.raises(DomainError) as err:
        await world.sv.detail(SUP, ref)  # no longer theirs
    assert err.value.key == "case.error.not_found"


async def test_ask_the_parent_round_trip_masks_the_answer(world) -> None:
    ref = await world.file()
    await world.sv.accept(SUP, ref)
    case = await world.sv.ask_parent(SUP, ref, "请问是几年级几班？")
    assert case.status is Status.AWAITING_INFO
    question = (await world.outbox(PARENT))[-1]
    assert "请问是几年级几班？" in question.text
    assert question.markup == {"buttons": [[["回复督学", f"c:info:{ref}"]]]}
    await world.cases.perform(PARENT, ref, lambda c, a, now: c.add_information(
        a, "三年级二班，我电话13912345678", now))
    answer = (await world.outbox(SUP))[-1]
    assert answer.kind == "info_added" and "三年级二班" in answer.text
    assert "13912345678" not in answer.text and "139****5678" in answer.text
    assert await world.status(ref) is Status.ACCEPTED


async def _rectifying(world: World, days: int = 7) -> str:
    ref = await world.file()
    await world.sv.accept(SUP, ref)
    await world.sv.propose(SUP, ref, Disposition.RECTIFY,
                           deadline=world.sv.today() + timedelta(days=days))
    await world.cases.perform(STAFF, ref, lambda c, a, now: c.approve_proposal(a, now))
    return ref


async def test_report_done_keeps_the_photo_as_evidence(world) -> None:
    ref = await _rectifying(world)
    photo = EvidenceInput(kind="photo", file_id="PHOTO-1", file_unique_id="U1", size=1000)
    await world.sv.add_rectification_photo(SUP, ref, photo)
    case = await world.sv.report_rectified(SUP, ref, "已减少作业量")
    assert case.status is Status.RECTIFICATION_REPORTED
    assert case.events[-1].comment == "已减少作业量"
    detail = await world.sv.detail(SUP, ref)
    assert detail.evidence_count == 1
    with pytest.raises(DomainError):  # reported: no more rectification photos
        await world.sv.add_rectification_photo(SUP, ref, photo)


async def test_extension_is_counted_from_the_current_deadline(world) -> None:
    ref = await _rectifying(world, days=7)
    _, case = await world.cases.view(SUP, ref)
    choices = world.sv.extension_choices(case, world.sv.today())
    assert choices == [(7, date(2026, 12, 7)), (15, date(2026, 12, 15)), (30, date(2026, 12, 30))]
    case = await world.sv.request_extension(SUP, ref, choices[0][1], "学校需要调整课表")
    assert case.pending_extension == date(2026, 12, 7)
    assert case.rectify_deadline == date(2026, 11, 30)  # unchanged until staff decide
    assert (await world.outbox(STAFF))[-1].kind.endswith("extension_requested")


async def test_open_cases_are_ordered_by_urgency(world) -> None:
    clock = world.clock
    assigned = await world.file()  # accept due Tue 24th
    clock.current += timedelta(hours=1)
    accepted = await world.file()
    await world.sv.accept(SUP, accepted)  # propose due 5 working days on
    clock.current += timedelta(hours=1)
    overdue = await _rectifying(world, days=7)  # deadline Mon 30th
    clock.current += timedelta(hours=1)
    later = await _rectifying(world, days=30)
    clock.current += timedelta(hours=1)
    waiting = await world.file()
    await world.sv.accept(SUP, waiting)
    await world.sv.ask_parent(SUP, waiting, "几年级？")  # no clock while the parent answers
    clock.current += timedelta(hours=1)
    proposed = await world.file()
    await world.sv.accept(SUP, proposed)
    await world.sv.propose(SUP, proposed, Disposition.UNFOUNDED, note="经核实不属实")
    await world.file(school_code="SCH02")  # another supervisor's
    clock.current = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)  # overdue by three days
    lines = await world.sv.open_cases(SUP)
    assert [line.reference for line in lines] == [overdue, assigned, accepted, later,
                                                  waiting, proposed]
    assert lines[0].overdue_days == 3 and all(line.overdue_days == 0 for line in lines[1:])
    text, markup = views.case_list(lines, TZ)
    assert text.index(overdue) < text.index(assigned)
    assert markup is not None
    assert markup.inline_keyboard[0][0].callback_data == f"s:open:{overdue}"


async def test_detail_masks_the_tip_and_never_shows_the_parent(world) -> None:
    ref = await world.file(text="我是张三，电话13812345678，作业太多", anonymous=False,
                           reporter_name="张三丰", reporter_phone="13800001111")
    view = await world.sv.detail(SUP, ref)
    assert view.entity_name == "城关第一小学" and view.accept_due is not None
    text, markup = views.case_detail(view, TZ)
    assert "138****5678" in text and "13812345678" not in text
    assert "张三丰" not in text and "13800001111" not in text
    assert markup is not None
    assert [b.callback_data for b in markup.inline_keyboard[0]] == [f"s:acc:{ref}",
                                                                   f"s:back:{ref}"]


async def test_visits_are_logged_for_own_schools_only_and_counted(world) -> None:
    assert await world.sv.schools(SUP) == [("SCH01", "城关第一小学"), ("SCH03", "城关第三中学")]
    cov = await world.sv.coverage(SUP)
    assert cov.visited == [] and cov.total == 2
    today = world.sv.today()
    with pytest.raises(DomainError) as err:
        await world.sv.log_visit(SUP, "SCH02", today, "")
    assert err.value.key == "sv.error.not_your_school"
    with pytest.raises(DomainError) as err:
        await world.sv.log_visit(SUP, "SCH01", today + timedelta(days=1), "")
    assert err.value.key == "sv.error.bad_visit_date"
    logged = await world.sv.log_visit(SUP, "SCH01", today - timedelta(days=1), "检查作业公示",
                                      "PHOTO-9")
    assert logged.school_name == "城关第一小学" and logged.with_photo
    assert logged.coverage.visited == [("SCH01", "城关第一小学")]
    assert logged.coverage.unvisited == [("SCH03", "城关第三中学")]
    async with session_factory(world.engine)() as s:
        assert (await s.execute(select(func.count()).select_from(VisitRow))).scalar_one() == 1
    assert (await world.sv.coverage(OTHER_SUP)).visited == []
    assert await world.sv.schools(TUTOR) == []  # a tutoring supervisor has no schools
