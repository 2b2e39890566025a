"""Reminders on real databases: deadline pings, 督办 escalation, visit reminders, coverage.

Each runs on SQLite and on PostgreSQL; the clock is moved by hand, day by day.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain import Role
from bot.ports import DINGTALK, RobotRoute
from bot.reminders import ReminderRun, deadline_ping
from bot.services import CaseService
from tests.support.clock import FakeClock
from tests.support.reminders import (
    DEADLINE,
    STAFF,
    SUPERVISOR,
    at,
    rectifying,
    reminders,
    rows,
)
from tests.support.services import seed
from tests.support.sql import Units

pytestmark = pytest.mark.postgres


def test_which_ping_a_deadline_calls_for() -> None:
    assert deadline_ping(DEADLINE, date(2026, 12, 6), 3) is None
    assert deadline_ping(DEADLINE, date(2026, 12, 7), 3) == ("soon", 3)
    assert deadline_ping(DEADLINE, date(2026, 12, 9), 3) == ("soon", 1)
    assert deadline_ping(DEADLINE, DEADLINE, 3) == ("today", 0)
    assert deadline_ping(DEADLINE, date(2026, 12, 12), 3) == ("late", 2)
    assert deadline_ping(DEADLINE, date(2026, 12, 9), 0) is None  # no "soon" window at all
    assert deadline_ping(DEADLINE, date(2026, 12, 9), 1) == ("soon", 1)


async def test_deadline_pings_go_once_each_then_daily_while_late(services) -> None:
    service, clock, engine = services
    reference = await rectifying(service)
    first, second = reminders(service), reminders(service)  # a second instance
    # (deadline pings, overdue reminders): once late, the case is in the supervisor's daily
    # overdue reminder (as its own ping while it is their only overdue case)
    expected = {date(2026, 12, 6): (0, 0), date(2026, 12, 7): (1, 0), date(2026, 12, 8): (0, 0),
                date(2026, 12, 9): (0, 0), date(2026, 12, 10): (1, 0), date(2026, 12, 11): (0, 1),
                date(2026, 12, 12): (0, 0), date(2026, 12, 13): (0, 0),  # a weekend: no pings
                date(2026, 12, 14): (0, 1)}
    for day, pings in expected.items():
        clock.current = at(day)
        run = await first.run()
        assert (run.pings, run.daily) == pings, day
        clock.current = at(day, 15)  # later the same day, and the other instance: nothing new
        for again in (await first.run(), await second.run()):
            assert (again.pings, again.daily) == (0, 0), day
    sent = await rows(engine, "ping.")
    assert [r.kind for r in sent] == ["ping.soon", "ping.today", "ping.late", "ping.supervised",
                                      "ping.late"]  # the 督办 on the 14th, then the daily
    assert {r.chat_id for r in sent} == {SUPERVISOR}
    assert "还有 3 天" in sent[0].text and reference in sent[0].text
    assert "今天" in sent[1].text and "逾期满 3 天" in sent[2].text
    assert sent[0].markup is not None and f"s:done:{reference}" in str(sent[0].markup)


async def test_pings_offer_no_second_extension_while_one_is_pending(services) -> None:
    service, clock, engine = services
    reference = await rectifying(service)
    await service.perform(SUPERVISOR, reference, lambda c, a, now: c.request_extension(
        a, date(2026, 12, 20), "学校需要更多时间", now))
    clock.current = at(date(2026, 12, 7))
    assert (await reminders(service).run()).pings == 1
    buttons = [b[1] for row in (await rows(engine, "ping."))[0].markup["buttons"]  # type: ignore[index]
               for b in row]
    assert buttons == [f"s:done:{reference}", f"s:open:{reference}"]


async def test_after_downtime_what_is_still_due_is_sent_late(services) -> None:
    service, clock, engine = services
    await rectifying(service)
    clock.current = at(date(2026, 12, 9))  # down since before the 7th: the 3-day ping, late
    assert (await reminders(service).run()).pings == 1
    clock.current = at(date(2026, 12, 11))  # down on the 10th: only today's ping
    assert (await reminders(service).run()).daily == 1
    sent = await rows(engine, "ping.")
    assert [r.kind for r in sent] == ["ping.soon", "ping.late"]
    assert "还有 1 天" in sent[0].text and "1 天" in sent[1].text


async def test_three_days_overdue_escalates_once_with_a_supervision_order(services) -> None:
    service, clock, engine = services
    reference = await rectifying(service)
    clock.current = at(date(2026, 12, 11))
    assert (await reminders(service).run()).escalations == 0
    clock.current = at(date(2026, 12, 13))  # 3 days over on a Sunday: nothing on a weekend
    assert (await reminders(service).run()).escalations == 0
    clock.current = at(date(2026, 12, 14))
    run = await reminders(service).run()
    assert (run.pings, run.daily, run.escalations) == (0, 1, 1)
    assert (await reminders(service).run()).escalations == 0  # again, or another instance
    _, case = await service.view(STAFF, reference)
    order = case.events[-1]
    assert order.action == "supervised" and order.actor_role is Role.SYSTEM
    assert "逾期 4 天" in order.comment and case.supervised_at == clock.current
    assert [r.chat_id for r in await rows(engine, "staff.escalated")] == [STAFF]
    assert [r.chat_id for r in await rows(engine, "ping.supervised")] == [SUPERVISOR]
    assert "督导室已督办" in (await rows(engine, "ping.late"))[-1].text
    clock.current = at(date(2026, 12, 15))
    assert (await reminders(service).run()).escalations == 0
    assert "督导室已督办" in (await rows(engine, "ping.late"))[-1].text


async def test_the_days_orders_reach_staff_and_the_robots_in_one_message_each(services) -> None:
    service, clock, engine = services
    references = [await rectifying(service) for _ in range(3)]
    robot = RobotRoute(DINGTALK, 1, ("supervised",))
    with_robot = CaseService(Units(engine, robots=[robot]), clock)
    clock.current = at(date(2026, 12, 14))
    assert (await reminders(with_robot).run()).escalations == 3
    # each supervisor hears of each order on their case, with its buttons ...
    orders = await rows(engine, "ping.supervised")
    assert [r.chat_id for r in orders] == [SUPERVISOR] * 3 and all(r.markup for r in orders)
    # ... staff of all three in one message, each case named with its supervisor and a button
    [listed] = await rows(engine, "staff.escalated")
    assert listed.chat_id == STAFF and "系统发出督办 3 件" in listed.text, listed.text
    assert all(f"{r}：整改逾期 4 天，系统自动督办（承办督学 王督学）" in listed.text
               for r in references), listed.text
    assert listed.markup is not None
    assert [b[1].split(":")[-1] for row in listed.markup["buttons"] for b in row] == references
    # ... and the office's group robot too, once
    [posted] = await rows(engine, "supervised")
    assert "系统发出督办 3 件" in posted.text and all(r in posted.text for r in references)


async def test_staff_supervision_after_the_deadline_means_no_second_order(services) -> None:
    service, clock, engine = services
    reference = await rectifying(service)
    clock.current = at(date(2026, 12, 11))
    await service.perform(STAFF, reference, lambda c, a, now: c.supervise(a, now, "请加快整改"))
    clock.current = at(date(2026, 12, 14))
    assert (await reminders(service).run()).escalations == 0
    assert await rows(engine, "staff.escalated") == []


async def test_supervisors_hear_of_unvisited_schools_on_the_reminder_days(services) -> None:
    service, clock, engine = services
    clock.current = at(date(2026, 12, 19))
    assert (await reminders(service).run()).visit_reminders == 0
    clock.current = at(date(2026, 12, 20))
    assert (await reminders(service).run()).visit_reminders == 2  # S01 and S02, one school each
    assert (await reminders(service).run()).visit_reminders == 0
    async with service.uow() as uow:
        await uow.directory.add_visit("S01", "SCH01", date(2026, 12, 21), "作业公示已落实", "",
                                      clock.current)
        await uow.commit()
    clock.current = at(date(2026, 12, 27))
    assert (await reminders(service).run()).visit_reminders == 1  # only S02 still owes a visit
    sent = await rows(engine, "visit_reminder")
    assert [r.chat_id for r in sent] == [2001, 2002, 2002]
    assert "城关第一小学" in sent[0].text and "实验小学" in sent[2].text
    assert "12月" in sent[2].text and "1 所" in sent[2].text


async def test_a_reminder_day_missed_in_downtime_is_sent_once_late(services) -> None:
    service, clock, engine = services
    clock.current = at(date(2026, 12, 29))  # down from the 19th: the 27th's reminder stands
    assert (await reminders(service).run()).visit_reminders == 2
    clock.current = at(date(2026, 12, 30))
    assert (await reminders(service).run()).visit_reminders == 0
    assert len(await rows(engine, "visit_reminder")) == 2


async def test_staff_get_last_months_coverage_once(services) -> None:
    service, clock, engine = services
    async with service.uow() as uow:
        await uow.directory.add_visit("S01", "SCH01", date(2026, 12, 3), "", "", clock.current)
        await uow.commit()
    clock.current = at(date(2027, 1, 1), 8)
    assert (await reminders(service).run()).coverage_reports == 1
    assert (await reminders(service).run()).coverage_reports == 0
    (report,) = await rows(engine, "coverage")
    assert report.chat_id == STAFF
    assert "2026年12月" in report.text and "1/2" in report.text and "50%" in report.text
    assert "李督学 1 所" in report.text


async def test_nothing_is_due_on_an_empty_store(engine: AsyncEngine) -> None:
    await seed(engine)
    clock = FakeClock(at(date(2026, 12, 20)))

    service = CaseService(Units(engine), clock)
    result = await reminders(service).run()
    assert result.pings == result.escalations == 0


async def test_a_run_with_nothing_new_writes_nothing(services) -> None:
    service, clock, engine = services
    references = [await rectifying(service), await rectifying(service)]
    clock.current = at(date(2026, 12, 21))  # pings, escalations, visits and coverage all due
    first = await reminders(service).run()
    assert first.daily == 1 and first.escalations == 2 and first.visit_reminders == 2
    # both overdue cases in one message to their supervisor, each with a button
    [overdue] = await rows(engine, "ping.overdue")
    assert overdue.chat_id == SUPERVISOR and "2 件案件已超过时限" in overdue.text
    assert all(f"{r}：整改逾期 11 天（期限 2026-12-10）" in overdue.text for r in references)
    assert [b[1] for row in overdue.markup["buttons"] for b in row] == [  # type: ignore[index]
        f"s:open:{r}" for r in references]
    writes: list[str] = []

    def record(conn, cursor, statement: str, *args: object) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        clock.current = at(date(2026, 12, 21), 18)  # the job runs every minute all day
        assert await reminders(service).run() == ReminderRun()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert writes == []
