"""Use cases: each method carries out one action end to end and is the only place that commits.

Handlers (Telegram, HTTP, CLI) and scheduled jobs call these; they never decide who may do
what. Every case action identifies the actor from the Telegram user id on the server side,
loads the case, lets the domain check role, assignment and status, then saves the case, its
audit events and the notifications in one transaction.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.batching import GroupCommit
from bot.domain import (
    Actor,
    Case,
    DomainError,
    Role,
    RoutingDecision,
    Status,
    route,
)
from bot.messages import t
from bot.notices import Notice, follower_notice, relayed, staff_notice, tell_staff, tell_step
from bot.timerules import add_working_days
from storage.repository import PersonInfo
from storage.uow import SqlUnitOfWork


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class SystemClock:
    tz: ZoneInfo

    def now(self) -> datetime:
        return datetime.now(self.tz)


UowFactory = Callable[[], SqlUnitOfWork]


@dataclass(frozen=True)
class EvidenceInput:
    """A photo or document kept by Telegram file id, with its size and type."""

    kind: str  # photo | document
    file_id: str
    file_unique_id: str = ""
    mime_type: str = ""
    file_name: str = ""
    size: int = 0


@dataclass(frozen=True)
class TipInput:
    """A parent's confirmed tip, classified and with its entity resolved."""

    text: str
    reporter_user_id: int
    category: str
    confidence: float
    model_version: str = ""
    anonymous: bool = True
    reporter_name: str | None = None
    reporter_phone: str | None = None
    school_code: str | None = None
    institution_code: str | None = None
    district_code: str | None = None
    evidence: tuple[EvidenceInput, ...] = ()
    alternatives: tuple[tuple[str, float], ...] = ()  # the classifier's top guesses


@dataclass(frozen=True)
class FiledTip:
    reference: str
    category: str
    status: Status
    handler_role: str  # responsible | tutoring | triage
    accept_due: datetime | None


@dataclass(frozen=True)
class Rules:
    reference_prefix: str = "SJ"
    tips_per_hour: int = 5
    accept_working_days: int = 1
    threshold: float = 0.5


def reading(factory: UowFactory) -> SqlUnitOfWork:
    """A read-only unit of work when the factory offers one (it never blocks writers)."""
    read = getattr(factory, "read", None)
    return read() if read is not None else factory()


def hash_invite(code: str) -> str:
    """Invite codes are stored hashed so a database leak does not leak usable codes."""
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


@dataclass(frozen=True)
class _Filing:
    """A tip checked and routed, waiting for the writer."""

    tip: TipInput
    now: datetime
    decision: RoutingDecision
    district: str | None
    person: PersonInfo | None


# Outbox kinds that answer something the user just did (e.g. the reference of the tip they
# filed, when the direct reply failed): the user is waiting, so quiet hours never hold them.
REPLY_KINDS = frozenset({"filed"})


class RecentFilings:
    """When each parent filed within the last hour, as this process last read or wrote it.

    The hourly limit is enforced inside the writer; this answers the early question ("may
    this parent start a tip?") asked on every message without a query each time. Filings
    made by another instance are seen once an entry is older than `ttl` seconds.
    """

    def __init__(self, ttl: float = 60.0, max_users: int = 50_000) -> None:
        self.ttl = ttl
        self.max_users = max_users
        self._entries: dict[int, tuple[float, list[datetime]]] = {}

    def get(self, user_id: int) -> list[datetime] | None:
        found = self._entries.get(user_id)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, user_id: int, times: list[datetime]) -> list[datetime]:
        if len(self._entries) >= self.max_users:  # bounded: start over rather than grow
            self._entries.clear()
        self._entries[user_id] = (time.monotonic() + self.ttl, list(times))
        return self._entries[user_id][1]

    def add(self, user_id: int, when: datetime) -> None:
        found = self._entries.get(user_id)
        if found is not None:
            found[1].append(when)


