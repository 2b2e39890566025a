"""Provincial-scale storage benchmark: fill SQLite and PostgreSQL, time the scheduler's queries.

Usage:
    python bench/bench_storage.py [--cases 1000000] [--backend sqlite|postgres|both]
                                  [--out docs/benchmarks-storage.md]

Each backend gets a freshly migrated database (Alembic, as in production) filled with 100
districts, 3,000 supervisors (100 tutoring + 2,900 responsible) and 20 staff, 10,000 schools,
3,000 institutions, a year of school visits and N cases with their audit events. The key
queries run through the real async repositories, 20 times after 3 warm-ups, once at a
baseline size (100,000 cases) and once at N, so the report can give machine-independent
ratios. PostgreSQL is a throwaway server started like the tests do (tests/conftest.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make storage/, bot/ and tests/ importable
    sys.path.insert(0, str(ROOT))

import sqlalchemy  # noqa: E402
from sqlalchemy import (  # noqa: E402
    Connection,
    Engine,
    Table,
    event,
    exists,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker  # noqa: E402

from bot.domain import SCHOOL_CATEGORIES, TUTORING_CATEGORIES, Status  # noqa: E402
from storage.db import create_async_db_engine, create_sync_db_engine, session_factory  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    Base,
    CaseRow,
    Person,
    ReferenceCounter,
    School,
    VisitRow,
)
from storage.readmodels import SqlCaseFacts  # noqa: E402
from storage.repository import CaseRepository, DirectoryRepository  # noqa: E402

TARGET_MS = 200.0
N_DISTRICTS = 100
N_RESPONSIBLE_PER_DISTRICT = 29  # 2,900 responsible + 100 tutoring = 3,000 supervisors
N_STAFF = 20
N_SCHOOLS = 10_000
N_INSTITUTIONS = 3_000
N_PARENTS = 600_000
YEARS_OF_CASES = 2
PROGRESS_EVERY = 100_000

Row = dict[str, Any]
Loader = Callable[[Connection, Table, list[Row]], None]


# --------------------------------------------------------------------------- data


def tutoring_id(district: int) -> int:
    """Person id of a district's tutoring supervisor (ids 1..100)."""
    return district


def responsible_id(district: int, k: int) -> int:
    """Person id of the k-th responsible supervisor of a district (ids 101..3000)."""
    return N_DISTRICTS + district + N_DISTRICTS * k


STAFF_FIRST_ID = N_DISTRICTS * (1 + N_RESPONSIBLE_PER_DISTRICT) + 1


def school_district(school: int) -> int:
    return (school - 1) % N_DISTRICTS + 1


