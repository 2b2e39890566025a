"""The escalation ladder, the 回头看 re-check and the stage clocks on the working-day
calendar: pure domain, no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.clocks import (
    StageRules,
    clock_ping,
    ladder_run_out,
    next_look,
    rectification_look,
    stage_clocks,
)
from bot.domain import (
    Actor,
    Case,
    CaseAction,
    Disposition,
    InvalidInput,
    InvalidTransition,
    PermissionDenied,
    Responsibility,
    Role,
    Status,
    route,
)
from bot.escalation import Rung, next_rung, rung

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 9, 14, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
SUP = Actor(Role.SUPERVISOR, person_code="S01", user_id=2001)
STAFF = Actor(Role.STAFF, person_code="ST1", user_id=3001)
RULES = StageRules()


def rectifying(now: datetime = NOW) -> Case:
    case = Case.file(reference="SJ-2026-000001", text="作业太多", category="homework_burden",
                     confidence=0.97, reporter_user_id=1001, now=now, school_code="SCH01")
    case.route(route("homework_burden", 0.9, 0.5, Responsibility(school_supervisor="S01")), now)
    case.accept(SUP, now)
    case.propose(SUP, Disposition.RECTIFY, now, deadline=date(2026, 9, 21))
    case.approve_proposal(STAFF, now)
    return case


def fail_once(case: Case, now: datetime, deadline: date) -> None:
    case.report_rectified(SUP, "已整改", now)
    case.verify_rectification(STAFF, now, passed=False, comment="未整改", new_deadline=deadline)


def test_rung_is_the_highest_reached() -> None:
    case = rectifying()
    assert rung(case.events) is Rung.NONE
    case.supervise(Actor.system(), NOW, "逾期")
    assert rung(case.events) is Rung.SUPERVISED
    assert case.climb(NOW, "ran_out") is Rung.INTERVIEW
    assert rung(case.events) is Rung.INTERVIEW and case.pending_rung is Rung.INTERVIEW
    assert case.climb(NOW, "ran_out") is None  # staff must record the 约谈 first
    case.record_interview(STAFF, NOW.date(), "校长", "责令整改", NOW)
    assert case.pending_rung is None and case.rung is Rung.INTERVIEW
    assert case.climb(NOW, "ran_out") is Rung.COUNTY_REPORT
    case.record_county_report(STAFF, "已书面报告", NOW)
    assert case.rung is Rung.COUNTY_REPORT and case.climb(NOW, "ran_out") is None
    assert next_rung(Rung.COUNTY_REPORT) is None
    kinds = [e.action for e in case.events if e.action in ("supervised", "interviewed",
                                                           "county_reported")]
    assert kinds == ["supervised", "interviewed", "county_reported"]


def test_the_second_failed_verification_asks_staff_for_an_interview() -> None:
    case = rectifying()
    fail_once(case, NOW, date(2026, 10, 9))
    assert case.rung is Rung.NONE and CaseAction.RECORD_INTERVIEW not in \
        case.next_actions(STAFF)
    fail_once(case, NOW, date(2026, 10, 30))
    assert case.status is Status.RECTIFYING and case.rung is Rung.INTERVIEW
    assert case.events[-1].action == "interview_due" and case.events[-1].actor == "system"
    assert case.next_actions(STAFF)[0] is CaseAction.RECORD_INTERVIEW


def test_only_staff_record_a_rung_and_only_when_asked() -> None:
    case = rectifying()
    with pytest.raises(InvalidTransition):
        case.record_interview(STAFF, NOW.date(), "校长", "责令整改", NOW)
    case.climb(NOW, "ran_out")
    before = len(case.events)
    with pytest.raises(PermissionDenied):
        case.record_interview(SUP, NOW.date(), "校长", "责令整改", NOW)
    with pytest.raises(InvalidInput):
        case.record_interview(STAFF, NOW.date(), " ", "责令整改", NOW)
    with pytest.raises(InvalidInput):
        case.record_interview(STAFF, NOW.date() + timedelta(days=1), "校长", "责令整改", NOW)
    with pytest.raises(InvalidTransition):
        case.record_county_report(STAFF, "已报告", NOW)
    assert len(case.events) == before


def test_a_verified_rectification_owes_a_recheck_that_may_reopen_it() -> None:
    case = rectifying()
    case.report_rectified(SUP, "已整改", NOW)
    case.verify_rectification(STAFF, NOW, passed=True)
    assert case.status is Status.CLOSED and case.pending_recheck == NOW
    assert case.next_actions(SUP) == (CaseAction.RECHECK,)
    (clock,) = stage_clocks(case, TZ, RULES)
    # 30 days after 09-14 is 10-14, a working day
    assert clock.name == "recheck" and clock.due.date() == date(2026, 10, 14)
    later = NOW + timedelta(days=30)
    with pytest.raises(InvalidInput):
        case.recheck(SUP, later, passed=False, note="问题反弹")  # no new deadline
    case.recheck(SUP, later, passed=False, note="问题反弹", new_deadline=date(2026, 10, 30))
    assert case.status is Status.RECTIFYING and case.rectify_deadline == date(2026, 10, 30)
    assert case.closed_at is None and case.pending_recheck is None
    # a failed re-check counts as a failed 回头看: with the first, the ladder's second
    assert case.rung is Rung.NONE
    fail_once(case, later, date(2026, 11, 20))
    assert case.rung is Rung.INTERVIEW


def test_a_passed_recheck_keeps_the_case_closed_and_owes_nothing() -> None:
    case = rectifying()
    case.report_rectified(SUP, "已整改", NOW)
    case.verify_rectification(STAFF, NOW, passed=True)
    with pytest.raises(PermissionDenied):
        case.recheck(STAFF, NOW, passed=True, note="好")
    case.recheck(SUP, NOW, passed=True, note="复查无反弹")
    assert case.status is Status.CLOSED and case.pending_recheck is None
    assert stage_clocks(case, TZ, RULES) == []
    with pytest.raises(InvalidTransition):
        case.recheck(SUP, NOW, passed=True, note="再次复查")


def _at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TZ)


def test_clocks_ping_on_working_days_only_across_national_day() -> None:
    case = Case.file(reference="SJ-2026-000002", text="作业太多", category="homework_burden",
                     confidence=0.97, reporter_user_id=1001, now=_at(date(2026, 9, 30)),
                     school_code="SCH01")
    case.route(route("homework_burden", 0.9, 0.5, Responsibility(school_supervisor="S01")),
               _at(date(2026, 9, 30)))
    (clock,) = stage_clocks(case, TZ, RULES)
    assert clock.name == "accept" and clock.owner == "supervisor"
    assert clock.due.date() == date(2026, 10, 8)  # 10-01..07 are 国庆 holidays
    pings = {}
    day = date(2026, 9, 30)
    while day <= date(2026, 10, 13):
        pings[day] = clock_ping(clock, day, TZ)
        day += timedelta(days=1)
    assert {d: p for d, p in pings.items() if p} == {
        date(2026, 10, 8): ("today", 0), date(2026, 10, 9): ("late", 1),
        date(2026, 10, 10): ("late", 2),  # the 调休 Saturday is a working day
        date(2026, 10, 12): ("late", 3), date(2026, 10, 13): ("late", 4)}
    assert next_look(clock, date(2026, 9, 30), TZ) == date(2026, 10, 8)
    assert next_look(clock, date(2026, 10, 10), TZ) == date(2026, 10, 12)


def test_a_two_day_clock_warns_the_working_day_before() -> None:
    case = rectifying(_at(date(2026, 9, 18)))  # Friday; the decide clock is staff's
    case.report_rectified(SUP, "已整改", _at(date(2026, 9, 18)))
    (clock,) = stage_clocks(case, TZ, RULES)
    assert clock.name == "verify" and clock.owner == "staff"
    # 5 working days from Friday 09-18: 09-20 (调休 Sunday), 21, 22, 23, 24
    assert clock.due.date() == date(2026, 9, 24)
    assert clock_ping(clock, date(2026, 9, 23), TZ) == ("soon", 1)
    assert clock_ping(clock, date(2026, 9, 22), TZ) is None
    assert clock_ping(clock, date(2026, 9, 25), TZ) is None  # 中秋
    assert clock_ping(clock, date(2026, 9, 28), TZ) == ("late", 1)


def test_a_supervision_order_runs_out_while_rectifying() -> None:
    case = rectifying(_at(date(2026, 9, 14)))
    assert ladder_run_out(case, TZ, RULES) is None  # no 督办 yet
    case.supervise(Actor.system(), _at(date(2026, 9, 24)), "逾期")
    run_out = ladder_run_out(case, TZ, RULES)
    assert run_out is not None and run_out.date() == date(2026, 10, 9)  # 5 working days
    case.extend_deadline(STAFF, date(2026, 12, 1), "延期", _at(date(2026, 9, 25)))
    assert ladder_run_out(case, TZ, RULES) is None  # a new deadline: its own pings first


def test_the_rectification_deadline_is_looked_at_on_its_ping_days_only() -> None:
    deadline = date(2026, 10, 9)
    assert rectification_look(deadline, date(2026, 9, 22), 3) == date(2026, 10, 6)
    assert rectification_look(deadline, date(2026, 10, 8), 3) == deadline  # soon sent today
    assert rectification_look(deadline, deadline, 3) == date(2026, 10, 10)  # 调休 Saturday
    assert rectification_look(deadline, date(2026, 10, 10), 3) == date(2026, 10, 12)
