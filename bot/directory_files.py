"""Read the directory spreadsheets (CSV or XLSX) into validated rows, without a database.

Offices keep their directory (districts, schools, tutoring institutions, supervisors, office
staff) in spreadsheets. `read_directory_files` reads any number of CSV/XLSX files, works out
which table each file or sheet holds (by file stem or sheet name, else by its header row),
normalises every value and checks everything that can be checked without a database. It
either returns a complete `DirectoryData` or raises `DirectoryFileError` listing the problems
(up to 50), so a caller that imports only on success never half-imports a file.

Optional columns follow one convention, so an upsert can leave untouched what a file does
not mention: `None` means "this column is not in the file", while an empty cell gives `""`
(or `()` for aliases), meaning "explicitly empty". `licensed` is `None` when the column is
absent or the cell is empty.

References to districts and supervisors that are not part of the same import are not
errors here: `DirectoryData.unresolved_refs()` lists them for the caller to check against
the database (and `Reference.problem()` renders the error if they are missing there too).
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Literal, TypeVar

from bot.messages import CATALOGUE, t

TableName = Literal["districts", "schools", "institutions", "supervisors", "staff"]
SupervisorRole = Literal["responsible", "tutoring"]

MAX_PROBLEMS = 50
MAX_FILE_BYTES = 20 * 1024 * 1024
CODE_MAX = 32
PLACE_NAME_MAX = 100  # districts, schools, institutions (storage: String(100))
PERSON_NAME_MAX = 50  # supervisors and staff (storage: String(50))
ALIAS_MAX = 50
PHONE_MAX = 32

# --------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class DistrictRow:
    source: str
    code: str
    name: str
    kind: str  # 区县 | 乡镇 | 街道
    tutoring_supervisor_code: str | None = None


@dataclass(frozen=True, slots=True)
class SchoolRow:
    source: str
    code: str
    name: str
    district_code: str | None = None
    stage: str | None = None  # 小学 | 初中 | 九年一贯制 | 高中 | 完全中学 | ""
    aliases: tuple[str, ...] | None = None
    supervisor_code: str | None = None  # the responsible supervisor (责任督学)


@dataclass(frozen=True, slots=True)
class InstitutionRow:
    source: str
    code: str
    name: str
    district_code: str | None = None
    licensed: bool | None = None
    kind: str | None = None  # 学科类 | 非学科类 | 托管 | 其他 | ""
    aliases: tuple[str, ...] | None = None
    supervisor_code: str | None = None  # the liaison supervisor


@dataclass(frozen=True, slots=True)
class SupervisorRow:
    source: str
    code: str
    name: str
    role: SupervisorRole
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class StaffRow:
    source: str
    code: str
    name: str
    phone: str | None = None


AnyRow = DistrictRow | SchoolRow | InstitutionRow | SupervisorRow | StaffRow

# ----------------------------------------------------------------------- problems

_SOURCE_RE = re.compile(r"^(?P<file>.*?)(?:\[(?P<sheet>[^\[\]]*)\])?(?::(?P<row>\d+))?$")


def make_source(file: str, sheet: str | None = None, row: int | None = None) -> str:
    """Build a source string: "schools.csv:12", "book.xlsx[学校]:12" or just the file."""
    text = file if sheet is None else f"{file}[{sheet}]"
    return text if row is None else f"{text}:{row}"


def describe_source(source: str) -> str:
    """Render a source string as a Chinese location: "schools.csv 第12行"."""
    match = _SOURCE_RE.match(source)
    if match is None or not source:  # pragma: no cover - the pattern matches any string
        return source
    file, sheet, row = match["file"], match["sheet"], match["row"]
    if sheet is not None and row is not None:
        return t("directory.where.sheet_row", file=file, sheet=sheet, row=row)
    if sheet is not None:
        return t("directory.where.sheet", file=file, sheet=sheet)
    if row is not None:
        return t("directory.where.row", file=file, row=row)
    return t("directory.where.file", file=file)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or worth a warning) at `source`; `key` names its catalogue text."""

    source: str
    key: str
    params: Mapping[str, object] = field(default_factory=dict)

    def reason(self) -> str:
        """Render the reason alone, without the location."""
        return t(self.key, **self.params)

    def render(self) -> str:
        """Render one Chinese line: "schools.csv 第12行：学校代码为空"."""
        if not self.source:
            return self.reason()
        return t("directory.line", where=describe_source(self.source), reason=self.reason())


class DirectoryFileError(Exception):
    """The files cannot be imported; `problems` says where and why (at most 50 are kept)."""

    def __init__(self, problems: Sequence[Problem], total: int | None = None) -> None:
        self.problems = list(problems)
        self.total = max(total or 0, len(self.problems))
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [problem.render() for problem in self.problems]
        if self.total > len(self.problems):
            lines.append(t("directory.error.too_many", total=self.total, shown=len(lines)))
        return "\n".join(lines)