def school_supervisor(school: int) -> int:
    """Schools of a district are dealt round-robin to its responsible supervisors."""
    k = ((school - 1) // N_DISTRICTS) % N_RESPONSIBLE_PER_DISTRICT
    return responsible_id(school_district(school), k)


def person_code(person: int) -> str:
    if person <= N_DISTRICTS:
        return f"T{person:04d}"
    if person < STAFF_FIRST_ID:
        return f"R{person:04d}"
    return f"S{person:04d}"


def directory_rows(now: datetime) -> dict[str, list[Row]]:
    """People, districts, schools and institutions, keyed by table name in insert order."""
    people: list[Row] = []
    for pid in range(1, STAFF_FIRST_ID + N_STAFF):
        role = "tutoring" if pid <= N_DISTRICTS else "responsible" if pid < STAFF_FIRST_ID \
            else "staff"
        bound = pid % 3 != 0
        people.append({"id": pid, "code": person_code(pid), "name": f"督学{pid}",
                       "phone": f"138{pid:08d}", "role": role,
                       "telegram_user_id": 9_000_000_000 + pid if bound else None,
                       "bound_at": now - timedelta(days=pid % 300) if bound else None,
                       "night_pings": False})
    districts = [{"id": d, "code": f"D{d:03d}", "name": f"示例市第{d}区", "kind": "district",
                  "tutoring_supervisor_id": tutoring_id(d)} for d in range(1, N_DISTRICTS + 1)]
    stages = ("primary", "junior", "senior", "nine_year")
    schools = [{"id": s, "code": f"SCH{s:05d}",
                "name": f"示例市第{school_district(s)}区第{s}{'小学' if s % 2 else '中学'}",
                "district_id": school_district(s), "stage": stages[s % 4],
                "aliases": f"{s}小|第{s}学校", "supervisor_id": school_supervisor(s)}
               for s in range(1, N_SCHOOLS + 1)]
    institutions = [{"id": i, "code": f"INS{i:05d}", "name": f"示例培训机构{i}",
                     "district_id": school_district(i), "licensed": i % 4 != 0,
                     "kind": "subject" if i % 3 else "art", "aliases": f"机构{i}",
                     "supervisor_id": tutoring_id(school_district(i))}
                    for i in range(1, N_INSTITUTIONS + 1)]
    return {"people": people, "districts": districts, "schools": schools,
            "institutions": institutions}


def visit_rows(rng: random.Random, today: date, now: datetime) -> list[Row]:
    """About 60% of schools visited this month, roughly one visit a month before that."""
    month_start = today.replace(day=1)
    rows: list[Row] = []
    for school in range(1, N_SCHOOLS + 1):
        days: list[date] = []
        if rng.random() < 0.6:
            days.append(month_start + timedelta(days=rng.randrange(today.day)))
        first = month_start
        for _ in range(11):  # the eleven months before this one
            first = (first - timedelta(days=1)).replace(day=1)
            for _ in range(rng.choice((0, 1, 1, 1, 2))):
                days.append(first + timedelta(days=rng.randrange(28)))
        for day in days:
            rows.append({"id": len(rows) + 1, "supervisor_id": school_supervisor(school),
                         "school_id": school, "visit_date": day, "note": "随堂听课，检查作业公示",
                         "photo_file_id": "", "created_at": min(now, datetime(
                             day.year, day.month, day.day, 9, tzinfo=UTC))})
    return rows


_FRAGMENTS = ("孩子每天晚上作业写到十一点", "老师周末在家里办补习班", "学校要求购买指定教辅",
              "课后服务收费不透明", "培训机构没有办学许可证", "报名后无法退费",
              "机构在工作日晚上上学科课", "班主任暗示家长参加有偿补课", "作业用手机拍照打卡",
              "寒假作业量太大", "机构预收费超过三个月", "学校延时服务强制参加", "考试排名公开张贴",
              "老师在群里布置家长批改作业")

OPEN_WEIGHTS = {Status.NEW: 10, Status.TRIAGE: 5, Status.ASSIGNED: 20, Status.ACCEPTED: 30,
                Status.AWAITING_INFO: 10, Status.PROPOSED: 15, Status.RECTIFICATION_REPORTED: 10}
CATEGORY_WEIGHTS = {"homework_burden": 30, "unlicensed_tutoring": 25, "fees_refund": 10,
                    "teacher_paid_tutoring": 15, "after_school_service": 10, "other": 10}
CLOSED_DISPOSITIONS = {"unfounded": 30, "fixed": 40, "rectify": 20, "transferred": 10}

# (action, actor kind, from, to); the paths follow the transitions bot/domain.py allows.
_F = ("filed", "parent", None, Status.NEW)
_ROUTE = ("routed", "system", Status.NEW, Status.ASSIGNED)
_TRIAGE = ("to_triage", "system", Status.NEW, Status.TRIAGE)
_ACCEPT = ("accepted", "supervisor", Status.ASSIGNED, Status.ACCEPTED)
_INFO = ("info_requested", "supervisor", Status.ACCEPTED, Status.AWAITING_INFO)
_PROPOSE = ("proposed", "supervisor", Status.ACCEPTED, Status.PROPOSED)
_APPROVE_RECTIFY = ("approved", "staff", Status.PROPOSED, Status.RECTIFYING)
_APPROVE_CLOSE = ("approved", "staff", Status.PROPOSED, Status.CLOSED)
_REPORTED = ("rectification_reported", "supervisor", Status.RECTIFYING,
             Status.RECTIFICATION_REPORTED)
_VERIFIED = ("verified", "staff", Status.RECTIFICATION_REPORTED, Status.CLOSED)
_RATED = ("rated", "parent", Status.CLOSED, Status.CLOSED)
_SUPERVISED = ("supervised", "staff", Status.RECTIFYING, Status.RECTIFYING)
_STAFF_CLOSE = ("closed", "staff", Status.TRIAGE, Status.CLOSED)
_REMIND = ("reminded", "system", Status.NEW, Status.NEW)

_TO_PROPOSED = [_F, _ROUTE, _ACCEPT, _PROPOSE]
PATHS: dict[Status, list[tuple[str, str, Status | None, Status]]] = {
    Status.NEW: [_F, _REMIND],
    Status.TRIAGE: [_F, _TRIAGE],
    Status.ASSIGNED: [_F, _ROUTE],
    Status.ACCEPTED: [_F, _ROUTE, _ACCEPT],
    Status.AWAITING_INFO: [_F, _ROUTE, _ACCEPT, _INFO],
    Status.PROPOSED: _TO_PROPOSED,
    Status.RECTIFYING: [*_TO_PROPOSED, _APPROVE_RECTIFY],
    Status.RECTIFICATION_REPORTED: [*_TO_PROPOSED, _APPROVE_RECTIFY, _REPORTED],
}


@dataclass
class Tally:
    """What was generated, for the report."""

    cases: int = 0
    events: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    overdue: int = 0
    reference_seq: Counter[int] = field(default_factory=Counter)


class CaseFactory:
    """Deterministic cases spread evenly over two years, ids in filing order."""

    def __init__(self, total: int, now: datetime, seed: int) -> None:
        self.total = total
        self.now = now
        self.today = now.date()
        self.start = now - timedelta(days=365 * YEARS_OF_CASES)
        self.step = (now - self.start) / total
        self.rng = random.Random(seed)
        rng = random.Random(seed + 1)
        self.texts = ["，".join(rng.sample(_FRAGMENTS, rng.randint(2, 6))) + "。请督导室核实处理。"
                      for _ in range(1000)]
        self.categories = list(CATEGORY_WEIGHTS)
        self.category_w = list(CATEGORY_WEIGHTS.values())
        self.open_statuses = list(OPEN_WEIGHTS)
        self.open_w = list(OPEN_WEIGHTS.values())
        self.tally = Tally()
        self.event_id = 0

    def _status(self, age_days: float) -> Status:
        """Older cases are almost all closed; a few percent are rectifying."""
        r = self.rng.random()
        closed, rectifying = ((0.30, 0.05) if age_days <= 30 else (0.75, 0.15)
                              if age_days <= 120 else (0.985, 0.01))
        if r < closed:
            return Status.CLOSED
        if r < closed + rectifying:
            return Status.RECTIFYING
        return self.rng.choices(self.open_statuses, self.open_w)[0]

    def _place(self, category: str) -> tuple[int | None, int | None, int, int]:
        """School, institution, district and the responsible person for a category."""
        rng = self.rng
        if category in SCHOOL_CATEGORIES:
            school = rng.randint(1, N_SCHOOLS)
            return school, None, school_district(school), school_supervisor(school)
        district = rng.randint(1, N_DISTRICTS)
        if category in TUTORING_CATEGORIES:
            inst = (district + N_DISTRICTS * rng.randrange(N_INSTITUTIONS // N_DISTRICTS)
                    if rng.random() < 0.7 else None)
            return None, inst, district, tutoring_id(district)
        return None, None, district, responsible_id(district,
                                                    rng.randrange(N_RESPONSIBLE_PER_DISTRICT))

    def batch(self, first: int, count: int) -> tuple[list[Row], list[Row]]:
        """Cases with ids first..first+count-1 and all their events."""
        cases: list[Row] = []
        events: list[Row] = []
        for case_id in range(first, first + count):
            case, case_events = self._case(case_id)
            cases.append(case)
            events.extend(case_events)
        return cases, events

    def _case(self, case_id: int) -> tuple[Row, list[Row]]:
        rng, now = self.rng, self.now
        created = self.start + self.step * (case_id - 1 + rng.random())
        age = (now - created).total_seconds() / 86400
        status = self._status(age)
        category = rng.choices(self.categories, self.category_w)[0]
        school, inst, district, responsible = self._place(category)
        disposition = deadline = rating = closed_at = None
        path = PATHS.get(status)
        if status is Status.CLOSED:
            disposition = rng.choices(list(CLOSED_DISPOSITIONS),
                                      list(CLOSED_DISPOSITIONS.values()))[0]
            if category == "other" and rng.random() < 0.5:
                path, disposition = [_F, _TRIAGE, _STAFF_CLOSE], "transferred"
            elif disposition == "rectify":
                path = [*_TO_PROPOSED, _APPROVE_RECTIFY, _REPORTED, _VERIFIED]
                deadline = created.date() + timedelta(days=rng.randint(7, 60))
            else:
                path = [*_TO_PROPOSED, _APPROVE_CLOSE]
                if rng.random() < 0.6:
                    rating = rng.choices(["satisfied", "basically_satisfied", "dissatisfied"],
                                         [70, 20, 10])[0]
                    path = [*path, _RATED]
            closed_at = min(now, created + timedelta(days=rng.uniform(1, 40)))
            updated = closed_at
        else:
            if status in (Status.RECTIFYING, Status.RECTIFICATION_REPORTED):
                disposition = "rectify"
                deadline = self.today + timedelta(days=rng.randint(-60, 60))
                if status is Status.RECTIFYING and deadline < self.today:
                    self.tally.overdue += 1
                    if rng.random() < 0.3:
                        path = [*PATHS[status], _SUPERVISED]
            updated = min(now, created + timedelta(days=rng.uniform(0, min(age, 10))))
        assert path is not None
        # Untriaged cases and cases staff closed from triage never had an assignee.
        assignee = None if status is Status.NEW or path[1] is _TRIAGE else responsible
        anonymous = rng.random() < 0.7
        reporter = rng.randrange(N_PARENTS) + 1_000_000
        year = created.year
        self.tally.reference_seq[year] += 1
        self.tally.cases += 1
        self.tally.statuses[status.value] += 1
        case = {
            "id": case_id, "reference": f"SJ-{year}-{self.tally.reference_seq[year]:06d}",
            "status": status.value, "category": category,
            "confidence": round(rng.uniform(0.35, 0.99), 3), "model_version": "bench-1",
            "text": self.texts[case_id % len(self.texts)], "reporter_user_id": reporter,
            "anonymous": anonymous, "reporter_name": None if anonymous else "王女士",
            "reporter_phone": None if anonymous else f"139{reporter % 10**8:08d}",
            "school_id": school, "institution_id": inst, "district_id": district,
            "assignee_id": assignee, "disposition": disposition,
            "disposition_note": "经核查情况属实，已责令整改" if disposition else "",
            "transfer_to": "市场监管局" if disposition == "transferred" else "",
            "rectify_deadline": deadline, "supervised_at": None, "rating": rating,
            "rating_comment": "", "reopen_count": 0, "created_at": created,
            "updated_at": updated, "closed_at": closed_at,
        }
        return case, self._events(case_id, path, created, updated, reporter, assignee, deadline)

    def _events(self, case_id: int, path: list[tuple[str, str, Status | None, Status]],
                created: datetime, updated: datetime, reporter: int, assignee: int | None,
                deadline: date | None) -> list[Row]:
        gap = (updated - created) / max(1, len(path) - 1)
        rows: list[Row] = []
        for seq, (action, actor_kind, before, after) in enumerate(path, start=1):
            actor = {"parent": str(reporter), "system": "system",
                     "staff": person_code(STAFF_FIRST_ID + case_id % N_STAFF),
                     "supervisor": person_code(assignee) if assignee else "system"}[actor_kind]
            data: dict[str, Any] = {}
            if action == "approved" and after is Status.RECTIFYING and deadline:
                data = {"deadline": deadline.isoformat()}
            self.event_id += 1
            rows.append({"id": self.event_id, "case_id": case_id, "seq": seq, "action": action,
                         "actor_role": actor_kind, "actor": actor,
                         "at": created + gap * (seq - 1),
                         "from_status": before.value if before else None,
                         "to_status": after.value,
                         "comment": "已核实" if actor_kind in ("staff", "supervisor") else "",
                         "data": data})
        self.tally.events += len(rows)
        return rows


# --------------------------------------------------------------------------- loading


def core_insert(conn: Connection, table: Table, rows: list[Row]) -> None:
    """SQLAlchemy Core INSERT, executemany over the whole batch."""
    conn.execute(insert(table), rows)


def pg_copy(conn: Connection, table: Table, rows: list[Row]) -> None:
    """PostgreSQL COPY FROM STDIN through psycopg, in the connection's transaction."""
    columns = list(rows[0])
    raw: Any = conn.connection.dbapi_connection
    sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row([json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v
                            for v in (row[c] for c in columns)])


@dataclass
class FillStats:
    cases_s: float = 0.0
    events_s: float = 0.0
    directory_s: float = 0.0
    generate_s: float = 0.0
    wall_s: float = 0.0
    visits: int = 0


class Filler:
    """Grows one database batch by batch, timing the inserts."""

    def __init__(self, engine: Engine, loader: Loader, total: int, batch: int, now: datetime,
                 seed: int, label: str) -> None:
        self.engine, self.loader, self.batch, self.label = engine, loader, batch, label
        self.factory = CaseFactory(total, now, seed)
        self.stats = FillStats()
        self.done = 0
        self.started = time.perf_counter()

    def directory(self, seed: int) -> None:
        """People, districts, schools, institutions and a year of visits."""
        t0 = time.perf_counter()
        now = self.factory.now
        tables = directory_rows(now)
        visits = visit_rows(random.Random(seed + 2), self.factory.today, now)
        with self.engine.begin() as conn:
            for name, rows in tables.items():
                self.loader(conn, Base.metadata.tables[name], rows)
            for i in range(0, len(visits), self.batch):
                self.loader(conn, Base.metadata.tables["visits"], visits[i:i + self.batch])
        self.stats.visits = len(visits)
        self.stats.directory_s = time.perf_counter() - t0

    def fill_to(self, target: int) -> None:
        """Insert cases (and their events) until `target` cases exist."""
        cases_table = Base.metadata.tables["cases"]
        events_table = Base.metadata.tables["case_events"]
        while self.done < target:
            count = min(self.batch, target - self.done)
            t0 = time.perf_counter()
            cases, events = self.factory.batch(self.done + 1, count)
            t1 = time.perf_counter()
            with self.engine.begin() as conn:
                self.loader(conn, cases_table, cases)
                t2 = time.perf_counter()
                for i in range(0, len(events), self.batch):
                    self.loader(conn, events_table, events[i:i + self.batch])
            t3 = time.perf_counter()
            self.stats.generate_s += t1 - t0
            self.stats.cases_s += t2 - t1
            self.stats.events_s += t3 - t2  # includes the commit
            before, self.done = self.done, self.done + count
            if self.done // PROGRESS_EVERY > before // PROGRESS_EVERY or self.done == target:
                self._progress()

    def _progress(self) -> None:
        elapsed = time.perf_counter() - self.started
        t = self.factory.tally
        print(f"[{self.label}] {self.done:>9,} cases {t.events:>10,} events  {elapsed:7.1f} s  "
              f"cases {t.cases / max(self.stats.cases_s, 1e-9):8,.0f}/s  "
              f"events {t.events / max(self.stats.events_s, 1e-9):8,.0f}/s",
              file=sys.stderr, flush=True)

    def finish(self) -> None:
        """Reference counters and (PostgreSQL) sequences, so the app could keep filing."""
        with self.engine.begin() as conn:
            rows = [{"prefix": "SJ", "year": y, "value": v}
                    for y, v in sorted(self.factory.tally.reference_seq.items())]
            conn.execute(insert(ReferenceCounter), rows)
            if conn.dialect.name == "postgresql":
                for name in ("people", "districts", "schools", "institutions", "visits",
                             "cases", "case_events"):
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                      f"(SELECT max(id) FROM {name}))"))
        self.stats.wall_s = time.perf_counter() - self.started


