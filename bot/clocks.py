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
from datetime import date, datetime, timedelta, tzinfo
from typing import Protocol

from bot.domain import Case, Status
from bot.timerules import add_working_days

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