class _Rejected(Exception):
    """A whole file or sheet cannot be read; carries the problem to report."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.key)
        self.problem = problem


class _Problems:
    """Collect problems up to a limit while still counting all of them."""

    def __init__(self, limit: int = MAX_PROBLEMS) -> None:
        self.limit = limit
        self.kept: list[Problem] = []
        self.total = 0

    def add(self, source: str, key: str, **params: object) -> None:
        """Record a problem; past the limit it is only counted."""
        self.total += 1
        if len(self.kept) < self.limit:
            self.kept.append(Problem(source, key, params))


# --------------------------------------------------------------------- references


@dataclass(frozen=True, slots=True)
class Reference:
    """A code that points outside this import; the caller checks it against the database."""

    source: str
    table: TableName  # the table holding the referring row
    field: str  # district_code | supervisor_code | tutoring_supervisor_code
    target: Literal["district", "supervisor"]
    code: str
    role: SupervisorRole | None  # the role the supervisor must have; None: any / a district

    def problem(self) -> Problem:
        """Describe this reference as missing from the directory too."""
        if self.target == "district":
            return Problem(self.source, "directory.error.unknown_district", {"code": self.code})
        label = field_label(self.table, self.field)
        return Problem(
            self.source, "directory.error.unknown_supervisor", {"label": label, "code": self.code}
        )


def _wrong_role(
    source: str, table: TableName, field_name: str, code: str, actual: str, expected: str | None
) -> Problem:
    """Build the problem for a reference to a person who is not the kind of person needed."""
    label = field_label(table, field_name)
    if actual == "staff" or expected is None:
        return Problem(source, "directory.error.ref_not_supervisor", {"label": label, "code": code})
    return Problem(
        source,
        "directory.error.ref_wrong_role",
        {"label": label, "code": code, "actual": t(f"role.{actual}"),
         "expected": t(f"role.{expected}")},
    )


# ------------------------------------------------------------------------ result


@dataclass(frozen=True)
class DirectoryData:
    """Everything read from one import, validated; `warnings` did not stop it."""

    districts: list[DistrictRow] = field(default_factory=list)
    schools: list[SchoolRow] = field(default_factory=list)
    institutions: list[InstitutionRow] = field(default_factory=list)
    supervisors: list[SupervisorRow] = field(default_factory=list)
    staff: list[StaffRow] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def unresolved_refs(self) -> list[Reference]:
        """List references to districts or supervisors that this import does not contain."""
        districts = {row.code for row in self.districts}
        supervisors = {row.code for row in self.supervisors}
        refs: list[Reference] = []
        for district in self.districts:
            code = district.tutoring_supervisor_code
            if code and code not in supervisors:
                refs.append(Reference(district.source, "districts", "tutoring_supervisor_code",
                                      "supervisor", code, "tutoring"))
        places: list[SchoolRow | InstitutionRow] = [*self.schools, *self.institutions]
        for place in places:
            table: TableName = "schools" if isinstance(place, SchoolRow) else "institutions"
            if place.district_code and place.district_code not in districts:
                refs.append(Reference(place.source, table, "district_code", "district",
                                      place.district_code, None))
            if place.supervisor_code and place.supervisor_code not in supervisors:
                role: SupervisorRole | None = "responsible" if table == "schools" else None
                refs.append(Reference(place.source, table, "supervisor_code", "supervisor",
                                      place.supervisor_code, role))
        return refs

    def summary(self) -> str:
        """Render a one-line Chinese summary of what was read."""
        return t("directory.summary", districts=len(self.districts), schools=len(self.schools),
                 institutions=len(self.institutions), supervisors=len(self.supervisors),
                 staff=len(self.staff), warnings=len(self.warnings))


# ------------------------------------------------------------------ table specs


def _norm_key(text: str) -> str:
    """Normalise a header, file stem or enum value for lookup: no case, notes or separators."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).lower()
    text = re.sub(r"\([^)]*\)|\[[^\]]*\]|[*\s_\-/、:]", "", text)
    return text


_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)

_CODE = ("code", "代码", "编码", "编号")
_DISTRICT_REF = ("districtcode", "district", "所属区县", "区县代码", "所属乡镇", "乡镇代码",
                 "所属区县代码", "所属乡镇代码", "区县", "乡镇", "所属街道", "区县乡镇", "乡镇街道")
_ALIASES = ("aliases", "alias", "别名", "简称", "别称")
_PHONE = ("phone", "mobile", "电话", "手机", "手机号", "手机号码", "联系电话", "联系方式")


@dataclass(frozen=True)
class _Spec:
    table: TableName
    required: tuple[str, ...]
    headers: Mapping[str, tuple[str, ...]]  # field -> header synonyms

    def lookup(self) -> dict[str, str]:
        """Map every normalised header synonym to its field."""
        return {_norm_key(h): f for f, synonyms in self.headers.items() for h in (f, *synonyms)}