# --------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class QueryParams:
    today: date
    month_start: date
    next_month: date
    reference: str
    supervisor: str  # the supervisor with the most schools not visited this month
    assignee: str  # the person with the most open cases
    assignee_open: int
    district_id: int
    district_cases: int


@dataclass
class Timing:
    name: str
    short: str
    key: bool
    p50_ms: float
    max_ms: float
    rows: int
    plan: str = ""
    sql_ms: float | None = None  # the main statement alone on the sync driver, no ORM


@dataclass
class Phase:
    label: str
    cases: int
    timings: list[Timing]


QueryFn = Callable[[AsyncSession], Awaitable[int]]


def key_queries(p: QueryParams) -> list[tuple[str, str, bool, QueryFn]]:
    """(name, short name, counts toward the 200 ms target, query) via the real repositories."""

    async def by_reference(s: AsyncSession) -> int:
        return int(await CaseRepository(s).get(p.reference) is not None)

    async def overdue(s: AsyncSession) -> int:
        return len(await CaseRepository(s).overdue_rectifications(p.today))

    async def deadlines_page(s: AsyncSession) -> int:
        return len(await CaseRepository(s).rectification_deadlines(p.today + timedelta(days=3)))

    async def deadlines_all(s: AsyncSession) -> int:
        repo, after, seen = CaseRepository(s), None, 0
        while page := await repo.rectification_deadlines(p.today + timedelta(days=3), after):
            seen += len(page)
            after = (page[-1].deadline, page[-1].case_id)
        return seen

    async def unvisited_all(s: AsyncSession) -> int:
        return len(await DirectoryRepository(s).unvisited_schools(p.month_start, p.next_month))

    async def unvisited_one(s: AsyncSession) -> int:
        return len(await DirectoryRepository(s).unvisited_schools(
            p.month_start, p.next_month, person_code=p.supervisor))

    async def for_assignee(s: AsyncSession) -> int:
        return len(await CaseRepository(s).list_for_assignee(p.assignee))

    async def hotspots(s: AsyncSession) -> int:
        # The weekly hotspot list (bot/hotspots.py): one grouped count per kind of place.
        until = datetime.combine(p.today, datetime.min.time(), tzinfo=UTC)
        facts = SqlCaseFacts(s)
        return sum([len(await facts.tip_counts(kind, until - timedelta(days=30), until, 3, 10))
                    for kind in ("school", "institution", "district")])

    async def unchecked_institutions(s: AsyncSession) -> int:
        return len(await DirectoryRepository(s).unvisited_institutions(p.month_start,
                                                                       p.next_month))

    async def district_report(s: AsyncSession) -> int:
        stmt = (select(CaseRow.status, func.count()).where(CaseRow.district_id == p.district_id)
                .group_by(CaseRow.status))
        return len((await s.execute(stmt)).all())

    return [
        ("baseline: CaseRepository.get(reference) (unique-key lookup + events)", "get",
         False, by_reference),
        ("CaseRepository.overdue_rectifications(today)", "overdue", True, overdue),
        ("CaseRepository.rectification_deadlines(today + 3), first page of 500 (reminder job)",
         "deadlines page", True, deadlines_page),
        ("the reminder job's whole deadline scan: every page of 500", "deadline scan",
         False, deadlines_all),
        ("DirectoryRepository.unvisited_schools(month) — all supervisors", "unvisited (all)",
         True, unvisited_all),
        (f"DirectoryRepository.unvisited_schools(month, person_code={p.supervisor})",
         "unvisited (one supervisor)", True, unvisited_one),
        (f"CaseRepository.list_for_assignee({p.assignee}) — busiest assignee",
         "list_for_assignee", True, for_assignee),
        (f"cases by status for district {p.district_id} (report, GROUP BY)",
         "district status count", True, district_report),
        ("SqlCaseFacts.tip_counts over 30 days, schools + institutions + districts (weekly "
         "hotspots)", "hotspots", True, hotspots),
        ("DirectoryRepository.unvisited_institutions(month) — all liaison supervisors",
         "unvisited institutions", True, unchecked_institutions),
    ]


