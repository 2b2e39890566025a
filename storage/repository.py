"""Repositories: rows ↔ domain objects. They never commit; the unit of work does."""

from __future__ import annotations

import functools
import json
import time
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Table,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy import case as sql_case
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.domain import (
    Case,
    CaseEvent,
    Disposition,
    Rating,
    Responsibility,
    Role,
    Status,
    format_reference,
    parse_reference,
)
from bot.ports import (
    Backlog,
    CaseLook,
    CaseQuery,
    DeadlineRow,
    DueList,
    DueRow,
    EntityRow,
    EvidenceItem,
    ExpiredEvidence,
    Notice,
    PersonInfo,
    due_kind,
)
from storage.models import (
    CaseEventRow,
    CaseLookRow,
    CaseRow,
    District,
    EvidenceRow,
    Institution,
    InstitutionVisitRow,
    Invite,
    OutboxRow,
    Person,
    ProcessedUpdate,
    ReferenceCounter,
    School,
    UtcDateTime,
    VisitRow,
    WebLogin,
)

CASES: Table = CaseRow.__table__  # type: ignore[assignment]
EVENTS: Table = CaseEventRow.__table__  # type: ignore[assignment]
LOOKS: Table = CaseLookRow.__table__  # type: ignore[assignment]


@functools.cache
def _case_select() -> Any:
    """A case's columns with the codes it refers to, as plain rows (no ORM objects: a case
    is mapped to the domain `Case` and written back by `CaseRepository.save_many`)."""
    school, inst, dist, person = (aliased(School), aliased(Institution), aliased(District),
                                  aliased(Person))
    target = aliased(CaseRow)
    return (
        select(CASES, school.code.label("school_code"), inst.code.label("institution_code"),
               dist.code.label("district_code"), person.code.label("assignee_code"),
               target.reference.label("merged_into"), target.status.label("merged_status"))
        .outerjoin(school, school.id == CaseRow.school_id)
        .outerjoin(inst, inst.id == CaseRow.institution_id)
        .outerjoin(dist, dist.id == CaseRow.district_id)
        .outerjoin(person, person.id == CaseRow.assignee_id)
        .outerjoin(target, target.id == CaseRow.merged_into_id)
    )


_OUTBOX_FROM_JSON = text(
    "INSERT INTO outbox (chat_id, kind, channel, text, notice, dedup_key, not_before,"
    " created_at, attempts, last_error)"
    " SELECT m.chat_id, m.kind, 'telegram', '', m.notice, m.dedup_key, :now, :now, 0, ''"
    " FROM json_to_recordset(CAST(:rows AS json))"
    " AS m(chat_id bigint, kind text, notice json, dedup_key text)"
    " ON CONFLICT (dedup_key) DO NOTHING RETURNING id"
).bindparams(bindparam("now", type_=UtcDateTime()))


def _event_data(stored: str | None) -> dict[str, Any]:
    """An event's `data` from its stored JSON text (none is "{}", or NULL)."""
    if not stored or stored == "{}":
        return {}
    return json.loads(stored) or {}  # type: ignore[no-any-return]


def _change_day(case: Case) -> date:
    """The next look of a case just changed: the scheduler's next run (the day of the change,
    which is never later than today in any time zone)."""
    return (case.updated_at or case.created_at).astimezone(UTC).date()


def _look_row(look: CaseLook) -> dict[str, Any]:
    """A look's parameters for `_LOOK_UPDATE` and `_LOOK_UPDATE_IF_SEEN`."""
    return {"look_case": look.case_id, "seen": look.seen, "v_remind_on": look.day,
            "v_overdue_sv_since": look.supervisor.day if look.supervisor else None,
            "v_overdue_sv_clock": look.supervisor.clock if look.supervisor else None,
            "v_staff_due_on": look.staff.day if look.staff else None,
            "v_staff_due_clock": look.staff.clock if look.staff else None}


_LOOK_UPDATE = update(LOOKS).where(LOOKS.c.case_id == bindparam("look_case")).values({
    name: bindparam(f"v_{name}") for name in ("remind_on", "overdue_sv_since",
                                              "overdue_sv_clock", "staff_due_on",
                                              "staff_due_clock")})
# Only where the case has not changed since it was read (UPDATE ... FROM cases).
_LOOK_UPDATE_IF_SEEN = _LOOK_UPDATE.where(
    CASES.c.id == LOOKS.c.case_id, CASES.c.updated_at == bindparam("seen", type_=UtcDateTime()))


def _kind_counts(day: Any, today: date) -> dict[str, Any]:
    """How many items fall due before `today`, on it and after it (aggregates; as
    `bot.ports.due_kind` says of one)."""
    return {kind: func.count(sql_case((test, 1)))  # counts the rows where `test` holds
            for kind, test in (("late", day < today), ("today", day == today),
                               ("soon", day > today))}



def _insert(session: AsyncSession, table: Any) -> Any:
    """A dialect-specific INSERT that supports ON CONFLICT (SQLite and PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


def _people() -> Any:
    """A person's columns, read as plain rows (thousands at a time for the reminders)."""
    return select(Person.id, Person.code, Person.name, Person.role, Person.telegram_user_id,
                  Person.night_pings)


def _person_info(row: Any) -> PersonInfo:
    return PersonInfo(row.id, row.code, row.name, row.role, row.telegram_user_id, row.night_pings)


