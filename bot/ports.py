"""The ports the services depend on: the unit of work, its repositories, the clock, and the rows
they exchange. storage/ implements them with SQLAlchemy; tests/support/fakes.py in memory.

Each Protocol lists exactly the methods the services call, so a fake needs no more.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self

from bot.directory.rows import DirectoryData
from bot.domain import Case, CaseAction, Responsibility, Role, Status
from bot.facts import CaseFacts


@dataclass(frozen=True)
class PersonInfo:
    """A directory person (supervisor or office staff) and their Telegram binding."""

    id: int
    code: str
    name: str
    role: str  # responsible | tutoring | staff
    telegram_user_id: int | None
    night_pings: bool = False


# The directory roles of supervisors (staff is the other role a person may have).
SUPERVISOR_ROLES = frozenset({"responsible", "tutoring"})


@dataclass(frozen=True)
class DeadlineRow:
    """A rectifying case's deadline and who is responsible (what the scheduler needs)."""

    case_id: int
    reference: str
    category: str
    deadline: date
    supervised_at: datetime | None
    assignee_user_id: int | None  # None: no assignee, or not bound to Telegram


@dataclass(frozen=True)
class Due:
    """A clock a case holds for one owner and the day it is (or was) due."""

    clock: str  # a stage clock's name, or "rectify" for the rectification deadline
    day: date  # overdue from the day after


@dataclass(frozen=True)
class CaseLook:
    """What the clock pass leaves on a case it looked at: the next day to look again, the
    supervisor's longest-overdue clock and staff's earliest-due running clock, for the daily
    reminders (read without the case history)."""

    case_id: int
    seen: datetime  # updated_at as read: a case changed since keeps its look for today
    day: date | None  # None: no clock can call for anything
    supervisor: Due | None = None  # only once overdue
    staff: Due | None = None  # while running


@dataclass(frozen=True)
class DueRow:
    """One item for the daily reminders: a case, whose clock, due on which day."""

    reference: str
    owner: str  # "supervisor" | "staff"
    clock: str
    day: date
    assignee_code: str | None
    assignee_user_id: int | None


def due_kind(day: date, today: date) -> str:
    """An item due on `day`, as the daily reminders count it: "late", "today" or "soon"."""
    return "late" if day < today else "today" if day == today else "soon"


@dataclass(frozen=True)
class DueList:
    """One daily reminder as read: a supervisor's overdue items, or the office's (no
    assignee); its first items, earliest first, and how many there are of each kind."""

    owner: str  # "supervisor" | "staff"
    assignee_code: str | None
    assignee_user_id: int | None
    items: list[DueRow]
    late: int  # due before today
    today: int
    soon: int  # due after today

    @property
    def count(self) -> int:
        return self.late + self.today + self.soon


@dataclass(frozen=True)
class EvidenceItem:
    """A photo or document attached to a case, kept by Telegram file id."""

    kind: str  # photo | document
    file_id: str
    file_unique_id: str
    mime_type: str
    file_name: str
    size: int
    added_by: str
    created_at: datetime
    id: int = 0
    sha256: str | None = None  # the original kept in evidence storage (None: not yet)
    clean_file_id: str | None = None  # the copy without location and camera metadata


@dataclass(frozen=True)
class ExpiredEvidence:
    """A closed case whose evidence has outlived its retention period."""

    reference: str
    closed_at: datetime


class Clock(Protocol):
    """Now, as an aware datetime (tests pass a clock they move by hand)."""

    def now(self) -> datetime: ...


# (kind, code, name, aliases, district code): a named entity for the resolver.
EntityRow = tuple[str, str, str, tuple[str, ...], str | None]


