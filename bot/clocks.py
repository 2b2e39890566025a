"""Service clocks (受理 1 working day, 提出意见 5, 督导室审核 2) read from a case's audit trail.

One computation for every reader: `/overdue` asks for the clock running now
(`running_clock`), reports and exports ask whether the first accept and propose clocks were
met (`first_clocks`); both walk the same status changes with `service_clocks`.
The propose clock pauses while the case waits for the parent's information (需补充材料) and
resumes when it arrives: the waiting time is added to the deadline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Protocol

from bot.domain import Case, Status
from bot.escalation import COUNTY_REPORT_DUE, INTERVIEW_DUE, INTERVIEWED, SUPERVISED, Rung
from bot.timerules import add_working_days, is_workday

# The status a clock runs in, and the clock's name.
_CLOCK_OF = {Status.ASSIGNED: "accept", Status.ACCEPTED: "propose", Status.PROPOSED: "decide"}


class StatusChange(Protocol):
    """One audit event as the clocks read it (the domain's CaseEvent, a read model's row)."""

    @property
    def at(self) -> datetime: ...
    @property
    def from_status(self) -> Status | None: ...
    @property
    def to_status(self) -> Status: ...


@dataclass(frozen=True)
class ClockDays:
    """Working days each clock allows."""

    accept: int = 1
    propose: int = 5
    decide: int = 2

    def of(self, name: str) -> int:
        return {"accept": self.accept, "propose": self.propose, "decide": self.decide}[name]


@dataclass(frozen=True)
class ServiceClock:
    name: str  # accept | propose | decide
    started: datetime
    due: datetime  # moved on by every finished pause
    paused: timedelta = timedelta(0)
    stopped: datetime | None = None  # when the case left the clock's status
    waiting_since: datetime | None = None  # paused now, awaiting the parent since then

    @property
    def running(self) -> bool:
        return self.stopped is None and self.waiting_since is None

    def met(self, now: datetime) -> bool | None:
        """True or False once stopped; False when it ran out; None while in time."""
        if self.stopped is not None:
            return self.stopped <= self.due
        last = self.waiting_since or now  # a paused clock does not run out
        return False if last > self.due else None


def _start(name: str, at: datetime, tz: tzinfo, days: ClockDays) -> ServiceClock:
    started = at.astimezone(tz)
    return ServiceClock(name, started, add_working_days(started, days.of(name)))


def service_clocks(events: Iterable[StatusChange], tz: tzinfo,
                   days: ClockDays) -> list[ServiceClock]:
    """Every clock the case's status changes started, oldest first (the last may still run).

    A clock starts when the case enters its status and stops when it leaves it; events that
    keep the status (a reassignment to the same status, a note) change nothing. Leaving the
    propose clock's status for 需补充材料 pauses it; the parent's answer resumes it.
    """
    clocks: list[ServiceClock] = []
    current: ServiceClock | None = None
    for event in events:
        if event.to_status is event.from_status:
            continue
        if current is not None and current.waiting_since is not None:
            pause = event.at - current.waiting_since
            current = replace(current, paused=current.paused + pause, due=current.due + pause,
                              waiting_since=None)
            if event.to_status is Status.ACCEPTED:
                continue  # the answer came: the same propose clock runs on
        elif current is not None and current.name == "propose" \
                and event.to_status is Status.AWAITING_INFO:
            current = replace(current, waiting_since=event.at)
            continue
        if current is not None:
            clocks.append(replace(current, stopped=event.at))
            current = None
        name = _CLOCK_OF.get(event.to_status)
        if name is not None:
            current = _start(name, event.at, tz, days)
    if current is not None:
        clocks.append(current)
    return clocks


def running_clock(case: Case, tz: tzinfo, *, accept_days: int, propose_days: int,
                  decide_days: int) -> ServiceClock | None:
    """The clock running on the case now, or None (no clock, or paused awaiting the parent)."""
    days = ClockDays(accept_days, propose_days, decide_days)
    clocks = service_clocks(case.events, tz, days)
    last = clocks[-1] if clocks else None
    if last is not None and last.stopped is None:
        return last if last.running else None
    name = _CLOCK_OF.get(case.status)
    if name is None:
        return None
    return _start(name, case.created_at, tz, days)  # no audit trail loaded: count from filing


@dataclass(frozen=True)
class FirstClocks:
    """The case's first accept and propose clocks (None: never started)."""

    accept: ServiceClock | None
    propose: ServiceClock | None


