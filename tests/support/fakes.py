"""In-memory implementations of the ports in bot/ports.py, for unit tests of the services.

`FakeUnitOfWork` works on a copy of a shared `FakeStore` and publishes it on `commit()`, so a
unit of work left without committing changes nothing, as with the real databases.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from types import TracebackType

from bot.domain import Case, Responsibility, Status, format_reference, parse_reference
from bot.ports import (
    TELEGRAM,
    Backlog,
    CaseLook,
    CaseQuery,
    DeadlineRow,
    Due,
    DueList,
    DueRow,
    EntityRow,
    EvidenceItem,
    ExpiredEvidence,
    Notice,
    PersonInfo,
    RobotRoute,
    due_kind,
)


@dataclass
class Entity:
    """A school or institution of the fake directory."""

    name: str
    district: str | None = None
    supervisor: str | None = None  # person code
    aliases: tuple[str, ...] = ()


@dataclass
class Sent:
    """One outbox row."""

    chat_id: int
    kind: str
    notice: Notice
    dedup_key: str | None
    not_before: datetime
    created_at: datetime
    channel: str = TELEGRAM
    sent_at: datetime | None = None


@dataclass
class Invite:
    person_id: int
    expires: datetime
    used_by: int | None = None


@dataclass
class WebLogin:
    user_id: int
    expires: datetime
    used: bool = False


@dataclass
class FakeStore:
    """Everything the fake repositories keep: the "database"."""

    cases: dict[str, Case] = field(default_factory=dict)
    evidence: dict[str, list[EvidenceItem]] = field(default_factory=dict)
    evidence_ids: int = 0
    evidence_purged: set[int] = field(default_factory=set)
    counters: dict[tuple[str, int], int] = field(default_factory=dict)
    people: dict[str, PersonInfo] = field(default_factory=dict)
    districts: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # name, tutor
    schools: dict[str, Entity] = field(default_factory=dict)
    institutions: dict[str, Entity] = field(default_factory=dict)
    visits: list[tuple[str, str, date]] = field(default_factory=list)  # person, school, day
    # person, institution, day
    institution_visits: list[tuple[str, str, date]] = field(default_factory=list)
    invites: dict[str, Invite] = field(default_factory=dict)
    web_logins: dict[str, WebLogin] = field(default_factory=dict)
    outbox: list[Sent] = field(default_factory=list)
    updates: dict[int, datetime] = field(default_factory=dict)  # update id -> seen at
    remind_on: dict[str, date | None] = field(default_factory=dict)  # reference -> next look
    overdue: dict[str, tuple[Due | None, Due | None]] = field(default_factory=dict)

    def add_person(self, code: str, name: str, role: str,
                   telegram_user_id: int | None = None) -> PersonInfo:
        person = PersonInfo(len(self.people) + 1, code, name, role, telegram_user_id)
        self.people[code] = person
        return person

    def sent_to(self, chat_id: int) -> list[Sent]:
        return [m for m in self.outbox if m.chat_id == chat_id]


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


class FakeCaseRepository:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def _out(self, case: Case, with_events: bool = True) -> Case:
        loaded = copy.deepcopy(case)
        if loaded.merged_into is not None:
            loaded.merged_into_status = self.store.cases[loaded.merged_into].status
        if not with_events:
            loaded.events = []
        return loaded

    def _all(self) -> list[Case]:
        return sorted(self.store.cases.values(), key=lambda c: c.id or 0)

    async def next_references(self, prefix: str, year: int, count: int) -> list[str]:
        last = self.store.counters.get((prefix, year), 0) + count
        self.store.counters[(prefix, year)] = last
        return [format_reference(prefix, year, seq) for seq in range(last - count + 1, last + 1)]

    async def add_many(self, cases: Sequence[Case]) -> None:
        for case in cases:
            case.id = len(self.store.cases) + 1
            self.store.cases[case.reference] = copy.deepcopy(case)
            self.store.remind_on[case.reference] = _utc_day(case.updated_at or case.created_at)

    async def save(self, case: Case) -> None:
        assert case.id is not None and case.reference in self.store.cases
        stored = copy.deepcopy(case)
        stored.merged_into_status = None  # read-only, never saved
        self.store.cases[case.reference] = stored
        self.store.remind_on[case.reference] = _utc_day(case.updated_at or case.created_at)

    async def save_many(self, cases: Sequence[Case], looks: Sequence[CaseLook] = ()) -> None:
        for case in cases:
            await self.save(case)
        references = {case.id: case.reference for case in cases}
        for look in looks:
            if (reference := references.get(look.case_id)) is not None:
                self.store.remind_on[reference] = look.day
                self.store.overdue[reference] = (look.supervisor, look.staff)

    async def get(self, reference: str) -> Case | None:
        found = self.store.cases.get(reference)
        return self._out(found) if found else None

    async def get_many(self, references: Collection[str], *,
                       for_update: bool = False) -> dict[str, Case]:
        return {r: self._out(self.store.cases[r]) for r in references if r in self.store.cases}

    async def get_for_update(self, reference: str) -> Case | None:
        return await self.get(reference)

    async def followers(self, case: Case) -> list[Case]:
        return [self._out(c) for c in self._all() if c.merged_into == case.reference]

    async def list_for_reporter(self, user_id: int, limit: int = 20) -> list[Case]:
        mine = [c for c in reversed(self._all()) if c.reporter_user_id == user_id]
        return [self._out(c, False) for c in mine[:limit]]

    async def list_for_assignee(self, person_code: str, limit: int = 50, *,
                                with_events: bool = False) -> list[Case]:
        found = [c for c in self._all()
                 if c.assignee_code == person_code and c.status is not Status.CLOSED]
        found.sort(key=lambda c: c.updated_at or c.created_at)
        return [self._out(c, with_events) for c in found[:limit]]

    async def list_by_status(self, *statuses: Status, limit: int = 50,
                             with_events: bool = False) -> list[Case]:
        found = sorted((c for c in self._all() if c.status in statuses),
                       key=lambda c: c.updated_at or c.created_at)
        return [self._out(c, with_events) for c in found[:limit]]

    async def count_each_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for case in self.store.cases.values():
            counts[case.status.value] = counts.get(case.status.value, 0) + 1
        return counts

    async def count_by_status(self, *statuses: Status) -> int:
        return sum(1 for c in self._all() if c.status in statuses)

    async def open_about(self, *, school_code: str | None, institution_code: str | None,
                         since: datetime, until: datetime, limit: int = 200) -> list[Case]:
        if not (school_code or institution_code):
            return []
        found = [c for c in self._all() if c.status is not Status.CLOSED
                 and since <= c.created_at <= until
                 and ((school_code and c.school_code == school_code)
                      or (institution_code and c.institution_code == institution_code))]
        found.sort(key=lambda c: c.created_at)
        return [self._out(c, False) for c in found[:limit]]

    async def rectification_deadlines(self, until: date, after: tuple[date, int] | None = None,
                                      limit: int = 500, *,
                                      due_by: date | None = None) -> list[DeadlineRow]:
        rows = []
        for c in self._all():
            if (c.status is not Status.RECTIFYING or c.rectify_deadline is None
                    or c.rectify_deadline > until):
                continue
            look = self.store.remind_on.get(c.reference)
            if due_by is not None and (look is None or look > due_by):
                continue
            assert c.id is not None
            if after is not None and (c.rectify_deadline, c.id) <= after:
                continue
            person = self.store.people.get(c.assignee_code or "")
            rows.append(DeadlineRow(c.id, c.reference, c.category, c.rectify_deadline,
                                    c.supervised_at, person.telegram_user_id if person else None))
        rows.sort(key=lambda r: (r.deadline, r.case_id))
        return rows[:limit]

    async def clock_candidates(self, today: date) -> list[int]:
        return [c.id for c in self._all() if c.id is not None
                and (day := self.store.remind_on.get(c.reference)) is not None and day <= today]

    async def get_by_ids(self, ids: Collection[int]) -> list[Case]:
        return [self._out(c) for c in self._all() if c.id in set(ids)]

    async def set_remind_on(self, looks: Sequence[CaseLook]) -> None:
        by_id = {c.id: c for c in self._all()}
        for look in looks:
            case = by_id.get(look.case_id)
            if case is not None and (case.updated_at or case.created_at) == look.seen:
                self.store.remind_on[case.reference] = look.day
                self.store.overdue[case.reference] = (look.supervisor, look.staff)

    async def due_lists(self, today: date, staff_until: date, listed: int) -> list[DueList]:
        lists: dict[tuple[str, str | None], list[DueRow]] = {}
        for row in self._due_items(staff_until):
            lists.setdefault((row.owner, row.assignee_code), []).append(row)
        out = []
        for (owner, code), rows in lists.items():
            kinds = Counter(due_kind(r.day, today) for r in rows)
            out.append(DueList(owner, code, rows[0].assignee_user_id, rows[:listed],
                               kinds["late"], kinds["today"], kinds["soon"]))
        return out

    def _due_items(self, staff_until: date) -> list[DueRow]:
        out: list[tuple[bool, date, int, DueRow]] = []
        for c in self._all():
            if c.status is Status.CLOSED:
                continue
            sv, staff = self.store.overdue.get(c.reference, (None, None))
            person = self.store.people.get(c.assignee_code or "")
            if sv is not None:
                out.append((False, sv.day, c.id or 0, DueRow(
                    c.reference, "supervisor", sv.clock, sv.day, c.assignee_code,
                    person.telegram_user_id if person else None)))
            if staff is not None and staff.day <= staff_until:
                out.append((True, staff.day, c.id or 0, DueRow(
                    c.reference, "staff", staff.clock, staff.day, None, None)))
        out.sort(key=lambda item: item[:3])
        return [row for *_, row in out]

    async def overdue_rectifications(self, today: date, limit: int = 1000) -> list[Case]:
        found = [c for c in self._all() if c.status is Status.RECTIFYING
                 and c.rectify_deadline is not None and c.rectify_deadline < today]
        found.sort(key=lambda c: c.rectify_deadline or today)
        return [self._out(c, False) for c in found[:limit]]

    async def created_since(self, user_id: int, since: datetime, limit: int) -> list[datetime]:
        times = sorted((c.created_at for c in self._all()
                        if c.reporter_user_id == user_id and c.created_at >= since),
                       reverse=True)
        return times[:limit]

    async def count_created_since_many(self, user_ids: set[int],
                                       since: datetime) -> dict[int, int]:
        out: dict[int, int] = {}
        for c in self._all():
            if c.reporter_user_id in user_ids and c.created_at >= since:
                out[c.reporter_user_id] = out.get(c.reporter_user_id, 0) + 1
        return out

    async def corrections(self) -> list[tuple[str, str]]:
        found = [(e.at, c.text, str(e.data["new"])) for c in self._all() for e in c.events
                 if e.action == "recategorised"]
        return [(text, label) for _, text, label in sorted(found, key=lambda f: f[0])]

    async def add_evidence(self, case: Case, *, kind: str, file_id: str, file_unique_id: str,
                           mime_type: str, file_name: str, size: int, added_by: str,
                           now: datetime) -> None:
        self.store.evidence_ids += 1
        self.store.evidence.setdefault(case.reference, []).append(EvidenceItem(
            kind, file_id, file_unique_id, mime_type, file_name, size, added_by, now,
            id=self.store.evidence_ids))

    async def evidence(self, case: Case) -> list[EvidenceItem]:
        return [i for i in self.store.evidence.get(case.reference, [])
                if i.id not in self.store.evidence_purged]

    def _replace_evidence(self, evidence_id: int, **changes: object) -> None:
        for items in self.store.evidence.values():
            for index, item in enumerate(items):
                if item.id == evidence_id:
                    items[index] = replace(item, **changes)  # type: ignore[arg-type]

    async def evidence_stored(self, evidence_id: int, *, sha256: str, size: int,
                              mime_type: str) -> None:
        self._replace_evidence(evidence_id, sha256=sha256, mime_type=mime_type)

    async def unstored_evidence(self, limit: int = 50) -> list[EvidenceItem]:
        found = [i for items in self.store.evidence.values() for i in items
                 if i.sha256 is None and i.id not in self.store.evidence_purged and i.file_id]
        return sorted(found, key=lambda i: i.id)[:limit]

    async def evidence_clean_copy(self, evidence_id: int, file_id: str) -> None:
        self._replace_evidence(evidence_id, clean_file_id=file_id)

    async def expired_evidence(self, closed_before: datetime,
                               limit: int = 100) -> list[ExpiredEvidence]:
        found = [ExpiredEvidence(c.reference, c.closed_at) for c in self.store.cases.values()
                 if c.status is Status.CLOSED and c.closed_at is not None
                 and c.closed_at < closed_before and await self.evidence(c)]
        return sorted(found, key=lambda e: e.closed_at)[:limit]

    async def purge_evidence(self, case: Case, now: datetime) -> list[EvidenceItem]:
        items = await self.evidence(case)
        self.store.evidence_purged.update(i.id for i in items)
        return items

    async def evidence_hash_in_use(self, sha256: str) -> bool:
        return any(i.sha256 == sha256 and i.id not in self.store.evidence_purged
                   for items in self.store.evidence.values() for i in items)

    async def search(self, query: CaseQuery, limit: int = 50) -> list[Case]:
        words = query.text.strip()

        def keep(case: Case) -> bool:
            checks = [
                not query.statuses or case.status in query.statuses,
                not query.category or case.category == query.category,
                not query.district_code or case.district_code == query.district_code,
                not query.school_code or case.school_code == query.school_code,
                not query.assignee_code or case.assignee_code == query.assignee_code,
                query.created_from is None or case.created_at >= query.created_from,
                query.created_before is None or case.created_at < query.created_before,
                query.overdue_on is None or (
                    case.status is Status.RECTIFYING and case.rectify_deadline is not None
                    and case.rectify_deadline < query.overdue_on),
                query.before_id is None or (case.id or 0) < query.before_id,
            ]
            if words:
                checks.append(case.reference == words.upper()
                              if parse_reference(words) else words in case.text)
            return all(checks)

        found = [c for c in reversed(self._all()) if keep(c)]
        return [self._out(c, False) for c in found[:limit]]


class FakeDirectoryRepository:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def persons(self, codes: Collection[str]) -> dict[str, PersonInfo]:
        return {code: self.store.people[code] for code in codes if code in self.store.people}

    async def person(self, code: str) -> PersonInfo | None:
        return self.store.people.get(code)

    async def person_by_user(self, telegram_user_id: int) -> PersonInfo | None:
        return next((p for p in self.store.people.values()
                     if p.telegram_user_id == telegram_user_id), None)

    async def people(self, role: str | None = None) -> list[PersonInfo]:
        return [p for _, p in sorted(self.store.people.items()) if not role or p.role == role]

    async def bind(self, person_id: int, telegram_user_id: int | None, now: datetime) -> None:
        for code, person in self.store.people.items():
            if person.id == person_id:
                self.store.people[code] = replace(person, telegram_user_id=telegram_user_id)

    async def set_night_pings(self, person_id: int, on: bool) -> None:
        for code, person in self.store.people.items():
            if person.id == person_id:
                self.store.people[code] = replace(person, night_pings=on)

    async def responsibility(self, school_code: str | None, institution_code: str | None,
                             district_code: str | None) -> tuple[Responsibility, str | None]:
        school = self.store.schools.get(school_code or "")
        institution = self.store.institutions.get(institution_code or "")
        district = district_code
        for entity in (school, institution):
            if entity and entity.district and district in (None, entity.district):
                district = entity.district
                break
        tutor = self.store.districts.get(district or "", ("", None))[1]
        return Responsibility(school.supervisor if school else None,
                              institution.supervisor if institution else None, tutor), district

    async def entity_rows(self) -> list[EntityRow]:
        out: list[EntityRow] = [("district", code, name, (), code)
                                for code, (name, _) in self.store.districts.items()]
        for kind, table in (("school", self.store.schools),
                            ("institution", self.store.institutions)):
            out += [(kind, code, e.name, e.aliases, e.district) for code, e in table.items()]
        return out

    async def names(self, kind: str, codes: Sequence[str]) -> dict[str, str]:
        table: dict[str, str] = {
            "school": {c: e.name for c, e in self.store.schools.items()},
            "institution": {c: e.name for c, e in self.store.institutions.items()},
            "district": {c: n for c, (n, _) in self.store.districts.items()},
            "person": {c: p.name for c, p in self.store.people.items()},
        }[kind]
        return {code: table[code] for code in codes if code in table}

    async def schools_of(self, person_code: str) -> list[tuple[str, str]]:
        return [(code, e.name) for code, e in sorted(self.store.schools.items())
                if e.supervisor == person_code]

    async def supervised_school_count(self) -> int:
        return sum(1 for e in self.store.schools.values() if e.supervisor)

    async def unvisited_schools(self, month_start: date, next_month: date,
                                person_code: str | None = None) -> list[tuple[str, str, str]]:
        visited = {school for _, school, day in self.store.visits
                   if month_start <= day < next_month}
        return [(code, e.name, e.supervisor) for code, e in sorted(self.store.schools.items())
                if e.supervisor and code not in visited
                and (person_code is None or e.supervisor == person_code)]

    async def visit_count(self, start: date, end: date) -> int:
        return sum(1 for _, _, day in self.store.visits if start <= day <= end)

    async def add_visit(self, person_code: str, school_code: str, visit_date: date, note: str,
                        photo_file_id: str, now: datetime) -> None:
        self.store.visits.append((person_code, school_code, visit_date))

    async def institutions_of(self, person_code: str) -> list[tuple[str, str]]:
        return [(code, e.name) for code, e in sorted(self.store.institutions.items())
                if e.supervisor == person_code]

    async def supervised_institution_count(self) -> int:
        return sum(1 for e in self.store.institutions.values() if e.supervisor)

    async def unvisited_institutions(self, month_start: date, next_month: date,
                                     person_code: str | None = None
                                     ) -> list[tuple[str, str, str]]:
        visited = {code for _, code, day in self.store.institution_visits
                   if month_start <= day < next_month}
        return [(code, e.name, e.supervisor)
                for code, e in sorted(self.store.institutions.items())
                if e.supervisor and code not in visited
                and (person_code is None or e.supervisor == person_code)]

    async def add_institution_visit(self, person_code: str, institution_code: str,
                                    visit_date: date, note: str, photo_file_id: str,
                                    now: datetime) -> None:
        self.store.institution_visits.append((person_code, institution_code, visit_date))


class FakeInviteRepository:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def add(self, code_hash: str, person_id: int, now: datetime, expires: datetime) -> None:
        self.store.invites[code_hash] = Invite(person_id, expires)

    async def claim(self, code_hash: str, user_id: int, now: datetime) -> int | None:
        invite = self.store.invites.get(code_hash)
        if invite is None or invite.used_by is not None or invite.expires <= now:
            return None
        invite.used_by = user_id
        return invite.person_id


class FakeWebLoginRepository:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def add(self, token_hash: str, user_id: int, now: datetime,
                  expires: datetime) -> None:
        self.store.web_logins[token_hash] = WebLogin(user_id, expires)

    async def claim(self, token_hash: str, now: datetime) -> int | None:
        login = self.store.web_logins.get(token_hash)
        if login is None or login.used or login.expires <= now:
            return None
        login.used = True
        return login.user_id

    async def purge(self, expired_before: datetime) -> None:
        self.store.web_logins = {h: login for h, login in self.store.web_logins.items()
                                 if login.expires >= expired_before}


class FakeOutboxRepository:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def enqueue(self, chat_id: int, kind: str, notice: Notice, now: datetime, *,
                      dedup_key: str | None = None, not_before: datetime | None = None,
                      channel: str = TELEGRAM) -> bool:
        if dedup_key is not None and any(m.dedup_key == dedup_key for m in self.store.outbox):
            return False
        self.store.outbox.append(Sent(chat_id, kind, notice, dedup_key,
                                      not_before or now, now, channel))
        return True

    async def backlog_by_channel(self, now: datetime) -> dict[str, Backlog]:
        found: dict[str, Backlog] = {}
        for channel in sorted({m.channel for m in self.store.outbox}):
            rows = [m for m in self.store.outbox if m.channel == channel]
            due = [m for m in rows if m.not_before <= now]
            found[channel] = Backlog(len(rows), len(due),
                                     min((m.created_at for m in due), default=None))
        return found

    async def queued_keys(self, keys: list[str]) -> set[str]:
        return {m.dedup_key for m in self.store.outbox if m.dedup_key in keys}

    async def enqueue_many(self, messages: Sequence[tuple[int, str, Notice, str | None]],
                           now: datetime) -> int:
        added = 0
        for chat_id, kind, notice, key in messages:
            added += await self.enqueue(chat_id, kind, notice, now, dedup_key=key)
        return added

    async def due_backlog(self, now: datetime) -> tuple[int, datetime | None]:
        due = [m for m in self.store.outbox if m.not_before <= now and m.sent_at is None]
        return len(due), min((m.created_at for m in due), default=None)

    async def mark_sent_key(self, dedup_key: str, now: datetime) -> bool:
        for m in self.store.outbox:
            if m.dedup_key == dedup_key and m.sent_at is None:
                m.sent_at = now
                return True
        return False

    async def release_key(self, dedup_key: str, now: datetime) -> None:
        for m in self.store.outbox:
            if m.dedup_key == dedup_key and m.sent_at is None:
                m.not_before = now


class FakeUpdateLog:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def first_seen(self, update_id: int, now: datetime) -> bool:
        if update_id in self.store.updates:
            return False
        self.store.updates[update_id] = now
        return True

    async def forget_before(self, cutoff: datetime) -> int:
        old = [u for u, seen in self.store.updates.items() if seen < cutoff]
        for update_id in old:
            del self.store.updates[update_id]
        return len(old)


class FakeUnitOfWork:
    """One transaction on a copy of the store; `commit()` makes the copy the store."""

    def __init__(self, home: FakeUnitOfWorkFactory) -> None:
        self._home = home
        self.committed = False

    async def __aenter__(self) -> FakeUnitOfWork:
        self._work = copy.deepcopy(self._home.store)
        self.cases = FakeCaseRepository(self._work)
        self.directory = FakeDirectoryRepository(self._work)
        self.invites = FakeInviteRepository(self._work)
        self.outbox = FakeOutboxRepository(self._work)
        self.web_logins = FakeWebLoginRepository(self._work)
        self.robots = self._home.robots
        self.updates = FakeUpdateLog(self._work)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        return None  # without commit() the copy is dropped: a rollback

    async def commit(self) -> None:
        self._home.store = self._work
        self._work = copy.deepcopy(self._work)  # later changes need another commit
        self._rebind(self._work)
        self.committed = True
        self._home.commits += 1

    def _rebind(self, store: FakeStore) -> None:
        for repo in (self.cases, self.directory, self.invites, self.outbox, self.web_logins,
                     self.updates):
            repo.store = store


class FakeUnitOfWorkFactory:
    """Implements the `UnitOfWorkFactory` port; `store` is what has been committed."""

    def __init__(self, store: FakeStore | None = None,
                 robots: Sequence[RobotRoute] = ()) -> None:
        self.store = store or FakeStore()
        self.robots = tuple(robots)
        self.commits = 0

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)

    def read(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)


@dataclass
class FakeClock:
    at: datetime

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)
