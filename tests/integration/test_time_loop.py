"""The time loop over a simulated quarter with 国庆 2026, on SQLite and PostgreSQL.

chinese_calendar says: 2026-09-25 (中秋) and 2026-10-01..07 (国庆) are holidays;
Sunday 2026-09-20 and Saturday 2026-10-10 are 调休 working days. Two scheduler instances
run at 09:00 and 15:00 every day; the people act in between. Every ping, 督办, rung and
回头看 must arrive on the right working day exactly once, nothing on a holiday, and after a
3-day outage the missed ones arrive once, late.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date

import pytest
from alembic import command

from bot.config import TimeRules
from bot.domain import Case, Disposition
from bot.escalation import Rung
from bot.export import export_rows
from bot.ports import CaseLook
from bot.reminders import ReminderService
from bot.reports import build_report, quarter, summary_text
from bot.services import CaseService
from bot.timerules import is_workday
from storage.migrate import alembic_config, upgrade
from tests.support.reminders import STAFF, SUPERVISOR
from tests.support.services import filing, tip
from tests.support.timeloop import TZ, Queued, local, queued_since, simulate

pytestmark = pytest.mark.postgres

OUTAGE = frozenset({date(2026, 11, 3), date(2026, 11, 4), date(2026, 11, 5)})


def test_the_calendar_is_what_the_quarter_assumes() -> None:
    assert not is_workday(date(2026, 9, 25))
    assert all(not is_workday(date(2026, 10, d)) for d in range(1, 8))
    assert is_workday(date(2026, 9, 20)) and is_workday(date(2026, 10, 10))
    assert is_workday(date(2026, 10, 8))


def _quarter(refs: dict[str, str]) -> dict:  # type: ignore[type-arg]
    """The people's actions over the quarter; `refs` is filled with the case references."""

    def file(name: str):  # type: ignore[no-untyped-def]
        async def act(service: CaseService) -> None:
            refs[name] = (await filing(service).file_tip(tip())).reference
        return act

    def sv(name: str, step):  # type: ignore[no-untyped-def]
        async def act(service: CaseService) -> None:
            await service.perform(SUPERVISOR, refs[name], step)
        return act

    def st(name: str, step):  # type: ignore[no-untyped-def]
        async def act(service: CaseService) -> None:
            await service.perform(STAFF, refs[name], step)
        return act

    def parent(name: str, step):  # type: ignore[no-untyped-def]
        async def act(service: CaseService) -> None:
            await service.perform(1001, refs[name], step)
        return act

    def accept(c: Case, a, now) -> None:  # type: ignore[no-untyped-def]
        c.accept(a, now)

    def rectify(deadline: date):  # type: ignore[no-untyped-def]
        return lambda c, a, now: c.propose(a, Disposition.RECTIFY, now, deadline=deadline)

    def approve(c: Case, a, now) -> None:  # type: ignore[no-untyped-def]
        c.approve_proposal(a, now)

    def reported(c: Case, a, now) -> None:  # type: ignore[no-untyped-def]
        c.report_rectified(a, "已整改", now)

    def fail(deadline: date):  # type: ignore[no-untyped-def]
        return lambda c, a, now: c.verify_rectification(a, now, passed=False, comment="未整改",
                                                        new_deadline=deadline)

    def passed(c: Case, a, now) -> None:  # type: ignore[no-untyped-def]
        c.verify_rectification(a, now, passed=True)

    return {
        # B: the ladder. Rectification by 09-21, fails 回头看 twice, 约谈, then runs out.
        local(date(2026, 9, 14), 10): file("B"),
        local(date(2026, 9, 14), 10, 30): sv("B", accept),
        local(date(2026, 9, 14), 10, 40): sv("B", rectify(date(2026, 9, 21))),
        local(date(2026, 9, 14), 10, 50): st("B", approve),
        local(date(2026, 9, 21), 12): sv("B", reported),
        local(date(2026, 9, 22), 11): st("B", fail(date(2026, 10, 9))),
        local(date(2026, 10, 9), 12): sv("B", reported),
        local(date(2026, 10, 10), 11): st("B", fail(date(2026, 10, 30))),
        local(date(2026, 10, 16), 12): st("B", lambda c, a, now: c.record_interview(
            a, now.date(), "城关第一小学校长", "责令一周内整改到位", now)),
        local(date(2026, 11, 6), 12): st("B", lambda c, a, now: c.record_county_report(
            a, "已书面报告县教育督导室", now)),
        # A: filed the day before 国庆 and left unaccepted; then rectified and re-checked.
        local(date(2026, 9, 30), 10): file("A"),
        local(date(2026, 10, 13), 12): sv("A", accept),
        local(date(2026, 10, 14), 10): sv("A", rectify(date(2026, 10, 30))),
        local(date(2026, 10, 14), 10, 30): st("A", approve),
        local(date(2026, 10, 15), 10): sv("A", reported),
        local(date(2026, 10, 16), 11): st("A", passed),
        local(date(2026, 11, 16), 12): sv("A", lambda c, a, now: c.recheck(
            a, now, passed=True, note="复查无反弹")),
        # C: the propose clock pauses while the parent is asked, 11-10 to 11-17.
        local(date(2026, 11, 9), 10): file("C"),
        local(date(2026, 11, 9), 10, 30): sv("C", accept),
        local(date(2026, 11, 10), 10): sv("C", lambda c, a, now: c.request_info(
            a, "请问是几年级？", now)),
        local(date(2026, 11, 17), 10): parent("C", lambda c, a, now: c.add_information(
            a, "三年级", now)),
        local(date(2026, 11, 26), 12): sv("C", rectify(date(2026, 12, 31))),
        local(date(2026, 11, 30), 12): st("C", approve),
    }


