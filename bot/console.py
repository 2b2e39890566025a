"""The office console's reads: a person's case list with filters and keyset paging, one case
with its evidence and audit trail, and the choices its action forms offer.

Changes go through the same services as in chat (office, triage, merging, supervision);
this module only reads, and checks who may see what exactly as the chat does: staff see every
case, a supervisor only the cases assigned to them, with the tip's personal data masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain import CATEGORIES, Case, CaseAction, DomainError, Role, Status
from bot.office import OfficeService
from bot.ports import CaseQuery, Clock, EvidenceItem, UnitOfWorkFactory
from bot.privacy import mask_personal_data
from bot.services import CaseService, staff_member
from bot.supervision import SupervisionService
from bot.triage import TriageService
from bot.web_login import WebUser

PAGE_SIZE = 50
SEARCH_LIMIT = 100  # characters of a search kept
SUPERVISOR_CHOICES = 40  # supervisors offered for (re)assigning; others by code


@dataclass(frozen=True)
class QueueFilters:
    """What the list form asks for; every field optional."""

    status: str = ""
    category: str = ""
    district: str = ""
    school: str = ""
    supervisor: str = ""
    date_from: date | None = None
    date_to: date | None = None
    overdue: bool = False
    text: str = ""
    before: int | None = None


@dataclass(frozen=True)
class QueuePage:
    cases: list[Case]
    next_before: int | None  # the cursor of the next page, if there is one
    people: dict[str, str]  # person code -> name
    places: dict[str, str]  # school/institution/district code -> name


@dataclass(frozen=True)
class CaseView:
    """One case as this person may see it now."""

    case: Case
    text: str  # masked for supervisors
    reporter: str | None  # name and phone, staff only and only if not anonymous
    entity_name: str | None
    district_name: str | None
    assignee_name: str | None
    people: dict[str, str]
    evidence: list[EvidenceItem]
    actions: tuple[CaseAction, ...]
    duplicates: list[str] = field(default_factory=list)
    supervisors: list[tuple[str, str]] = field(default_factory=list)  # for reassigning
    deadlines: list[tuple[int, date]] = field(default_factory=list)  # offered periods
    overdue_days: int = 0


@dataclass(frozen=True)
class Week:
    """Cases filed in one week of a period, by where they stand now."""

    start: date
    filed: int
    closed: int  # of those filed, closed by now
    overdue: int  # of those filed, rectifying past the deadline now

    @property
    def open(self) -> int:
        return self.filed - self.closed


class ConsoleService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, cases: CaseService,
                 office: OfficeService, supervision: SupervisionService, triage: TriageService,
                 tz: ZoneInfo) -> None:
        self.uow = uow
        self.clock = clock
        self.cases = cases
        self.office = office
        self.supervision = supervision
        self.triage = triage
        self.tz = tz

    def today(self) -> date:
        return self.clock.now().astimezone(self.tz).date()

    def _local_start(self, day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=self.tz)

    async def queue(self, user: WebUser, filters: QueueFilters,
                    limit: int = PAGE_SIZE) -> QueuePage:
        """This person's cases, newest first: every case for staff, a supervisor's own."""
        me = await self._check(user)
        statuses = tuple(s for s in Status if s.value == filters.status)
        query = CaseQuery(
            statuses=statuses,
            category=filters.category if filters.category in CATEGORIES else None,
            district_code=filters.district or None,
            school_code=filters.school or None,
            assignee_code=me.code if not me.is_staff else (filters.supervisor or None),
            created_from=self._local_start(filters.date_from) if filters.date_from else None,
            created_before=(self._local_start(filters.date_to + timedelta(days=1))
                            if filters.date_to else None),
            overdue_on=self.today() if filters.overdue else None,
            text=filters.text.strip()[:SEARCH_LIMIT],
            before_id=filters.before)
        async with self.uow.read() as uow:
            found = await uow.cases.search(query, limit + 1)
            shown = found[:limit]
            codes = sorted({c.assignee_code for c in shown if c.assignee_code})
            people = await uow.directory.names("person", codes) if codes else {}
            places: dict[str, str] = {}
            for kind, attr in (("school", "school_code"), ("institution", "institution_code"),
                               ("district", "district_code")):
                wanted = sorted({getattr(c, attr) for c in shown if getattr(c, attr)})
                if wanted:
                    places.update(await uow.directory.names(kind, wanted))
        more = len(found) > limit and shown and shown[-1].id is not None
        return QueuePage(shown, shown[-1].id if more else None, people, places)

    async def case(self, user: WebUser, reference: str) -> CaseView:
        """One case with evidence, audit trail and the actions this person may take now."""
        me = await self._check(user)
        actor, case = await self.cases.view(user.user_id, reference)
        async with self.uow.read() as uow:
            evidence = await uow.cases.evidence(case)
        today = self.today()
        overdue = 0
        if case.status is Status.RECTIFYING and case.rectify_deadline:
            overdue = max(0, (today - case.rectify_deadline).days)
        if me.is_staff:
            detail = await self.office.detail(user.user_id, reference)
            supervisors: list[tuple[str, str]] = []
            actions = case.next_actions(actor)
            if CaseAction.TRIAGE in actions or CaseAction.REASSIGN in actions:
                # The directory's responsible supervisors first (as the chat offers them);
                # any other supervisor can be typed by code.
                choices = await self.triage.supervisor_choices(user.user_id, reference,
                                                               case.category)
                supervisors = [(c.code, c.name) for c in choices[:SUPERVISOR_CHOICES]]
            reporter = None if case.anonymous else \
                f"{case.reporter_name or '—'} {case.reporter_phone or ''}".strip()
            return CaseView(case, case.text, reporter, detail.entity_name, detail.district_name,
                            detail.assignee_name, detail.people, evidence,
                            actions, [d.reference for d in detail.duplicates], supervisors,
                            self.office.verify_fail_choices(), overdue)
        seen = await self.supervision.detail(user.user_id, reference)
        people = {me.code: me.name}
        async with self.uow.read() as uow:
            codes = sorted({e.actor for e in case.events if e.actor_role is Role.STAFF})
            if codes:
                people.update(await uow.directory.names("person", codes))
        # A supervisor never sees who filed the tip, nor numbers in it (as in chat).
        for event in case.events:
            if event.comment:
                object.__setattr__(event, "comment", mask_personal_data(event.comment))
        deadlines = [(d, day) for d, day, _ in self.supervision.deadline_choices()]
        return CaseView(case, mask_personal_data(case.text), None, seen.entity_name, None,
                        me.name, people, evidence, case.next_actions(actor),
                        list(seen.duplicates), [], deadlines, overdue)

    async def weeks(self, user: WebUser, start: date, end: date) -> list[Week]:
        """Cases filed per week of [start, end] (weeks from Monday), by their status now;
        office staff only (the dashboard's "status over time")."""
        await staff_member(self.uow, user.user_id)
        first = start - timedelta(days=start.weekday())
        async with self.uow.read() as uow:
            facts = await uow.case_facts.created_between(
                self._local_start(start), self._local_start(end + timedelta(days=1)))
        today = self.today()
        buckets: dict[date, list[int]] = {}
        day = first
        while day <= end:
            buckets[day] = [0, 0, 0]
            day += timedelta(days=7)
        for fact in facts:
            if fact.merged_into is not None:
                continue  # counted under the case it joined, as reports do
            local = fact.created_at.astimezone(self.tz).date()
            bucket = buckets.get(local - timedelta(days=local.weekday()))
            if bucket is None:
                continue
            bucket[0] += 1
            bucket[1] += fact.status is Status.CLOSED
            bucket[2] += (fact.status is Status.RECTIFYING and fact.rectify_deadline is not None
                          and fact.rectify_deadline < today)
        return [Week(day, *counts) for day, counts in buckets.items()]

    async def _check(self, user: WebUser) -> WebUser:
        """The session's person must still be bound with the same role (unbinding ends it)."""
        async with self.uow.read() as uow:
            person = await uow.directory.person_by_user(user.user_id)
        if person is None or person.code != user.code or person.role != user.role:
            raise DomainError("web.error.not_bound")
        return user
