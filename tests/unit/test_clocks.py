"""Service clocks: working days, and the propose clock pausing while the parent is asked."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.clocks import ClockDays, first_clocks, running_clock, service_clocks
from bot.domain import Actor, Case, Disposition, Responsibility, Role, route

TZ = ZoneInfo("Asia/Shanghai")
MON = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)  # a Monday
SUP = Actor(Role.SUPERVISOR, person_code="S01")
PARENT = Actor(Role.PARENT, user_id=7)


def assigned(at: datetime) -> Case:
    case = Case.file(reference="SJ-2026-000001", text="作业太多", category="homework_burden",
                     confidence=0.9, reporter_user_id=7, now=at, school_code="X")
    case.route(route("homework_burden", 0.9, 0.5, Responsibility(school_supervisor="S01")), at)
    return case


def clock(case: Case):  # type: ignore[no-untyped-def]
    return running_clock(case, TZ, accept_days=1, propose_days=5, decide_days=2)


def test_accept_clock_skips_the_weekend() -> None:
    friday = datetime(2026, 11, 27, 16, 0, tzinfo=TZ)
    running = clock(assigned(friday))
    assert running.name == "accept" and running.due.date().isoformat() == "2026-11-30"


def test_propose_clock_pauses_while_waiting_for_the_parent() -> None:
    case = assigned(MON)
    case.accept(SUP, MON)
    before = clock(case)
    assert before.name == "propose" and before.due == datetime(2026, 11, 30, 10, 0, tzinfo=TZ)
    case.request_info(SUP, "几年级？", MON + timedelta(hours=1))
    assert clock(case) is None  # paused
    case.add_information(PARENT, "三年级", MON + timedelta(days=2, hours=1))
    resumed = clock(case)
    assert resumed.name == "propose" and resumed.paused == timedelta(days=2)
    assert resumed.due == before.due + timedelta(days=2)


def test_decide_clock_for_staff() -> None:
    case = assigned(MON)
    case.accept(SUP, MON)
    case.propose(SUP, Disposition.UNFOUNDED, MON + timedelta(hours=2))
    running = clock(case)
    assert running.name == "decide"
    assert running.due == datetime(2026, 11, 25, 12, 0, tzinfo=TZ)


def test_first_clocks_move_the_propose_deadline_by_the_wait() -> None:
    case = assigned(MON)
    case.accept(SUP, MON + timedelta(hours=2))
    case.request_info(SUP, "几年级？", MON + timedelta(hours=3))
    case.add_information(PARENT, "三年级", MON + timedelta(days=3, hours=3))
    case.propose(SUP, Disposition.FIXED, MON + timedelta(days=9), note="已调整")
    first = first_clocks(case.events, TZ, ClockDays())
    assert first.accept is not None and first.accept.met(MON) is True
    assert first.propose is not None and first.propose.paused == timedelta(days=3)
    assert first.propose.due == datetime(2026, 12, 3, 12, 0, tzinfo=TZ)
    assert first.propose.met(MON + timedelta(days=30)) is True  # stopped in time stays met


def test_a_paused_clock_is_late_only_if_it_ran_out_before_the_pause() -> None:
    case = assigned(MON)
    case.accept(SUP, MON)
    case.request_info(SUP, "几年级？", MON + timedelta(hours=1))
    paused = first_clocks(case.events, TZ, ClockDays()).propose
    assert paused is not None and not paused.running
    assert paused.met(MON + timedelta(days=30)) is None  # waiting for the parent, not late
    late = assigned(MON)
    late.accept(SUP, MON)
    late.request_info(SUP, "几年级？", MON + timedelta(days=8))
    clock = first_clocks(late.events, TZ, ClockDays()).propose
    assert clock is not None and clock.met(MON + timedelta(days=30)) is False


def test_a_hand_back_stops_the_clock_and_a_new_assignment_starts_another() -> None:
    case = assigned(MON)
    case.hand_back(SUP, "不是我负责的学校", MON + timedelta(hours=1))
    case.assign(Actor(Role.STAFF, person_code="O01"), "S02", MON + timedelta(days=2))
    clocks = service_clocks(case.events, TZ, ClockDays())
    assert [(c.name, c.stopped) for c in clocks] == [
        ("accept", MON + timedelta(hours=1)), ("accept", None)]
    running = clock(case)
    assert running is not None and running.started == MON + timedelta(days=2)
    assert first_clocks(case.events, TZ, ClockDays()).accept == clocks[0]