class StatementRecorder:
    """Captures the SQL an async engine sends, so its plan can be explained afterwards."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.statements: list[tuple[str, Any]] = []
        self.on = False

    def __enter__(self) -> StatementRecorder:
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
        if self.on:
            self.statements.append((statement, parameters))


def explain(engine: Engine, statement: str, parameters: Any) -> str:
    """The plan of one captured statement (EXPLAIN QUERY PLAN / EXPLAIN ANALYZE)."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            depth: dict[int, int] = {0: -1}
            lines = []
            for node, parent, _unused, detail in rows:
                depth[node] = depth.get(parent, -1) + 1
                lines.append("  " * depth[node] + str(detail))
            return "\n".join(lines)
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement,
                                    parameters).all()
        return "\n".join(str(r[0]) for r in rows)


def sql_only_ms(engine: Engine, statement: str, parameters: Any, runs: int = 10) -> float:
    """Median time of the raw statement, fetching all rows: the database's share of a query."""
    samples: list[float] = []
    with engine.connect() as conn:
        for i in range(runs + 1):
            t0 = time.perf_counter()
            conn.exec_driver_sql(statement, parameters).all()
            if i:
                samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


async def _time_all(url: str, params: QueryParams, warmups: int, runs: int,
                    with_plans: bool) -> list[Timing]:
    engine = create_async_db_engine(url)
    factory: async_sessionmaker[AsyncSession] = session_factory(engine)
    sync_engine = create_sync_db_engine(url) if with_plans else None
    out: list[Timing] = []
    try:
        with StatementRecorder(engine) as recorder:
            for name, short, key, fn in key_queries(params):
                samples: list[float] = []
                rows = 0
                for i in range(warmups + runs):
                    t0 = time.perf_counter()
                    async with factory() as session:  # a fresh unit of work, as a job would
                        rows = await fn(session)
                    if i >= warmups:
                        samples.append((time.perf_counter() - t0) * 1000)
                timing = Timing(name, short, key, statistics.median(samples), max(samples), rows)
                if sync_engine is not None and key:
                    recorder.statements.clear()
                    recorder.on = True
                    async with factory() as session:
                        await fn(session)
                    recorder.on = False
                    statement, parameters = recorder.statements[-1]
                    timing.plan = explain(sync_engine, statement, parameters)
                    timing.sql_ms = sql_only_ms(sync_engine, statement, parameters)
                out.append(timing)
                print(f"    {timing.p50_ms:8.1f} ms p50 {timing.max_ms:8.1f} ms max  "
                      f"{rows:5d} rows  {name}", file=sys.stderr, flush=True)
    finally:
        await engine.dispose()
        if sync_engine is not None:
            sync_engine.dispose()
    return out


