"""Read directory files (CSV or XLSX) into validated rows, without a database.

`read_directory_files` reads any number of files, works out which table each file or sheet
holds (by file stem or sheet name, else by its header row), validates every row and then
the rows together. It either returns a complete `DirectoryData` or raises
`DirectoryFileError` listing the problems (up to 50), so a caller that imports only on
success never half-imports a file. References to districts and supervisors that are not in
the same import are left to the import service, which checks them against the database.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

from bot.directory.checks import check_rows
from bot.directory.headers import (
    TableName,
    field_label,
    is_skipped_sheet,
    norm_key,
    table_from_headers,
    table_from_name,
    vocabulary,
)
from bot.directory.problems import DirectoryFileError, Problem, Problems
from bot.directory.read import Rejected, Sheet, clean, open_sheets
from bot.directory.rows import AnyRow, DirectoryData, parse_row


def read_directory_files(paths: Sequence[Path | str]) -> DirectoryData:
    """Read and validate directory files; raise DirectoryFileError listing every problem."""
    if not paths:
        raise DirectoryFileError([Problem("", "directory.error.no_files")])
    reader = _Reader()
    for path in paths:
        reader.read_path(Path(path))
    data = check_rows(reader.data, reader.problems)
    if reader.problems.total:
        raise DirectoryFileError(reader.problems.kept, reader.problems.total)
    return data


class _Reader:
    """Accumulate rows, warnings and problems over all files of one import."""

    def __init__(self) -> None:
        self.problems = Problems()
        self.data = DirectoryData()

    def read_path(self, path: Path) -> None:
        """Read one file; problems that stop the file are recorded, not raised."""
        try:
            sheets = open_sheets(path)
            multi = len(sheets) > 1 or any(sheet.sheet is not None for sheet in sheets)
            read_any = False
            for sheet in sheets:
                read_any = self._read_sheet(sheet, in_workbook=multi) or read_any
            if not read_any:
                self.problems.add(Problem(path.name, "directory.error.empty_file"))
        except Rejected as rejected:
            self.problems.add(rejected.problem)

    def _read_sheet(self, sheet: Sheet, *, in_workbook: bool) -> bool:
        """Read one table; return False when it was skipped as empty or an instructions page."""
        header_row, header = self._find_header(sheet)
        if header is None:
            if in_workbook:
                self._warn(sheet.source(), "directory.warning.skipped_sheet")
                return False
            raise Rejected(Problem(sheet.source(), "directory.error.empty_file"))
        if in_workbook and is_skipped_sheet(sheet.stem):
            self._warn(sheet.source(), "directory.warning.skipped_sheet")
            return False
        keys = [norm_key(h) for h in header]
        table = table_from_name(sheet.stem) or table_from_headers(keys)
        if table is None:
            self.problems.add(Problem(sheet.source(header_row), "directory.error.unknown_table"))
            return True
        columns = self._map_columns(sheet.source(header_row), table, header, keys)
        if columns is not None:
            self._read_rows(sheet, table, columns, keys)
        return True

    def _warn(self, source: str, key: str, **params: object) -> None:
        self.data.warnings.append(Problem(source, key, params))

    def _find_header(self, sheet: Sheet) -> tuple[int, list[str] | None]:
        """Return the header row: the first non-empty row, skipping a one-cell title row."""
        title: tuple[int, str] | None = None
        for number, cells in sheet.rows:
            cleaned = [clean(c) for c in cells]
            filled = [c for c in cleaned if c]
            if not filled:
                continue
            if len(filled) == 1 and title is None:
                title = (number, filled[0])
                continue
            if title is not None and len(filled) == 1:
                # Two one-cell rows: the first was a one-column header, this row is data.
                sheet.rows = itertools.chain([(number, cells)], sheet.rows)
                return title[0], [title[1]]
            if title is not None:
                self._warn(sheet.source(title[0]), "directory.warning.title_row", title=title[1])
            while cleaned and not cleaned[-1]:
                cleaned.pop()
            return number, cleaned
        if title is not None:  # a one-column file: the lone row was a header, not a title
            return title[0], [title[1]]
        return 0, None

    def _map_columns(
        self, source: str, table: TableName, header: list[str], keys: list[str]
    ) -> dict[str, int] | None:
        """Map fields to column indexes; report missing/duplicate columns, warn on unknown ones."""
        spec = vocabulary().specs[table]
        columns: dict[str, int] = {}
        unknown: list[str] = []
        ok = True
        for index, (text, key) in enumerate(zip(header, keys, strict=True)):
            if not key:
                continue  # a column without a header: ignored, its cells checked per row
            field_name = spec.field_for(key)
            if field_name is None:
                unknown.append(text)
            elif field_name in columns:
                ok = False
                self.problems.add(Problem(source, "directory.error.duplicate_column", {
                    "column": field_label(table, field_name), "first": header[columns[field_name]],
                    "second": text}))
            else:
                columns[field_name] = index
        for required in spec.required:
            if required not in columns:
                ok = False
                self.problems.add(Problem(source, "directory.error.missing_column", {
                    "column": field_label(table, required), "field": required}))
        if unknown:
            self._warn(source, "directory.warning.unknown_columns", columns="、".join(unknown))
        return columns if ok else None

    def _read_rows(
        self, sheet: Sheet, table: TableName, columns: dict[str, int], header_keys: list[str]
    ) -> None:
        """Validate every data row of a sheet into its table's row model."""
        width = len(header_keys)
        seen = 0
        # Columns inside the header's width but without a header text: ignored, but said so.
        mapped = set(columns.values())
        unnamed_columns = [i for i in range(width) if i not in mapped and not header_keys[i]]
        unnamed: set[int] = set()
        for number, cells in sheet.rows:
            cleaned = [clean(c) for c in cells]
            if not any(cleaned):
                continue
            seen += 1
            source = sheet.source(number)
            unnamed.update(i for i in unnamed_columns if i < len(cleaned) and cleaned[i])
            beyond = [i for i in range(width, len(cleaned)) if cleaned[i]]
            if beyond and sheet.sheet is None:
                # In CSV, cells beyond the header mean shifted data (an unquoted comma).
                self.problems.add(Problem(source, "directory.error.extra_cells",
                                          {"count": len(beyond)}))
                continue
            unnamed.update(beyond)  # in XLSX they are just a column without a header
            values = {f: (cleaned[i] if i < len(cleaned) else "") for f, i in columns.items()}
            parsed = parse_row(table, source, values)
            for problem in parsed.problems:
                self.problems.add(problem)
            self.data.warnings.extend(parsed.warnings)
            if parsed.row is not None:
                self._append(parsed.row)
        if seen == 0:
            self._warn(sheet.source(), "directory.warning.no_rows")
        if unnamed:
            from openpyxl.utils import get_column_letter  # here: openpyxl is slow to import

            self._warn(sheet.source(), "directory.warning.unnamed_columns",
                       columns="、".join(get_column_letter(i + 1) for i in sorted(unnamed)))

    def _append(self, row: AnyRow) -> None:
        """Add a validated row to the list of its table."""
        rows: list[AnyRow] = getattr(self.data, row.table)
        rows.append(row)