def first_clocks(events: Iterable[StatusChange], tz: tzinfo, days: ClockDays) -> FirstClocks:
    """The first accept and propose clocks: what the on-time rates and columns measure."""
    clocks = service_clocks(events, tz, days)
    return FirstClocks(next((c for c in clocks if c.name == "accept"), None),
                       next((c for c in clocks if c.name == "propose"), None))


def rectification_met(events: Iterable[StatusChange], status: Status, deadline: date | None,
                      tz: tzinfo, today: date) -> bool | None:
    """The rectification deadline, judged as `/overdue` judges it: a case still rectifying
    past its deadline day (local) has missed it; one reported done has met it if the last
    report came by the end of the deadline day. None: no deadline, or still in time."""
    if deadline is None:
        return None
    if status is Status.RECTIFYING:
        return False if today > deadline else None
    reported = [e.at for e in events if e.to_status is Status.RECTIFICATION_REPORTED
                and e.from_status is not Status.RECTIFICATION_REPORTED]
    if not reported:
        return None
    return reported[-1].astimezone(tz).date() <= deadline


def stage_tally(events: Iterable[StatusChange], status: Status, deadline: date | None,
                tz: tzinfo, days: ClockDays, now: datetime) -> dict[str, tuple[int, int]]:
    """Every stage clock of a case that has been decided: name -> (met, decided).

    Each accept, propose and decide clock the audit trail started counts (a case handed back
    and reassigned has two accept clocks), a running clock counts once it has run out (as
    `/overdue` lists it), and the rectification deadline counts as `rectification_met` says.
    """
    changes = list(events)
    tally: dict[str, tuple[int, int]] = {}
    for clock in service_clocks(changes, tz, days):
        met = clock.met(now)
        if met is not None:
            done, total = tally.get(clock.name, (0, 0))
            tally[clock.name] = (done + met, total + 1)
    rectified = rectification_met(changes, status, deadline, tz, now.astimezone(tz).date())
    if rectified is not None:
        tally["rectify"] = (int(rectified), 1)
    return tally
# --- every stage clock, as the scheduler pings them -------------------------------------------
@dataclass(frozen=True)
class StageRules:
    """Working days each stage clock allows, and the ladder's and re-check's days."""

    accept: int = 1
    propose: int = 5
    decide: int = 2
    verify: int = 5  # staff check a reported rectification (回头看)
    extension: int = 2  # staff decide an extension request
    interview: int = 5  # staff record the 约谈 the ladder asked for
    county_report: int = 5  # staff record the report to the county office
    ladder: int = 5  # a 督办 (or 约谈) still not rectified this many working days later climbs
    recheck_after: int = 30  # calendar days from verification to the 回头看 re-check

    @property
    def service(self) -> ClockDays:
        return ClockDays(self.accept, self.propose, self.decide)


# Who answers for each clock: the assigned supervisor or office staff.
OWNER = {"accept": "supervisor", "propose": "supervisor", "decide": "staff",
         "verify": "staff", "extension": "staff", "interview": "staff",
         "county_report": "staff", "recheck": "supervisor"}
# The clocks whose overdue brings a 督办 (the ladder's own clocks are past that).
SUPERVISABLE = frozenset({"accept", "propose", "decide", "verify", "extension"})


@dataclass(frozen=True)
class StageClock:
    name: str
    started: datetime
    due: datetime
    days: int  # working days allowed (the re-check: calendar days)

    @property
    def owner(self) -> str:
        return OWNER[self.name]

    @property
    def key(self) -> str:
        """Names this clock among all the case's clocks (for dedup keys)."""
        return f"{self.name}:{self.started.astimezone(UTC):%Y%m%d%H%M%S}"


def _last(case: Case, *actions: str) -> datetime | None:
    for event in reversed(case.events):
        if event.action in actions:
            return event.at
    return None