def _table(rows: list[Queued], refs: dict[str, str]) -> list[tuple[str, str, str, str]]:
    names = {ref: name for name, ref in refs.items()}
    return [(row.day.isoformat(), names.get(row.reference or "", "-"), row.kind,
             "sv" if row.chat_id == SUPERVISOR else "staff" if row.chat_id == STAFF else "p")
            for row in rows]


async def test_a_quarter_with_national_day(services) -> None:
    service, clock, engine = services
    refs: dict[str, str] = {}
    rows = await simulate(service, clock, engine, date(2026, 9, 14), date(2026, 12, 4),
                          _quarter(refs), down=OUTAGE)
    timed = [r for r in _table(rows, refs) if r[2].startswith(TIMED)]
    assert timed == EXPECTED
    digests = [r for r in rows if r.kind == "ping.overdue"]
    assert all(refs["B"] in r.text and refs["C"] in r.text for r in digests)
    assert "“提出处理意见”超时 1 个工作日" in digests[0].text
    # Each reminder once, although two instances ran twice a day: the dedup keys are unique.
    keys = Counter(r.dedup for r in rows if r.dedup)
    assert [k for k, n in keys.items() if n > 1] == []
    # Nothing the scheduler decides is queued on a holiday or a weekend, or while it is down.
    assert [r for r in rows if r.kind.startswith(("ping.", "staff.escalated"))
            and (not is_workday(r.day) or r.day in OUTAGE)] == []
    # The ladder: B stands on the top rung, A and C on the 督办 rung.
    for name, expected in (("B", Rung.COUNTY_REPORT), ("A", Rung.SUPERVISED),
                           ("C", Rung.SUPERVISED)):
        async with service.uow.read() as uow:
            case = await uow.cases.get(refs[name])
        assert case is not None and case.rung is expected, name
    # ... and the quarter's report counts the cases per rung from the read model's facts.
    async with service.uow.read() as uow:
        rows = await export_rows(uow.case_facts, date(2026, 9, 1), date(2026, 12, 31), tz=TZ,
                                 now=clock.current)
    report = build_report(quarter(date(2026, 11, 1)), rows, (0, 0))
    assert dict(report.by_rung) == {Rung.SUPERVISED: 2, Rung.INTERVIEW: 0,
                                    Rung.COUNTY_REPORT: 1}
    assert "已督办 2 件，约谈 0 件，报告县级 1 件" in summary_text(report)


