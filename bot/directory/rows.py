"""The directory's rows as pydantic models: one per table, each value checked and normalised.

Optional columns follow one convention, so an upsert can leave untouched what a file does
not mention: `None` means "this column is not in the file" (the field is left unset), while
an empty cell gives `""` (or `()` for aliases), meaning "explicitly empty". `licensed` is
`None` when the column is absent or the cell is empty.

Validators raise `PydanticCustomError` whose type is a catalogue key and whose context holds
its parameters; `parse_row` turns them into located `Problem`s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal, NoReturn

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from bot.directory.headers import TableName, ValueKind, field_label, vocabulary
from bot.directory.problems import Problem

SupervisorRole = Literal["responsible", "tutoring"]

CODE_MAX = 32
PLACE_NAME_MAX = 100  # districts, schools, institutions (storage: String(100))
PERSON_NAME_MAX = 50  # supervisors and staff (storage: String(50))
ALIAS_MAX = 50
PHONE_MAX = 32

_CODE_RE = re.compile(r"[A-Za-z0-9_-]+")
_PHONE_RE = re.compile(r"\+?[0-9][0-9 ()-]*[0-9]")
_ALIAS_SPLIT_RE = re.compile(r"[|、;,]")  # NFKC has already folded ｜；， to ASCII


def _fail(key: str, **params: object) -> NoReturn:
    """Reject a value with the catalogue text `key`."""
    raise PydanticCustomError(key, key, params)


def is_code(value: str) -> bool:
    """Tell whether `value` has the shape of a code."""
    return len(value) <= CODE_MAX and _CODE_RE.fullmatch(value) is not None


def _code(value: str) -> str:
    if not value:
        _fail("directory.error.empty_value")
    if not is_code(value):
        _fail("directory.error.bad_code", value=value, limit=CODE_MAX)
    return value


def _name(limit: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not value:
            _fail("directory.error.empty_value")
        if len(value) > limit:
            _fail("directory.error.too_long", length=len(value), limit=limit)
        return value
    return check


def _ref(value: str | None) -> str | None:
    """A reference: a code, or a name resolved later against the same import."""
    if value and len(value) > PLACE_NAME_MAX:
        _fail("directory.error.too_long", length=len(value), limit=PLACE_NAME_MAX)
    return value


def _choice(kind: ValueKind, *, required: bool = False) -> Callable[[str], str]:
    """Read an enumerated value through its spellings; "" for an empty optional cell."""
    def check(value: str) -> str:
        values = vocabulary().values[kind]
        if not value:
            if required:
                _fail("directory.error.empty_value")
            return ""
        canonical = values.canonical(value)
        if canonical is None:
            _fail("directory.error.bad_value", value=value, allowed=values.allowed)
        return canonical
    return check


def _licensed(value: str) -> bool | None:
    """Read the licence flag (是/否, true/false, 1/0, Y/N); None for an empty cell."""
    if not value:
        return None
    return _choice("licensed")(value) == "true"


def _phone(value: str | None) -> str | None:
    """An optional phone number: digits, spaces, - and brackets, 5 digits or more."""
    if value and (len(value) > PHONE_MAX or sum(ch.isdigit() for ch in value) < 5
                  or _PHONE_RE.fullmatch(value) is None):
        _fail("directory.error.bad_phone", value=value)
    return value


Code = Annotated[str, AfterValidator(_code)]
PlaceName = Annotated[str, AfterValidator(_name(PLACE_NAME_MAX))]
PersonName = Annotated[str, AfterValidator(_name(PERSON_NAME_MAX))]
Ref = Annotated[str | None, AfterValidator(_ref)]
Phone = Annotated[str | None, AfterValidator(_phone)]


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)
    table: ClassVar[TableName]

    source: str  # where the row came from: "schools.csv:12"
    code: Code


class _Place(_Row):
    """A school or institution: a name, aliases, a district and a supervisor."""

    name: PlaceName
    district_code: Ref = None
    aliases: tuple[str, ...] | None = None

    @field_validator("aliases", mode="before")
    @classmethod
    def _split_aliases(cls, value: str, info: ValidationInfo) -> tuple[str, ...]:
        """Split aliases on | 、 ； , and drop empties, repeats and the name itself."""
        seen = {str(info.data.get("name", "")).casefold()}
        result: list[str] = []
        for part in _ALIAS_SPLIT_RE.split(value):
            alias = part.strip()
            if not alias or alias.casefold() in seen:
                continue
            if len(alias) > ALIAS_MAX:
                _fail("directory.error.too_long", length=len(alias), limit=ALIAS_MAX)
            seen.add(alias.casefold())
            result.append(alias)
        return tuple(result)


class DistrictRow(_Row):
    table = "districts"
    name: PlaceName
    kind: Annotated[str, BeforeValidator(_choice("district_kind", required=True))]
    tutoring_supervisor_code: Ref = None


class SchoolRow(_Place):
    table = "schools"
    stage: Annotated[str | None, BeforeValidator(_choice("stage"))] = None
    supervisor_code: Ref = None  # the responsible supervisor (责任督学)


class InstitutionRow(_Place):
    table = "institutions"
    licensed: Annotated[bool | None, BeforeValidator(_licensed)] = None
    kind: Annotated[str | None, BeforeValidator(_choice("institution_kind"))] = None
    supervisor_code: Ref = None  # the liaison supervisor


class SupervisorRow(_Row):
    table = "supervisors"
    name: PersonName
    role: Annotated[SupervisorRole, BeforeValidator(_choice("role", required=True))]
    phone: Phone = None


class StaffRow(_Row):
    table = "staff"
    name: PersonName
    phone: Phone = None


AnyRow = DistrictRow | SchoolRow | InstitutionRow | SupervisorRow | StaffRow
PlaceRow = SchoolRow | InstitutionRow

MODELS: dict[TableName, type[AnyRow]] = {
    "districts": DistrictRow, "schools": SchoolRow, "institutions": InstitutionRow,
    "supervisors": SupervisorRow, "staff": StaffRow,
}


@dataclass
class ParsedRow:
    """A row read from a sheet: the model, or the problems that stopped it, and warnings."""

    row: AnyRow | None
    problems: list[Problem]
    warnings: list[Problem]


def parse_row(table: TableName, source: str, values: Mapping[str, str]) -> ParsedRow:
    """Validate one row's cells (field -> text; absent columns left out) into its model."""
    try:
        row = MODELS[table].model_validate({"source": source, **values})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0])
            key, params = error["type"], dict(error.get("ctx") or {})
            if not key.startswith("directory."):  # a type error: never expected from text
                key, params = "directory.error.bad_value", {"value": error["input"],
                                                             "allowed": ""}
            problems.append(Problem(source, key, params, column=field_label(table, name)))
        return ParsedRow(None, problems, [])
    aliases = row.aliases if isinstance(row, SchoolRow | InstitutionRow) else None
    warnings = [Problem(source, "directory.warning.short_alias", {"alias": alias},
                        column=field_label(table, "aliases"))
                for alias in aliases or () if len(alias) == 1]
    return ParsedRow(row, [], warnings)


@dataclass(frozen=True)
class DirectoryData:
    """Everything read from one import, validated; `warnings` did not stop it."""

    districts: list[DistrictRow] = field(default_factory=list)
    schools: list[SchoolRow] = field(default_factory=list)
    institutions: list[InstitutionRow] = field(default_factory=list)
    supervisors: list[SupervisorRow] = field(default_factory=list)
    staff: list[StaffRow] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
