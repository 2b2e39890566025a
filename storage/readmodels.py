"""Read models: queries that answer with plain facts (bot/facts.py), never with ORM rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.domain import Disposition, Rating, Status
from bot.facts import CaseFact, EventFact, Progress, TipCount, TipLine
from storage.models import CaseEventRow, CaseRow, District, Institution, Person, School

BATCH = 500  # cases whose events are read in one query
# The case column and directory table of each kind of place hotspots count.
_PLACES: dict[str, tuple[Any, Any]] = {
    "school": (CaseRow.school_id, School), "institution": (CaseRow.institution_id, Institution),
    "district": (CaseRow.district_id, District)}


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
                    else None, events=tuple(events.get(case.id, ())), text=case.text))
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

    async def tip_counts(self, kind: str, since: datetime, until: datetime, threshold: int,
                         limit: int) -> list[TipCount]:
        """One grouped count over the window's cases (the created_at index), then the names
        of the few places above the threshold."""
        column, table = _PLACES[kind]
        count = func.count().label("n")
        grouped = (select(column.label("place"), count)
                   .where(CaseRow.created_at >= since, CaseRow.created_at < until,
                          column.is_not(None),
                          or_(CaseRow.disposition.is_(None),
                              CaseRow.disposition != Disposition.DECLINED.value))
                   .group_by(column).having(count >= threshold)
                   .order_by(count.desc(), column).limit(limit).subquery())
        stmt = (select(table.code, table.name, grouped.c.n)
                .join(grouped, grouped.c.place == table.id)
                .order_by(grouped.c.n.desc(), table.code))
        return [TipCount(kind, str(code), str(name), int(n))
                for code, name, n in (await self.session.execute(stmt)).all()]

    async def tips_about(self, kind: str, code: str, since: datetime, until: datetime,
                         limit: int) -> list[TipLine]:
        column, table = _PLACES[kind]
        stmt = (select(CaseRow.reference, CaseRow.category, CaseRow.status, CaseRow.created_at)
                .join(table, table.id == column)
                .where(table.code == code, CaseRow.created_at >= since,
                       CaseRow.created_at < until)
                .order_by(CaseRow.created_at.desc(), CaseRow.id.desc()).limit(limit))
        return [TipLine(str(ref), str(category), Status(status), created)
                for ref, category, status, created in (await self.session.execute(stmt)).all()]
