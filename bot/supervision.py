"""Supervisor use cases beyond one transition: case lists by urgency, the supervisor's case
view, step checks before a multi-step dialogue, and school visits.

Every method identifies the supervisor from the Telegram user id on the server side; a
user who is not a bound supervisor (role responsible|tutoring) is refused before anything
is read. Case transitions go through `CaseService.perform`, so the domain decides.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.clocks import running_clock
from bot.domain import Actor, Case, CaseAction, Disposition, DomainError, InvalidInput, Status
from bot.duplicates import find_duplicates
from bot.ports import SUPERVISOR_ROLES, Clock, PersonInfo, UnitOfWork, UnitOfWorkFactory
from bot.services import CaseService, EvidenceInput
from bot.timerules import month_bounds

VISIT_DAYS_BACK = 31  # how far back a visit may be logged
DEADLINE_MAX_DAYS = 365  # the latest rectification deadline a supervisor may type
_FULL_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?$")
_SHORT_DATE = re.compile(r"^(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?$")
_ASSIGNING = frozenset({"routed", "assigned", "reopened"})


@dataclass(frozen=True)
class SupervisionRules:
    tz: ZoneInfo
    accept_working_days: int = 1
    propose_working_days: int = 5
    rectify_default_days: int = 15
    duplicate_window_days: int = 14


@dataclass(frozen=True)
class CaseLine:
    """One row of a supervisor's open-case list."""

    reference: str
    category: str
    status: Status
    due: datetime | None  # the next deadline the supervisor answers for, local time
    overdue_days: int  # > 0 only for an overdue rectification deadline
    assigned_at: datetime


@dataclass(frozen=True)
class SupervisorCase:
    """A case as its supervisor sees it (no parent identity; text masked by the views)."""

    case: Case
    entity_name: str | None
    evidence_count: int
    accept_due: datetime | None
    propose_due: datetime | None
    today: date
    duplicates: tuple[str, ...] = ()  # references of likely duplicates (staff may merge)


@dataclass(frozen=True)
class Coverage:
    """This month's visits: schools (责任督学) and tutoring institutions (联系督导)."""

    month_start: date
    visited: list[tuple[str, str]]
    unvisited: list[tuple[str, str]]
    institutions_visited: list[tuple[str, str]] = field(default_factory=list)
    institutions_unvisited: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.visited) + len(self.unvisited)

    @property
    def institutions_total(self) -> int:
        return len(self.institutions_visited) + len(self.institutions_unvisited)


@dataclass(frozen=True)
class VisitLogged:
    school_name: str  # the school's or the institution's name
    visit_date: date
    with_photo: bool
    coverage: Coverage
    institution: bool = False


# Dry runs of each dialogue's final transition, so a button that starts a dialogue is refused
# at once (by the domain's own rules) instead of after the supervisor has typed an answer.
_STEPS: dict[str, Callable[[Case, Actor, datetime], Any]] = {
    "back": lambda c, a, now: c.hand_back(a, "·", now),
    "ask": lambda c, a, now: c.request_info(a, "·", now),
    "propose": lambda c, a, now: c.propose(a, Disposition.UNFOUNDED, now),
    "done": lambda c, a, now: c.report_rectified(a, "", now),
    "extend": lambda c, a, now: c.request_extension(
        a, (c.rectify_deadline or now.date()) + timedelta(days=365), "·", now),
}