class CaseRepository(Protocol):
    async def next_references(self, prefix: str, year: int, count: int) -> list[str]: ...

    async def add_many(self, cases: Sequence[Case]) -> None: ...

    async def save(self, case: Case) -> None: ...

    async def save_many(self, cases: Sequence[Case], looks: Sequence[CaseLook] = ()) -> None:
        """Like `save` for each, written together; `looks` sets their next look (as
        `set_remind_on`) instead of the day of the change."""
        ...

    async def get(self, reference: str) -> Case | None: ...

    async def get_many(self, references: Collection[str], *,
                       for_update: bool = False) -> dict[str, Case]:
        """Cases with their history by reference, in a few queries (unknown ones left out);
        `for_update` locks them as `get_for_update` does."""
        ...

    async def get_for_update(self, reference: str) -> Case | None: ...

    async def followers(self, case: Case) -> list[Case]: ...

    async def list_for_reporter(self, user_id: int, limit: int = 20) -> list[Case]: ...

    async def list_for_assignee(self, person_code: str, limit: int = 50, *,
                                with_events: bool = False) -> list[Case]: ...

    async def list_by_status(self, *statuses: Status, limit: int = 50,
                             with_events: bool = False) -> list[Case]: ...

    async def count_by_status(self, *statuses: Status) -> int: ...

    async def count_each_status(self) -> dict[str, int]: ...

    async def open_about(self, *, school_code: str | None, institution_code: str | None,
                         since: datetime, until: datetime, limit: int = 200) -> list[Case]: ...

    async def rectification_deadlines(self, until: date, after: tuple[date, int] | None = None,
                                      limit: int = 500, *,
                                      due_by: date | None = None) -> list[DeadlineRow]: ...

    async def overdue_rectifications(self, today: date, limit: int = 1000) -> list[Case]: ...

    async def clock_candidates(self, today: date) -> list[int]:
        """The ids of the cases whose next look (`remind_on`) is on or before `today`."""
        ...

    async def get_by_ids(self, ids: Collection[int]) -> list[Case]: ...

    async def set_remind_on(self, looks: Sequence[CaseLook]) -> None: ...

    async def due_lists(self, today: date, staff_until: date, listed: int) -> list[DueList]:
        """Each supervisor's overdue items and staff's items due by `staff_until`, the first
        `listed` of each list with the counts of all, on open cases."""
        ...

    async def created_since(self, user_id: int, since: datetime,
                            limit: int) -> list[datetime]: ...

    async def count_created_since_many(self, user_ids: set[int],
                                       since: datetime) -> dict[int, int]: ...

    async def corrections(self) -> list[tuple[str, str]]: ...

    async def add_evidence(self, case: Case, *, kind: str, file_id: str, file_unique_id: str,
                           mime_type: str, file_name: str, size: int, added_by: str,
                           now: datetime) -> None: ...

    async def evidence(self, case: Case) -> list[EvidenceItem]:
        """The case's evidence not yet purged, oldest first."""
        ...

    async def evidence_stored(self, evidence_id: int, *, sha256: str, size: int,
                              mime_type: str) -> None: ...

    async def unstored_evidence(self, limit: int = 50) -> list[EvidenceItem]:
        """Evidence whose original is not kept yet (not purged), oldest first."""
        ...

    async def evidence_clean_copy(self, evidence_id: int, file_id: str) -> None: ...

    async def expired_evidence(self, closed_before: datetime,
                               limit: int = 100) -> list[ExpiredEvidence]:
        """Closed cases (closed before `closed_before`) that still have evidence."""
        ...

    async def purge_evidence(self, case: Case, now: datetime) -> list[EvidenceItem]:
        """Mark the case's evidence purged (file ids forgotten); return what it was."""
        ...

    async def evidence_hash_in_use(self, sha256: str) -> bool:
        """Whether any evidence not purged still refers to this stored original."""
        ...

    async def search(self, query: CaseQuery, limit: int = 50) -> list[Case]: ...


@dataclass(frozen=True)
class CaseQuery:
    """The web console's case list: filters, a search and the keyset cursor.

    Cases come newest first (by id); `before_id` continues after the last one shown.
    """

    statuses: tuple[Status, ...] = ()
    category: str | None = None
    district_code: str | None = None
    school_code: str | None = None
    assignee_code: str | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None
    overdue_on: date | None = None  # rectifying with a deadline before this day
    text: str = ""  # a reference, or words in the tip
    before_id: int | None = None


