"""The fakes behave as the real repositories: one scenario through the services on both, the
same answers from every query the services ask (SQLite and PostgreSQL against
tests/support/fakes.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain import Disposition, Status
from bot.filing import FilingService, Rules
from bot.ports import CaseQuery, UnitOfWork
from bot.services import CaseService
from bot.triage import TriageService
from storage.db import session_factory
from storage.models import OutboxRow
from storage.uow import SqlUnitOfWork
from tests.support.fakes import Entity, FakeClock, FakeStore, FakeUnitOfWorkFactory
from tests.support.sql import Units
from tests.support.worlds import (
    PARENT,
    STAFF,
    STAFF2,
    SUP1,
    SUP2,
    TUT,
    seed,
    tip,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
DEADLINE = date(2026, 12, 10)


def fake_store() -> FakeStore:
    """The directory of `tests.support.worlds.seed`, in memory."""
    store = FakeStore()
    for code, name, role, user in (("S01", "王督学", "responsible", SUP1),
                                   ("S02", "李督学", "responsible", SUP2),
                                   ("T01", "赵督学", "tutoring", TUT),
                                   ("ST1", "陈老师", "staff", STAFF),
                                   ("ST2", "周老师", "staff", STAFF2)):
        store.add_person(code, name, role, user)
    store.districts["D01"] = ("城关镇", "T01")
    store.schools["SCH01"] = Entity("青溪县城关第一小学", "D01", "S01", ("城关一小", "一小"))
    store.schools["SCH02"] = Entity("实验小学", "D01", "S02")
    store.institutions["INS01"] = Entity("启明星培训学校", "D01", "T01", ("启明星",))
    return store


async def scenario(uow: Any) -> None:
    """Filing, triage with a new category, a rectification: through the real services."""
    clock = FakeClock(NOW)
    cases = CaseService(uow, clock)
    filing = FilingService(cases, Rules(tips_per_hour=1000, threshold=0.6))
    routed = await filing.file_tip(tip())
    clock.advance(minutes=5)
    unsure = await filing.file_tip(tip(category="other", confidence=0.3,
                                       text="城关一小三年级作业太多"))
    clock.advance(minutes=5)
    await filing.file_tip(tip(category="fees_refund", school_code=None,
                              institution_code="INS01", text="启明星不退费"))
    clock.advance(minutes=5)
    await TriageService(uow, cases).triage(STAFF, unsure.reference, "homework_burden", "S02")
    for user, step in ((SUP1, lambda c, a, now: c.accept(a, now)),
                       (SUP1, lambda c, a, now: c.propose(a, Disposition.RECTIFY, now,
                                                          note="限期整改", deadline=DEADLINE)),
                       (STAFF, lambda c, a, now: c.approve_proposal(a, now))):
        clock.advance(minutes=5)  # distinct times: queries order by them
        await cases.perform(user, routed.reference, step)
    async with uow() as unit:  # a liaison supervisor's institution visit
        await unit.directory.add_institution_visit("T01", "INS01", date(2026, 12, 3), "", "",
                                                   clock.now())
        await unit.directory.set_night_pings(1, True)
        await unit.commit()


async def answers(uow: UnitOfWork) -> dict[str, Any]:
    """Every query the services ask, in a comparable form."""
    def lines(found: list[Any]) -> list[tuple[Any, ...]]:
        return [(c.reference, c.status, c.category, c.assignee_code, c.district_code,
                 len(c.events)) for c in found]

    async with uow:
        repo, directory = uow.cases, uow.directory
        since, until = NOW - timedelta(days=1), NOW + timedelta(days=1)
        return {
            "reporter": lines(await repo.list_for_reporter(PARENT)),
            "by_status": lines(await repo.list_by_status(
                Status.ASSIGNED, Status.TRIAGE, Status.RECTIFYING, with_events=True)),
            "assignee": lines(await repo.list_for_assignee("S02", with_events=True)),
            "count": await repo.count_by_status(Status.ASSIGNED, Status.RECTIFYING),
            "about": lines(await repo.open_about(school_code="SCH01", institution_code=None,
                                                 since=since, until=until)),
            "deadlines": await repo.rectification_deadlines(DEADLINE),
            "overdue": lines(await repo.overdue_rectifications(DEADLINE + timedelta(days=1))),
            "created": await repo.created_since(PARENT, since, limit=5),
            "counted": await repo.count_created_since_many({PARENT, 42}, since),
            "corrections": await repo.corrections(),
            "school": await directory.responsibility("SCH01", None, None),
            "institution": await directory.responsibility(None, "INS01", None),
            "district": await directory.responsibility(None, None, "D01"),
            "people": [p.code for p in await directory.people("staff")],
            "night": [(p.code, p.night_pings) for p in await directory.people()],
            "schools_of": await directory.schools_of("S01"),
            "unvisited": await directory.unvisited_schools(date(2026, 11, 1),
                                                           date(2026, 12, 1)),
            "names": await directory.names("school", ["SCH01", "NOPE"]),
            "entities": sorted(await directory.entity_rows()),
            "supervised": await directory.supervised_school_count(),
            "institutions_of": await directory.institutions_of("T01"),
            "unchecked": await directory.unvisited_institutions(date(2026, 11, 1),
                                                                date(2026, 12, 1)),
            "unchecked_t01": await directory.unvisited_institutions(
                date(2026, 12, 1), date(2027, 1, 1), "T01"),
            "institutions": await directory.supervised_institution_count(),
            "queued": await uow.outbox.queued_keys(["none"]),
            # the web console's list
            "search": lines(await repo.search(CaseQuery())),
            "search_status": lines(await repo.search(CaseQuery(statuses=(Status.ASSIGNED,)))),
            "search_filters": lines(await repo.search(CaseQuery(
                category="homework_burden", district_code="D01", school_code="SCH01",
                assignee_code="S02"))),
            "search_unknown": lines(await repo.search(CaseQuery(school_code="NOPE"))),
            "search_text": lines(await repo.search(CaseQuery(text="作业"))),
            "search_reference": lines(await repo.search(CaseQuery(text=" sj-2026-000002 "))),
            "search_overdue": lines(await repo.search(CaseQuery(
                overdue_on=DEADLINE + timedelta(days=1)))),
            "search_dates": lines(await repo.search(CaseQuery(
                created_from=NOW + timedelta(minutes=3),
                created_before=NOW + timedelta(minutes=12)))),
            "search_page": lines(await repo.search(CaseQuery(before_id=3), limit=1)),
        }


async def test_the_fakes_answer_as_the_database_does(engine: AsyncEngine) -> None:
    await seed(engine)
    sessions = session_factory(engine)
    await scenario(Units(engine))
    fakes = FakeUnitOfWorkFactory(fake_store())
    await scenario(fakes)

    real, fake = await answers(SqlUnitOfWork(sessions)), await answers(fakes.read())
    assert real["corrections"] == [("城关一小三年级作业太多", "homework_burden")]
    assert len(real["deadlines"]) == 1
    assert [line[0] for line in real["search"]] == ["SJ-2026-000003", "SJ-2026-000002",
                                                    "SJ-2026-000001"]
    assert real["search_overdue"] and real["search_text"] and real["search_filters"]
    assert [line[0] for line in real["search_reference"]] == ["SJ-2026-000002"]
    for key in real:
        assert fake[key] == real[key], key

    async with sessions() as s:
        outbox = [(r.chat_id, r.kind, r.notice) for r in (await s.execute(
            select(OutboxRow).order_by(OutboxRow.id))).scalars()]
    assert [(m.chat_id, m.kind, m.notice.to_json()) for m in fakes.store.outbox] == outbox
