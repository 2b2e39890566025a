"""Case actions: every step of a case after filing, and who hears of it.

Each service method (here and in filing, office, supervision, merging, invites, reminders)
carries out one use case in one unit of work and commits it; repositories never commit.
Handlers (Telegram, HTTP, CLI) and scheduled jobs call them; they never decide who may do
what. Every case action identifies the actor from the Telegram user id on the server side,
loads the case, lets the domain check role, assignment and status, then saves the case, its
audit events and the notifications in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain import Actor, Case, DomainError, Role, Status
from bot.notices import follower_notice, relayed, tell_step
from bot.ports import Clock, Notice, PersonInfo, UnitOfWork, UnitOfWorkFactory

# Where a person acted: "telegram" (chat) unless a transport says otherwise (the web console
# sets "web" for the requests it serves).
CHANNEL: ContextVar[str] = ContextVar("dudao_channel", default="telegram")


def stamp_channel(case: Case, before: int) -> None:
    """Record on the audit events added since `before` that they came from another channel
    than the chat (`data["channel"]`, e.g. "web"); an event without one came from Telegram."""
    channel = CHANNEL.get()
    if channel == "telegram":
        return
    for event in case.events[before:]:
        if event.actor_role is not Role.SYSTEM:
            event.data.setdefault("channel", channel)


@dataclass(frozen=True)
class SystemClock:
    tz: ZoneInfo

    def now(self) -> datetime:
        return datetime.now(self.tz)


@dataclass(frozen=True)
class EvidenceInput:
    """A photo or document kept by Telegram file id, with its size and type."""

    kind: str  # photo | document
    file_id: str
    file_unique_id: str = ""
    mime_type: str = ""
    file_name: str = ""
    size: int = 0



class CaseService:
    """Moving cases through their life: who may see and change a case, and who hears of it."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    async def identify(self, user_id: int) -> Actor:
        """Who this Telegram user is to dudao: a bound directory person, else a parent."""
        async with self.uow.read() as uow:
            person = await uow.directory.person_by_user(user_id)
        return actor_for(person, user_id)

    async def send_later(self, chat_id: int, kind: str, text: str) -> None:
        """Queue a message for the outbox (used when a direct reply failed)."""
        async with self.uow() as uow:
            await uow.outbox.enqueue(chat_id, kind, Notice.plain(text), self.clock.now())
            await uow.commit()

    async def cases_of_reporter(self, user_id: int) -> list[Case]:
        """The parent's latest cases; those awaiting their answer come with their history,
        where the supervisor's question is (few: one query each)."""
        async with self.uow.read() as uow:
            cases = await uow.cases.list_for_reporter(user_id)
            return [(await uow.cases.get(c.reference) or c)
                    if c.status is Status.AWAITING_INFO else c for c in cases]

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
        async with self.uow.read() as uow:
            actor = actor_for(await uow.directory.person_by_user(user_id), user_id)
            case = await uow.cases.get(reference.strip().upper())
        if case is None or not may_see(actor, case):
            # The same answer for "absent" and "not yours": guessing numbers reveals nothing.
            raise DomainError("case.error.not_found", reference=reference.strip()[:32])
        return actor, case

    @staticmethod
    async def _load_for(uow: UnitOfWork, user_id: int, reference: str) -> tuple[Actor, Case]:
        """The actor and the case locked for change; absent and not-yours look the same."""
        actor = actor_for(await uow.directory.person_by_user(user_id), user_id)
        case = await uow.cases.get_for_update(reference.strip().upper())
        if case is None or not may_see(actor, case):
            # The same answer for "absent" and "not yours": guessing numbers reveals nothing.
            raise DomainError("case.error.not_found", reference=reference.strip()[:32])
        return actor, case

    async def perform(self, user_id: int, reference: str,
                      action: Callable[[Case, Actor, datetime], object]) -> Case:
        """Apply one domain action for this user; the domain checks role, assignment, status."""
        now = self.clock.now()
        async with self.uow() as uow:
            actor, case = await self._load_for(uow, user_id, reference)
            before = len(case.events)
            action(case, actor, now)
            stamp_channel(case, before)
            await uow.cases.save(case)
            steps = [event.action for event in case.events[before:]]
            for step in steps:
                await tell_step(uow, case, step, now)
            await self._carry_to_followers(uow, case, steps, now)
            await uow.commit()
        return case

    async def _carry_to_followers(self, uow: UnitOfWork, case: Case, actions: list[str],
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


async def staff_member(factory: UnitOfWorkFactory, user_id: int) -> PersonInfo:
    """The bound staff member behind this Telegram user, or a refusal."""
    async with factory.read() as uow:
        person = await uow.directory.person_by_user(user_id)
    if person is None or person.role != "staff":
        raise DomainError("case.error.staff_only")
    return person