TIMED = ("ping.", "staff.escalated", "interview_due")
EXPECTED = [
    ("2026-09-18", "B", "ping.soon", "sv"),  # 3 days before the 09-21 deadline
    # 09-20 is a 调休 Sunday, a working day: the soon ping was already sent
    ("2026-09-21", "B", "ping.today", "sv"),
    # the first failed 回头看 (09-22) sets 10-09; its soon window opens on 10-06, in 国庆
    ("2026-10-08", "B", "ping.soon", "sv"),
    ("2026-10-08", "A", "ping.clock.today", "sv"),  # accept: 1 working day after 09-30
    ("2026-10-09", "B", "ping.today", "sv"),
    ("2026-10-09", "A", "ping.clock.late", "sv"),
    ("2026-10-10", "A", "ping.clock.late", "sv"),  # 调休 Saturday
    ("2026-10-10", "B", "interview_due", "staff"),  # the second failed 回头看
    ("2026-10-12", "A", "ping.supervised", "sv"),  # 3 working days overdue: the 督办
    ("2026-10-12", "A", "staff.escalated", "staff"),
    ("2026-10-12", "A", "ping.clock.late", "sv"),  # the daily overdue reminder comes last
    ("2026-10-13", "A", "ping.clock.late", "sv"),  # accepted at noon
    ("2026-10-15", "B", "ping.clock.soon", "staff"),  # record the 约谈 by 10-16
    ("2026-10-16", "B", "ping.clock.today", "staff"),  # recorded at noon
    ("2026-10-23", "B", "staff.escalated.ladder", "staff"),  # 5 working days after the 约谈
    ("2026-10-27", "B", "ping.soon", "sv"),
    ("2026-10-29", "B", "ping.clock.soon", "staff"),  # the county report by 10-30
    ("2026-10-30", "B", "ping.today", "sv"),
    ("2026-10-30", "B", "ping.clock.today", "staff"),
    ("2026-11-02", "B", "ping.supervised", "sv"),
    ("2026-11-02", "B", "staff.escalated", "staff"),
    ("2026-11-02", "B", "ping.late", "sv"),
    ("2026-11-02", "B", "ping.clock.late", "staff"),
    # down 11-03..05: today's pings once, late; nothing for the days missed
    ("2026-11-06", "B", "ping.late", "sv"),
    ("2026-11-06", "B", "ping.clock.late", "staff"),  # the county report recorded at noon
    ("2026-11-09", "B", "ping.late", "sv"),
    ("2026-11-10", "B", "ping.late", "sv"),
    ("2026-11-11", "B", "ping.late", "sv"),
    ("2026-11-12", "B", "ping.late", "sv"),
    ("2026-11-13", "A", "ping.clock.soon", "sv"),  # the 回头看 re-check, 30 days after 10-16
    ("2026-11-13", "B", "ping.late", "sv"),
    ("2026-11-16", "A", "ping.clock.today", "sv"),  # 11-15 is a Sunday; re-checked at noon
    ("2026-11-16", "B", "ping.late", "sv"),
    ("2026-11-17", "B", "ping.late", "sv"),
    ("2026-11-18", "B", "ping.late", "sv"),
    ("2026-11-19", "B", "ping.late", "sv"),
    ("2026-11-20", "C", "ping.clock.soon", "sv"),  # propose: 11-16 + the 7-day pause
    ("2026-11-20", "B", "ping.late", "sv"),
    ("2026-11-23", "C", "ping.clock.today", "sv"),
    ("2026-11-23", "B", "ping.late", "sv"),
    # B and C both overdue with the same supervisor: one message a day names both
    ("2026-11-24", "-", "ping.overdue", "sv"),
    ("2026-11-25", "-", "ping.overdue", "sv"),
    ("2026-11-26", "C", "ping.supervised", "sv"),
    ("2026-11-26", "C", "staff.escalated", "staff"),
    ("2026-11-26", "-", "ping.overdue", "sv"),
    ("2026-11-27", "B", "ping.late", "sv"),
    ("2026-11-27", "C", "ping.clock.soon", "staff"),  # staff decide by 11-30
    ("2026-11-30", "B", "ping.late", "sv"),
    ("2026-11-30", "C", "ping.clock.today", "staff"),  # approved at noon
    ("2026-12-01", "B", "ping.late", "sv"),
    ("2026-12-02", "B", "ping.late", "sv"),
    ("2026-12-03", "B", "ping.late", "sv"),
    ("2026-12-04", "B", "ping.late", "sv"),
]