_SPECS: dict[TableName, _Spec] = {
    "districts": _Spec("districts", ("code", "name", "kind"), {
        "code": (*_CODE, "区县代码", "乡镇代码", "区域代码"),
        "name": ("名称", "区县名称", "乡镇名称", "区县", "乡镇", "区县乡镇", "乡镇街道"),
        "kind": ("type", "类型", "类别", "区域类型", "级别"),
        "tutoring_supervisor_code": ("tutoringsupervisor", "校外培训监管督学代码", "监管督学代码",
                                     "督学代码", "校外培训监管督学", "监管督学"),
    }),
    "schools": _Spec("schools", ("code", "name"), {
        "code": (*_CODE, "学校代码", "学校编码", "学校编号", "学校标识码"),
        "name": ("名称", "学校名称", "学校", "校名"),
        "district_code": _DISTRICT_REF,
        "stage": ("学段", "办学层次", "学校类型"),
        "aliases": _ALIASES,
        "supervisor_code": ("supervisor", "责任督学代码", "督学代码", "责任督学"),
    }),
    "institutions": _Spec("institutions", ("code", "name"), {
        "code": (*_CODE, "机构代码", "机构编码", "机构编号"),
        "name": ("名称", "机构名称", "机构", "培训机构名称", "培训机构"),
        "district_code": _DISTRICT_REF,
        "licensed": ("是否持证", "办学许可", "办学许可证", "持证", "是否有办学许可证",
                     "有无办学许可证", "是否取得办学许可"),
        "kind": ("type", "类型", "类别", "机构类型", "培训类型"),
        "aliases": _ALIASES,
        "supervisor_code": ("supervisor", "联系督学代码", "督学代码", "联系督学",
                            "监管督学代码", "责任督学代码"),
    }),
    "supervisors": _Spec("supervisors", ("code", "name", "role"), {
        "code": (*_CODE, "督学代码", "督学编号"),
        "name": ("名称", "姓名", "督学姓名"),
        "phone": _PHONE,
        "role": ("角色", "类别", "类型", "督学类别", "督学类型", "职责"),
    }),
    "staff": _Spec("staff", ("code", "name"), {
        "code": (*_CODE, "工作人员代码", "人员代码"),
        "name": ("名称", "姓名"),
        "phone": _PHONE,
    }),
}

_TABLE_SYNONYMS: dict[TableName, tuple[str, ...]] = {
    "districts": ("districts", "district", "区县", "乡镇", "区县乡镇", "乡镇街道", "区域"),
    "schools": ("schools", "school", "学校", "学校名单"),
    "institutions": ("institutions", "institution", "培训机构", "校外培训机构", "机构"),
    "supervisors": ("supervisors", "supervisor", "督学", "督学名单"),
    "staff": ("staff", "工作人员", "督导室", "督导室工作人员"),
}
_TABLE_NAMES: dict[str, TableName] = {
    _norm_key(name): table for table, names in _TABLE_SYNONYMS.items() for name in names
}
# Looser: a stem such as "青溪县学校名单2025" names its table by containing a keyword.
_TABLE_KEYWORDS: tuple[tuple[str, TableName], ...] = (
    ("培训机构", "institutions"), ("institution", "institutions"),
    ("工作人员", "staff"), ("督导室", "staff"), ("staff", "staff"),
    ("督学", "supervisors"), ("supervisor", "supervisors"),
    ("学校", "schools"), ("school", "schools"),
    ("区县", "districts"), ("乡镇", "districts"), ("街道", "districts"), ("district", "districts"),
)
_SKIPPED_SHEETS = frozenset(_norm_key(n) for n in ("说明", "填表说明", "readme", "instructions",
                                                    "notes", "备注"))

_DISTRICT_KINDS = {"区县": "区县", "区": "区县", "县": "区县", "county": "区县", "district": "区县",
                   "乡镇": "乡镇", "乡": "乡镇", "镇": "乡镇", "town": "乡镇", "township": "乡镇",
                   "街道": "街道", "街道办": "街道", "街道办事处": "街道", "subdistrict": "街道"}
_STAGES = {"小学": "小学", "primary": "小学", "初中": "初中", "初级中学": "初中",
           "junior": "初中", "九年一贯制": "九年一贯制", "九年一贯制学校": "九年一贯制",
           "九年制": "九年一贯制", "高中": "高中", "高级中学": "高中", "senior": "高中",
           "完全中学": "完全中学", "完中": "完全中学"}
_INSTITUTION_KINDS = {"学科类": "学科类", "学科": "学科类", "subject": "学科类",
                      "非学科类": "非学科类", "非学科": "非学科类", "nonsubject": "非学科类",
                      "托管": "托管", "daycare": "托管", "其他": "其他", "其它": "其他",
                      "other": "其他"}
_LICENSED = {"是": True, "否": False, "true": True, "false": False, "1": True, "0": False,
             "y": True, "n": False, "yes": True, "no": False, "有": True, "无": False,
             "持证": True, "未持证": False, "无证": False}
_ROLES: dict[str, SupervisorRole] = {
    "责任督学": "responsible", "responsible": "responsible",
    "校外培训监管督学": "tutoring", "校外培训督学": "tutoring", "监管督学": "tutoring",
    "tutoring": "tutoring",
}
_ALLOWED = {  # what an error message lists as the accepted values
    "district_kind": "区县、乡镇、街道",
    "stage": "小学、初中、九年一贯制、高中、完全中学",
    "institution_kind": "学科类、非学科类、托管、其他",
    "licensed": "是、否",
    "role": "责任督学、校外培训监管督学",
}

