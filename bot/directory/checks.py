"""Checks that need every row of one import: duplicate codes, references, shared names."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from bot.directory.headers import TableName, field_label
from bot.directory.problems import Problem, Problems, describe_source
from bot.directory.rows import (
    AnyRow,
    DirectoryData,
    DistrictRow,
    InstitutionRow,
    PlaceRow,
    SchoolRow,
    is_code,
)
from bot.messages import t

_R = TypeVar("_R", DistrictRow, SchoolRow, InstitutionRow)


def check_rows(data: DirectoryData, problems: Problems) -> DirectoryData:
    """Run the checks across rows and tables; return the data with names resolved to codes."""
    _check_duplicate_codes(data, problems)
    data = _resolve_names(data, problems)
    _check_roles(data, problems)
    _check_ambiguous_names(data, problems)
    return data


def wrong_role(source: str, table: TableName, field_name: str, code: str, actual: str,
               expected: str | None) -> Problem:
    """Describe a reference to a person who is not the kind of person needed there."""
    label = field_label(table, field_name)
    if actual == "staff" or expected is None:
        return Problem(source, "directory.error.ref_not_supervisor", {"code": code},
                       column=label)
    return Problem(source, "directory.error.ref_wrong_role", {
        "code": code, "actual": t(f"role.{actual}"), "expected": t(f"role.{expected}")},
        column=label)


def supervisor_refs(data: DirectoryData) -> list[tuple[AnyRow, str, str, str | None]]:
    """List (row, field, code, role needed) for every supervisor reference; None: any."""
    refs: list[tuple[AnyRow, str, str, str | None]] = [
        (r, "tutoring_supervisor_code", r.tutoring_supervisor_code, "tutoring")
        for r in data.districts if r.tutoring_supervisor_code]
    refs += [(r, "supervisor_code", r.supervisor_code, "responsible")
             for r in data.schools if r.supervisor_code]
    refs += [(r, "supervisor_code", r.supervisor_code, None)
             for r in data.institutions if r.supervisor_code]
    return refs


def _check_duplicate_codes(data: DirectoryData, problems: Problems) -> None:
    """Reject a code used twice in a table; supervisors and staff share one code space."""
    groups: list[Sequence[AnyRow]] = [
        data.districts, data.schools, data.institutions, [*data.supervisors, *data.staff]]
    for rows in groups:
        seen: dict[str, str] = {}
        for row in rows:
            if row.code not in seen:
                seen[row.code] = row.source
                continue
            problems.add(Problem(row.source, "directory.error.duplicate_code", {
                "code": row.code, "first": describe_source(seen[row.code])},
                column=field_label(row.table, "code")))


def _names_to_codes(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Index codes by case-folded name (a name may belong to several rows)."""
    index: dict[str, list[str]] = {}
    for name, code in pairs:
        index.setdefault(name.casefold(), []).append(code)
    return index


def _resolve_names(data: DirectoryData, problems: Problems) -> DirectoryData:
    """Replace references written as names (城关镇, 王建国) by the codes in this import."""
    districts = _names_to_codes((r.name, r.code) for r in data.districts)
    people = _names_to_codes((r.name, r.code) for r in data.supervisors)

    def resolved(row: _R, attr: str, names: dict[str, list[str]], target: TableName) -> _R:
        value = getattr(row, attr)
        if not value or is_code(value):
            return row
        label = field_label(row.table, attr)
        codes = names.get(value.casefold(), [])
        if len(codes) == 1:
            data.warnings.append(Problem(row.source, "directory.warning.resolved_by_name",
                                         {"value": value, "code": codes[0]}, column=label))
            return row.model_copy(update={attr: codes[0]})
        key = "directory.error.ambiguous_ref_name" if codes else "directory.error.unknown_ref_name"
        problems.add(Problem(row.source, key, {"value": value,
                                               "target": t(f"directory.table.{target}")},
                             column=label))
        return row

    def place(row: _R) -> _R:
        row = resolved(row, "district_code", districts, "districts")
        return resolved(row, "supervisor_code", people, "supervisors")

    return DirectoryData(
        [resolved(r, "tutoring_supervisor_code", people, "supervisors") for r in data.districts],
        [place(r) for r in data.schools], [place(r) for r in data.institutions],
        data.supervisors, data.staff, data.warnings)


def _check_roles(data: DirectoryData, problems: Problems) -> None:
    """Reject references to people of the wrong role, when those people are in this import."""
    roles: dict[str, str] = {r.code: r.role for r in data.supervisors}
    roles.update((r.code, "staff") for r in data.staff if r.code not in roles)
    for row, attr, code, expected in supervisor_refs(data):
        actual = roles.get(code)
        if actual is None or actual == expected or (expected is None and actual != "staff"):
            continue
        problems.add(wrong_role(row.source, row.table, attr, code, actual, expected))


def _check_ambiguous_names(data: DirectoryData, problems: Problems) -> None:
    """Reject a name or alias shared by two schools (or two institutions) of one district."""
    district_names = {r.code: r.name for r in data.districts}
    places: list[tuple[TableName, Sequence[PlaceRow]]] = [
        ("schools", data.schools), ("institutions", data.institutions)]
    for table, rows in places:
        seen: dict[tuple[str | None, str], tuple[int, str]] = {}
        full_names: dict[str, tuple[str | None, str]] = {}
        for index, row in enumerate(rows):
            words = {w.casefold(): w for w in reversed((row.name, *(row.aliases or ())))}
            for folded, word in words.items():
                owner, first = seen.setdefault((row.district_code, folded), (index, row.source))
                if owner != index:
                    district = (district_names.get(row.district_code, row.district_code)
                                if row.district_code else t("directory.no_district"))
                    problems.add(Problem(row.source, "directory.error.ambiguous_name", {
                        "name": word, "district": district, "first": describe_source(first)}))
            earlier = full_names.setdefault(row.name.casefold(), (row.district_code, row.source))
            if earlier[0] != row.district_code:
                data.warnings.append(Problem(row.source, "directory.warning.same_name", {
                    "table": t(f"directory.table.{table}"), "name": row.name,
                    "first": describe_source(earlier[1])}))
