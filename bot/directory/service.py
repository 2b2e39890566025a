"""The directory import service: check references, then upsert everything by code.

Re-importing is safe: rows are matched by code, changed fields are updated, nothing absent
from the files is deleted, and an import with any problem changes nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.directory.checks import supervisor_refs, wrong_role
from bot.directory.headers import field_label
from bot.directory.problems import Problem, Problems, source_order
from bot.directory.rows import DirectoryData, StaffRow, SupervisorRow
from bot.messages import t
from bot.ports import DirectoryStore, TableReport, UnitOfWork


@dataclass
class ImportReport:
    tables: dict[str, TableReport] = field(default_factory=dict)  # people, districts, …
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Render one line per table that has rows, then the reader's warnings."""
        out = [t("dirimport.report_line", table=t(f"dirimport.table.{name}"), added=r.added,
                 changed=r.changed, unchanged=r.unchanged)
               for name, r in self.tables.items() if r.added or r.changed or r.unchanged]
        return out + self.warnings


class DirectoryImportError(Exception):
    """References that neither the files nor the database can satisfy; nothing was changed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


async def import_directory(uow_factory: Callable[[], UnitOfWork],
                           data: DirectoryData) -> ImportReport:
    """Upsert everything in `data` in one transaction, or raise and change nothing."""
    report = ImportReport(warnings=[w.render() for w in data.warnings])
    async with uow_factory() as uow:
        problems = await _check_references(uow.directory_store, data)
        if problems.total:
            raise DirectoryImportError(problems.lines())
        report.tables.update(await uow.directory_store.upsert(data))
        await uow.commit()
    return report


async def preview_directory(uow_factory: Callable[[], UnitOfWork],
                            data: DirectoryData) -> ImportReport:
    """What `import_directory` would do, computed in a transaction that is rolled back."""
    report = ImportReport(warnings=[w.render() for w in data.warnings])
    async with uow_factory() as uow:
        problems = await _check_references(uow.directory_store, data)
        if problems.total:
            raise DirectoryImportError(problems.lines())
        report.tables.update(await uow.directory_store.upsert(data))
        # no commit: leaving the unit of work rolls the upsert back
    return report


async def _check_references(store: DirectoryStore, data: DirectoryData) -> Problems:
    """Check the files against the stored directory; problems in file and row order."""
    found = await _role_changes(store, data) + await _unknown_references(store, data)
    problems = Problems()
    for problem in sorted(found, key=lambda p: source_order(p.source)):
        problems.add(problem)
    return problems


async def _role_changes(store: DirectoryStore, data: DirectoryData) -> list[Problem]:
    """Refuse to give a stored person another role: a code names one person, for good.

    Schools, districts and cases point at people by code; a supervisor quietly turned into
    staff (or a 责任督学 into a 校外培训监管督学) would leave them pointing at the wrong kind
    of person.
    """
    people: list[SupervisorRow | StaffRow] = [*data.supervisors, *data.staff]
    stored = await store.person_roles({row.code for row in people})
    problems = []
    for row in people:
        new = row.role if isinstance(row, SupervisorRow) else "staff"
        old = stored.get(row.code)
        if old is not None and old != new:
            problems.append(Problem(row.source, "directory.error.role_change", {
                "code": row.code, "stored": t(f"role.{old}"),
                "new": t(f"role.{new}")}, column=field_label(row.table, "code")))
    return problems


async def _unknown_references(store: DirectoryStore, data: DirectoryData) -> list[Problem]:
    """Check the references the files do not satisfy against the stored directory."""
    problems: list[Problem] = []
    imported_districts = {r.code for r in data.districts}
    district_refs = [r for r in (*data.schools, *data.institutions)
                     if r.district_code and r.district_code not in imported_districts]
    stored_districts = await store.district_codes({r.district_code or "" for r in district_refs})
    for row in district_refs:
        if row.district_code not in stored_districts:
            problems.append(Problem(row.source, "directory.error.unknown_district",
                                    {"code": row.district_code},
                                    column=field_label(row.table, "district_code")))
    # People in the files were checked by the reader; the others must be stored already.
    imported_people = {r.code for r in (*data.supervisors, *data.staff)}
    person_refs = [ref for ref in supervisor_refs(data) if ref[2] not in imported_people]
    roles = await store.person_roles({code for _, _, code, _ in person_refs})
    for referrer, attr, code, expected in person_refs:
        actual = roles.get(code)
        if actual is None:
            problems.append(Problem(referrer.source, "directory.error.unknown_supervisor",
                                    {"code": code}, column=field_label(referrer.table, attr)))
        elif actual == "staff" or (expected is not None and actual != expected):
            problems.append(wrong_role(referrer.source, referrer.table, attr, code, actual,
                                    expected))
    return problems
