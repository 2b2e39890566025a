"""Read models: queries that answer with plain facts (bot/facts.py), never with ORM rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.domain import Disposition, Rating, Status
from bot.facts import CaseFact, EventFact, Progress
from storage.models import CaseEventRow, CaseRow, District, Institution, Person, School

BATCH = 500  # cases whose events are read in one query


class SqlCaseFacts:
    """The case facts of reports and exports: one query for the cases, one per batch for
    their events."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def created_between(self, start: datetime, end: datetime,
                              progress: Progress | None = None) -> list[CaseFact]:
        """Cases created in [start, end), oldest first."""
        school, inst, dist, person = (aliased(School), aliased(Institution),
                                      aliased(District), aliased(Person))
        target = aliased(CaseRow)
        stmt = (select(CaseRow, school.code, school.name, inst.code, inst.name, dist.code,
                       dist.name, person.code, person.name, target.reference, target.status)
                .outerjoin(target, target.id == CaseRow.merged_into_id)
                .outerjoin(school, school.id == CaseRow.school_id)
                .outerjoin(inst, inst.id == CaseRow.institution_id)
                .outerjoin(dist, dist.id == CaseRow.district_id)
                .outerjoin(person, person.id == CaseRow.assignee_id)
                .where(CaseRow.created_at >= start, CaseRow.created_at < end)
                .order_by(CaseRow.created_at, CaseRow.id))
        found = (await self.session.execute(stmt)).all()
        facts: list[CaseFact] = []
        if progress:
            progress(0, len(found))
        for offset in range(0, len(found), BATCH):
            batch = found[offset:offset + BATCH]
            events = await self._events([r[0].id for r in batch])
            for (case, school_code, school_name, inst_code, inst_name, dist_code, dist_name,
                 person_code, person_name, into, into_status) in batch:
                facts.append(CaseFact(
                    reference=case.reference, created_at=case.created_at,
                    category=case.category, status=Status(case.status),
                    disposition=Disposition(case.disposition) if case.disposition else None,
                    rating=Rating(case.rating) if case.rating else None,
                    school_code=school_code, school_name=school_name,
                    institution_code=inst_code, institution_name=inst_name,
                    district_code=dist_code, district_name=dist_name,
                    assignee_code=person_code, assignee_name=person_name,
                    rectify_deadline=case.rectify_deadline, closed_at=case.closed_at,
                    merged_into=into, merged_into_status=Status(into_status) if into_status
                    else None, events=tuple(events.get(case.id, ()))))
            if progress:
                progress(len(facts), len(found))
        return facts

    async def _events(self, case_ids: list[int]) -> dict[int, list[EventFact]]:
        stmt = (select(CaseEventRow.case_id, CaseEventRow.at, CaseEventRow.from_status,
                       CaseEventRow.to_status, CaseEventRow.action)
                .where(CaseEventRow.case_id.in_(case_ids))
                .order_by(CaseEventRow.case_id, CaseEventRow.seq))
        out: dict[int, list[EventFact]] = {}
        for case_id, at, from_status, to_status, action in (
                await self.session.execute(stmt)).all():
            out.setdefault(case_id, []).append(EventFact(
                at, Status(from_status) if from_status else None, Status(to_status), action))
        return out
