"""Service clocks (受理 1 working day, 提出意见 5, 督导室审核 2) read from a case's audit trail.

The propose clock pauses while the case waits for the parent's information (需补充材料) and
resumes when it arrives: the waiting time is added to the deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from bot.domain import Case, Status
from bot.timerules import add_working_days


@dataclass(frozen=True)
class ServiceClock:
    name: str  # accept | propose | decide
    started: datetime
    due: datetime
    paused: timedelta = timedelta(0)


def _period_start(case: Case, status: Status, ignore_from: tuple[Status, ...] = ()) -> datetime:
    """When the case last entered `status` (returns from `ignore_from` do not restart it)."""
    for event in reversed(case.events):
        if (event.to_status is status and event.from_status is not status
                and event.from_status not in ignore_from):
            return event.at
    return case.created_at


def _paused_since(case: Case, start: datetime) -> timedelta:
    """Time spent waiting for the parent's information after `start`."""
    paused = timedelta(0)
    waiting_since: datetime | None = None
    for event in case.events:
        if event.at < start:
            continue
        if event.to_status is Status.AWAITING_INFO and event.from_status is not \
                Status.AWAITING_INFO:
            waiting_since = event.at
        elif waiting_since is not None and event.from_status is Status.AWAITING_INFO \
                and event.to_status is not Status.AWAITING_INFO:
            paused += event.at - waiting_since
            waiting_since = None
    return paused


def running_clock(case: Case, tz: tzinfo, *, accept_days: int, propose_days: int,
                  decide_days: int) -> ServiceClock | None:
    """The clock running on the case now, or None (no clock, or paused awaiting the parent)."""
    if case.status is Status.ASSIGNED:
        start = _period_start(case, Status.ASSIGNED).astimezone(tz)
        return ServiceClock("accept", start, add_working_days(start, accept_days))
    if case.status is Status.ACCEPTED:
        start = _period_start(case, Status.ACCEPTED, (Status.AWAITING_INFO,)).astimezone(tz)
        paused = _paused_since(case, start)
        return ServiceClock("propose", start, add_working_days(start, propose_days) + paused,
                            paused)
    if case.status is Status.PROPOSED:
        start = _period_start(case, Status.PROPOSED).astimezone(tz)
        return ServiceClock("decide", start, add_working_days(start, decide_days))
    return None