async def test_two_instances_at_once_queue_each_ping_and_order_once(services) -> None:
    """Two scheduler instances running at the same moment (as two processes would on
    PostgreSQL): every ping and every 督办 exactly once."""
    service, clock, engine = services
    clock.current = local(date(2026, 9, 30), 10)
    references = [(await filing(service).file_tip(tip(user=5000 + i))).reference
                  for i in range(12)]
    first, second = (ReminderService(service.uow, service, TimeRules(), TZ) for _ in range(2))
    rows: list[Queued] = []
    last = 0
    for day in (date(2026, 10, 8), date(2026, 10, 9), date(2026, 10, 10), date(2026, 10, 12)):
        clock.current = local(day)
        await asyncio.gather(first.run(), second.run(), first.run())
        found, last = await queued_since(engine, last)
        rows += found
    pings = Counter((r.day, r.reference) for r in rows if r.kind.startswith("ping.clock."))
    assert set(pings.values()) == {1} and len(pings) == len(references)  # due "today"
    # then overdue: one message a day to their supervisor, naming them all
    overdue = Counter(r.day for r in rows if r.kind == "ping.overdue")
    assert overdue == Counter({date(2026, 10, d): 1 for d in (9, 10, 12)})
    digest = next(r for r in rows if r.kind == "ping.overdue")  # ten named, two more counted
    assert (digest.params["count"], digest.params["rest"]) == (12, 2)
    assert str(digest.params["references"]).split("\n") == references[:10]
    orders = Counter(r.reference for r in rows if r.kind == "ping.supervised")
    assert orders == Counter({reference: 1 for reference in references})
    # staff hear of the 督办 in one list per page an instance wrote, each 督办 in one list
    lists = [r for r in rows if r.kind == "staff.escalated"]
    staff = {r.chat_id for r in lists}
    assert sum(int(str(r.params.get("count", 1))) for r in lists) == len(references) * len(staff)
    assert len(lists) <= 2 * len(staff)


async def test_after_the_0009_upgrade_open_cases_are_looked_at_once(services, db_url) -> None:
    """Cases filed before migration 0009 get their first look on the first working-day run."""
    service, clock, engine = services
    clock.current = local(date(2026, 11, 23), 10)
    reference = (await filing(service).file_tip(tip())).reference
    await engine.dispose()
    command.downgrade(alembic_config(db_url), "0008")
    upgrade(db_url)
    clock.current = local(date(2026, 11, 25))  # the accept clock ran out on 11-24
    first = ReminderService(service.uow, service, TimeRules(), TZ)
    assert (await first.run()).daily == 1  # in the supervisor's daily reminder
    assert (await first.run()).daily == 0
    rows, _ = await queued_since(engine, 0)
    assert [(r.kind, r.reference) for r in rows if r.kind.startswith("ping.")] == [
        ("ping.clock.late", reference)]


async def test_a_staff_clock_overdue_brings_a_supervision_order_to_staff_only(services) -> None:
    """Staff leave a proposal undecided (2 working days): staff are pinged, and 3 working days
    overdue the 督办 goes to the office, not to the supervisor who is waiting for them."""
    service, clock, engine = services
    clock.current = local(date(2026, 11, 23), 10)
    reference = (await filing(service).file_tip(tip())).reference
    await service.perform(SUPERVISOR, reference, lambda c, a, now: c.accept(a, now))
    await service.perform(SUPERVISOR, reference, lambda c, a, now: c.propose(
        a, Disposition.UNFOUNDED, now, note="经核实不属实"))
    rows = await simulate(service, clock, engine, date(2026, 11, 23), date(2026, 12, 2), {})
    timed = [(r.day.isoformat(), r.kind, "sv" if r.chat_id == SUPERVISOR else "staff")
             for r in rows if r.kind.startswith(TIMED)]
    assert timed == [
        ("2026-11-24", "ping.clock.soon", "staff"),  # due Wednesday 11-25 10:00
        ("2026-11-25", "ping.clock.today", "staff"),
        ("2026-11-26", "ping.clock.late", "staff"),
        ("2026-11-27", "ping.clock.late", "staff"),
        ("2026-11-30", "staff.escalated", "staff"),  # 3 working days overdue
        ("2026-11-30", "ping.clock.late", "staff"),
        ("2026-12-01", "ping.clock.late", "staff"),
        ("2026-12-02", "ping.clock.late", "staff"),
    ]
    async with service.uow.read() as uow:
        case = await uow.cases.get(reference)
    assert case is not None and [e.actor for e in case.events if e.action == "supervised"] \
        == ["system"]