class CaseService:
    """Filing tips and moving cases through their life."""

    def __init__(self, uow: UowFactory, clock: Clock, rules: Rules,
                 recent: RecentFilings | None = None) -> None:
        self.uow = uow
        self.clock = clock
        self.rules = rules
        self._filings: GroupCommit[_Filing, FiledTip] = GroupCommit(self._write_filings)
        self._recent = recent or RecentFilings()

    async def identify(self, user_id: int) -> Actor:
        """Who this Telegram user is to dudao: a bound directory person, else a parent."""
        async with reading(self.uow) as uow:
            person = await uow.directory.person_by_user(user_id)
        return actor_for(person, user_id)

    async def file_tip(self, tip: TipInput) -> FiledTip:
        """Store a tip as a new case, route it, and queue the supervisor's notification."""
        now = self.clock.now()
        # Routing only reads (and is usually cached): do it outside the (SQLite: single) writer.
        async with reading(self.uow) as uow:
            responsibility, district = await uow.directory.responsibility(
                tip.school_code, tip.institution_code, tip.district_code)
            decision = route(tip.category, tip.confidence, self.rules.threshold, responsibility)
            person = (await uow.directory.person(decision.assignee_code)
                      if decision.assignee_code else None)
        return await self._filings.submit(_Filing(tip, now, decision, district, person))

    async def _write_filings(self, batch: list[_Filing]) -> list[FiledTip]:
        """Store a batch of prepared tips in one transaction (group commit).

        The hourly limit is checked here, inside the writer, so concurrent taps cannot
        slip past it; a tip over the limit fails alone (GroupCommit retries the others).
        """
        async with self.uow() as uow:
            recent = await uow.cases.count_created_since_many(
                {f.tip.reporter_user_id for f in batch},
                min(f.now for f in batch) - timedelta(hours=1))
            for filing in batch:
                recent[filing.tip.reporter_user_id] = recent.get(filing.tip.reporter_user_id,
                                                                 0) + 1
                if recent[filing.tip.reporter_user_id] > self.rules.tips_per_hour:
                    raise DomainError("tip.error.rate_limited",
                                      limit=self.rules.tips_per_hour)
            references: dict[int, str] = {}  # batch index -> reference, per year
            for year in sorted({f.now.year for f in batch}):
                indexes = [i for i, f in enumerate(batch) if f.now.year == year]
                issued = await uow.cases.next_references(self.rules.reference_prefix, year,
                                                         len(indexes))
                references.update(zip(indexes, issued, strict=True))
            cases = []
            for index, filing in enumerate(batch):
                tip, reference = filing.tip, references[index]
                case = Case.file(
                    reference=reference, text=tip.text, category=tip.category,
                    confidence=tip.confidence, reporter_user_id=tip.reporter_user_id,
                    now=filing.now, anonymous=tip.anonymous, reporter_name=tip.reporter_name,
                    reporter_phone=tip.reporter_phone, school_code=tip.school_code,
                    institution_code=tip.institution_code, district_code=filing.district,
                    model_version=tip.model_version, alternatives=tip.alternatives)
                case.route(filing.decision, filing.now)
                cases.append(case)
            await uow.cases.add_many(cases)
            results = []
            for filing, case in zip(batch, cases, strict=True):
                for item in filing.tip.evidence:
                    await uow.cases.add_evidence(
                        case, kind=item.kind, file_id=item.file_id,
                        file_unique_id=item.file_unique_id, mime_type=item.mime_type,
                        file_name=item.file_name, size=item.size, added_by="parent",
                        now=filing.now)
                results.append(await self._after_filing(uow, case, filing))
            await uow.commit()
        for filing in batch:
            self._recent.add(filing.tip.reporter_user_id, filing.now)
        return results

    async def _after_filing(self, uow: SqlUnitOfWork, case: Case, filing: _Filing) -> FiledTip:
        """Queue who must hear about a new case; say who handles it and by when."""
        person, now = filing.person, filing.now
        handler_role = "triage"
        accept_due = None
        if case.assignee_code:
            handler_role = person.role if person else "triage"
            accept_due = add_working_days(now, self.rules.accept_working_days)
            if person and person.telegram_user_id:
                await tell_step(uow, case, "routed", now, person)
        else:
            await tell_staff(uow, "staff.triage", staff_notice(
                "notify.staff.triage", case.reference, category=case.category), now)
        return FiledTip(case.reference, case.category, case.status, handler_role, accept_due)

    async def may_file(self, user_id: int) -> bool:
        """Whether this parent is under the hourly limit of new tips."""
        return (await self.filing_status(user_id))[1]

    async def filing_status(self, user_id: int) -> tuple[Actor, bool]:
        """Who this user is and whether they are under the hourly limit (usually no query)."""
        since = self.clock.now() - timedelta(hours=1)
        async with reading(self.uow) as uow:
            actor = actor_for(await uow.directory.person_by_user(user_id), user_id)
            times = self._recent.get(user_id)
            if times is None:
                times = self._recent.put(user_id, await uow.cases.created_since(
                    user_id, since, limit=self.rules.tips_per_hour))
        return actor, sum(1 for when in times if when >= since) < self.rules.tips_per_hour

    async def send_later(self, chat_id: int, kind: str, text: str) -> None:
        """Queue a message for the outbox (used when a direct reply failed)."""
        async with self.uow() as uow:
            await uow.outbox.enqueue(chat_id, kind, Notice.plain(text), self.clock.now())
            await uow.commit()

    async def cases_of_reporter(self, user_id: int) -> list[Case]:
        async with reading(self.uow) as uow:
            return await uow.cases.list_for_reporter(user_id)

    async def add_evidence(self, user_id: int, reference: str, item: EvidenceInput) -> None:
        """Attach evidence to an open case of this user (parent or assigned supervisor)."""
        now = self.clock.now()
        async with self.uow() as uow:
            actor, case = await self._load_for(uow, user_id, reference)
            if not case.is_open:
                raise DomainError("case.error.closed", reference=case.reference)
            await uow.cases.add_evidence(case, kind=item.kind, file_id=item.file_id,
                                         file_unique_id=item.file_unique_id,
                                         mime_type=item.mime_type, file_name=item.file_name,
                                         size=item.size, added_by=actor.label, now=now)
            await uow.commit()

    async def view(self, user_id: int, reference: str) -> tuple[Actor, Case]:
        """A case as this user may see it; refuses anything that is not theirs."""
        async with reading(self.uow) as uow:
            actor = actor_for(await uow.directory.person_by_user(user_id), user_id)
            case = await uow.cases.get(reference.strip().upper())
        if case is None or not may_see(actor, case):
            # The same answer for "absent" and "not yours": guessing numbers reveals nothing.
            raise DomainError("case.error.not_found", reference=reference.strip()[:32])
        return actor, case

    @staticmethod
    async def _load_for(uow: SqlUnitOfWork, user_id: int, reference: str) -> tuple[Actor, Case]:
        """The actor and the case locked for change; absent and not-yours look the same."""
        actor = actor_for(await uow.directory.person_by_user(user_id), user_id)
        case = await uow.cases.get_for_update(reference.strip().upper())
        if case is None or not may_see(actor, case):
            # The same answer for "absent" and "not yours": guessing numbers reveals nothing.
            raise DomainError("case.error.not_found", reference=reference.strip()[:32])
        return actor, case

    async def perform(self, user_id: int, reference: str,
                      action: Callable[[Case, Actor, datetime], Any]) -> Case:
        """Apply one domain action for this user; the domain checks role, assignment, status."""
        now = self.clock.now()
        async with self.uow() as uow:
            actor, case = await self._load_for(uow, user_id, reference)
            before = len(case.events)
            result = action(case, actor, now)
            if isinstance(result, tuple) and result and result[0] == "correction":
                await uow.cases.add_correction(case, result[1], result[2], actor.label, now)
            await uow.cases.save(case)
            steps = [event.action for event in case.events[before:]]
            for step in steps:
                await tell_step(uow, case, step, now)
            await self._carry_to_followers(uow, case, steps, now)
            await uow.commit()
        return case

    async def escalate_overdue(self, reference: str, overdue_since: datetime,
                               days_over: int) -> bool:
        """The scheduler's 督办 on a rectification past its deadline; once per deadline.

        False when there is nothing to do: the case moved on, or it was already supervised
        after `overdue_since` (by staff, or by another instance of the scheduler).
        """
        now = self.clock.now()
        async with self.uow() as uow:
            case = await uow.cases.get_for_update(reference)
            if (case is None or case.status is not Status.RECTIFYING
                    or (case.supervised_at is not None and case.supervised_at >= overdue_since)):
                return False
            case.supervise(Actor.system(), now, t("reminder.escalation.comment", days=days_over))
            await uow.cases.save(case)
            await tell_step(uow, case, "supervised", now)
            person = await uow.directory.person(case.assignee_code) if case.assignee_code \
                else None
            await tell_staff(uow, "staff.escalated", staff_notice(
                "notify.staff.escalated", case.reference, days=days_over,
                name=person.name if person else "—"), now)
            await uow.commit()
        return True

    async def _carry_to_followers(self, uow: SqlUnitOfWork, case: Case, actions: list[str],
                                  now: datetime) -> None:
        """Parents whose tips were merged into this case hear what its parent hears, under
        their own reference; when it closes, their cases close with its outcome."""
        steps = relayed(actions)
        if not steps:
            return
        for follower in await uow.cases.followers(case):
            if not follower.awaiting_merged_outcome:
                continue  # already closed with the outcome, or reopened on its own
            if case.status is Status.CLOSED:
                follower.close_merged(case, now)
                await uow.cases.save(follower)
            for action in steps:
                notice = follower_notice(follower, case, action)
                if notice is not None:
                    await uow.outbox.enqueue(follower.reporter_user_id, action, notice, now)


