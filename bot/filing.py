"""Filing: a parent's confirmed tip becomes a routed case, within the hourly limit."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.batching import GroupCommit
from bot.domain import Actor, Case, DomainError, RoutingDecision, Status, route
from bot.notices import filed_notice, reply_key, staff_notice, tell_staff, tell_step
from bot.ports import PersonInfo, UnitOfWork
from bot.services import CaseService, EvidenceInput, actor_for
from bot.timerules import add_working_days


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
    detected_entity: str | None = None  # the code the bot was certain of, if the parent chose


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
    reply_lease: timedelta = timedelta(seconds=30)  # see [delivery] reply_lease_seconds


@dataclass(frozen=True)
class _Filing:
    """A tip checked and routed, waiting for the writer."""

    tip: TipInput
    now: datetime
    decision: RoutingDecision
    district: str | None
    person: PersonInfo | None


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


class FilingService:
    """Filing tips: routing, the hourly limit, reference numbers, the first notices."""

    def __init__(self, cases: CaseService, rules: Rules,
                 recent: RecentFilings | None = None,
                 threshold_of: Callable[[], float] | None = None) -> None:
        # The served model's own threshold, read at each filing (a retrained model brings
        # its own); None: the fixed rules.threshold (configured, or tests).
        self.threshold_of = threshold_of
        self.cases = cases  # a new case is told about as every case step is
        self.uow = cases.uow
        self.clock = cases.clock
        self.rules = rules
        self._filings: GroupCommit[_Filing, FiledTip] = GroupCommit(self._write_filings)
        self._recent = recent or RecentFilings()

    async def file_tip(self, tip: TipInput) -> FiledTip:
        """Store a tip as a new case, route it, and queue the supervisor's notification."""
        now = self.clock.now()
        # Routing only reads (and is usually cached): do it outside the (SQLite: single) writer.
        async with self.uow.read() as uow:
            responsibility, district = await uow.directory.responsibility(
                tip.school_code, tip.institution_code, tip.district_code)
            threshold = (self.threshold_of() if self.threshold_of is not None
                         else self.rules.threshold)
            decision = route(tip.category, tip.confidence, threshold, responsibility)
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
                    model_version=tip.model_version, alternatives=tip.alternatives,
                    detected_entity=tip.detected_entity)
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

    async def _after_filing(self, uow: UnitOfWork, case: Case, filing: _Filing) -> FiledTip:
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
        # The parent's reference, as an outbox row in this transaction, leased to the handler
        # that replies at once and marks it; if this instance dies first, delivery sends it.
        await uow.outbox.enqueue(case.reporter_user_id, "filed", filed_notice(
            case.reference, case.category, handler_role), now,
            dedup_key=reply_key(case.reference), not_before=now + self.rules.reply_lease)
        return FiledTip(case.reference, case.category, case.status, handler_role, accept_due)

    async def reply_sent(self, reference: str) -> bool:
        """The handler showed the parent the reference: mark its row sent (False when
        delivery had already sent it)."""
        async with self.uow() as uow:
            marked = await uow.outbox.mark_sent_key(reply_key(reference), self.clock.now())
            await uow.commit()
        return marked

    async def reply_failed(self, reference: str) -> None:
        """The direct reply failed: the row is due now, and delivery retries it."""
        async with self.uow() as uow:
            await uow.outbox.release_key(reply_key(reference), self.clock.now())
            await uow.commit()

    async def filing_status(self, user_id: int) -> tuple[Actor, bool]:
        """Who this user is and whether they are under the hourly limit (usually no query)."""
        since = self.clock.now() - timedelta(hours=1)
        async with self.uow.read() as uow:
            actor = actor_for(await uow.directory.person_by_user(user_id), user_id)
            times = self._recent.get(user_id)
            if times is None:
                times = self._recent.put(user_id, await uow.cases.created_since(
                    user_id, since, limit=self.rules.tips_per_hour))
        return actor, sum(1 for when in times if when >= since) < self.rules.tips_per_hour