async def test_the_office_hears_of_its_clocks_in_one_message_a_day(services) -> None:
    """Three proposals waiting for staff: each staff member gets one message a day naming
    all three (overdue first, then due today, then due next), not one per case; and a case
    waiting for staff, or overdue under a 督办, is not read again every day: what the daily
    message lists is recorded on the case."""
    service, clock, engine = services
    references = []
    for day in (23, 24, 24):
        clock.current = local(date(2026, 11, day), 10)
        reference = (await filing(service).file_tip(tip(user=7000 + len(references)))
                     ).reference
        await service.perform(SUPERVISOR, reference, lambda c, a, now: c.accept(a, now))
        await service.perform(SUPERVISOR, reference, lambda c, a, now: c.propose(
            a, Disposition.UNFOUNDED, now, note="经核实不属实"))
        references.append(reference)
    rows = await simulate(service, clock, engine, date(2026, 11, 24), date(2026, 12, 4), {})
    daily = [r for r in rows if r.kind.startswith(("ping.clock.", "ping.office"))]
    assert [(r.day.isoformat(), r.kind, r.params.get("count")) for r in daily] == [
        ("2026-11-24", "ping.clock.soon", None),  # the first one alone: its own reminder
        *((day, "ping.office", 3) for day in ("2026-11-25", "2026-11-26", "2026-11-27",
                                              "2026-11-30", "2026-12-01", "2026-12-02",
                                              "2026-12-03", "2026-12-04"))]
    assert {r.chat_id for r in daily} == {STAFF}
    first, last = daily[1].params, daily[-1].params
    assert (first["late"], first["today"], first["soon"]) == (0, 1, 2)
    assert "“审核处理意见”今天到期" in str(first["lines"])
    assert "“审核处理意见”2026-11-26 到期" in str(first["lines"])
    assert (last["late"], last["references"]) == (3, "\n".join(references))
    assert "“审核处理意见”超时 6 个工作日" in str(last["lines"])
    # After their 督办 the cases are looked at again only when something changes.
    async with service.uow.read() as uow:
        assert await uow.cases.clock_candidates(date(2026, 12, 31)) == []
        assert await uow.cases.get_by_ids([]) == []
        [office] = await uow.cases.due_lists(date(2026, 12, 31), date(2026, 12, 31), 10)
        assert [(r.reference, r.owner, r.clock) for r in office.items] == [
            (reference, "staff", "decide") for reference in references]
        assert (office.late, office.today, office.soon) == (len(references), 0, 0)


async def test_a_step_that_changes_no_column_still_brings_the_case_back_to_a_look(
        services) -> None:
    """A save writes only the columns that changed; a new event alone (here in the same
    instant as the filing, so not even `updated_at` moves) still sets the case's next look."""
    service, clock, _ = services
    clock.current = local(date(2026, 11, 23), 10)
    first = (await filing(service).file_tip(tip(user=5001))).reference
    other = (await filing(service).file_tip(tip(user=5002))).reference
    async with service.uow() as uow:  # the scheduler has looked: nothing before December
        case = await uow.cases.get(first)
        assert case is not None and case.id is not None
        await uow.cases.set_remind_on([CaseLook(case.id, case.updated_at or case.created_at,
                                                date(2026, 12, 31), None, None)])
        await uow.commit()
    async with service.uow.read() as uow:
        assert case.id not in await uow.cases.clock_candidates(date(2026, 11, 30))
    await service.perform(STAFF, first, lambda c, a, now: c.dismiss_duplicate(
        a, Case(reference=other, text="", category="other", confidence=0.0,
                reporter_user_id=0, created_at=now), now))
    async with service.uow.read() as uow:
        assert case.id in await uow.cases.clock_candidates(date(2026, 11, 30))
        saved = await uow.cases.get(first)
    assert saved is not None and saved.events[-1].action == "duplicate_dismissed"
