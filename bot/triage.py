"""Triage: office staff set a case's category and supervisor in one step, choosing from the
routing policy's suggestions (`domain.candidates`) first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain import (
    CATEGORIES,
    TUTORING_CATEGORIES,
    Actor,
    Case,
    InvalidInput,
    InvalidTransition,
    Status,
    candidates,
    route,
)
from bot.ports import SUPERVISOR_ROLES, PersonInfo, UnitOfWorkFactory
from bot.services import CaseService, staff_member


@dataclass(frozen=True)
class SupervisorChoice:
    code: str
    name: str
    role: str  # responsible | tutoring
    suggested: bool


class TriageService:
    """Who handles a case and under which category; bound office staff only."""

    def __init__(self, uow: UnitOfWorkFactory, cases: CaseService) -> None:
        self.uow = uow
        self.cases = cases

    async def supervisor_choices(self, user_id: int, reference: str,
                                 category: str) -> list[SupervisorChoice]:
        """Supervisors for a case: the directory's responsible ones first, then the rest."""
        await staff_member(self.uow, user_id)
        _, case = await self.cases.view(user_id, reference)
        async with self.uow.read() as uow:
            responsibility, _ = await uow.directory.responsibility(
                case.school_code, case.institution_code, case.district_code)
            people = [p for p in await uow.directory.people() if p.role in SUPERVISOR_ROLES]
        suggested = [c.code for c in candidates(category, responsibility,
                                                about_school=bool(case.school_code))]
        by_code = {p.code: p for p in people}
        first = [SupervisorChoice(c, by_code[c].name, by_code[c].role, True)
                 for c in suggested if c in by_code]
        # Without a responsible one (no school or institution known), the supervisors whose
        # kind of work the category is come first: tutoring supervisors for tutoring tips.
        kind = "tutoring" if category in TUTORING_CATEGORIES else "responsible"
        rest = sorted((SupervisorChoice(p.code, p.name, p.role, False) for p in people
                       if p.code not in suggested), key=lambda c: c.role != kind)
        return first + rest

    async def triage(self, user_id: int, reference: str, category: str,
                     supervisor_code: str) -> tuple[Case, PersonInfo]:
        """Set category and assignee in one transaction; a changed category is recorded as a
        `recategorised` event, which retraining reads as a correction."""
        await staff_member(self.uow, user_id)
        if category not in CATEGORIES:
            raise InvalidInput("case.error.unknown_category", category=category[:32])
        async with self.uow.read() as uow:
            person = await uow.directory.person(supervisor_code)
        if person is None:
            raise InvalidInput("case.error.unknown_person", code=supervisor_code[:32])
        if person.role not in SUPERVISOR_ROLES:
            raise InvalidInput("case.error.person_role", code=supervisor_code[:32])

        def action(case: Case, actor: Actor, now: datetime) -> None:
            # Check the assignment first so a refused assign never leaves a half correction.
            if case.status not in (Status.TRIAGE, Status.ASSIGNED, Status.ACCEPTED):
                raise InvalidTransition("case.error.wrong_status", reference=case.reference,
                                        status=case.status.value)
            old = case.category
            if category == old and supervisor_code == case.assignee_code:
                # A double tap, or a reassignment to the same person: nothing to do.
                raise InvalidTransition("office.error.already_assigned",
                                        reference=case.reference, name=person.name)
            if category != old:
                case.recategorise(actor, category, now)
            case.assign(actor, supervisor_code, now)

        return await self.cases.perform(user_id, reference, action), person


    async def decline(self, user_id: int, reference: str, reason: str) -> Case:
        """Close a tip at triage as 不予受理 (empty, abusive or unrelated) with a reason the
        parent is told; the domain checks the status (triage only) and the reason."""
        await staff_member(self.uow, user_id)
        return await self.cases.perform(user_id, reference,
                                        lambda c, a, now: c.decline(a, reason, now))
    async def set_entity(self, user_id: int, reference: str, kind: str,
                         code: str) -> tuple[Case, PersonInfo | None]:
        """Set the school or institution of an open case; routing follows.

        The change is an `entity_set` event. A case in triage is routed as filing would route
        it (confidence no longer matters: staff chose the entity); an assigned or accepted
        case moves to the newly responsible supervisor if that is someone else. Returns the
        case and the supervisor it went to, if it moved.
        """
        await staff_member(self.uow, user_id)
        if kind not in ("school", "institution"):
            raise InvalidInput("case.error.unknown_entity", code=code[:32])
        school = code if kind == "school" else None
        institution = code if kind == "institution" else None
        async with self.uow.read() as uow:
            if code not in await uow.directory.names(kind, [code]):
                raise InvalidInput("case.error.unknown_entity", code=code[:32])
            responsibility, district = await uow.directory.responsibility(
                school, institution, None)
        moved_to: list[str] = []

        def action(case: Case, actor: Actor, now: datetime) -> None:
            case.set_entity(actor, kind, code, district, now)
            decision = route(case.category, 1.0, 0.0, responsibility)
            target = decision.assignee_code
            if not target or target == case.assignee_code:
                return
            if case.status in (Status.TRIAGE, Status.ASSIGNED, Status.ACCEPTED):
                case.assign(actor, target, now)
                moved_to.append(target)

        case = await self.cases.perform(user_id, reference, action)
        person = None
        if moved_to:
            async with self.uow.read() as uow:
                person = await uow.directory.person(moved_to[0])
        return case, person

    async def queue(self, user_id: int, limit: int) -> list[Case]:
        """Cases waiting in triage, the most uncertain first (see `teaching_value`)."""
        return await triage_queue(self, user_id, limit)


TRIAGE_SCAN = 500  # triage cases read to order; the queue shows the first QUEUE_LIMIT


def teaching_value(case: Case) -> float:
    """How uncertain the classifier was about a case: the margin between its top two
    probabilities, stored with the filing (smaller = a correction teaches the model more).
    Without stored alternatives, the confidence itself."""
    filed = next((e for e in case.events if e.action == "filed"), None)
    alternatives = filed.data.get("alternatives") if filed is not None else None
    if alternatives:
        probabilities = sorted((float(p) for _c, p in alternatives), reverse=True)
        second = probabilities[1] if len(probabilities) > 1 else 0.0
        return probabilities[0] - second
    return case.confidence


async def triage_queue(service: TriageService, user_id: int, limit: int) -> list[Case]:
    """The triage queue, uncertain first (what staff decide there teaches the model most);
    ties oldest first."""
    await staff_member(service.uow, user_id)
    async with service.uow.read() as uow:
        waiting = await uow.cases.list_by_status(Status.TRIAGE, limit=TRIAGE_SCAN,
                                                 with_events=True)
    ordered = sorted(waiting, key=lambda c: (round(teaching_value(c), 4),
                                             c.updated_at or c.created_at))
    return ordered[:limit]