class CaseRepository:
    """Cases and their append-only events."""

    def __init__(self, session: AsyncSession,
                 id_cache: dict[tuple[str, str], int] | None = None) -> None:
        self.session = session
        # id(case) -> (case, events already in the table); the case is held so ids stay unique.
        self._stored_events: dict[int, tuple[Case, int]] = {}
        # id(case) -> (case, its columns as read or last written): a save writes only the
        # columns that changed, so a row's untouched indexes are left alone.
        self._columns: dict[int, tuple[Case, Mapping[Any, Any]]] = {}
        # Directory code -> row id. Codes are upserted, never deleted, so a found id stays true
        # and the cache may be shared by every unit of work of one engine.
        self._ids: dict[tuple[str, str], int] = id_cache if id_cache is not None else {}

    async def next_references(self, prefix: str, year: int, count: int) -> list[str]:
        """Issue `count` consecutive reference numbers in one statement."""
        stmt = _insert(self.session, ReferenceCounter).values(prefix=prefix, year=year,
                                                               value=count)
        stmt = stmt.on_conflict_do_update(
            index_elements=["prefix", "year"], set_={"value": ReferenceCounter.value + count}
        ).returning(ReferenceCounter.value)
        last = (await self.session.execute(stmt)).scalar_one()
        return [format_reference(prefix, year, seq) for seq in range(last - count + 1, last + 1)]

    async def _id_for(self, model: Any, code: str | None) -> int | None:
        if code is None:
            return None
        key = (model.__tablename__, code)
        found = self._ids.get(key)
        if found is None:
            found = (await self.session.execute(
                select(model.id).where(model.code == code))).scalar_one_or_none()
            if found is None:
                raise LookupError(f"{model.__tablename__} code not in directory: {code}")
            self._ids[key] = found
        return found

    async def _ids_for(self, cases: Sequence[Case]) -> None:
        """Look up, a few statements in all, the directory ids of the codes these cases
        refer to that are not cached yet (one by one, each lookup would flush the session)."""
        for model, attribute in ((School, "school_code"), (Institution, "institution_code"),
                                 (District, "district_code"), (Person, "assignee_code")):
            codes = {getattr(case, attribute) for case in cases} - {None}
            missing = sorted(c for c in codes if (model.__tablename__, c) not in self._ids)
            for start in range(0, len(missing), 500):  # bounded IN lists
                rows = await self.session.execute(select(model.code, model.id).where(
                    model.code.in_(missing[start:start + 500])))
                self._ids.update(((model.__tablename__, code), row_id) for code, row_id in rows)

    async def add_many(self, cases: Sequence[Case]) -> None:
        """Insert new cases and their events in two batched statements; sets each `id`."""
        if not cases:
            return
        await self._ids_for(cases)
        rows = [{"reference": case.reference, "created_at": case.created_at,
                 **await self._values(case, {})} for case in cases]
        stmt = CASES.insert().returning(CASES.c.id, sort_by_parameter_order=True)
        ids = (await self.session.execute(stmt, rows)).scalars().all()
        for case, case_id in zip(cases, ids, strict=True):
            case.id = case_id
        await self._insert_events(cases)
        await self.session.execute(LOOKS.insert(), [  # a new case: looked at on the next run
            {"case_id": case.id, "remind_on": _change_day(case)} for case in cases])

    async def save(self, case: Case) -> None:
        """Write a loaded case's changes and its new events."""
        await self.save_many([case])

    async def save_many(self, cases: Sequence[Case], looks: Sequence[CaseLook] = ()) -> None:
        """Write loaded cases' changes and their new events: one UPDATE and one INSERT, each
        run for every case at once. A case's next look is the day of the change, or the
        one given in `looks` (the scheduler's, which has just checked the case)."""
        if not cases:
            return
        await self._ids_for(cases)
        given = {look.case_id: look for look in looks}
        by_change: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        moved: list[dict[str, Any]] = []  # the next look of a case changed without one given
        for case in cases:
            assert case.id is not None
            before = self._columns.get(id(case), (case, {}))[1]
            values = await self._values(case, before)
            changed = {k: v for k, v in values.items() if k not in before or before[k] != v}
            stored = self._stored_events.get(id(case), (case, 0))[1]
            if not changed and len(case.events) == stored:
                continue  # nothing to write (nor a reason to look at the case again)
            if changed:
                self._columns[id(case)] = (case, {**before, **values})
                by_change.setdefault(tuple(changed), []).append(
                    {"case_id": case.id, **{f"v_{k}": v for k, v in changed.items()}})
            if case.id not in given:  # any change: its clocks are looked at on the next run
                moved.append({"look_case": case.id, "v_remind_on": _change_day(case)})
        for names, rows in by_change.items():
            stmt = (update(CASES).where(CASES.c.id == bindparam("case_id"))
                    .values({name: bindparam(f"v_{name}") for name in names}))
            await self.session.execute(stmt, rows)
        await self._insert_events(cases)
        if moved:
            await self.session.execute(update(LOOKS).where(
                LOOKS.c.case_id == bindparam("look_case")).values(
                remind_on=bindparam("v_remind_on")), moved)
        if looks:
            await self.session.execute(_LOOK_UPDATE, [_look_row(look) for look in looks])

    async def _values(self, case: Case, before: Mapping[Any, Any]) -> dict[str, Any]:
        """The case's columns as written (its codes as directory ids, see `_ids_for`)."""
        updated = case.updated_at or case.created_at
        merged_into_id = (before["merged_into_id"] if "merged_into_id" in before
                          and before.get("merged_into") == case.merged_into
                          else await self._case_id(case.merged_into))
        return {
            "status": case.status.value, "category": case.category,
            "confidence": case.confidence, "model_version": case.model_version,
            "text": case.text, "reporter_user_id": case.reporter_user_id,
            "anonymous": case.anonymous, "reporter_name": case.reporter_name,
            "reporter_phone": case.reporter_phone,
            "school_id": await self._id_for(School, case.school_code),
            "institution_id": await self._id_for(Institution, case.institution_code),
            "district_id": await self._id_for(District, case.district_code),
            "assignee_id": await self._id_for(Person, case.assignee_code),
            "disposition": case.disposition.value if case.disposition else None,
            "disposition_note": case.disposition_note, "transfer_to": case.transfer_to,
            "rectify_deadline": case.rectify_deadline, "supervised_at": case.supervised_at,
            "rating": case.rating.value if case.rating else None,
            "rating_comment": case.rating_comment, "reopen_count": case.reopen_count,
            "updated_at": updated, "closed_at": case.closed_at,
            "merged_into_id": merged_into_id}

    async def _case_id(self, reference: str | None) -> int | None:
        if reference is None:
            return None
        found = (await self.session.execute(
            select(CaseRow.id).where(CaseRow.reference == reference))).scalar_one_or_none()
        if found is None:
            raise LookupError(f"case not found: {reference}")
        return int(found)

    async def _insert_events(self, cases: Sequence[Case]) -> None:
        """Append the events added to these cases since they were loaded or last saved."""
        rows = []
        for case in cases:
            assert case.id is not None
            stored = self._stored_events.get(id(case), (case, 0))[1]
            rows += [{"case_id": case.id, "seq": seq, "action": event.action,
                      "actor_role": event.actor_role.value, "actor": event.actor,
                      "at": event.at,
                      "from_status": event.from_status.value if event.from_status else None,
                      "to_status": event.to_status.value, "comment": event.comment,
                      "data": event.data}
                     for seq, event in enumerate(case.events[stored:], start=stored + 1)]
            self._stored_events[id(case)] = (case, len(case.events))
        if rows:
            await self.session.execute(EVENTS.insert(), rows)

    def _select(self) -> Any:
        """A case row with the codes it refers to; built once (statements are immutable and
        building this one costs more than running it for one case)."""
        return _case_select()

    async def _load(self, stmt: Any, with_events: bool = True) -> list[Case]:
        cases: list[Case] = []
        for row in (await self.session.execute(stmt)).all():
            case = Case(
                id=row.id, reference=row.reference, text=row.text, category=row.category,
                confidence=row.confidence, reporter_user_id=row.reporter_user_id,
                created_at=row.created_at, status=Status(row.status), anonymous=row.anonymous,
                reporter_name=row.reporter_name, reporter_phone=row.reporter_phone,
                school_code=row.school_code, institution_code=row.institution_code,
                district_code=row.district_code, assignee_code=row.assignee_code,
                model_version=row.model_version,
                disposition=Disposition(row.disposition) if row.disposition else None,
                disposition_note=row.disposition_note, transfer_to=row.transfer_to,
                rectify_deadline=row.rectify_deadline, supervised_at=row.supervised_at,
                rating=Rating(row.rating) if row.rating else None,
                rating_comment=row.rating_comment, reopen_count=row.reopen_count,
                closed_at=row.closed_at, updated_at=row.updated_at,
                merged_into=row.merged_into,
                merged_into_status=Status(row.merged_status) if row.merged_status else None)
            self._columns[id(case)] = (case, row._mapping)
            cases.append(case)
        if with_events and cases:
            await self._load_events(cases)
        return cases

    async def _load_events(self, cases: list[Case]) -> None:
        by_id = {c.id: c for c in cases}
        # `data` as its text: most events hold none ("{}"), and a case's history is read in
        # pages of thousands of events, so only the others are parsed.
        rows = await self.session.execute(
            select(EVENTS.c.case_id, EVENTS.c.action, EVENTS.c.actor_role, EVENTS.c.actor,
                   EVENTS.c.at, EVENTS.c.from_status, EVENTS.c.to_status, EVENTS.c.comment,
                   cast(EVENTS.c.data, Text).label("data"))
            .where(EVENTS.c.case_id.in_(by_id)).order_by(EVENTS.c.case_id, EVENTS.c.seq))
        for ev in rows:
            by_id[ev.case_id].events.append(CaseEvent(
                action=ev.action, actor_role=Role(ev.actor_role), actor=ev.actor, at=ev.at,
                from_status=Status(ev.from_status) if ev.from_status else None,
                to_status=Status(ev.to_status), comment=ev.comment,
                data=_event_data(ev.data)))
        for case in cases:
            self._stored_events[id(case)] = (case, len(case.events))

    async def get(self, reference: str) -> Case | None:
        """The case with this reference, with its full history, or None."""
        found = await self._load(self._select().where(CaseRow.reference == reference))
        return found[0] if found else None

    async def get_many(self, references: Collection[str], *,
                       for_update: bool = False) -> dict[str, Case]:
        """Cases with their history by reference (`for_update`: locked, see
        `get_for_update`; in id order, so two writers locking overlapping sets never
        deadlock)."""
        found: dict[str, Case] = {}
        wanted = sorted(set(references))
        for start in range(0, len(wanted), 500):  # bounded IN lists
            stmt = self._select().where(CaseRow.reference.in_(wanted[start:start + 500]))
            found.update((case.reference, case) for case in await self._load_for(stmt,
                                                                                 for_update))
        return found

    async def get_for_update(self, reference: str) -> Case | None:
        """Like `get`, locking the row on PostgreSQL so concurrent taps are serialised."""
        found = await self._load_for(self._select().where(CaseRow.reference == reference),
                                     for_update=True)
        return found[0] if found else None

    async def _load_for(self, stmt: Any, for_update: bool) -> list[Case]:
        if not for_update:
            return await self._load(stmt)
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(of=CASES).order_by(CASES.c.id)
        return await self._load(stmt)

    async def followers(self, case: Case) -> list[Case]:
        """The cases merged into this one, with their history, locked on PostgreSQL."""
        assert case.id is not None
        stmt = self._select().where(CaseRow.merged_into_id == case.id).order_by(CaseRow.id)
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(of=CASES)
        return await self._load(stmt)

    async def list_for_reporter(self, user_id: int, limit: int = 20) -> list[Case]:
        stmt = (self._select().where(CaseRow.reporter_user_id == user_id)
                .order_by(CaseRow.id.desc()).limit(limit))
        return await self._load(stmt, with_events=False)

    async def list_for_assignee(self, person_code: str, limit: int = 50, *,
                                with_events: bool = False) -> list[Case]:
        stmt = (self._select().where(CaseRow.assignee_id == await self._id_for(Person, person_code),
                                     CaseRow.status != Status.CLOSED.value)
                .order_by(CaseRow.updated_at).limit(limit))
        return await self._load(stmt, with_events=with_events)

    async def list_by_status(self, *statuses: Status, limit: int = 50,
                             with_events: bool = False) -> list[Case]:
        stmt = (self._select().where(CaseRow.status.in_([s.value for s in statuses]))
                .order_by(CaseRow.updated_at).limit(limit))
        return await self._load(stmt, with_events=with_events)

    async def count_each_status(self) -> dict[str, int]:
        """How many cases are in each status (one grouped query, for /metrics)."""
        stmt = select(CaseRow.status, func.count()).group_by(CaseRow.status)
        return {str(s): int(n) for s, n in (await self.session.execute(stmt)).all()}

    async def count_by_status(self, *statuses: Status) -> int:
        stmt = select(func.count()).where(CaseRow.status.in_([s.value for s in statuses]))
        return int((await self.session.execute(stmt)).scalar_one())

    async def open_about(self, *, school_code: str | None, institution_code: str | None,
                         since: datetime, until: datetime, limit: int = 200) -> list[Case]:
        """Open cases about this school or institution filed in [since, until]."""
        about = []
        if school_code:
            about.append(CaseRow.school_id == await self._id_for(School, school_code))
        if institution_code:
            about.append(CaseRow.institution_id == await self._id_for(Institution,
                                                                       institution_code))
        if not about:
            return []
        stmt = (self._select().where(or_(*about), CaseRow.status != Status.CLOSED.value,
                                     CaseRow.created_at >= since, CaseRow.created_at <= until)
                .order_by(CaseRow.created_at).limit(limit))
        return await self._load(stmt, with_events=False)

    async def rectification_deadlines(self, until: date, after: tuple[date, int] | None = None,
                                      limit: int = 500, *,
                                      due_by: date | None = None) -> list[DeadlineRow]:
        """Rectifying cases whose deadline is on or before `until`, oldest deadline first
        (with `due_by`: only those whose next look, `remind_on`, is on or before it).

        Keyset paging: pass the last row's `(deadline, case_id)` as `after` for the next page.
        """
        stmt = (select(CaseRow.id, CaseRow.reference, CaseRow.category, CaseRow.rectify_deadline,
                       CaseRow.supervised_at, Person.telegram_user_id)
                .join(Person, Person.id == CaseRow.assignee_id, isouter=True)
                .where(CaseRow.status == Status.RECTIFYING.value,
                       CaseRow.rectify_deadline <= until))
        if due_by is not None:
            stmt = stmt.join(LOOKS, LOOKS.c.case_id == CaseRow.id).where(
                LOOKS.c.remind_on <= due_by)
        if after is not None:
            stmt = stmt.where(tuple_(CaseRow.rectify_deadline, CaseRow.id) > tuple_(*after))
        stmt = stmt.order_by(CaseRow.rectify_deadline, CaseRow.id).limit(limit)
        rows = (await self.session.execute(stmt)).all()
        return [DeadlineRow(case_id, reference, category, deadline, supervised_at, user_id)
                for case_id, reference, category, deadline, supervised_at, user_id in rows
                if deadline is not None]  # always set here; the check narrows the type

    async def clock_candidates(self, today: date) -> list[int]:
        """The ids of the cases the scheduler should look at today (remind_on <= today), in
        order. Read from the remind_on index alone: ordering in SQL would make SQLite walk
        the whole table in id order instead."""
        rows = await self.session.execute(select(LOOKS.c.case_id).where(
            LOOKS.c.remind_on <= today))
        return sorted(rows.scalars())

    async def get_by_ids(self, ids: Collection[int]) -> list[Case]:
        """Cases with their history by id, in id order (at most a few hundred ids)."""
        return await self._load(self._select().where(CASES.c.id.in_(ids)).order_by(CASES.c.id))

    async def set_remind_on(self, looks: Sequence[CaseLook]) -> None:
        """Move each case's next look and record what the daily reminders read; a case
        changed since it was read keeps its look for today (and is looked at again)."""
        if looks:  # Core executemany: one statement for the whole page
            await self.session.execute(_LOOK_UPDATE_IF_SEEN, [_look_row(look) for look in looks])

    async def due_lists(self, today: date, staff_until: date, listed: int) -> list[DueList]:
        """Each supervisor's overdue items (with who they are) and staff's items due by
        `staff_until`, on open cases: the first `listed` of each list, earliest first, with
        the counts of all (staff's counted by the database: one office-wide list)."""
        open_case = CASES.c.status != Status.CLOSED.value
        day = LOOKS.c.overdue_sv_since
        rows = await self.session.execute(
            select(CASES.c.reference, LOOKS.c.overdue_sv_clock, day, Person.code,
                   Person.telegram_user_id)
            .select_from(LOOKS).join(CASES, CASES.c.id == LOOKS.c.case_id)
            .join(Person, Person.id == CASES.c.assignee_id, isouter=True)
            .where(day.is_not(None), open_case).order_by(day, LOOKS.c.case_id))
        mine: dict[str | None, tuple[int | None, list[DueRow], Counter[str]]] = {}
        for reference, clock, due_on, code, user_id in rows:
            if code not in mine:
                mine[code] = (user_id, [], Counter())
            _, items, kinds = mine[code]
            kinds[due_kind(due_on, today)] += 1
            if len(items) < listed:
                items.append(DueRow(reference, "supervisor", clock or "", due_on, code, user_id))
        lists = [DueList("supervisor", code, user_id, items, kinds["late"], kinds["today"],
                         kinds["soon"]) for code, (user_id, items, kinds) in mine.items()]
        day = LOOKS.c.staff_due_on
        due = (day <= staff_until, open_case)
        office = LOOKS.join(CASES, CASES.c.id == LOOKS.c.case_id)
        late, on_day, soon = (await self.session.execute(
            select(*_kind_counts(day, today).values()).select_from(office).where(*due))).one()
        if late or on_day or soon:
            first = await self.session.execute(
                select(CASES.c.reference, LOOKS.c.staff_due_clock, day).select_from(office)
                .where(*due).order_by(day, LOOKS.c.case_id).limit(listed))
            lists.append(DueList("staff", None, None, [
                DueRow(reference, "staff", clock or "", due_on, None, None)
                for reference, clock, due_on in first], late, on_day, soon))
        return lists

    async def overdue_rectifications(self, today: date, limit: int = 1000) -> list[Case]:
        """Rectifying cases whose deadline has passed (the scheduler's daily question)."""
        stmt = (self._select().where(CaseRow.status == Status.RECTIFYING.value,
                                     CaseRow.rectify_deadline < today)
                .order_by(CaseRow.rectify_deadline).limit(limit))
        return await self._load(stmt, with_events=False)

    async def created_since(self, user_id: int, since: datetime, limit: int) -> list[datetime]:
        """When this reporter filed since `since`, newest first, at most `limit` times."""
        stmt = (select(CaseRow.created_at)
                .where(CaseRow.reporter_user_id == user_id, CaseRow.created_at >= since)
                .order_by(CaseRow.created_at.desc()).limit(limit))
        return list((await self.session.execute(stmt)).scalars())

    async def count_created_since_many(self, user_ids: set[int],
                                       since: datetime) -> dict[int, int]:
        """Cases each of these reporters filed since `since` (one grouped query)."""
        stmt = (select(CaseRow.reporter_user_id, func.count())
                .where(CaseRow.reporter_user_id.in_(user_ids), CaseRow.created_at >= since)
                .group_by(CaseRow.reporter_user_id))
        return {int(user): int(n) for user, n in (await self.session.execute(stmt)).all()}

    async def corrections(self) -> list[tuple[str, str]]:
        """Every staff recategorisation as a (case text, new category) training example.

        Read from the `recategorised` audit events (the `corrections` table is no longer
        written; it keeps the rows of earlier versions, which have the same events).
        """
        stmt = (select(CaseRow.text, CaseEventRow.data)
                .join(CaseRow, CaseRow.id == CaseEventRow.case_id)
                .where(CaseEventRow.action == "recategorised")
                .order_by(CaseEventRow.at, CaseEventRow.case_id, CaseEventRow.seq))
        return [(text, str(data["new"])) for text, data in (await self.session.execute(stmt)).all()
                if data and data.get("new")]

    async def add_evidence(self, case: Case, *, kind: str, file_id: str, file_unique_id: str,
                           mime_type: str, file_name: str, size: int, added_by: str,
                           now: datetime) -> None:
        assert case.id is not None
        self.session.add(EvidenceRow(case_id=case.id, kind=kind, file_id=file_id,
                                     file_unique_id=file_unique_id, mime_type=mime_type,
                                     file_name=file_name, size=size, added_by=added_by,
                                     created_at=now))

    async def evidence(self, case: Case) -> list[EvidenceItem]:
        rows = await self.session.execute(
            select(EvidenceRow).where(EvidenceRow.case_id == case.id,
                                      EvidenceRow.purged_at.is_(None))
            .order_by(EvidenceRow.id))
        return [_evidence_item(r) for r in rows.scalars()]

    async def evidence_stored(self, evidence_id: int, *, sha256: str, size: int,
                              mime_type: str) -> None:
        await self.session.execute(update(EvidenceRow).where(EvidenceRow.id == evidence_id)
                                   .values(sha256=sha256, stored_size=size,
                                           mime_type=mime_type))

    async def unstored_evidence(self, limit: int = 50) -> list[EvidenceItem]:
        rows = await self.session.execute(
            select(EvidenceRow).where(EvidenceRow.sha256.is_(None),
                                      EvidenceRow.purged_at.is_(None), EvidenceRow.file_id != "")
            .order_by(EvidenceRow.id).limit(limit))
        return [_evidence_item(r) for r in rows.scalars()]

    async def evidence_clean_copy(self, evidence_id: int, file_id: str) -> None:
        await self.session.execute(update(EvidenceRow).where(EvidenceRow.id == evidence_id)
                                   .values(clean_file_id=file_id))

    async def expired_evidence(self, closed_before: datetime,
                               limit: int = 100) -> list[ExpiredEvidence]:
        stmt = (select(CaseRow.reference, CaseRow.closed_at)
                .where(CaseRow.status == Status.CLOSED.value,
                       CaseRow.closed_at.is_not(None), CaseRow.closed_at < closed_before,
                       select(EvidenceRow.id).where(EvidenceRow.case_id == CaseRow.id,
                                                    EvidenceRow.purged_at.is_(None))
                       .exists())
                .order_by(CaseRow.closed_at, CaseRow.id).limit(limit))
        return [ExpiredEvidence(reference, closed_at)
                for reference, closed_at in (await self.session.execute(stmt)).all()
                if closed_at is not None]

    async def purge_evidence(self, case: Case, now: datetime) -> list[EvidenceItem]:
        items = await self.evidence(case)
        if items:
            await self.session.execute(
                update(EvidenceRow).where(EvidenceRow.id.in_([i.id for i in items]))
                .values(purged_at=now, file_id="", file_unique_id="", clean_file_id=None))
        return items

    async def evidence_hash_in_use(self, sha256: str) -> bool:
        found = await self.session.execute(
            select(EvidenceRow.id).where(EvidenceRow.sha256 == sha256,
                                         EvidenceRow.purged_at.is_(None)).limit(1))
        return found.first() is not None

    async def search(self, query: CaseQuery, limit: int = 50) -> list[Case]:
        """The console's list: newest first, filtered, continued by keyset (`before_id`)."""
        where: list[Any] = []
        if query.statuses:
            where.append(CaseRow.status.in_([s.value for s in query.statuses]))
        if query.category:
            where.append(CaseRow.category == query.category)
        for model, column, code in ((District, CaseRow.district_id, query.district_code),
                                    (School, CaseRow.school_id, query.school_code),
                                    (Person, CaseRow.assignee_id, query.assignee_code)):
            if code:
                try:
                    found = await self._id_for(model, code)
                except LookupError:  # an unknown code (typed into a filter) matches nothing
                    return []
                where.append(column == found)
        if query.created_from is not None:
            where.append(CaseRow.created_at >= query.created_from)
        if query.created_before is not None:
            where.append(CaseRow.created_at < query.created_before)
        if query.overdue_on is not None:
            where += [CaseRow.status == Status.RECTIFYING.value,
                      CaseRow.rectify_deadline < query.overdue_on]
        words = query.text.strip()
        if words:
            if parse_reference(words) is not None:
                where.append(CaseRow.reference == words.upper())
            else:
                escaped = words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                where.append(CaseRow.text.like(f"%{escaped}%", escape="\\"))
        if query.before_id is not None:
            where.append(CaseRow.id < query.before_id)
        stmt = self._select().where(*where).order_by(CaseRow.id.desc()).limit(limit)
        return await self._load(stmt, with_events=False)