class SupervisionService:
    """What a bound supervisor does in chat, checked on the server for every call."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, cases: CaseService,
                 rules: SupervisionRules) -> None:
        self.uow = uow
        self.clock = clock
        self.cases = cases
        self.rules = rules

    # --- identity and dates -------------------------------------------------------
    async def supervisor(self, user_id: int) -> PersonInfo:
        """The bound supervisor behind this Telegram user, or a refusal."""
        async with self.uow.read() as uow:
            person = await uow.directory.person_by_user(user_id)
        if person is not None and person.role == "staff":
            raise DomainError("sv.error.staff_not_supervisor")  # bound: point to their own
        if person is None or person.role not in SUPERVISOR_ROLES:
            raise DomainError("sv.error.not_supervisor")
        return person

    def today(self) -> date:
        return self.clock.now().astimezone(self.rules.tz).date()

    def deadline_choices(self) -> list[tuple[int, date, bool]]:
        """Rectification periods offered: (days, deadline, is_default)."""
        default = self.rules.rectify_default_days
        today = self.today()
        return [(d, today + timedelta(days=d), d == default)
                for d in sorted({7, default, 30})]

    def deadline_after(self, days: int) -> date:
        """The rectification deadline `days` after today, if `days` is one offered."""
        for offered, deadline, _ in self.deadline_choices():
            if offered == days:
                return deadline
        raise DomainError("sv.error.bad_button")

    def deadline_from_text(self, text: str) -> date:
        """A rectification deadline typed by the supervisor: 2026-12-20, 2026/12/20,
        2026年12月20日, 12月20日, 12/20 or 12-20 (full-width digits too). A date without a
        year is this year's, or next year's when its month has already passed (1月5日 typed
        in December). Past dates, today, and dates more than a year ahead are refused."""
        today = self.today()
        raw = unicodedata.normalize("NFKC", text).strip()
        found = _FULL_DATE.match(raw)
        try:
            if found:
                deadline = date(int(found[1]), int(found[2]), int(found[3]))
            elif (short := _SHORT_DATE.match(raw)) is not None:
                month, day = int(short[1]), int(short[2])
                year = today.year + 1 if month < today.month else today.year
                deadline = date(year, month, day)
            else:
                raise InvalidInput("sv.error.bad_deadline")
        except ValueError as exc:  # e.g. 2月30日
            raise InvalidInput("sv.error.bad_deadline") from exc
        if deadline <= today:
            raise InvalidInput("sv.error.deadline_past", date=deadline.isoformat())
        if deadline > today + timedelta(days=DEADLINE_MAX_DAYS):
            raise InvalidInput("sv.error.deadline_too_far", date=deadline.isoformat(),
                               latest=(today + timedelta(days=DEADLINE_MAX_DAYS)).isoformat())
        return deadline

    @staticmethod
    def extension_choices(case: Case, today: date) -> list[tuple[int, date]]:
        """Extension targets: +7/+15/+30 days from the current deadline (or from today)."""
        base = case.rectify_deadline or today
        return [(d, base + timedelta(days=d)) for d in (7, 15, 30)]

    # --- cases ----------------------------------------------------------------------
    async def check_step(self, user_id: int, reference: str, step: str) -> Case:
        """Refuse now if the dialogue `step` could not end in a valid transition."""
        await self.supervisor(user_id)
        actor, case = await self.cases.view(user_id, reference)
        trial = copy.deepcopy(case)
        _STEPS[step](trial, actor, self.clock.now())
        return case

    async def detail(self, user_id: int, reference: str) -> SupervisorCase:
        """The supervisor's view of one of their cases."""
        await self.supervisor(user_id)
        _, case = await self.cases.view(user_id, reference)
        async with self.uow() as uow:
            evidence = len(await uow.cases.evidence(case))
            entity = None
            if case.school_code:
                entity = (await uow.directory.names("school", [case.school_code])).get(
                    case.school_code)
            elif case.institution_code:
                entity = (await uow.directory.names("institution", [case.institution_code])
                          ).get(case.institution_code)
            duplicates = await self._duplicates(uow, case)
        due = self._clock_due(case)
        accept_due = due if case.status is Status.ASSIGNED else None
        propose_due = due if case.status is Status.ACCEPTED else None
        return SupervisorCase(case, entity, evidence, accept_due, propose_due, self.today(),
                              duplicates)

    async def _duplicates(self, uow: UnitOfWork, case: Case) -> tuple[str, ...]:
        """References of likely duplicates of an open case (the same check staff see)."""
        if not case.is_open:
            return ()
        found = await find_duplicates(uow, case, self.rules.duplicate_window_days)
        return tuple(d.reference for d in found)

    async def open_cases(self, user_id: int) -> list[CaseLine]:
        """The supervisor's open cases: overdue rectification first, then nearest deadline,
        then the longest assigned."""
        person = await self.supervisor(user_id)
        async with self.uow() as uow:
            # The clocks need the assignment times, so the list comes with events.
            loaded = await uow.cases.list_for_assignee(person.code, with_events=True)
        today = self.today()
        lines = [self._line(c, today) for c in loaded if c is not None]
        return sorted(lines, key=lambda line: (
            line.overdue_days <= 0,
            line.due or datetime.max.replace(tzinfo=self.rules.tz),
            line.assigned_at))

    def _line(self, case: Case, today: date) -> CaseLine:
        due = self._clock_due(case)
        overdue = 0
        if case.status is Status.RECTIFYING and case.rectify_deadline:
            due = datetime.combine(case.rectify_deadline, time(23, 59, 59), tzinfo=self.rules.tz)
            overdue = max(0, (today - case.rectify_deadline).days)
        return CaseLine(case.reference, case.category, case.status, due, overdue,
                        _assigned_at(case).astimezone(self.rules.tz))

    def _clock_due(self, case: Case) -> datetime | None:
        """When the accept or propose clock runs out (paused while awaiting the parent)."""
        clock = running_clock(case, self.rules.tz, accept_days=self.rules.accept_working_days,
                              propose_days=self.rules.propose_working_days, decide_days=0)
        return clock.due if clock and clock.name in ("accept", "propose") else None

    async def accept(self, user_id: int, reference: str) -> Case:
        """Accept an assigned case; a second tap is told politely that it is already done."""
        await self.supervisor(user_id)
        try:
            return await self.cases.perform(user_id, reference,
                                            lambda c, a, now: c.accept(a, now))
        except DomainError as err:
            if err.key == "case.error.wrong_status":
                _, case = await self.cases.view(user_id, reference)
                if case.status is not Status.ASSIGNED and any(
                        e.action == "accepted" for e in case.events):
                    raise DomainError("sv.error.already_accepted",
                                      reference=case.reference) from err
            raise

    async def hand_back(self, user_id: int, reference: str, reason: str) -> Case:
        await self.supervisor(user_id)
        return await self.cases.perform(user_id, reference,
                                        lambda c, a, now: c.hand_back(a, reason, now))

    async def ask_parent(self, user_id: int, reference: str, question: str) -> Case:
        """Relay a question to the parent (the service queues it for the bot to deliver)."""
        await self.supervisor(user_id)
        return await self.cases.perform(user_id, reference,
                                        lambda c, a, now: c.request_info(a, question, now))

    async def propose(self, user_id: int, reference: str, disposition: Disposition, *,
                      note: str = "", deadline: date | None = None,
                      transfer_to: str = "") -> Case:
        await self.supervisor(user_id)
        return await self.cases.perform(user_id, reference, lambda c, a, now: c.propose(
            a, disposition, now, note=note, deadline=deadline, transfer_to=transfer_to))

    async def add_rectification_photo(self, user_id: int, reference: str,
                                      photo: EvidenceInput) -> None:
        """Keep a photo as evidence of the rectification, while it can still be reported."""
        await self.check_step(user_id, reference, "done")
        await self.cases.add_evidence(user_id, reference, photo)

    async def report_rectified(self, user_id: int, reference: str, note: str) -> Case:
        await self.supervisor(user_id)
        return await self.cases.perform(user_id, reference,
                                        lambda c, a, now: c.report_rectified(a, note, now))

    async def check_recheck(self, user_id: int, reference: str) -> Case:
        """Refuse now unless this supervisor owes the case a 回头看 re-check."""
        await self.supervisor(user_id)
        actor, case = await self.cases.view(user_id, reference)
        if CaseAction.RECHECK not in case.next_actions(actor):
            raise DomainError("case.error.no_pending_recheck", reference=case.reference)
        return case

    async def recheck(self, user_id: int, reference: str, days: int, note: str,
                      photo: str = "") -> Case:
        """Record the 回头看 re-check: `days` 0 = the rectification holds; otherwise it
        failed and rectification starts again with a deadline `days` from today."""
        await self.supervisor(user_id)
        deadline = self.deadline_after(days) if days else None
        return await self.cases.perform(user_id, reference, lambda c, a, now: c.recheck(
            a, now, passed=deadline is None, note=note, new_deadline=deadline, photo=photo))

    async def request_extension(self, user_id: int, reference: str, new_deadline: date,
                                reason: str) -> Case:
        await self.supervisor(user_id)
        return await self.cases.perform(user_id, reference, lambda c, a, now:
                                        c.request_extension(a, new_deadline, reason, now))

    # --- school visits ---------------------------------------------------------------
    async def schools(self, user_id: int) -> list[tuple[str, str]]:
        """The schools this supervisor is responsible for: (code, name)."""
        person = await self.supervisor(user_id)
        async with self.uow() as uow:
            return await uow.directory.schools_of(person.code)

    async def school_name(self, user_id: int, school_code: str) -> str:
        """The name of one of this supervisor's schools; any other code is refused."""
        for code, name in await self.schools(user_id):
            if code == school_code:
                return name
        raise DomainError("sv.error.not_your_school")

    async def institutions(self, user_id: int) -> list[tuple[str, str]]:
        """The tutoring institutions this (liaison) supervisor visits: (code, name)."""
        person = await self.supervisor(user_id)
        async with self.uow.read() as uow:
            return await uow.directory.institutions_of(person.code)

    async def institution_name(self, user_id: int, institution_code: str) -> str:
        """The name of one of this supervisor's institutions; any other code is refused."""
        for code, name in await self.institutions(user_id):
            if code == institution_code:
                return name
        raise DomainError("sv.error.not_your_institution")

    async def log_visit(self, user_id: int, school_code: str, visit_date: date, note: str,
                        photo_file_id: str = "", *, institution: bool = False) -> VisitLogged:
        """Record a visit to one of the supervisor's schools (or, with `institution`, one of
        their tutoring institutions) and return the month's coverage."""
        person = await self.supervisor(user_id)
        today = self.check_visit_date(visit_date)
        async with self.uow() as uow:
            if institution:
                places = dict(await uow.directory.institutions_of(person.code))
                if school_code not in places:
                    raise DomainError("sv.error.not_your_institution")
                await uow.directory.add_institution_visit(person.code, school_code, visit_date,
                                                          note.strip(), photo_file_id,
                                                          self.clock.now())
            else:
                places = dict(await uow.directory.schools_of(person.code))
                if school_code not in places:
                    raise DomainError("sv.error.not_your_school")
                await uow.directory.add_visit(person.code, school_code, visit_date,
                                              note.strip(), photo_file_id, self.clock.now())
            await uow.commit()
        return VisitLogged(places[school_code], visit_date, bool(photo_file_id),
                           await self._coverage(person, today), institution)

    def check_visit_date(self, visit_date: date) -> date:
        """Refuse a visit date in the future or too long ago; returns today."""
        today = self.today()
        if not today - timedelta(days=VISIT_DAYS_BACK) <= visit_date <= today:
            raise InvalidInput("sv.error.bad_visit_date", days=VISIT_DAYS_BACK)
        return today

    async def coverage(self, user_id: int) -> Coverage:
        """This month's visited and unvisited schools of the supervisor."""
        return await self._coverage(await self.supervisor(user_id), self.today())

    async def _coverage(self, person: PersonInfo, today: date) -> Coverage:
        start, nxt = month_bounds(today)
        async with self.uow() as uow:
            schools = await uow.directory.schools_of(person.code)
            unvisited = {code for code, _, _ in
                         await uow.directory.unvisited_schools(start, nxt, person.code)}
            institutions = await uow.directory.institutions_of(person.code)
            waiting = {code for code, _, _ in
                       await uow.directory.unvisited_institutions(start, nxt, person.code)}
        return Coverage(start, [s for s in schools if s[0] not in unvisited],
                        [s for s in schools if s[0] in unvisited],
                        [i for i in institutions if i[0] not in waiting],
                        [i for i in institutions if i[0] in waiting])


def _assigned_at(case: Case) -> datetime:
    """When the case last reached its current supervisor."""
    return next((e.at for e in reversed(case.events) if e.action in _ASSIGNING),
                case.created_at)