_CODE_RE = re.compile(r"[A-Za-z0-9_-]+")
_PHONE_RE = re.compile(r"\+?[0-9][0-9 ()-]*[0-9]")
_ALIAS_SPLIT_RE = re.compile(r"[|、;,]")  # NFKC has already folded ｜；， to ASCII


def field_label(table: TableName, field_name: str) -> str:
    """Name a field in Chinese for messages ("学校代码", "督学姓名", "学段")."""
    specific = CATALOGUE.get(f"directory.field.{table}.{field_name}")
    label = specific if specific is not None else t(f"directory.field.{field_name}")
    if field_name in ("code", "name"):
        return t(f"directory.table.{table}") + label
    return label


def _clean(value: str) -> str:
    """Normalise a cell: NFKC, invisible characters dropped, whitespace collapsed and trimmed."""
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value).translate(_INVISIBLE)
    return " ".join(value.split())


# ------------------------------------------------------------------ raw sheets


@dataclass
class _Sheet:
    """One table as read from a file: where it came from and its rows as text cells."""

    file: str
    sheet: str | None
    stem: str  # what names the table: the file stem or the sheet name
    rows: Iterator[tuple[int, list[str]]]  # 1-based spreadsheet row number, cells

    def source(self, row: int | None = None) -> str:
        """Build the source string for a row of this sheet (or the sheet itself)."""
        return make_source(self.file, self.sheet, row)


_TEXT_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
_XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# C0 controls never occur in UTF-8 or GB18030 text except as themselves: binary gives them away.
_BINARY_BYTES = frozenset(range(0x00, 0x09)) | frozenset(range(0x0E, 0x20)) - {0x1A}