class WebLoginRepository(Protocol):
    """One-time console login links, stored by the hash of their token."""

    async def add(self, token_hash: str, user_id: int, now: datetime,
                  expires: datetime) -> None: ...

    async def claim(self, token_hash: str, now: datetime) -> int | None:
        """Mark an unused, unexpired link used; its Telegram user id, or None."""
        ...

    async def purge(self, expired_before: datetime) -> None:
        """Forget links that expired before this time."""
        ...


class DirectoryRepository(Protocol):
    async def person(self, code: str) -> PersonInfo | None: ...

    async def persons(self, codes: Collection[str]) -> dict[str, PersonInfo]:
        """The people with these codes (one query for many; unknown codes are left out)."""
        ...

    async def person_by_user(self, telegram_user_id: int) -> PersonInfo | None: ...

    async def people(self, role: str | None = None) -> list[PersonInfo]: ...

    async def bind(self, person_id: int, telegram_user_id: int | None,
                   now: datetime) -> None: ...

    async def set_night_pings(self, person_id: int, on: bool) -> None: ...

    async def responsibility(self, school_code: str | None, institution_code: str | None,
                             district_code: str | None
                             ) -> tuple[Responsibility, str | None]: ...

    async def entity_rows(self) -> list[EntityRow]: ...

    async def names(self, kind: str, codes: Sequence[str]) -> dict[str, str]: ...

    async def schools_of(self, person_code: str) -> list[tuple[str, str]]: ...

    async def supervised_school_count(self) -> int: ...

    async def unvisited_schools(self, month_start: date, next_month: date,
                                person_code: str | None = None
                                ) -> list[tuple[str, str, str]]: ...

    async def visit_count(self, start: date, end: date) -> int: ...

    async def add_visit(self, person_code: str, school_code: str, visit_date: date, note: str,
                        photo_file_id: str, now: datetime) -> None: ...

    async def institutions_of(self, person_code: str) -> list[tuple[str, str]]: ...

    async def supervised_institution_count(self) -> int: ...

    async def unvisited_institutions(self, month_start: date, next_month: date,
                                     person_code: str | None = None
                                     ) -> list[tuple[str, str, str]]: ...

    async def add_institution_visit(self, person_code: str, institution_code: str,
                                    visit_date: date, note: str, photo_file_id: str,
                                    now: datetime) -> None: ...


class InviteRepository(Protocol):
    async def add(self, code_hash: str, person_id: int, now: datetime,
                  expires: datetime) -> None: ...

    async def claim(self, code_hash: str, user_id: int, now: datetime) -> int | None: ...


@dataclass(frozen=True)
class Notice:
    """One message: `key` (then `more` keys, one line each) rendered with `params`.

    `actions` are what the recipient (`audience`) may do with case `reference` now;
    `open_button` adds a button that opens the case.
    """

    key: str
    params: Mapping[str, str | int] = field(default_factory=dict)
    reference: str | None = None
    actions: tuple[CaseAction, ...] = ()
    audience: Role = Role.PARENT
    open_button: bool = False
    more: tuple[str, ...] = ()

    @classmethod
    def plain(cls, text: str) -> Notice:
        """A text already written (e.g. a reply that could not be sent directly)."""
        return cls("notify.plain", {"text": text})

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "params": dict(self.params), "reference": self.reference,
                "actions": [a.value for a in self.actions], "audience": self.audience.value,
                "open": self.open_button, "more": list(self.more)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Notice:
        return cls(key=str(data["key"]), params=dict(data.get("params") or {}),
                   reference=data.get("reference"),
                   actions=tuple(CaseAction(a) for a in data.get("actions") or ()),
                   audience=Role(data.get("audience", Role.PARENT.value)),
                   open_button=bool(data.get("open")), more=tuple(data.get("more") or ()))


class OutboxMessage(Protocol):
    """A queued row as the policy and the sender read it."""

    @property
    def id(self) -> int: ...
    @property
    def chat_id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def markup(self) -> dict[str, Any] | None: ...
    @property
    def notice(self) -> dict[str, Any] | None: ...
    @property
    def attempts(self) -> int: ...
    @property
    def channel(self) -> str: ...


