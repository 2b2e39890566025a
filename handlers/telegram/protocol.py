"""The chat protocol: every button's callback data, typed, packed and parsed in one place.

One frozen dataclass per button family: a short prefix and typed fields (str, int, bool,
date, StrEnum), joined with ":". `pack()` builds the data (checked against Telegram's 64-byte
limit), `parse()` reads it back or returns None for anything else (never raises), and
`pattern()` is the regex a `CallbackQueryHandler` matches. The data only names what was
pressed: the server re-checks the user, the case and its status on every press.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar, Self

from bot.domain import Disposition, Rating

MAX_BYTES = 64  # Telegram's limit for callback_data
SEPARATOR = ":"
_DATE_FORMAT = "%Y%m%d"


class CallbackData:
    """Base of every button family; subclasses are frozen dataclasses with a `prefix`."""

    prefix: ClassVar[str]
    _fields: ClassVar[tuple[tuple[str, Any], ...]]

    def __init_subclass__(cls, *, prefix: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.prefix = prefix

    @classmethod
    def _typed_fields(cls) -> tuple[tuple[str, Any], ...]:
        found = cls.__dict__.get("_fields")
        if found is None:
            hints = typing.get_type_hints(cls)
            found = tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))  # type: ignore[arg-type]
            cls._fields = found
        return found  # type: ignore[no-any-return]

    def pack(self) -> str:
        """The callback data; ValueError if a value cannot be carried or it is too long."""
        parts = [self.prefix]
        for name, kind in self._typed_fields():
            parts.append(_encode(getattr(self, name), kind))
        data = SEPARATOR.join(parts)
        if len(data.encode()) > MAX_BYTES:
            raise ValueError(f"callback data longer than {MAX_BYTES} bytes: {data}")
        if not self.pattern().match(data):  # e.g. an empty value, or one with ":" or a space
            raise ValueError(f"{type(self).__name__} cannot carry {data!r}")
        return data

    @classmethod
    def parse(cls, data: str | None) -> Self | None:
        """The button this data names, or None for anything else (forged, stale, garbage)."""
        if not data or len(data.encode()) > MAX_BYTES or not cls.pattern().match(data):
            return None
        raw = data[len(cls.prefix):].split(SEPARATOR)[1:]
        values: dict[str, Any] = {}
        for (name, kind), text in zip(cls._typed_fields(), raw, strict=True):
            value = _decode(text, kind)
            if value is None:
                return None
            values[name] = value
        return cls(**values)

    @classmethod
    def pattern(cls) -> re.Pattern[str]:
        """Matches exactly this family's data (prefix and field count, enum values)."""
        found: re.Pattern[str] | None = cls.__dict__.get("_pattern")
        if found is None:
            fields = "".join(SEPARATOR + _field_regex(kind) for _, kind in cls._typed_fields())
            found = re.compile(f"^{re.escape(cls.prefix)}{fields}\\Z")
            cls._pattern = found  # type: ignore[attr-defined]
        return found


def _field_regex(kind: Any) -> str:
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        return "(?:" + "|".join(re.escape(m.value) for m in kind) + ")"
    if kind is int:
        return "[0-9]{1,9}"
    if kind is bool:
        return "[01]"
    if kind is date:
        return "[0-9]{8}"
    return r"[^:\s]+"


def _encode(value: Any, kind: Any) -> str:
    if kind is bool:
        return "1" if value else "0"
    if kind is date:
        return str(value.strftime(_DATE_FORMAT))
    if isinstance(value, StrEnum):
        return value.value
    return str(value)


def _decode(text: str, kind: Any) -> Any:
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        return kind(text) if text in kind.__members__.values() else None
    if kind is int:
        return int(text)
    if kind is bool:
        return text == "1"
    if kind is date:
        try:
            return datetime.strptime(text, _DATE_FORMAT).date()
        except ValueError:
            return None
    return text


def parse_any(data: str | None, families: typing.Iterable[type[CallbackData]],
              ) -> CallbackData | None:
    """The first family that reads this data, or None."""
    for family in families:
        found = family.parse(data)
        if found is not None:
            return found
    return None