def actor_for(person: PersonInfo | None, user_id: int) -> Actor:
    if person is None:
        return Actor(Role.PARENT, user_id=user_id)
    role = Role.STAFF if person.role == "staff" else Role.SUPERVISOR
    return Actor(role, person_code=person.code, user_id=user_id)


def may_see(actor: Actor, case: Case) -> bool:
    """Staff see every case, supervisors their assigned ones, parents their own."""
    if actor.role is Role.STAFF:
        return True
    if actor.role is Role.SUPERVISOR:
        return actor.person_code == case.assignee_code
    return actor.user_id == case.reporter_user_id


class InviteService:
    """One-time, expiring invite codes that bind a Telegram user to a directory person."""

    ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    async def issue(self, person_code: str, role: str, hours: int = 72) -> tuple[str, datetime]:
        """Create an invite for the person `person_code` of `role` (supervisor|staff)."""
        now = self.clock.now()
        code = "".join(secrets.choice(self.ALPHABET) for _ in range(10))
        async with self.uow() as uow:
            person = await uow.directory.person(person_code)
            wanted = {"staff"} if role == "staff" else {"responsible", "tutoring"}
            if person is None or person.role not in wanted:
                raise DomainError("invite.error.unknown_person", code=person_code,
                                  role_name=t("role.staff") if role == "staff" else "督学")
            expires = now + timedelta(hours=hours)
            await uow.invites.add(hash_invite(code), person.id, now, expires)
            await uow.commit()
        return code, expires

    async def bind(self, user_id: int, code: str) -> PersonInfo:
        """Claim an invite for this Telegram user; any bad code binds nobody."""
        now = self.clock.now()
        async with self.uow() as uow:
            existing = await uow.directory.person_by_user(user_id)
            if existing is not None:
                raise DomainError("invite.already_bound", name=existing.name)
            person_id = await uow.invites.claim(hash_invite(code), user_id, now)
            if person_id is None:
                raise DomainError("invite.error.invalid")
            await uow.directory.bind(person_id, user_id, now)
            people = {p.id: p for p in await uow.directory.people()}
            await uow.commit()
        person = people[person_id]
        return PersonInfo(person.id, person.code, person.name, person.role, user_id)


HEALTHY_OUTBOX_DELAY = 300.0  # seconds a due notification may wait before delivery is "behind"


@dataclass(frozen=True)
class Health:
    """What an operator's monitor asks: is the database there, is delivery keeping up."""

    outbox_due: int
    oldest_due_seconds: float

    @property
    def status(self) -> str:
        return "degraded" if self.oldest_due_seconds > HEALTHY_OUTBOX_DELAY else "ok"


async def check_health(uow: UowFactory, clock: Clock) -> Health:
    """Read the outbox backlog (raises if the database cannot be reached)."""
    now = clock.now()
    async with reading(uow) as unit:
        due, oldest = await unit.outbox.due_backlog(now)
    waited = (now - oldest).total_seconds() if oldest is not None else 0.0
    return Health(outbox_due=due, oldest_due_seconds=max(0.0, waited))


def today_in(clock: Clock) -> date:
    return clock.now().date()
