"""Open directory files: CSV in any encoding Excel writes, or XLSX, as sheets of text cells."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

from bot.directory.headers import INVISIBLE
from bot.directory.problems import Problem, make_source
from bot.messages import explain_os_error

MAX_FILE_BYTES = 20 * 1024 * 1024

_TEXT_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
_XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# C0 controls never occur in UTF-8 or GB18030 text except as themselves: binary gives them away.
_BINARY_BYTES = frozenset(range(0x00, 0x09)) | frozenset(range(0x0E, 0x20)) - {0x1A}


class Rejected(Exception):
    """A whole file or sheet cannot be read; carries the problem to report."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.key)
        self.problem = problem


@dataclass
class Sheet:
    """One table as read from a file: where it came from and its rows as text cells."""

    file: str
    sheet: str | None  # the worksheet's name; None for CSV
    stem: str  # what names the table: the file stem or the sheet name
    rows: Iterator[tuple[int, list[str]]]  # 1-based spreadsheet row number, cells

    def source(self, row: int | None = None) -> str:
        """Build the source string for a row of this sheet (or the sheet itself)."""
        return make_source(self.file, self.sheet, row)


def clean(value: str) -> str:
    """Normalise a cell: NFKC, invisible characters dropped, whitespace collapsed and trimmed."""
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value).translate(INVISIBLE)
    return " ".join(value.split())


def open_sheets(path: Path) -> list[Sheet]:
    """Read one file into sheets, or raise Rejected saying why it cannot be read."""
    name = path.name
    if not path.exists():  # said before its type: a mistyped path is not a wrong format
        raise Rejected(Problem(str(path), "directory.error.not_found"))
    suffix = path.suffix.lower()
    if suffix not in _TEXT_SUFFIXES | _XLSX_SUFFIXES:
        if suffix == ".xls":
            raise Rejected(Problem(name, "directory.error.old_excel"))
        raise Rejected(Problem(name, "directory.error.unsupported_type",
                               {"suffix": suffix or name}))
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise Rejected(Problem(name, "directory.error.too_large", {
                "size_mb": round(size / 2**20, 1), "limit_mb": MAX_FILE_BYTES // 2**20}))
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise Rejected(Problem(name, "directory.error.not_found")) from None
    except OSError as exc:
        raise Rejected(Problem(name, "directory.error.unreadable",
                               {"detail": explain_os_error(exc)})) from None
    if not data.strip():
        raise Rejected(Problem(name, "directory.error.empty_file"))
    if data.startswith(_OLE_MAGIC):
        raise Rejected(Problem(name, "directory.error.old_excel"))
    # Trust the content over the suffix: Excel users rename files freely.
    if data.startswith(_ZIP_MAGIC):
        return _xlsx_sheets(name, data)
    if suffix in _XLSX_SUFFIXES:
        raise Rejected(Problem(name, "directory.error.not_spreadsheet"))
    return [_csv_sheet(name, path.stem, data)]


def _decode(name: str, data: bytes) -> str:
    """Decode CSV bytes: UTF-16 with BOM, UTF-8 (with or without BOM), else GB18030."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise Rejected(Problem(name, "directory.error.encoding")) from None
    if not _BINARY_BYTES.isdisjoint(data[:65536]) or b"\x00" in data:
        raise Rejected(Problem(name, "directory.error.not_spreadsheet"))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    lenient = data.decode("utf-8", errors="replace")
    bad = lenient.count("\ufffd")
    non_ascii = sum(1 for ch in lenient if ord(ch) > 0x7F)
    if non_ascii - bad > 4 * bad:  # mostly valid UTF-8: a damaged file, not another encoding
        line = data.count(b"\n", 0, first_bad) + 1
        raise Rejected(Problem(make_source(name, row=line), "directory.error.bad_bytes"))
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise Rejected(Problem(name, "directory.error.encoding")) from None
    # Mis-decoded bytes land in C1 controls or the private use area; real GBK text does not.
    if any(0x80 <= ord(ch) <= 0x9F or 0xE000 <= ord(ch) <= 0xF8FF for ch in text):
        raise Rejected(Problem(name, "directory.error.encoding"))
    return text


def _csv_sheet(name: str, stem: str, data: bytes) -> Sheet:
    """Parse CSV bytes into a sheet (rows are produced lazily, errors raise Rejected)."""
    text = _decode(name, data)
    if not text.strip():
        raise Rejected(Problem(name, "directory.error.empty_file"))
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    return Sheet(name, None, stem, _csv_rows(name, text, delimiter))


def _csv_rows(name: str, text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (row number, cells); a record spanning lines is one spreadsheet row."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    number = 0
    try:
        for number, cells in enumerate(reader, start=1):
            yield number, cells
    except csv.Error:
        raise Rejected(Problem(make_source(name, row=number + 1),
                               "directory.error.csv_syntax")) from None


def _xlsx_sheets(name: str, data: bytes) -> list[Sheet]:
    """Read every worksheet of an XLSX workbook into sheets (values, not formulas)."""
    from openpyxl import load_workbook  # imported here: only XLSX imports pay for it

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # zipfile.BadZipFile, openpyxl's InvalidFileException, KeyError …
        raise Rejected(Problem(name, "directory.error.not_spreadsheet")) from None
    try:
        sheets = []
        for worksheet in workbook.worksheets:
            # Read eagerly: read-only workbooks must be closed, and sheets are small.
            rows = [
                (number, [_cell_text(v) for v in values])
                for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1)
            ]
            title = str(worksheet.title)
            sheets.append(Sheet(name, title, title, iter(rows)))
    except Exception:  # a damaged sheet part inside a valid zip
        raise Rejected(Problem(name, "directory.error.not_spreadsheet")) from None
    finally:
        workbook.close()
    return sheets


def _cell_text(value: object) -> str:
    """Turn an XLSX cell value into text as the user typed it (1.0 → "1")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)
