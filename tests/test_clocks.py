"""Service clocks: working days, and the propose clock pausing while the parent is asked."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.clocks import running_clock
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