# Outbox channels: Telegram chats, and the office's group robots (config [channels]).
TELEGRAM = "telegram"
DINGTALK = "dingtalk"
WECOM = "wecom"


@dataclass(frozen=True)
class RobotRoute:
    """A group robot that receives copies of some staff notices (config [channels])."""

    channel: str  # DINGTALK | WECOM
    chat_id: int  # the robot's number in its channel's list, from 1
    kinds: tuple[str, ...]  # outbox kinds it receives; one ending in "." is a prefix

    def wants(self, kind: str) -> bool:
        return any(kind == k or (k.endswith(".") and kind.startswith(k)) for k in self.kinds)


@dataclass(frozen=True)
class Backlog:
    """One channel's unsent outbox rows: all, those due now, the oldest due one's age."""

    pending: int
    due: int
    oldest_due: datetime | None


class OutboxRepository(Protocol):
    async def enqueue(self, chat_id: int, kind: str, notice: Notice, now: datetime, *,
                      dedup_key: str | None = None,
                      not_before: datetime | None = None,
                      channel: str = TELEGRAM) -> bool: ...

    async def queued_keys(self, keys: list[str]) -> set[str]: ...

    async def enqueue_many(self, messages: Sequence[tuple[int, str, Notice, str | None]],
                           now: datetime) -> int: ...

    async def due_backlog(self, now: datetime) -> tuple[int, datetime | None]:
        """Unsent rows due now or failing (a retry pending), and when the oldest was queued."""

    async def has_due(self, now: datetime) -> bool: ...

    async def claim_due(self, now: datetime, lease: timedelta,
                        limit: int = 100) -> Sequence[OutboxMessage]: ...

    async def mark_sent(self, row_id: int, now: datetime) -> None: ...

    async def mark_failed(self, row_id: int, error: str, retry_at: datetime) -> None: ...

    async def postpone(self, row_id: int, until: datetime) -> None: ...

    async def backlog_by_channel(self, now: datetime) -> dict[str, Backlog]: ...

    async def renew(self, row_ids: list[int], until: datetime) -> None: ...

    async def mark_sent_key(self, dedup_key: str, now: datetime) -> bool: ...

    async def release_key(self, dedup_key: str, now: datetime) -> None: ...


class UpdateLog(Protocol):
    """Telegram update ids already taken in (shared by every instance)."""

    async def first_seen(self, update_id: int, now: datetime) -> bool: ...

    async def forget_before(self, cutoff: datetime) -> int: ...


@dataclass
class TableReport:
    added: int = 0
    changed: int = 0
    unchanged: int = 0


class DirectoryStore(Protocol):
    """The stored directory, as the import needs it."""

    async def person_roles(self, codes: Collection[str]) -> dict[str, str]:
        """Return the role of each stored person among `codes` (responsible|tutoring|staff)."""
        ...

    async def district_codes(self, codes: Collection[str]) -> set[str]:
        """Return which of `codes` are stored districts."""
        ...

    async def upsert(self, data: DirectoryData) -> dict[str, TableReport]:
        """Add or update every row by code (people, districts, schools, institutions, in
        that order); a field that is `None` keeps its stored value. Report per table."""
        ...


class UnitOfWork(Protocol):
    """One transaction: `async with uow:`; leaving without `commit()` rolls it back."""

    @property
    def cases(self) -> CaseRepository: ...

    @property
    def directory(self) -> DirectoryRepository: ...

    @property
    def invites(self) -> InviteRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def web_logins(self) -> WebLoginRepository: ...

    @property
    def updates(self) -> UpdateLog: ...

    @property
    def case_facts(self) -> CaseFacts: ...

    @property
    def directory_store(self) -> DirectoryStore: ...

    @property
    def robots(self) -> Sequence[RobotRoute]:
        """The group robots staff notices are copied to (empty unless configured)."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None: ...

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    """Makes units of work: `factory()` for changes, `factory.read()` for queries only."""

    def __call__(self) -> UnitOfWork: ...

    def read(self) -> UnitOfWork: ...