def _open_sheets(path: Path) -> list[_Sheet]:
    """Read one file into sheets, or raise _Rejected saying why it cannot be read."""
    name = path.name
    suffix = path.suffix.lower()
    if suffix not in _TEXT_SUFFIXES | _XLSX_SUFFIXES:
        if suffix == ".xls":
            raise _Rejected(Problem(name, "directory.error.old_excel"))
        raise _Rejected(Problem(name, "directory.error.unsupported_type",
                                {"suffix": suffix or name}))
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _Rejected(Problem(name, "directory.error.too_large", {
                "size_mb": round(size / 2**20, 1), "limit_mb": MAX_FILE_BYTES // 2**20}))
        data = path.read_bytes()
    except FileNotFoundError:
        raise _Rejected(Problem(name, "directory.error.not_found")) from None
    except IsADirectoryError:
        raise _Rejected(Problem(name, "directory.error.not_found")) from None
    except OSError as exc:
        raise _Rejected(Problem(name, "directory.error.unreadable",
                                {"detail": exc.strerror or type(exc).__name__})) from None
    if not data.strip():
        raise _Rejected(Problem(name, "directory.error.empty_file"))
    if data.startswith(_OLE_MAGIC):
        raise _Rejected(Problem(name, "directory.error.old_excel"))
    # Trust the content over the suffix: Excel users rename files freely.
    if data.startswith(_ZIP_MAGIC):
        return _xlsx_sheets(name, data)
    if suffix in _XLSX_SUFFIXES:
        raise _Rejected(Problem(name, "directory.error.not_spreadsheet"))
    return [_csv_sheet(name, path.stem, data)]


def _decode(name: str, data: bytes) -> str:
    """Decode CSV bytes: UTF-16 with BOM, UTF-8 (with or without BOM), else GB18030."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise _Rejected(Problem(name, "directory.error.encoding")) from None
    if not _BINARY_BYTES.isdisjoint(data[:65536]) or b"\x00" in data:
        raise _Rejected(Problem(name, "directory.error.not_spreadsheet"))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    lenient = data.decode("utf-8", errors="replace")
    bad = lenient.count("\ufffd")
    non_ascii = sum(1 for ch in lenient if ord(ch) > 0x7F)
    if non_ascii - bad > 4 * bad:  # mostly valid UTF-8: a damaged file, not another encoding
        line = data.count(b"\n", 0, first_bad) + 1
        raise _Rejected(Problem(make_source(name, row=line), "directory.error.bad_bytes"))
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise _Rejected(Problem(name, "directory.error.encoding")) from None
    # Mis-decoded bytes land in C1 controls or the private use area; real GBK text does not.
    if any(0x80 <= ord(ch) <= 0x9F or 0xE000 <= ord(ch) <= 0xF8FF for ch in text):
        raise _Rejected(Problem(name, "directory.error.encoding"))
    return text


def _csv_sheet(name: str, stem: str, data: bytes) -> _Sheet:
    """Parse CSV bytes into a sheet (rows are produced lazily, errors raise _Rejected)."""
    text = _decode(name, data)
    if not text.strip():
        raise _Rejected(Problem(name, "directory.error.empty_file"))
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    return _Sheet(name, None, stem, _csv_rows(name, text, delimiter))


def _csv_rows(name: str, text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (row number, cells); a record spanning lines is one spreadsheet row."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    number = 0
    try:
        for number, cells in enumerate(reader, start=1):
            yield number, cells
    except csv.Error:
        raise _Rejected(Problem(make_source(name, row=number + 1),
                                "directory.error.csv_syntax")) from None


def _xlsx_sheets(name: str, data: bytes) -> list[_Sheet]:
    """Read every worksheet of an XLSX workbook into sheets (values, not formulas)."""
    from openpyxl import load_workbook  # imported here: only XLSX imports pay for it

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # zipfile.BadZipFile, openpyxl's InvalidFileException, KeyError …
        raise _Rejected(Problem(name, "directory.error.not_spreadsheet")) from None
    try:
        sheets = []
        for worksheet in workbook.worksheets:
            # Read eagerly: read-only workbooks must be closed, and sheets are small.
            rows = [
                (number, [_cell_text(v) for v in values])
                for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1)
            ]
            title = str(worksheet.title)
            sheets.append(_Sheet(name, title, title, iter(rows)))
    except Exception:  # a damaged sheet part inside a valid zip
        raise _Rejected(Problem(name, "directory.error.not_spreadsheet")) from None
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


# ----------------------------------------------------------------------- reader


_Row = TypeVar("_Row", DistrictRow, SchoolRow, InstitutionRow, SupervisorRow, StaffRow)


class _Reader:
    """Accumulate rows, warnings and problems over all files of one import."""

    def __init__(self) -> None:
        self.problems = _Problems()
        self.warnings: list[Problem] = []
        self.districts: list[DistrictRow] = []
        self.schools: list[SchoolRow] = []
        self.institutions: list[InstitutionRow] = []
        self.supervisors: list[SupervisorRow] = []
        self.staff: list[StaffRow] = []

    # -- files and sheets

    def read_path(self, path: Path) -> None:
        """Read one file; problems that stop the file are recorded, not raised."""
        try:
            sheets = _open_sheets(path)
            multi = len(sheets) > 1 or any(sheet.sheet is not None for sheet in sheets)
            read_any = False
            for sheet in sheets:
                read_any = self.read_sheet(sheet, in_workbook=multi) or read_any
            if not read_any:
                self.problems.add(path.name, "directory.error.empty_file")
        except _Rejected as rejected:
            self.problems.add(rejected.problem.source, rejected.problem.key,
                              **rejected.problem.params)

    def read_sheet(self, sheet: _Sheet, *, in_workbook: bool) -> bool:
        """Read one table; return False when it was skipped as empty or an instructions page."""
        header_row, header = self._find_header(sheet)
        if header is None:
            if in_workbook:
                self.warnings.append(Problem(sheet.source(), "directory.warning.skipped_sheet"))
                return False
            raise _Rejected(Problem(sheet.source(), "directory.error.empty_file"))
        if in_workbook and _norm_key(sheet.stem) in _SKIPPED_SHEETS:
            self.warnings.append(Problem(sheet.source(), "directory.warning.skipped_sheet"))
            return False
        keys = [_norm_key(h) for h in header]
        table = _table_from_name(sheet.stem) or _table_from_headers(keys)
        if table is None:
            self.problems.add(sheet.source(header_row), "directory.error.unknown_table")
            return True
        columns = self._map_columns(sheet, header_row, table, header, keys)
        if columns is not None:
            self._read_rows(sheet, table, columns, keys)
        return True

    def _find_header(self, sheet: _Sheet) -> tuple[int, list[str] | None]:
        """Return the header row: the first non-empty row, skipping a one-cell title row."""
        title: tuple[int, str] | None = None
        for number, cells in sheet.rows:
            cleaned = [_clean(c) for c in cells]
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
                self.warnings.append(Problem(sheet.source(title[0]), "directory.warning.title_row",
                                             {"title": title[1]}))
            while cleaned and not cleaned[-1]:
                cleaned.pop()
            return number, cleaned
        if title is not None:  # a one-column file: the lone row was a header, not a title
            return title[0], [title[1]]
        return 0, None

    def _map_columns(
        self, sheet: _Sheet, header_row: int, table: TableName, header: list[str], keys: list[str]
    ) -> dict[str, int] | None:
        """Map fields to column indexes; report missing/duplicate columns, warn on unknown ones."""
        lookup = _SPECS[table].lookup()
        columns: dict[str, int] = {}
        unknown: list[str] = []
        ok = True
        for index, (text, key) in enumerate(zip(header, keys, strict=True)):
            if not key:
                continue  # a column without a header: ignored, its cells checked per row
            field_name = lookup.get(key)
            if field_name is None:
                unknown.append(text)
            elif field_name in columns:
                ok = False
                self.problems.add(sheet.source(header_row), "directory.error.duplicate_column",
                                  column=field_label(table, field_name),
                                  first=header[columns[field_name]], second=text)
            else:
                columns[field_name] = index
        for required in _SPECS[table].required:
            if required not in columns:
                ok = False
                self.problems.add(sheet.source(header_row), "directory.error.missing_column",
                                  column=field_label(table, required), field=required)
        if unknown:
            self.warnings.append(Problem(sheet.source(header_row),
                                         "directory.warning.unknown_columns",
                                         {"columns": "、".join(unknown)}))
        return columns if ok else None

    def _read_rows(
        self, sheet: _Sheet, table: TableName, columns: dict[str, int], header_keys: list[str]
    ) -> None:
        """Parse every data row of a sheet into its table's row type."""
        parse = _PARSERS[table]
        width = len(header_keys)
        seen = 0
        # Columns inside the header's width but without a header text: ignored, but said so.
        mapped = set(columns.values())
        unnamed_columns = [i for i in range(width) if i not in mapped and not header_keys[i]]
        unnamed: set[int] = set()
        for number, cells in sheet.rows:
            cleaned = [_clean(c) for c in cells]
            if not any(cleaned):
                continue
            seen += 1
            source = sheet.source(number)
            unnamed.update(i for i in unnamed_columns if i < len(cleaned) and cleaned[i])
            beyond = [i for i in range(width, len(cleaned)) if cleaned[i]]
            if beyond and sheet.sheet is None:
                # In CSV, cells beyond the header mean shifted data (an unquoted comma).
                self.problems.add(source, "directory.error.extra_cells", count=len(beyond))
                continue
            unnamed.update(beyond)  # in XLSX they are just a column without a header
            values = {f: (cleaned[i] if i < len(cleaned) else "") for f, i in columns.items()}
            row = parse(_RowContext(self, table, source), values)
            if row is not None:
                self._append(row)
        if seen == 0:
            self.warnings.append(Problem(sheet.source(), "directory.warning.no_rows"))
        if unnamed:
            self.warnings.append(Problem(sheet.source(), "directory.warning.unnamed_columns", {
                "columns": "、".join(_column_letter(i) for i in sorted(unnamed))}))

    def _append(self, row: AnyRow) -> None:
        """Add a parsed row to the list of its table."""
        if isinstance(row, DistrictRow):
            self.districts.append(row)
        elif isinstance(row, SchoolRow):
            self.schools.append(row)
        elif isinstance(row, InstitutionRow):
            self.institutions.append(row)
        elif isinstance(row, SupervisorRow):
            self.supervisors.append(row)
        else:
            self.staff.append(row)

    # -- checks across rows and tables

    def finish(self) -> DirectoryData:
        """Run the checks that need every row, then return the data or raise."""
        self._check_duplicate_codes()
        self._resolve_names()
        self._check_roles()
        self._check_ambiguous_names()
        if self.problems.total:
            raise DirectoryFileError(self.problems.kept, self.problems.total)
        return DirectoryData(self.districts, self.schools, self.institutions, self.supervisors,
                             self.staff, self.warnings)

    def _check_duplicate_codes(self) -> None:
        """Reject a code used twice in a table; supervisors and staff share one code space."""
        groups: list[tuple[TableName, Sequence[AnyRow]]] = [
            ("districts", self.districts), ("schools", self.schools),
            ("institutions", self.institutions),
            ("supervisors", [*self.supervisors, *self.staff]),
        ]
        for table, rows in groups:
            seen: dict[str, str] = {}
            for row in rows:
                if row.code not in seen:
                    seen[row.code] = row.source
                    continue
                row_table: TableName = "staff" if isinstance(row, StaffRow) else table
                self.problems.add(row.source, "directory.error.duplicate_code",
                                  label=field_label(row_table, "code"), code=row.code,
                                  first=describe_source(seen[row.code]))

    def _resolve_names(self) -> None:
        """Replace references written as names (城关镇, 王建国) by the codes in this import."""
        districts = _names_to_codes((r.name, r.code) for r in self.districts)
        people = _names_to_codes((r.name, r.code) for r in self.supervisors)
        self.districts = [
            self._resolved(r, "districts", "tutoring_supervisor_code", people, "supervisors")
            for r in self.districts
        ]
        self.schools = [
            self._resolved(
                self._resolved(r, "schools", "district_code", districts, "districts"),
                "schools", "supervisor_code", people, "supervisors")
            for r in self.schools
        ]
        self.institutions = [
            self._resolved(
                self._resolved(r, "institutions", "district_code", districts, "districts"),
                "institutions", "supervisor_code", people, "supervisors")
            for r in self.institutions
        ]

    def _resolved(
        self, row: _Row, table: TableName, attr: str, names: dict[str, list[str]],
        target: TableName,
    ) -> _Row:
        """Return `row` with reference `attr` turned from a name into a code where needed."""
        value = getattr(row, attr)
        if not value or _is_code(value):
            return row
        label = field_label(table, attr)
        codes = names.get(value.casefold(), [])
        target_label = t(f"directory.table.{target}")
        if len(codes) == 1:
            self.warnings.append(Problem(row.source, "directory.warning.resolved_by_name",
                                         {"label": label, "value": value, "code": codes[0]}))
            changes: dict[str, Any] = {attr: codes[0]}
            return replace(row, **changes)
        key = "directory.error.ambiguous_ref_name" if codes else "directory.error.unknown_ref_name"
        self.problems.add(row.source, key, label=label, value=value, target=target_label)
        return row

    def _check_roles(self) -> None:
        """Reject references to people of the wrong role, when those people are in this import."""
        roles: dict[str, str] = {r.code: r.role for r in self.supervisors}
        roles.update((r.code, "staff") for r in self.staff if r.code not in roles)
        checks: list[tuple[str, TableName, str, str | None, str | None]] = [
            (r.source, "districts", "tutoring_supervisor_code", r.tutoring_supervisor_code,
             "tutoring") for r in self.districts
        ]
        checks += [(r.source, "schools", "supervisor_code", r.supervisor_code, "responsible")
                   for r in self.schools]
        checks += [(r.source, "institutions", "supervisor_code", r.supervisor_code, None)
                   for r in self.institutions]
        for source, table, attr, code, expected in checks:
            actual = roles.get(code) if code else None
            if actual is None or actual == expected or (expected is None and actual != "staff"):
                continue
            problem = _wrong_role(source, table, attr, code or "", actual, expected)
            self.problems.add(problem.source, problem.key, **problem.params)

    def _check_ambiguous_names(self) -> None:
        """Reject a name or alias shared by two schools (or two institutions) of one district."""
        district_names = {r.code: r.name for r in self.districts}
        places: list[tuple[TableName, Sequence[SchoolRow | InstitutionRow]]] = [
            ("schools", self.schools), ("institutions", self.institutions)]
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
                        self.problems.add(row.source, "directory.error.ambiguous_name",
                                          name=word, district=district,
                                          first=describe_source(first))
                earlier = full_names.setdefault(row.name.casefold(), (row.district_code,
                                                                      row.source))
                if earlier[0] != row.district_code:
                    self.warnings.append(Problem(row.source, "directory.warning.same_name", {
                        "table": t(f"directory.table.{table}"), "name": row.name,
                        "first": describe_source(earlier[1])}))


def _column_letter(index: int) -> str:
    """Name a 0-based column index the way a spreadsheet does (0 → A, 26 → AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _names_to_codes(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Index codes by case-folded name (a name may belong to several rows)."""
    index: dict[str, list[str]] = {}
    for name, code in pairs:
        index.setdefault(name.casefold(), []).append(code)
    return index


def _is_code(value: str) -> bool:
    """Tell whether `value` has the shape of a code."""
    return len(value) <= CODE_MAX and _CODE_RE.fullmatch(value) is not None


def _table_from_name(stem: str) -> TableName | None:
    """Recognise a table by a file stem or sheet name (exact, else one unambiguous keyword)."""
    key = _norm_key(stem)
    if key in _TABLE_NAMES:
        return _TABLE_NAMES[key]
    found = {table for keyword, table in _TABLE_KEYWORDS if keyword in key}
    return found.pop() if len(found) == 1 else None


def _table_from_headers(keys: list[str]) -> TableName | None:
    """Recognise a table by its headers: the one spec they fit best, if exactly one."""
    scored: list[tuple[int, TableName]] = []
    for table, spec in _SPECS.items():
        lookup = spec.lookup()
        fields = {lookup[k] for k in keys if k in lookup}
        if all(r in fields for r in spec.required):
            scored.append((len(fields), table))
    scored.sort(reverse=True)
    if not scored or (len(scored) > 1 and scored[0][0] == scored[1][0]):
        return None
    return scored[0][1]


# ---------------------------------------------------------------- row parsers


@dataclass
class _RowContext:
    """What a row parser needs: where to report problems and for which table."""

    reader: _Reader
    table: TableName
    source: str
    failed: bool = False

    def problem(self, key: str, **params: object) -> None:
        """Report a problem with this row and mark the row as failed."""
        self.failed = True
        self.reader.problems.add(self.source, key, **params)

    def warn(self, key: str, **params: object) -> None:
        """Record a warning about this row."""
        self.reader.warnings.append(Problem(self.source, key, params))

    def code(self, values: Mapping[str, str], attr: str = "code") -> str:
        """Check a required code."""
        value = values[attr]
        if not value:
            self.problem("directory.error.empty_value", label=field_label(self.table, attr))
        elif not _is_code(value):
            self.problem("directory.error.bad_code", label=field_label(self.table, attr),
                         value=value, limit=CODE_MAX)
        return value

    def name(self, values: Mapping[str, str], limit: int) -> str:
        """Check a required name."""
        value = values["name"]
        if not value:
            self.problem("directory.error.empty_value", label=field_label(self.table, "name"))
        elif len(value) > limit:
            self.problem("directory.error.too_long", label=field_label(self.table, "name"),
                         length=len(value), limit=limit)
        return value

    def ref(self, values: Mapping[str, str], attr: str) -> str | None:
        """Read an optional reference: a code, or a name resolved later against this import."""
        value = values.get(attr)
        if value and len(value) > PLACE_NAME_MAX:
            self.problem("directory.error.too_long", label=field_label(self.table, attr),
                         length=len(value), limit=PLACE_NAME_MAX)
        return value

    def choice(
        self, values: Mapping[str, str], attr: str, allowed: Mapping[str, str], listing: str,
        *, required: bool = False,
    ) -> str | None:
        """Read an enum value through its synonyms; "" for an empty optional cell."""
        if attr not in values:
            return None
        value = values[attr]
        if not value:
            if required:
                self.problem("directory.error.empty_value", label=field_label(self.table, attr))
            return ""
        canonical = allowed.get(value) or allowed.get(_norm_key(value))
        if canonical is None:
            self.problem("directory.error.bad_value", label=field_label(self.table, attr),
                         value=value, allowed=listing)
            return ""
        return canonical

    def licensed(self, values: Mapping[str, str]) -> bool | None:
        """Read the licence flag (是/否, true/false, 1/0, Y/N); None when not given."""
        value = values.get("licensed")
        if not value:
            return None
        flag = _LICENSED.get(_norm_key(value))
        if flag is None:
            self.problem("directory.error.bad_value", label=field_label(self.table, "licensed"),
                         value=value, allowed=_ALLOWED["licensed"])
        return flag

    def aliases(self, values: Mapping[str, str], name: str) -> tuple[str, ...] | None:
        """Split aliases on | 、 ； , and drop empties, repeats and the name itself."""
        if "aliases" not in values:
            return None
        seen = {name.casefold()}
        result: list[str] = []
        for part in _ALIAS_SPLIT_RE.split(values["aliases"]):
            alias = part.strip()
            if not alias or alias.casefold() in seen:
                continue
            seen.add(alias.casefold())
            if len(alias) > ALIAS_MAX:
                self.problem("directory.error.too_long", label=field_label(self.table, "aliases"),
                             length=len(alias), limit=ALIAS_MAX)
            elif len(alias) == 1:
                self.warn("directory.warning.short_alias", alias=alias)
            result.append(alias)
        return tuple(result)

    def phone(self, values: Mapping[str, str]) -> str | None:
        """Read an optional phone number (digits, spaces, - and brackets, 5 digits or more)."""
        value = values.get("phone")
        if not value:
            return value
        digits = sum(ch.isdigit() for ch in value)
        if len(value) > PHONE_MAX or digits < 5 or _PHONE_RE.fullmatch(value) is None:
            self.problem("directory.error.bad_phone", value=value)
        return value


def _parse_district(ctx: _RowContext, values: Mapping[str, str]) -> DistrictRow | None:
    """Build a district row."""
    code, name = ctx.code(values), ctx.name(values, PLACE_NAME_MAX)
    kind = ctx.choice(values, "kind", _DISTRICT_KINDS, _ALLOWED["district_kind"], required=True)
    supervisor = ctx.ref(values, "tutoring_supervisor_code")
    if ctx.failed:
        return None
    return DistrictRow(ctx.source, code, name, kind or "", supervisor)


def _parse_school(ctx: _RowContext, values: Mapping[str, str]) -> SchoolRow | None:
    """Build a school row."""
    code, name = ctx.code(values), ctx.name(values, PLACE_NAME_MAX)
    row = SchoolRow(
        ctx.source, code, name,
        district_code=ctx.ref(values, "district_code"),
        stage=ctx.choice(values, "stage", _STAGES, _ALLOWED["stage"]),
        aliases=ctx.aliases(values, name),
        supervisor_code=ctx.ref(values, "supervisor_code"),
    )
    return None if ctx.failed else row


def _parse_institution(ctx: _RowContext, values: Mapping[str, str]) -> InstitutionRow | None:
    """Build a tutoring institution row."""
    code, name = ctx.code(values), ctx.name(values, PLACE_NAME_MAX)
    row = InstitutionRow(
        ctx.source, code, name,
        district_code=ctx.ref(values, "district_code"),
        licensed=ctx.licensed(values),
        kind=ctx.choice(values, "kind", _INSTITUTION_KINDS, _ALLOWED["institution_kind"]),
        aliases=ctx.aliases(values, name),
        supervisor_code=ctx.ref(values, "supervisor_code"),
    )
    return None if ctx.failed else row


def _parse_supervisor(ctx: _RowContext, values: Mapping[str, str]) -> SupervisorRow | None:
    """Build a supervisor row."""
    code, name = ctx.code(values), ctx.name(values, PERSON_NAME_MAX)
    role_text = ctx.choice(values, "role", _ROLES, _ALLOWED["role"], required=True)
    phone = ctx.phone(values)
    if ctx.failed or role_text not in ("responsible", "tutoring"):
        return None
    role: SupervisorRole = "responsible" if role_text == "responsible" else "tutoring"
    return SupervisorRow(ctx.source, code, name, role, phone)


def _parse_staff(ctx: _RowContext, values: Mapping[str, str]) -> StaffRow | None:
    """Build an office staff row."""
    code, name = ctx.code(values), ctx.name(values, PERSON_NAME_MAX)
    phone = ctx.phone(values)
    return None if ctx.failed else StaffRow(ctx.source, code, name, phone)


_PARSERS: dict[TableName, Callable[[_RowContext, Mapping[str, str]], AnyRow | None]] = {
    "districts": _parse_district,
    "schools": _parse_school,
    "institutions": _parse_institution,
    "supervisors": _parse_supervisor,
    "staff": _parse_staff,
}


# -------------------------------------------------------------------- entry point


def read_directory_files(paths: Sequence[Path | str]) -> DirectoryData:
    """Read and validate directory files; raise DirectoryFileError listing every problem."""
    if not paths:
        raise DirectoryFileError([Problem("", "directory.error.no_files")])
    reader = _Reader()
    for path in paths:
        reader.read_path(Path(path))
    return reader.finish()