def namespace_pattern(namespace: str) -> re.Pattern[str]:
    """Everything under one role's namespace ("s", "o", "c", "d"), forged data included,
    so the role's handler can refuse what no family reads."""
    return re.compile(f"^{re.escape(namespace)}:")


# --- parent: the tip being composed ---------------------------------------------------------
class DraftChoice(StrEnum):
    ANONYMOUS = "anon"
    NAMED = "named"
    CANCEL = "cancel"
    TYPE_ENTITY = "type"
    SKIP_ENTITY = "skip"


@dataclasses.dataclass(frozen=True)
class DraftButton(CallbackData, prefix="d"):
    choice: DraftChoice


@dataclasses.dataclass(frozen=True)
class EntityPick(CallbackData, prefix="d:ent"):
    index: int


@dataclasses.dataclass(frozen=True)
class EntityReject(CallbackData, prefix="d:notit"):
    """"不是这所" at the summary: the parent rejects the school or institution shown."""


DRAFT_FAMILIES: tuple[type[CallbackData], ...] = (DraftButton, EntityPick, EntityReject)


# --- parent: their cases ----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ShowCase(CallbackData, prefix="c:show"):
    reference: str


@dataclasses.dataclass(frozen=True)
class AddInfo(CallbackData, prefix="c:info"):
    reference: str


@dataclasses.dataclass(frozen=True)
class Rate(CallbackData, prefix="c:rate"):
    reference: str
    rating: Rating


@dataclasses.dataclass(frozen=True)
class RateNow(CallbackData, prefix="c:ratenow"):
    """Rate without a comment (the comment question's skip button)."""

    reference: str
    rating: Rating


@dataclasses.dataclass(frozen=True)
class Reopen(CallbackData, prefix="c:reopen"):
    reference: str


PARENT_FAMILIES: tuple[type[CallbackData], ...] = (ShowCase, AddInfo, Rate, RateNow, Reopen)


# --- supervisor -----------------------------------------------------------------------------
class SvStep(StrEnum):
    ACCEPT = "acc"
    HAND_BACK = "back"
    ASK = "ask"
    PROPOSE = "prop"
    REPORT_DONE = "done"
    REQUEST_EXTENSION = "ext"
    RECHECK = "rchk"
    OPEN = "open"


@dataclasses.dataclass(frozen=True)
class SupervisorCase(CallbackData, prefix="s"):
    step: SvStep
    reference: str


@dataclasses.dataclass(frozen=True)
class PickDisposition(CallbackData, prefix="s:pd"):
    reference: str
    disposition: Disposition


@dataclasses.dataclass(frozen=True)
class PickDeadline(CallbackData, prefix="s:pdl"):
    reference: str
    days: int


@dataclasses.dataclass(frozen=True)
class PickExtension(CallbackData, prefix="s:extd"):
    reference: str
    days: int


@dataclasses.dataclass(frozen=True)
class SkipAnswer(CallbackData, prefix="s:skip"):
    """Answer the open question with nothing (where nothing is a valid answer)."""


@dataclasses.dataclass(frozen=True)
class RecheckResult(CallbackData, prefix="s:rc"):
    """The 回头看 re-check's result: days 0 = the rectification holds; otherwise it failed
    and rectification starts again with a deadline that many days away."""

    reference: str
    days: int


@dataclasses.dataclass(frozen=True)
class VisitSchool(CallbackData, prefix="s:vs"):
    school: str


@dataclasses.dataclass(frozen=True)
class VisitDate(CallbackData, prefix="s:vd"):
    school: str
    day: date


@dataclasses.dataclass(frozen=True)
class VisitInstitution(CallbackData, prefix="s:vi"):
    institution: str


@dataclasses.dataclass(frozen=True)
class VisitInstitutionDate(CallbackData, prefix="s:vdi"):
    institution: str
    day: date


SUPERVISOR_FAMILIES: tuple[type[CallbackData], ...] = (
    SupervisorCase, PickDisposition, PickDeadline, PickExtension, SkipAnswer, VisitSchool,
    VisitDate, VisitInstitution, VisitInstitutionDate, RecheckResult)


