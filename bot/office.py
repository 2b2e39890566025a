"""Office staff's case work: work queues, the staff case view with possible duplicates,
overdue clocks and the decisions staff take on a case. Triage is bot/triage.py, merging
duplicates bot/merging.py, reports and exports bot/reporting.py, unbinding bot/invites.py.

Every method identifies the caller from the Telegram user id on the server side; a user who
is not bound as office staff is refused before anything is read. Case transitions go through
`CaseService.perform`, so the domain has the last word on role and status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.clocks import running_clock
from bot.domain import (
    CATEGORIES,
    Actor,
    Case,
    CaseAction,
    CaseEvent,
    InvalidInput,
    InvalidTransition,
    Role,
    Status,
)
from bot.duplicates import Duplicate, find_duplicates
from bot.ports import Clock, PersonInfo, UnitOfWork, UnitOfWorkFactory
from bot.services import CaseService, staff_member

QUEUE_LIMIT = 50
VERIFY_FAIL_DAYS = (7, 15, 30)  # new rectification periods offered when 回头看 fails


@dataclass(frozen=True)
class OfficeRules:
    tz: ZoneInfo
    duplicate_window_days: int = 14
    accept_working_days: int = 1
    propose_working_days: int = 5
    decide_working_days: int = 2


@dataclass(frozen=True)
class OverdueItem:
    """An open case past one of its clocks."""

    case: Case
    clock: str  # accept | propose | decide | rectify
    due: datetime  # local time
    days: int  # whole days past due (0 = later today than due)


@dataclass(frozen=True)
class StaffCase:
    """A case as office staff see it: everything, with names resolved."""

    case: Case
    entity_name: str | None
    district_name: str | None
    assignee_name: str | None
    people: dict[str, str]  # person code -> name, for the audit trail
    duplicates: list[Duplicate]
    evidence_count: int
    guess: tuple[str, float]  # the classifier's category and confidence at filing
    alternatives: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Counts:
    triage: int
    approvals: int
    verifications: int
    extensions: int
    overdue: int


class OfficeService:
    """What bound office staff do in chat, checked on the server for every call."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, cases: CaseService,
                 rules: OfficeRules) -> None:
        self.uow = uow
        self.clock = clock
        self.cases = cases
        self.rules = rules

    # --- identity and dates -------------------------------------------------------
    async def staff(self, user_id: int) -> PersonInfo:
        """The bound staff member behind this Telegram user, or a refusal."""
        return await staff_member(self.uow, user_id)

    def today(self) -> date:
        return self.clock.now().astimezone(self.rules.tz).date()

    def verify_fail_choices(self) -> list[tuple[int, date]]:
        """New rectification deadlines offered when a verification fails."""
        today = self.today()
        return [(d, today + timedelta(days=d)) for d in VERIFY_FAIL_DAYS]

    def deadline_after(self, days: int) -> date:
        """The deadline `days` after today, if `days` is one of the offered periods."""
        for offered, deadline in self.verify_fail_choices():
            if offered == days:
                return deadline
        raise InvalidInput("office.error.bad_button")

    # --- night alerts ----------------------------------------------------------------
    async def night_alerts(self, user_id: int) -> bool:
        """Whether this staff member's reminders reach them at night (22:00–07:00)."""
        return (await self.staff(user_id)).night_pings

    async def set_night_alerts(self, user_id: int, on: bool) -> bool:
        """Switch this staff member's night alerts on or off; returns the new setting."""
        person = await self.staff(user_id)
        async with self.uow() as uow:
            await uow.directory.set_night_pings(person.id, on)
            await uow.commit()
        return on

    # --- queues -------------------------------------------------------------------
    async def queue(self, user_id: int, status: Status, limit: int = QUEUE_LIMIT) -> list[Case]:
        """Cases waiting for the office in `status`, oldest first."""
        await self.staff(user_id)
        async with self.uow.read() as uow:
            return await uow.cases.list_by_status(status, limit=limit)

    async def extension_requests(self, user_id: int) -> list[Case]:
        """Rectifying cases whose supervisor asked for a later deadline, undecided."""
        await self.staff(user_id)
        async with self.uow.read() as uow:
            # The pending request lives in the events, so list with them (one query).
            loaded = await uow.cases.list_by_status(Status.RECTIFYING, limit=500,
                                                    with_events=True)
        return [c for c in loaded if c.pending_extension is not None]

    async def overdue(self, user_id: int) -> list[OverdueItem]:
        """Open cases past a clock: rectification deadlines first, then the oldest."""
        await self.staff(user_id)
        now = self.clock.now().astimezone(self.rules.tz)
        async with self.uow.read() as uow:
            late = await uow.cases.overdue_rectifications(now.date())
            loaded = await uow.cases.list_by_status(Status.ASSIGNED, Status.ACCEPTED,
                                                    Status.PROPOSED, limit=500,
                                                    with_events=True)
        items = []
        for case in late:
            assert case.rectify_deadline is not None
            due = datetime.combine(case.rectify_deadline, time(23, 59, 59), tzinfo=self.rules.tz)
            items.append(OverdueItem(case, "rectify", due, (now.date() - due.date()).days))
        for full in loaded:
            clock = self.clock_of(full)
            if clock is not None and clock[1] < now:
                items.append(OverdueItem(full, clock[0], clock[1], (now - clock[1]).days))
        return sorted(items, key=lambda item: (item.clock != "rectify", item.due))

    def clock_of(self, case: Case) -> tuple[str, datetime] | None:
        """The clock running on a case now and when it runs out (local time)."""
        rules = self.rules
        clock = running_clock(case, rules.tz, accept_days=rules.accept_working_days,
                              propose_days=rules.propose_working_days,
                              decide_days=rules.decide_working_days)
        return (clock.name, clock.due) if clock else None

    async def counts(self, user_id: int) -> Counts:
        """How much is waiting in each office queue (the /office menu)."""
        await self.staff(user_id)
        async with self.uow.read() as uow:
            triage = await uow.cases.count_by_status(Status.TRIAGE)
            approvals = await uow.cases.count_by_status(Status.PROPOSED)
            verify = await uow.cases.count_by_status(Status.RECTIFICATION_REPORTED)
        return Counts(triage, approvals, verify, len(await self.extension_requests(user_id)),
                      len(await self.overdue(user_id)))

    # --- one case -----------------------------------------------------------------
    async def detail(self, user_id: int, reference: str) -> StaffCase:
        """Everything about one case, names resolved, with possible duplicates."""
        await self.staff(user_id)
        _, case = await self.cases.view(user_id, reference)
        async with self.uow.read() as uow:
            evidence = len(await uow.cases.evidence(case))
            entity = await _entity_name(uow, case)
            district = None
            if case.district_code:
                district = (await uow.directory.names("district", [case.district_code])).get(
                    case.district_code)
            codes = {e.actor for e in case.events if e.actor_role in (Role.STAFF,
                                                                     Role.SUPERVISOR)}
            codes |= {str(e.data[k]) for e in case.events for k in ("assignee", "previous")
                      if e.data.get(k)}
            if case.assignee_code:
                codes.add(case.assignee_code)
            people = await uow.directory.names("person", sorted(codes)) if codes else {}
            duplicates = (await find_duplicates(uow, case, self.rules.duplicate_window_days)
                          if case.is_open else [])
        return StaffCase(case=case, entity_name=entity, district_name=district,
                         assignee_name=people.get(case.assignee_code or ""), people=people,
                         duplicates=duplicates, evidence_count=evidence, guess=filed_guess(case),
                         alternatives=filed_alternatives(case))

    # --- transitions ----------------------------------------------------------------

    async def approve(self, user_id: int, reference: str) -> Case:
        await self.staff(user_id)
        return await self.cases.perform(user_id, reference,
                                        lambda c, a, now: c.approve_proposal(a, now))

    async def reject(self, user_id: int, reference: str, comment: str) -> Case:
        await self.staff(user_id)
        return await self.cases.perform(user_id, reference,
                                        lambda c, a, now: c.reject_proposal(a, comment, now))

    async def verify_passed(self, user_id: int, reference: str) -> Case:
        await self.staff(user_id)
        return await self.cases.perform(user_id, reference, lambda c, a, now:
                                        c.verify_rectification(a, now, passed=True))

    async def verify_failed(self, user_id: int, reference: str, new_deadline: date,
                            comment: str) -> Case:
        await self.staff(user_id)
        return await self.cases.perform(user_id, reference, lambda c, a, now:
                                        c.verify_rectification(a, now, passed=False,
                                                               comment=comment,
                                                               new_deadline=new_deadline))

    async def record_interview(self, user_id: int, reference: str, held_on: date, who: str,
                               outcome: str) -> Case:
        """Record the 约谈 the escalation ladder asked for."""
        await self.staff(user_id)
        return await self.cases.perform(user_id, reference, lambda c, a, now:
                                        c.record_interview(a, held_on, who, outcome, now))

    async def record_county_report(self, user_id: int, reference: str, note: str) -> Case:
        """Record the report to the county office (报告县级督导部门)."""
        await self.staff(user_id)
        return await self.cases.perform(user_id, reference, lambda c, a, now:
                                        c.record_county_report(a, note, now))

    async def grant_extension(self, user_id: int, reference: str) -> Case:
        """Extend the deadline to the date the supervisor asked for (read from the case)."""
        await self.staff(user_id)

        def action(case: Case, actor: Actor, now: datetime) -> None:
            wanted = case.pending_extension
            if wanted is None:
                raise InvalidTransition("case.error.no_pending_extension")
            case.extend_deadline(actor, wanted, "", now)

        return await self.cases.perform(user_id, reference, action)

    async def refuse_extension(self, user_id: int, reference: str, reason: str) -> Case:
        await self.staff(user_id)
        if not reason.strip():
            raise InvalidInput("case.error.comment_required")
        return await self.cases.perform(user_id, reference,
                                        lambda c, a, now: c.refuse_extension(a, reason, now))

    async def supervise(self, user_id: int, reference: str, comment: str = "") -> Case:
        await self.staff(user_id)
        return await self.cases.perform(user_id, reference,
                                        lambda c, a, now: c.supervise(a, now, comment))

    async def check(self, user_id: int, reference: str, *actions: CaseAction) -> Case:
        """Refuse before a question is asked unless the staff member may take one of
        `actions` on the case now (the domain's `next_actions` decides)."""
        await self.staff(user_id)
        actor, case = await self.cases.view(user_id, reference)
        if not set(actions) & set(case.next_actions(actor)):
            if case.status is Status.RECTIFYING and CaseAction.REFUSE_EXTENSION in actions:
                raise InvalidInput("case.error.no_pending_extension")
            raise InvalidTransition("case.error.wrong_status", reference=case.reference,
                                    status=case.status.value)
        return case


def filed_guess(case: Case) -> tuple[str, float]:
    """The classifier's category and confidence when the tip was filed."""
    filed = _filed_event(case)
    if filed is None:
        return case.category, case.confidence
    return (str(filed.data.get("category", case.category)),
            float(filed.data.get("confidence", case.confidence)))


def filed_alternatives(case: Case) -> list[tuple[str, float]]:
    """The classifier's runner-up categories, if the filing event recorded them."""
    filed = _filed_event(case)
    raw = filed.data.get("alternatives") if filed else None
    out: list[tuple[str, float]] = []
    if isinstance(raw, list):
        for item in raw:
            if (isinstance(item, list | tuple) and len(item) == 2 and item[0] in CATEGORIES
                    and isinstance(item[1], int | float)):
                out.append((str(item[0]), float(item[1])))
    return out


def _filed_event(case: Case) -> CaseEvent | None:
    return next((e for e in case.events if e.action == "filed"), None)


async def _entity_name(uow: UnitOfWork, case: Case) -> str | None:
    if case.school_code:
        return (await uow.directory.names("school", [case.school_code])).get(case.school_code)
    if case.institution_code:
        return (await uow.directory.names("institution", [case.institution_code])).get(
            case.institution_code)
    return None