def _evidence_item(r: EvidenceRow) -> EvidenceItem:
    return EvidenceItem(r.kind, r.file_id, r.file_unique_id, r.mime_type, r.file_name, r.size,
                        r.added_by, r.created_at, id=r.id, sha256=r.sha256,
                        clean_file_id=r.clean_file_id)


class DirectoryCache:
    """Short-lived answers to the directory questions every message asks.

    The directory changes rarely (imports, bindings); a binding made through this process
    clears the cache at once, anything else is seen within `ttl` seconds.
    """

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[Any, ...], tuple[float, Any]] = {}

    def get(self, key: tuple[Any, ...]) -> tuple[bool, Any]:
        found = self._entries.get(key)
        if found is None or found[0] < time.monotonic():
            return False, None
        return True, found[1]

    def put(self, key: tuple[Any, ...], value: Any) -> Any:
        if len(self._entries) > 50_000:  # bounded: drop everything rather than grow
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, value)
        return value

    def clear(self) -> None:
        self._entries.clear()


class DirectoryRepository:
    """Districts, schools, institutions and people."""

    def __init__(self, session: AsyncSession, cache: DirectoryCache | None = None) -> None:
        self.session = session
        self.cache = cache or DirectoryCache(ttl=0)

    async def counts(self) -> tuple[int, int, int]:
        """How many schools, institutions and people the directory holds."""
        found = []
        for model in (School, Institution, Person):
            found.append(int((await self.session.execute(
                select(func.count()).select_from(model))).scalar_one()))
        return found[0], found[1], found[2]

    async def person(self, code: str) -> PersonInfo | None:
        hit, value = self.cache.get(("person", code))
        if hit:
            return value  # type: ignore[no-any-return]
        row = (await self.session.execute(_people().where(Person.code == code))).first()
        return self.cache.put(("person", code), _person_info(row) if row else None)  # type: ignore[no-any-return]

    async def persons(self, codes: Collection[str]) -> dict[str, PersonInfo]:
        found: dict[str, PersonInfo] = {}
        missing = []
        for code in set(codes):
            hit, value = self.cache.get(("person", code))
            if not hit:
                missing.append(code)
            elif value is not None:
                found[code] = value
        for start in range(0, len(missing), 500):  # bounded IN lists
            chunk = missing[start:start + 500]
            rows = (await self.session.execute(_people().where(Person.code.in_(chunk))))
            for row in rows:
                found[row.code] = _person_info(row)
            for code in chunk:
                self.cache.put(("person", code), found.get(code))
        return found

    async def person_by_user(self, telegram_user_id: int) -> PersonInfo | None:
        hit, value = self.cache.get(("user", telegram_user_id))
        if hit:
            return value  # type: ignore[no-any-return]
        row = (await self.session.execute(
            _people().where(Person.telegram_user_id == telegram_user_id))).first()
        return self.cache.put(("user", telegram_user_id),  # type: ignore[no-any-return]
                              _person_info(row) if row else None)

    async def people(self, role: str | None = None) -> list[PersonInfo]:
        stmt = _people().order_by(Person.code)
        if role:
            stmt = stmt.where(Person.role == role)
        return [_person_info(row) for row in await self.session.execute(stmt)]

    async def bind(self, person_id: int, telegram_user_id: int | None, now: datetime) -> None:
        self.cache.clear()
        await self.session.execute(update(Person).where(Person.id == person_id).values(
            telegram_user_id=telegram_user_id, bound_at=now if telegram_user_id else None))

    async def set_night_pings(self, person_id: int, on: bool) -> None:
        """Whether this staff member's scheduled notices may reach them at night."""
        self.cache.clear()
        await self.session.execute(update(Person).where(Person.id == person_id).values(
            night_pings=on))

    async def responsibility(self, school_code: str | None, institution_code: str | None,
                             district_code: str | None) -> tuple[Responsibility, str | None]:
        """Who answers for these entities, and the district they belong to (one query each)."""
        key = ("responsibility", school_code, institution_code, district_code)
        hit, value = self.cache.get(key)
        if hit:
            return value  # type: ignore[no-any-return]
        return self.cache.put(key, await self._responsibility(  # type: ignore[no-any-return]
            school_code, institution_code, district_code))

    async def _responsibility(self, school_code: str | None, institution_code: str | None,
                              district_code: str | None) -> tuple[Responsibility, str | None]:
        sup, tutor = aliased(Person), aliased(Person)
        found: dict[str, tuple[str | None, str | None, str | None]] = {}
        for kind, model, code in (("school", School, school_code),
                                  ("institution", Institution, institution_code)):
            if not code:
                continue
            row = (await self.session.execute(
                select(sup.code, District.code, tutor.code).select_from(model)
                .outerjoin(sup, sup.id == model.supervisor_id)
                .outerjoin(District, District.id == model.district_id)
                .outerjoin(tutor, tutor.id == District.tutoring_supervisor_id)
                .where(model.code == code))).first()
            if row:
                found[kind] = (row[0], row[1], row[2])
        district, tutoring = district_code, None
        for _, entity_district, entity_tutor in found.values():
            if entity_district and (district is None or district == entity_district):
                district, tutoring = entity_district, entity_tutor
                break
        if district and tutoring is None and not any(
                d == district for _, d, _ in found.values()):
            tutoring = (await self.session.execute(
                select(sup.code).select_from(District)
                .outerjoin(sup, sup.id == District.tutoring_supervisor_id)
                .where(District.code == district))).scalar()
        return Responsibility(found.get("school", (None,))[0],
                              found.get("institution", (None,))[0], tutoring), district

    async def entity_rows(self) -> list[EntityRow]:
        """Every named entity as (kind, code, name, aliases, district code) for the resolver.

        Cached like the other directory answers: duplicate checks ask it on every case view.
        """
        hit, value = self.cache.get(("entity_rows",))
        if hit:
            return list(value)
        out: list[EntityRow] = []
        for d in (await self.session.execute(select(District))).scalars():
            out.append(("district", d.code, d.name, (), d.code))
        for model, kind in ((School, "school"), (Institution, "institution")):
            stmt = select(model.code, model.name, model.aliases, District.code).outerjoin(
                District, District.id == model.district_id)
            for code, name, aliases, dist in (await self.session.execute(stmt)).all():
                out.append((kind, code, name, tuple(a for a in aliases.split("|") if a), dist))
        return list(self.cache.put(("entity_rows",), out))

    async def names(self, kind: str, codes: Sequence[str]) -> dict[str, str]:
        model: Any = {"school": School, "institution": Institution, "district": District,
                      "person": Person}[kind]
        rows = await self.session.execute(select(model.code, model.name)
                                          .where(model.code.in_(list(codes))))
        return {str(code): str(name) for code, name in rows.all()}

    async def schools_of(self, person_code: str) -> list[tuple[str, str]]:
        stmt = (select(School.code, School.name).join(Person, Person.id == School.supervisor_id)
                .where(Person.code == person_code).order_by(School.code))
        return [(str(code), str(name)) for code, name in (await self.session.execute(stmt)).all()]

    async def supervised_school_count(self) -> int:
        """Schools that have a responsible supervisor (the denominator of visit coverage)."""
        stmt = select(func.count()).select_from(School).where(School.supervisor_id.is_not(None))
        return int((await self.session.execute(stmt)).scalar_one())

    async def unvisited_schools(self, month_start: date, next_month: date,
                                person_code: str | None = None) -> list[tuple[str, str, str]]:
        """Schools with no visit this month: (school code, school name, supervisor code)."""
        visited = exists().where(VisitRow.school_id == School.id,
                                 VisitRow.visit_date >= month_start,
                                 VisitRow.visit_date < next_month)
        stmt = (select(School.code, School.name, Person.code)
                .join(Person, Person.id == School.supervisor_id).where(~visited))
        if person_code:
            stmt = stmt.where(Person.code == person_code)
        rows = (await self.session.execute(stmt.order_by(School.code))).all()
        return [(str(school), str(name), str(person)) for school, name, person in rows]

    async def visit_count(self, start: date, end: date) -> int:
        """School visits logged on days start..end (inclusive)."""
        stmt = select(func.count()).select_from(VisitRow).where(VisitRow.visit_date >= start,
                                                                VisitRow.visit_date <= end)
        return int((await self.session.execute(stmt)).scalar_one())

    async def add_visit(self, person_code: str, school_code: str, visit_date: date, note: str,
                        photo_file_id: str, now: datetime) -> None:
        person_id = (await self.session.execute(
            select(Person.id).where(Person.code == person_code))).scalar_one()
        school_id = (await self.session.execute(
            select(School.id).where(School.code == school_code))).scalar_one()
        self.session.add(VisitRow(supervisor_id=person_id, school_id=school_id,
                                  visit_date=visit_date, note=note, photo_file_id=photo_file_id,
                                  created_at=now))


    async def institutions_of(self, person_code: str) -> list[tuple[str, str]]:
        """The tutoring institutions this liaison supervisor visits: (code, name)."""
        stmt = (select(Institution.code, Institution.name)
                .join(Person, Person.id == Institution.supervisor_id)
                .where(Person.code == person_code).order_by(Institution.code))
        return [(str(code), str(name)) for code, name in (await self.session.execute(stmt)).all()]

    async def supervised_institution_count(self) -> int:
        """Institutions that have a liaison supervisor (coverage's other denominator)."""
        stmt = select(func.count()).select_from(Institution).where(
            Institution.supervisor_id.is_not(None))
        return int((await self.session.execute(stmt)).scalar_one())

    async def unvisited_institutions(self, month_start: date, next_month: date,
                                     person_code: str | None = None
                                     ) -> list[tuple[str, str, str]]:
        """Institutions with no visit this month: (code, name, liaison supervisor code)."""
        visited = exists().where(InstitutionVisitRow.institution_id == Institution.id,
                                 InstitutionVisitRow.visit_date >= month_start,
                                 InstitutionVisitRow.visit_date < next_month)
        stmt = (select(Institution.code, Institution.name, Person.code)
                .join(Person, Person.id == Institution.supervisor_id).where(~visited))
        if person_code:
            stmt = stmt.where(Person.code == person_code)
        rows = (await self.session.execute(stmt.order_by(Institution.code))).all()
        return [(str(code), str(name), str(person)) for code, name, person in rows]

    async def add_institution_visit(self, person_code: str, institution_code: str,
                                    visit_date: date, note: str, photo_file_id: str,
                                    now: datetime) -> None:
        person_id = (await self.session.execute(
            select(Person.id).where(Person.code == person_code))).scalar_one()
        institution_id = (await self.session.execute(
            select(Institution.id).where(Institution.code == institution_code))).scalar_one()
        self.session.add(InstitutionVisitRow(
            supervisor_id=person_id, institution_id=institution_id, visit_date=visit_date,
            note=note, photo_file_id=photo_file_id, created_at=now))


class InviteRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, code_hash: str, person_id: int, now: datetime, expires: datetime) -> None:
        self.session.add(Invite(code_hash=code_hash, person_id=person_id, created_at=now,
                                expires_at=expires))

    async def claim(self, code_hash: str, user_id: int, now: datetime) -> int | None:
        """Mark an unused, unexpired invite used; return its person id, or None."""
        stmt = (update(Invite).where(Invite.code_hash == code_hash, Invite.used_at.is_(None),
                                     Invite.expires_at > now)
                .values(used_at=now, used_by=user_id).returning(Invite.person_id))
        return (await self.session.execute(stmt)).scalar_one_or_none()


class WebLoginRepository:
    """One-time console login links (token hashes only)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token_hash: str, user_id: int, now: datetime,
                  expires: datetime) -> None:
        self.session.add(WebLogin(token_hash=token_hash, user_id=user_id, created_at=now,
                                  expires_at=expires))

    async def claim(self, token_hash: str, now: datetime) -> int | None:
        """Mark an unused, unexpired link used (one UPDATE, so only one claim wins)."""
        stmt = (update(WebLogin).where(WebLogin.token_hash == token_hash,
                                       WebLogin.used_at.is_(None), WebLogin.expires_at > now)
                .values(used_at=now).returning(WebLogin.user_id))
        found = (await self.session.execute(stmt)).scalar_one_or_none()
        return int(found) if found is not None else None

    async def purge(self, expired_before: datetime) -> None:
        await self.session.execute(delete(WebLogin).where(WebLogin.expires_at < expired_before))


class OutboxRepository:
    """Messages waiting for delivery; written in the transaction that caused them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.enqueued = 0  # rows added in this unit of work (read by its commit)

    async def enqueue(self, chat_id: int, kind: str, notice: Notice, now: datetime, *,
                      dedup_key: str | None = None, not_before: datetime | None = None,
                      channel: str = "telegram") -> bool:
        """Queue a notice (rendered at delivery) for `chat_id` on `channel`; with a
        `dedup_key` already queued once, do nothing (False)."""
        stmt = _insert(self.session, OutboxRow).values(
            chat_id=chat_id, kind=kind[:32], channel=channel, text="", markup=None,
            notice=notice.to_json(), dedup_key=dedup_key, not_before=not_before or now,
            created_at=now, attempts=0, last_error="")
        if dedup_key is not None:
            # RETURNING says whether a row went in (rowcount is not reliable here on psycopg).
            stmt = stmt.on_conflict_do_nothing(index_elements=["dedup_key"]).returning(
                OutboxRow.id)
            if (await self.session.execute(stmt)).first() is None:
                return False
        else:
            await self.session.execute(stmt)
        self.enqueued += 1
        return True

    async def enqueue_many(self, messages: Sequence[tuple[int, str, Notice, str | None]],
                           now: datetime) -> int:
        """Queue many notices (chat, kind, notice, dedup key or None) in a few multi-row
        statements; keys already queued are skipped. Returns how many went in."""
        if not messages:
            return 0
        if self.session.get_bind().dialect.name == "postgresql":
            return await self._enqueue_as_json(messages, now)
        rows = [{"chat_id": chat_id, "kind": kind[:32], "text": "", "markup": None,
                 "notice": notice.to_json(), "dedup_key": key, "not_before": now,
                 "created_at": now, "attempts": 0, "last_error": ""}
                for chat_id, kind, notice, key in messages]
        # One statement, executemany: SQLAlchemy batches it into multi-row INSERTs
        # ("insertmanyvalues") with RETURNING, and one compiled form serves every size.
        stmt = (_insert(self.session, OutboxRow)
                .on_conflict_do_nothing(index_elements=["dedup_key"])
                .returning(OutboxRow.id))
        added = len((await self.session.execute(stmt, rows)).all())
        self.enqueued += added
        return added

    async def _enqueue_as_json(self, messages: Sequence[tuple[int, str, Notice, str | None]],
                               now: datetime) -> int:
        """`enqueue_many` on PostgreSQL: the rows travel as one JSON document in a statement
        whose text never changes (a multi-row VALUES of thousands of rows, or text arrays,
        cost the driver more to prepare than the server to run;
        bench/bench_reminders_scale.py)."""
        found = await self.session.execute(_OUTBOX_FROM_JSON, {"now": now, "rows": json.dumps([
            {"chat_id": chat, "kind": kind[:32], "notice": notice.to_json(), "dedup_key": key}
            for chat, kind, notice, key in messages], ensure_ascii=False)})
        added = len(found.all())
        self.enqueued += added
        return added

    async def claim_due(self, now: datetime, lease: timedelta,
                        limit: int = 100) -> list[OutboxRow]:
        """Take due rows for sending; a lease keeps another instance off them meanwhile."""
        stmt = (select(OutboxRow).where(and_(OutboxRow.sent_at.is_(None),
                                             OutboxRow.not_before <= now))
                .order_by(OutboxRow.id).limit(limit))
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list((await self.session.execute(stmt)).scalars())
        if not rows:
            return rows
        # The lease is taken only where the row is still due: on SQLite (no SKIP LOCKED) a
        # second claimer that read the same rows gets none of them.
        taken = await self.session.execute(
            update(OutboxRow).where(OutboxRow.id.in_([r.id for r in rows]),
                                    OutboxRow.sent_at.is_(None), OutboxRow.not_before <= now)
            .values(not_before=now + lease).returning(OutboxRow.id)
            .execution_options(synchronize_session=False))
        claimed = set(taken.scalars())
        return [row for row in rows if row.id in claimed]

    async def has_due(self, now: datetime) -> bool:
        stmt = select(OutboxRow.id).where(OutboxRow.sent_at.is_(None),
                                          OutboxRow.not_before <= now).limit(1)
        return (await self.session.execute(stmt)).first() is not None

    async def postpone(self, row_id: int, until: datetime) -> None:
        await self.session.execute(update(OutboxRow).where(OutboxRow.id == row_id)
                                   .values(not_before=until))

    async def pending_count(self) -> int:
        stmt = select(func.count()).where(OutboxRow.sent_at.is_(None))
        return int((await self.session.execute(stmt)).scalar_one())

    async def queued_keys(self, keys: list[str]) -> set[str]:
        """Which of these dedup keys are already in the outbox (sent or not)."""
        found: set[str] = set()
        for start in range(0, len(keys), 500):  # bounded IN lists
            chunk = keys[start:start + 500]
            stmt = select(OutboxRow.dedup_key).where(OutboxRow.dedup_key.in_(chunk))
            found.update(str(key) for key in (await self.session.execute(stmt)).scalars())
        return found

    async def due_backlog(self, now: datetime) -> tuple[int, datetime | None]:
        """How many unsent rows are due now or failing (waiting to be retried), and when the
        oldest of them was queued; rows held for the morning are not a backlog."""
        stmt = select(func.count(), func.min(OutboxRow.created_at)).where(
            OutboxRow.sent_at.is_(None),
            or_(OutboxRow.not_before <= now, OutboxRow.attempts > 0))
        count, oldest = (await self.session.execute(stmt)).one()
        return int(count), oldest  # min() keeps the column's type: an aware datetime

    async def mark_sent(self, row_id: int, now: datetime) -> None:
        await self.session.execute(update(OutboxRow).where(OutboxRow.id == row_id)
                                   .values(sent_at=now))

    async def renew(self, row_ids: list[int], until: datetime) -> None:
        """Extend the lease of unsent rows this instance still holds. It only ever extends:
        a row the lane decided meanwhile (held for the morning, set aside for hours) keeps
        its time."""
        for start in range(0, len(row_ids), 500):  # bounded IN lists
            await self.session.execute(update(OutboxRow).where(
                OutboxRow.id.in_(row_ids[start:start + 500]), OutboxRow.sent_at.is_(None),
                OutboxRow.not_before < until).values(not_before=until))

    async def mark_sent_key(self, dedup_key: str, now: datetime) -> bool:
        """Mark the unsent row with this key sent (the handler sent it itself); False when
        it was already sent (by delivery, after this instance was thought dead)."""
        stmt = (update(OutboxRow).where(OutboxRow.dedup_key == dedup_key,
                                        OutboxRow.sent_at.is_(None))
                .values(sent_at=now).returning(OutboxRow.id))
        return (await self.session.execute(stmt)).first() is not None

    async def release_key(self, dedup_key: str, now: datetime) -> None:
        """Make the unsent row with this key due now (its direct send failed)."""
        await self.session.execute(update(OutboxRow).where(
            OutboxRow.dedup_key == dedup_key, OutboxRow.sent_at.is_(None))
            .values(not_before=now))

    async def mark_failed(self, row_id: int, error: str, retry_at: datetime) -> None:
        await self.session.execute(update(OutboxRow).where(OutboxRow.id == row_id).values(
            attempts=OutboxRow.attempts + 1, last_error=error[:500], not_before=retry_at))

    async def backlog_by_channel(self, now: datetime) -> dict[str, Backlog]:
        """Per channel: unsent rows, those due now, and when the oldest due one was queued
        (one grouped query, for /metrics)."""
        due = OutboxRow.not_before <= now
        stmt = (select(OutboxRow.channel, func.count(),
                       func.sum(sql_case((due, 1), else_=0)),
                       func.min(sql_case((due, OutboxRow.created_at), else_=None)))
                .where(OutboxRow.sent_at.is_(None)).group_by(OutboxRow.channel))
        found: dict[str, Backlog] = {}
        for channel, pending, due_now, oldest in (await self.session.execute(stmt)).all():
            if isinstance(oldest, str):  # SQLite's min() over a CASE loses the column type
                oldest = datetime.fromisoformat(oldest)
            if oldest is not None and oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=UTC)
            found[str(channel)] = Backlog(int(pending), int(due_now or 0), oldest)
        return found

class UpdateLog:
    """Telegram update ids already taken in, shared by every instance on the database."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def first_seen(self, update_id: int, now: datetime) -> bool:
        """Record `update_id`; False when it was recorded before (a redelivery)."""
        stmt = (_insert(self.session, ProcessedUpdate)
                .values(update_id=update_id, seen_at=now)
                .on_conflict_do_nothing(index_elements=["update_id"])
                .returning(ProcessedUpdate.update_id))
        return (await self.session.execute(stmt)).first() is not None

    async def forget_before(self, cutoff: datetime) -> int:
        """Drop ids recorded before `cutoff`; returns how many."""
        stmt = delete(ProcessedUpdate).where(ProcessedUpdate.seen_at < cutoff).returning(
            ProcessedUpdate.update_id)
        return len((await self.session.execute(stmt)).all())

