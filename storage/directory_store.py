"""The directory import's store: look up and upsert districts, schools, institutions and
people by code, in the unit of work's session (the unit of work commits)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.directory.rows import DirectoryData
from bot.ports import TableReport
from storage.models import District, Institution, Person, School

_M = TypeVar("_M", District, School, Institution, Person)


class SqlDirectoryStore:
    """Implements bot.ports.DirectoryStore with SQLAlchemy."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def person_roles(self, codes: Collection[str]) -> dict[str, str]:
        if not codes:
            return {}
        rows = await self.session.execute(
            select(Person.code, Person.role).where(Person.code.in_(list(codes))))
        return {code: role for code, role in rows}

    async def district_codes(self, codes: Collection[str]) -> set[str]:
        if not codes:
            return set()
        rows = await self.session.execute(
            select(District.code).where(District.code.in_(list(codes))))
        return set(rows.scalars())

    async def upsert(self, data: DirectoryData) -> dict[str, TableReport]:
        report = {table: TableReport() for table in ("people", "districts", "schools",
                                                      "institutions")}
        people = await self._by_code(Person)
        for row in (*data.supervisors, *data.staff):  # the import service refuses these first
            stored = people.get(row.code)
            new_role = getattr(row, "role", "staff")
            if stored is not None and stored.role != new_role:
                raise ValueError(f"refusing to change {row.code}'s role "
                                 f"from {stored.role} to {new_role}")
        for sup in data.supervisors:
            self._apply(people, Person, sup.code, report["people"],
                        name=sup.name, phone=_given(sup.phone), role=sup.role)
        for staff in data.staff:
            self._apply(people, Person, staff.code, report["people"],
                        name=staff.name, phone=_given(staff.phone), role="staff")
        await self.session.flush()
        person_ids = {code: person.id for code, person in people.items()}

        districts = await self._by_code(District)
        for d in data.districts:
            self._apply(districts, District, d.code, report["districts"], name=d.name,
                        kind=d.kind,
                        tutoring_supervisor_id=_ref(d.tutoring_supervisor_code, person_ids))
        await self.session.flush()
        district_ids = {code: district.id for code, district in districts.items()}

        schools = await self._by_code(School)
        for s in data.schools:
            self._apply(schools, School, s.code, report["schools"], name=s.name,
                        district_id=_ref(s.district_code, district_ids), stage=_given(s.stage),
                        aliases=_aliases(s.aliases),
                        supervisor_id=_ref(s.supervisor_code, person_ids))
        institutions = await self._by_code(Institution)
        for i in data.institutions:
            self._apply(institutions, Institution, i.code, report["institutions"], name=i.name,
                        district_id=_ref(i.district_code, district_ids),
                        licensed=_given(i.licensed), kind=_given(i.kind),
                        aliases=_aliases(i.aliases),
                        supervisor_id=_ref(i.supervisor_code, person_ids))
        await self.session.flush()
        return report

    async def _by_code(self, model: type[_M]) -> dict[str, _M]:
        return {row.code: row for row in (await self.session.execute(select(model))).scalars()}

    def _apply(self, existing: dict[str, _M], model: type[_M], code: str, report: TableReport,
               **values: Any) -> None:
        """Add or update one row; values that are _ABSENT keep what is stored."""
        values = {k: v for k, v in values.items() if v is not _ABSENT}
        row = existing.get(code)
        if row is None:
            row = model(code=code, **values)
            self.session.add(row)
            existing[code] = row
            report.added += 1
        elif any(getattr(row, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            report.changed += 1
        else:
            report.unchanged += 1


_ABSENT: Any = object()  # the file has no such column: keep what the database holds


def _given(value: object) -> Any:
    """A value read from the files; None means its column was absent."""
    return _ABSENT if value is None else value


def _ref(code: str | None, ids: dict[str, int]) -> Any:
    """The id a reference names: absent column → keep, empty cell → clear."""
    if code is None:
        return _ABSENT
    return ids[code] if code else None


def _aliases(aliases: tuple[str, ...] | None) -> Any:
    return _ABSENT if aliases is None else "|".join(aliases)
