"""Directory import: upsert districts, schools, institutions and people by code.

Re-importing is safe: rows are matched by code, changed fields are updated, nothing absent
from the files is deleted, and a file with any problem changes nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.directory_files import DirectoryData
from bot.messages import t
from storage.models import District, Institution, Person, School
from storage.uow import SqlUnitOfWork


@dataclass
class TableReport:
    added: int = 0
    changed: int = 0
    unchanged: int = 0


@dataclass
class ImportReport:
    tables: dict[str, TableReport] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [t("dirimport.report_line", table=t(f"dirimport.table.{name}"), added=r.added,
                 changed=r.changed, unchanged=r.unchanged)
               for name, r in self.tables.items() if r.added or r.changed or r.unchanged]
        return out + self.warnings


class DirectoryImportError(Exception):
    """References that neither the files nor the database can satisfy; nothing was changed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


async def _by_code(session: AsyncSession, model: Any) -> dict[str, Any]:
    return {row.code: row for row in (await session.execute(select(model))).scalars()}


_ABSENT = object()  # the file has no such column: keep what the database holds


def _apply(existing: dict[str, Any], code: str, values: dict[str, Any], make: Callable[[], Any],
           session: AsyncSession, report: TableReport) -> Any:
    values = {k: v for k, v in values.items() if v is not _ABSENT}
    row = existing.get(code)
    if row is None:
        row = make()
        row.code = code
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)
        existing[code] = row
        report.added += 1
        return row
    if any(getattr(row, key) != value for key, value in values.items()):
        for key, value in values.items():
            setattr(row, key, value)
        report.changed += 1
    else:
        report.unchanged += 1
    return row


def _keep(value: Any) -> Any:
    return _ABSENT if value is None else value


def _aliases(aliases: tuple[str, ...] | None) -> Any:
    return _ABSENT if aliases is None else "|".join(aliases)


async def import_directory(uow_factory: Callable[[], SqlUnitOfWork],
                           data: DirectoryData) -> ImportReport:
    """Upsert everything in `data` in one transaction, or raise and change nothing."""
    report = ImportReport(warnings=[w.render() for w in data.warnings])
    async with uow_factory() as uow:
        session = uow.session
        people = await _by_code(session, Person)
        districts = await _by_code(session, District)
        schools = await _by_code(session, School)
        institutions = await _by_code(session, Institution)

        rep = report.tables.setdefault("people", TableReport())
        for sup in data.supervisors:
            _apply(people, sup.code, {"name": sup.name, "phone": _keep(sup.phone),
                                      "role": sup.role}, Person, session, rep)
        for st in data.staff:
            _apply(people, st.code, {"name": st.name, "phone": _keep(st.phone), "role": "staff"},
                   Person, session, rep)
        await session.flush()

        problems: list[str] = []

        def person_id(code: str | None, source: str, roles: Iterable[str]) -> Any:
            if code is None:
                return _ABSENT
            if not code:
                return None
            person = people.get(code)
            if person is None or person.role not in roles:
                problems.append(t("dirimport.unknown_supervisor", source=source, code=code))
                return None
            return int(person.id)

        rep = report.tables.setdefault("districts", TableReport())
        for d in data.districts:
            _apply(districts, d.code, {
                "name": d.name, "kind": _keep(d.kind),
                "tutoring_supervisor_id": person_id(d.tutoring_supervisor_code, d.source,
                                                    ("tutoring",))}, District, session, rep)
        await session.flush()

        def district_id(code: str | None, source: str) -> Any:
            if code is None:
                return _ABSENT
            if not code:
                return None
            found = districts.get(code)
            if found is None:
                problems.append(t("dirimport.unknown_district", source=source, code=code))
                return None
            return int(found.id)

        rep = report.tables.setdefault("schools", TableReport())
        for s in data.schools:
            _apply(schools, s.code, {
                "name": s.name, "district_id": district_id(s.district_code, s.source),
                "stage": _keep(s.stage), "aliases": _aliases(s.aliases),
                "supervisor_id": person_id(s.supervisor_code, s.source, ("responsible",)),
            }, School, session, rep)
        rep = report.tables.setdefault("institutions", TableReport())
        for i in data.institutions:
            _apply(institutions, i.code, {
                "name": i.name, "district_id": district_id(i.district_code, i.source),
                "licensed": _keep(i.licensed), "kind": _keep(i.kind),
                "aliases": _aliases(i.aliases),
                "supervisor_id": person_id(i.supervisor_code, i.source,
                                           ("tutoring", "responsible")),
            }, Institution, session, rep)
        if problems:
            raise DirectoryImportError(problems[:50])
        await uow.commit()
    return report