def stage_clocks(case: Case, tz: tzinfo, rules: StageRules) -> list[StageClock]:
    """The clocks running on the case now (a paused propose clock is not running)."""
    out: list[StageClock] = []

    def start(name: str, at: datetime, days: int) -> None:
        begun = at.astimezone(tz)
        out.append(StageClock(name, begun, add_working_days(begun, days), days))

    if case.status in _CLOCK_OF:
        clocks = service_clocks(case.events, tz, rules.service)
        last = clocks[-1] if clocks else None
        if last is not None and last.stopped is None and last.running:
            out.append(StageClock(last.name, last.started, last.due,
                                  rules.service.of(last.name)))
    elif case.status is Status.RECTIFICATION_REPORTED:
        at = _last(case, "rectification_reported")
        if at is not None:
            start("verify", at, rules.verify)
    elif case.status is Status.RECTIFYING and case.pending_extension is not None:
        at = _last(case, "extension_requested")
        if at is not None:
            start("extension", at, rules.extension)
    pending = case.pending_rung
    if pending is not None:
        at = _last(case, INTERVIEW_DUE if pending is Rung.INTERVIEW else COUNTY_REPORT_DUE)
        if at is not None:
            start("interview" if pending is Rung.INTERVIEW else "county_report", at,
                  rules.interview if pending is Rung.INTERVIEW else rules.county_report)
    verified = case.pending_recheck
    if verified is not None:
        local = verified.astimezone(tz)
        day = local.date() + timedelta(days=rules.recheck_after)
        while not is_workday(day):
            day += timedelta(days=1)
        out.append(StageClock("recheck", local, datetime.combine(day, time(23, 59, 59),
                                                                 tzinfo=tz),
                              rules.recheck_after))
    return out


def ladder_run_out(case: Case, tz: tzinfo, rules: StageRules) -> datetime | None:
    """When the case's 督办 (or recorded 约谈) runs out if it is still not rectified: the
    moment to climb a rung. None: nothing to run out (not rectifying, or awaiting staff)."""
    if case.status is not Status.RECTIFYING or case.pending_rung is not None \
            or case.rung is Rung.COUNTY_REPORT:
        return None  # not rectifying, awaiting staff, or at the top of the ladder
    for event in reversed(case.events):
        if event.action == INTERVIEWED or (event.action == SUPERVISED
                                            and event.to_status is Status.RECTIFYING):
            return add_working_days(event.at.astimezone(tz), rules.ladder)
        if event.action in (INTERVIEW_DUE, COUNTY_REPORT_DUE):
            return None  # climbed already; the next step starts once staff record it
        if event.action in ("approved", "verification_failed", "recheck_failed",
                            "deadline_extended"):
            return None  # a new deadline since: its own pings and 督办 come first
    return None


def _previous_workday(day: date) -> date:
    day -= timedelta(days=1)
    while not is_workday(day):
        day -= timedelta(days=1)
    return day


def _next_workday(day: date) -> date:
    day += timedelta(days=1)
    while not is_workday(day):
        day += timedelta(days=1)
    return day


def workday_after(day: date, count: int) -> date:
    """The working day `count` working days after `day`."""
    for _ in range(count):
        day = _next_workday(day)
    return day


def next_workday(day: date) -> date:
    """The first working day after `day`."""
    return _next_workday(day)


class WorkdayCounter:
    """Working days from many days up to one `end`, counted once: the daily overdue
    reminder asks for thousands of cases overdue for up to years."""

    def __init__(self, end: date) -> None:
        self.end = end
        self._known: dict[date, int] = {end: 0}
        self._earliest = end

    def since(self, start: date) -> int:
        """Working days after `start` up to and including `end` (0 if start >= end)."""
        if start >= self.end:
            return 0
        while self._earliest > start:  # extend the table back to `start`
            day = self._earliest
            self._known[day - timedelta(days=1)] = self._known[day] + (1 if is_workday(day)
                                                                       else 0)
            self._earliest = day - timedelta(days=1)
        return self._known[start]


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (0 if end <= start)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if is_workday(day):
            count += 1
    return count


def clock_ping(clock: StageClock, today: date, tz: tzinfo) -> tuple[str, int] | None:
    """Which ping the clock calls for today (working days only): "soon" on the working day
    before it runs out (clocks of 2+ days; sent late if missed), "today" on the day, "late"
    every working day after it with the working days overdue."""
    if not is_workday(today):
        return None
    due_day = clock.due.astimezone(tz).date()
    if today == due_day:
        return "today", 0
    if today > due_day:
        return "late", working_days_between(due_day, today)
    if clock.days >= 2 and today >= _previous_workday(due_day):
        return "soon", working_days_between(today, due_day)
    return None


def next_look(clock: StageClock, today: date, tz: tzinfo) -> date:
    """The next day on which this clock may call for something (a ping, a 督办)."""
    due_day = clock.due.astimezone(tz).date()
    if today < due_day:
        soon = _previous_workday(due_day)
        return soon if clock.days >= 2 and today < soon else due_day
    return _next_workday(today)


def rectification_look(deadline: date, today: date, days_before: int) -> date:
    """The next day the rectification deadline calls for something: its first ping
    (`days_before` days ahead), the day itself, then every working day while overdue."""
    first = deadline - timedelta(days=days_before)
    if today < first:
        return first
    if today < deadline:
        return deadline
    return _next_workday(today)