def query_params(engine: Engine, today: date) -> QueryParams:
    """Pick the parameters: the busiest assignee and district, a real reference."""
    month_start = today.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    with engine.connect() as conn:
        assignee, assignee_open = conn.execute(
            select(Person.code, func.count()).join(CaseRow, CaseRow.assignee_id == Person.id)
            .where(CaseRow.status != Status.CLOSED.value).group_by(Person.code)
            .order_by(func.count().desc(), Person.code).limit(1)).one()
        district_id, district_cases = conn.execute(
            select(CaseRow.district_id, func.count()).group_by(CaseRow.district_id)
            .order_by(func.count().desc(), CaseRow.district_id).limit(1)).one()
        total = conn.execute(select(func.count()).select_from(CaseRow)).scalar_one()
        reference = conn.execute(select(CaseRow.reference).order_by(CaseRow.id.desc())
                                 .limit(1).offset(min(1000, total // 2))).scalar_one()
        visited = exists().where(VisitRow.school_id == School.id,
                                 VisitRow.visit_date >= month_start,
                                 VisitRow.visit_date < next_month)
        supervisor = conn.execute(
            select(Person.code).join(School, School.supervisor_id == Person.id)
            .where(~visited).group_by(Person.code)
            .order_by(func.count().desc(), Person.code).limit(1)).scalar_one()
    assert district_id is not None
    return QueryParams(today, month_start, next_month, reference, supervisor, assignee,
                       int(assignee_open), int(district_id), int(district_cases))


def prepare_planner(engine: Engine, analyze: bool) -> None:
    """PostgreSQL: VACUUM ANALYZE (autovacuum's steady state); SQLite: ANALYZE if asked."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    elif analyze:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


# --------------------------------------------------------------------------- backends


@dataclass
class BackendResult:
    backend: str
    version: str
    load: str
    cases: int
    events: int
    visits: int
    statuses: Counter[str]
    overdue: int
    fill: FillStats
    size_bytes: int
    params: QueryParams
    phases: list[Phase]
    notes: list[str] = field(default_factory=list)


def database_size(engine: Engine) -> int:
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            return int(conn.exec_driver_sql(
                "SELECT pg_database_size(current_database())").scalar_one())
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
        return int(pages) * int(size)


def server_version(engine: Engine) -> str:
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            return str(conn.exec_driver_sql("SHOW server_version").scalar_one())
        return "SQLite " + str(conn.exec_driver_sql("SELECT sqlite_version()").scalar_one())


@dataclass(frozen=True)
class Stores:
    """Makes and removes empty databases of one backend, by name."""

    create: Callable[[str], str]  # name -> URL of a fresh, empty database
    drop: Callable[[str], None]  # URL -> None


def fill_database(backend: str, url: str, cases: int, args: argparse.Namespace,
                  now: datetime) -> tuple[Engine, Filler, str]:
    """Migrate a fresh database with Alembic and fill it with `cases` cases."""
    print(f"[{backend}] migrating {url.split('@')[-1]}", file=sys.stderr, flush=True)
    upgrade(url)
    engine = create_sync_db_engine(url)
    load = "copy" if backend == "postgres" and args.pg_load == "copy" else "executemany"
    filler = Filler(engine, pg_copy if load == "copy" else core_insert, cases, args.batch, now,
                    args.seed, f"{backend} {cases:,}")
    filler.directory(args.seed)
    filler.fill_to(cases)
    filler.finish()
    prepare_planner(engine, analyze=False)
    return engine, filler, load


def timed_phase(backend: str, url: str, engine: Engine, label: str, cases: int, today: date,
                args: argparse.Namespace, with_plans: bool) -> tuple[Phase, QueryParams]:
    print(f"[{backend}] timing at {label}", file=sys.stderr, flush=True)
    params = query_params(engine, today)
    timings = asyncio.run(_time_all(url, params, args.warmups, args.runs, with_plans))
    return Phase(label, cases, timings), params


def run_backend(backend: str, stores: Stores, args: argparse.Namespace) -> BackendResult:
    """Baseline database, then the full one: fill each, time the queries, measure the size."""
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.date()
    no_analyze = "" if backend == "postgres" else ", no ANALYZE"
    phases: list[Phase] = []
    notes: list[str] = []
    if 0 < args.baseline_cases < args.cases:
        url = stores.create("dudao_bench_base")
        engine, filler, _ = fill_database(backend, url, args.baseline_cases, args, now)
        try:
            phase, _ = timed_phase(backend, url, engine, f"{args.baseline_cases:,} cases"
                                   f"{no_analyze} (baseline database)", args.baseline_cases,
                                   today, args, with_plans=False)
            phases.append(phase)
            notes.append(f"Baseline database: {args.baseline_cases:,} cases with the same "
                         f"two-year spread, {filler.factory.tally.events:,} events, filled in "
                         f"{filler.stats.wall_s:.1f} s, {database_size(engine) / 1024**2:,.0f} "
                         "MiB.")
        finally:
            engine.dispose()
            stores.drop(url)
    url = stores.create("dudao_bench")
    engine, filler, load = fill_database(backend, url, args.cases, args, now)
    try:
        phase, params = timed_phase(backend, url, engine, f"{args.cases:,} cases{no_analyze}",
                                    args.cases, today, args, with_plans=True)
        phases.append(phase)
        if backend == "sqlite":
            prepare_planner(engine, analyze=True)
            phase, _ = timed_phase(backend, url, engine, f"{args.cases:,} cases, after ANALYZE",
                                   args.cases, today, args, with_plans=True)
            phases.append(phase)
        tally = filler.factory.tally
        return BackendResult(backend, server_version(engine), load, tally.cases, tally.events,
                             filler.stats.visits, tally.statuses, tally.overdue, filler.stats,
                             database_size(engine), params, phases, notes)
    finally:
        engine.dispose()
        stores.drop(url)


@dataclass
class PgHandle:
    admin_url: str
    stop: Callable[[], None]


def start_postgres(given: str | None) -> PgHandle:
    """Use the given server, or start a throwaway one exactly as the tests do."""
    if given:
        return PgHandle(given, lambda: None)
    from tests.conftest import PgServer, _pg_bin

    bindir = _pg_bin()
    if bindir is None:
        raise SystemExit("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin")
    server = PgServer(bindir)
    server.start()
    return PgHandle(server.admin_url, server.stop)


def fresh_pg_database(admin_url: str, name: str) -> str:
    from tests.conftest import _pg_execute

    _pg_execute(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _pg_execute(admin_url, f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


# --------------------------------------------------------------------------- report


def machine() -> dict[str, str]:
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    import sqlite3

    import psycopg

    return {"cpus (nproc)": str(os.cpu_count()), "RAM": mem,
            "CPU": _cpu_model(), "OS": platform.platform(),
            "load average (1/5/15 min) at report time": "{:.2f} / {:.2f} / {:.2f}".format(
                *os.getloadavg()),
            "Python": platform.python_version(), "SQLite": sqlite3.sqlite_version,
            "SQLAlchemy": sqlalchemy.__version__, "psycopg": psycopg.__version__}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _verdict(t: Timing) -> str:
    if not t.key:
        return "—"
    if t.max_ms < TARGET_MS:
        return "yes"
    return "p50 yes, max no" if t.p50_ms < TARGET_MS else "**NO**"


def render(results: list[BackendResult], args: argparse.Namespace, started: datetime,
           wall_s: float, load_start: tuple[float, float, float]) -> str:
    """The markdown section for this run."""
    out: list[str] = [f"## Run of {started:%Y-%m-%d %H:%M} UTC — {args.cases:,} cases", ""]
    info = {"load average (1/5/15 min) at start": "{:.2f} / {:.2f} / {:.2f}".format(*load_start)}
    info.update(machine())
    for r in results:
        if r.backend == "postgres":
            info["PostgreSQL"] = r.version
    out += ["| machine | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in info.items()]
    out += ["", f"Command: `python bench/bench_storage.py --cases {args.cases} "
            f"--backend {args.backend} --pg-load {args.pg_load}` (seed {args.seed}, "
            f"{args.warmups} warm-ups + {args.runs} timed runs per query, "
            f"whole run {wall_s / 60:.1f} min).", ""]
    for r in results:
        out += _render_backend(r)
    return "\n".join(out) + "\n"


def _render_backend(r: BackendResult) -> list[str]:
    f = r.fill
    total = sum(r.statuses.values())
    mix = ", ".join(f"{s} {n / total:.1%}" for s, n in r.statuses.most_common())
    out = [f"### {r.backend} ({r.version})", "",
           f"Fill: {r.cases:,} cases, {r.events:,} case_events "
           f"({r.events / max(r.cases, 1):.2f} per case), {r.visits:,} visits, "
           f"{N_SCHOOLS:,} schools, {N_INSTITUTIONS:,} institutions, {N_DISTRICTS} districts, "
           f"{STAFF_FIRST_ID - 1 + N_STAFF:,} people. Loader: {r.load}, batches of "
           f"10k rows, one transaction per 10k cases with their events.", "",
           f"Status mix: {mix}; {r.overdue:,} rectifying cases past their deadline.", "",
           "| fill | value |", "|---|---|",
           f"| cases inserted | {r.cases / max(f.cases_s, 1e-9):,.0f} rows/s "
           f"({f.cases_s:.1f} s) |",
           f"| case_events inserted | {r.events / max(f.events_s, 1e-9):,.0f} rows/s "
           f"({f.events_s:.1f} s, incl. commits) |",
           f"| generating rows in Python | {f.generate_s:.1f} s |",
           f"| directory + visits | {f.directory_s:.1f} s |",
           f"| total fill time (migrated database to last commit) | {f.wall_s:.1f} s |",
           f"| database size | {r.size_bytes / 1024**2:,.0f} MiB |", ""]
    if r.backend == "postgres":
        out += ["The PostgreSQL server is the tests' throwaway one (fsync, synchronous_commit "
                "and full_page_writes off), so its insert rates flatter a durable server; "
                "query times are unaffected (everything is in cache).", ""]
    p = r.params
    out += [f"Query parameters: today {p.today}, month {p.month_start}..{p.next_month}, "
            f"busiest assignee {p.assignee} ({p.assignee_open:,} open cases at full size), "
            f"district {p.district_id} ({p.district_cases:,} cases).", ""]
    baseline_phase = r.phases[0] if len(r.phases) > 1 else None
    for phase in r.phases:
        pk = phase.timings[0].p50_ms
        base_col = (f"× {baseline_phase.label.split(' (')[0]}" if baseline_phase else "")
        out += [f"#### {r.backend}: {phase.label}", "",
                f"| query | p50 ms | max ms | rows | SQL only p50 ms | × PK lookup | {base_col} |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for i, t in enumerate(phase.timings):
            vs_base = ""
            if baseline_phase is not None and phase is not baseline_phase:
                vs_base = f"{t.p50_ms / baseline_phase.timings[i].p50_ms:.2f}"
            sql = "" if t.sql_ms is None else f"{t.sql_ms:.{2 if t.sql_ms < 1 else 1}f}"
            out.append(f"| {t.name} | {t.p50_ms:.1f} | {t.max_ms:.1f} | {t.rows} | {sql} | "
                       f"{t.p50_ms / pk:.1f} | {vs_base} |")
        verdicts = [f"{t.short}: {_verdict(t)}" for t in phase.timings if t.key]
        out += ["", f"Under {TARGET_MS:.0f} ms (p50 and max): " + "; ".join(verdicts) + ".", ""]
        planned = [t for t in phase.timings if t.plan]
        if planned:
            out += ["<details><summary>plans</summary>", ""]
            for t in planned:
                out += [f"**{t.name}**", "", "```", t.plan, "```", ""]
            out += ["</details>", ""]
    out += [*r.notes, ""] if r.notes else []
    return out


RUN_MARKER = "\n## Run of "


def write_report(path: Path, section: str, append: bool) -> None:
    """Write the run; keeps any hand-written text above the first run section."""
    header = ("# Storage benchmark\n\nGenerated by `bench/bench_storage.py`; "
              "see the module docstring for what it fills and times. Target: each key query "
              f"under {TARGET_MS:.0f} ms at 1,000,000 cases.\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if append and old:
        path.write_text(old.rstrip("\n") + "\n\n" + section, encoding="utf-8")
        return
    if RUN_MARKER in old:
        header = old[:old.index(RUN_MARKER)].rstrip("\n") + "\n"
    path.write_text(header + "\n" + section, encoding="utf-8")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-storage.md")
    ap.add_argument("--append", action="store_true", help="add a section instead of rewriting")
    ap.add_argument("--baseline-cases", type=int, default=100_000,
                    help="also time the queries at this size (0: skip)")
    ap.add_argument("--pg-load", choices=("copy", "executemany"), default="copy",
                    help="PostgreSQL bulk path: COPY FROM STDIN or Core executemany")
    ap.add_argument("--pg-url", help="admin URL of an existing PostgreSQL server to use")
    ap.add_argument("--workdir", type=Path, help="where the SQLite file goes (default: temp)")
    ap.add_argument("--keep", action="store_true", help="keep the SQLite file")
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmups", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20260)
    return ap.parse_args(argv)


def iter_backends(choice: str) -> Iterator[str]:
    yield from (("sqlite", "postgres") if choice == "both" else (choice,))


def sqlite_stores(workdir: Path, keep: bool) -> Stores:
    def files(url: str) -> list[Path]:
        db = url.removeprefix("sqlite:///")
        return [Path(db + suffix) for suffix in ("", "-wal", "-shm")]

    def create(name: str) -> str:
        url = f"sqlite:///{workdir / name}.db"
        for path in files(url):
            path.unlink(missing_ok=True)
        return url

    def drop(url: str) -> None:
        if not keep:
            for path in files(url):
                path.unlink(missing_ok=True)

    return Stores(create, drop)


def pg_stores(admin_url: str) -> Stores:
    from tests.conftest import _pg_execute

    def drop(url: str) -> None:
        _pg_execute(admin_url, f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    return Stores(lambda name: fresh_pg_database(admin_url, name), drop)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.now(UTC)
    load_start = os.getloadavg()  # other work on the machine skews the timings; say so
    t0 = time.perf_counter()
    results: list[BackendResult] = []
    for backend in iter_backends(args.backend):
        if backend == "sqlite":
            workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dudao-bench-"))
            workdir.mkdir(parents=True, exist_ok=True)
            try:
                results.append(run_backend(backend, sqlite_stores(workdir, args.keep), args))
            finally:
                if args.workdir is None and not args.keep:
                    shutil.rmtree(workdir, ignore_errors=True)
        else:
            pg = start_postgres(args.pg_url)
            try:
                results.append(run_backend(backend, pg_stores(pg.admin_url), args))
            finally:
                pg.stop()
    section = render(results, args, started, time.perf_counter() - t0, load_start)
    write_report(args.out, section, args.append)
    print(section)
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