# --- office staff -----------------------------------------------------------------------------
class OfficeStep(StrEnum):
    OPEN = "open"
    HISTORY = "hist"
    TRIAGE = "tri"
    DECLINE = "dec"
    APPROVE = "apv"
    REJECT = "rej"
    VERIFY_PASS = "vok"
    VERIFY_FAIL = "vno"
    GRANT_EXTENSION = "xok"
    REFUSE_EXTENSION = "xno"
    SUPERVISE = "sup"
    INTERVIEW = "ivw"
    COUNTY_REPORT = "cty"


class Queue(StrEnum):
    TRIAGE = "triage"
    APPROVALS = "approvals"
    VERIFY = "verify"
    EXTENSIONS = "extensions"
    OVERDUE = "overdue"


class ReportKind(StrEnum):
    HALF = "half"
    QUARTER = "quarter"


@dataclasses.dataclass(frozen=True)
class OfficeCase(CallbackData, prefix="o"):
    step: OfficeStep
    reference: str


@dataclasses.dataclass(frozen=True)
class ShowQueue(CallbackData, prefix="o:q"):
    queue: Queue


@dataclasses.dataclass(frozen=True)
class TriageCategory(CallbackData, prefix="o:tc"):
    reference: str
    category: int  # index into domain.CATEGORIES


@dataclasses.dataclass(frozen=True)
class TriagePage(CallbackData, prefix="o:tp"):
    reference: str
    category: int
    page: int


@dataclasses.dataclass(frozen=True)
class TriageAssign(CallbackData, prefix="o:ta"):
    reference: str
    category: int
    supervisor: str  # directory code


@dataclasses.dataclass(frozen=True)
class VerifyDeadline(CallbackData, prefix="o:vd"):
    reference: str
    days: int


@dataclasses.dataclass(frozen=True)
class Merge(CallbackData, prefix="o:mrg"):
    source: str
    target: str


@dataclasses.dataclass(frozen=True)
class MergeConfirmed(CallbackData, prefix="o:mrgy"):
    source: str
    target: str


@dataclasses.dataclass(frozen=True)
class MergeCancelled(CallbackData, prefix="o:mrgn"):
    source: str
    target: str


@dataclasses.dataclass(frozen=True)
class NotDuplicate(CallbackData, prefix="o:nd"):
    reference: str
    other: str


@dataclasses.dataclass(frozen=True)
class ReportPick(CallbackData, prefix="o:rep"):
    kind: ReportKind
    previous: bool


@dataclasses.dataclass(frozen=True)
class NightSwitch(CallbackData, prefix="o:night"):
    """Switch the staff member's own night alerts on or off."""

    on: bool


class Place(StrEnum):
    """The kinds of place hotspots count (values: bot/hotspots.py's kinds)."""

    SCHOOL = "school"
    INSTITUTION = "institution"
    DISTRICT = "district"


@dataclasses.dataclass(frozen=True)
class HotspotCases(CallbackData, prefix="o:hs"):
    """List the recent tips about one hotspot."""

    place: Place
    code: str


OFFICE_FAMILIES: tuple[type[CallbackData], ...] = (
    OfficeCase, ShowQueue, TriageCategory, TriagePage, TriageAssign, VerifyDeadline, Merge,
    MergeConfirmed, NotDuplicate, ReportPick, MergeCancelled, NightSwitch, HotspotCases)


# --- evidence and documents (every role: the server decides what the presser may see) -----
@dataclasses.dataclass(frozen=True)
class ShowEvidence(CallbackData, prefix="e:ev"):
    reference: str


class DocumentKind(StrEnum):
    RECTIFICATION_NOTICE = "rn"  # 整改通知书
    SUPERVISION_LETTER = "sl"  # 督办函


@dataclasses.dataclass(frozen=True)
class IssueDocument(CallbackData, prefix="e:doc"):
    kind: DocumentKind
    reference: str


EVIDENCE_FAMILIES: tuple[type[CallbackData], ...] = (ShowEvidence, IssueDocument)
