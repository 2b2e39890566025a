"""Binding chats to directory people: one-time, expiring invite codes, and unbinding."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain import DomainError, InvalidInput, Status
from bot.messages import t
from bot.notices import staff_notice, supervisor_notice
from bot.ports import SUPERVISOR_ROLES, Clock, Notice, PersonInfo, UnitOfWork, UnitOfWorkFactory
from bot.services import staff_member


def hash_invite(code: str) -> str:
    """Invite codes are stored hashed so a database leak does not leak usable codes."""
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


MAX_INVITE_HOURS = 720  # 30 days: an invite is meant to be used soon, not kept


@dataclass(frozen=True)
class IssuedInvite:
    """A fresh invite code, when it expires and the person it binds."""

    code: str
    expires: datetime
    person: PersonInfo


class InviteService:
    """One-time, expiring invite codes that bind a Telegram user to a directory person."""

    ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    async def issue(self, person_code: str, role: str, hours: int = 72) -> tuple[str, datetime]:
        """Create an invite for the person `person_code` of `role` (supervisor|staff)."""
        issued = await self.issue_invite(person_code, role, hours)
        return issued.code, issued.expires

    async def issue_invite(self, person_code: str, role: str, hours: int = 72) -> IssuedInvite:
        """Create an invite; the code is matched without regard to case (dx01 finds DX01)."""
        if not 0 < hours <= MAX_INVITE_HOURS:
            raise InvalidInput("invite.error.hours", hours=hours, limit=MAX_INVITE_HOURS)
        now = self.clock.now()
        code = "".join(secrets.choice(self.ALPHABET) for _ in range(10))
        wanted_code = person_code.strip()
        async with self.uow() as uow:
            person = await uow.directory.person(wanted_code)
            if person is None:
                folded = wanted_code.casefold()
                matches = [p for p in await uow.directory.people()
                           if p.code.casefold() == folded]
                person = matches[0] if len(matches) == 1 else None
            wanted = {"staff"} if role == "staff" else SUPERVISOR_ROLES
            role_name = t("role.staff") if role == "staff" else "督学"
            if person is None:
                raise DomainError("invite.error.unknown_person", code=wanted_code,
                                  role_name=role_name)
            if person.role not in wanted:
                raise DomainError("invite.error.other_role", code=person.code, name=person.name,
                                  role_name=role_name, actual=t(f"role.{person.role}"),
                                  flag="--staff" if person.role == "staff" else "--supervisor")
            expires = now + timedelta(hours=hours)
            await uow.invites.add(hash_invite(code), person.id, now, expires)
            await uow.commit()
        return IssuedInvite(code, expires, person)

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
            people = {p.id: p for p in await uow.directory.people()}
            previous = people[person_id].telegram_user_id
            await uow.directory.bind(person_id, user_id, now)
            person = people[person_id]
            if previous is not None and previous != user_id:
                # The account this person used before stops receiving cases: say so to it.
                await uow.outbox.enqueue(previous, "unbound", Notice("invite.replaced.notice"),
                                         now)
            await _tell_what_waits(uow, person, user_id, now)
            await uow.commit()
        return PersonInfo(person.id, person.code, person.name, person.role, user_id)

    async def unbind(self, user_id: int, person_code: str) -> PersonInfo:
        """Release a supervisor's or staff member's chat so they can bind with a new invite."""
        me = await staff_member(self.uow, user_id)
        code = person_code.strip()
        if code == me.code:
            raise InvalidInput("office.error.unbind_self")
        now = self.clock.now()
        async with self.uow() as uow:
            person = await uow.directory.person(code)
            if person is None:
                raise InvalidInput("case.error.unknown_person", code=code[:32])
            if person.telegram_user_id is None:
                raise InvalidInput("office.error.not_bound", name=person.name)
            await uow.directory.bind(person.id, None, now)
            await uow.outbox.enqueue(person.telegram_user_id, "unbound",
                                     Notice("office.unbound.notice"), now)
            await uow.commit()
        return person


WAITING_LIMIT = 20  # notices queued at binding; the rest are in /cases and the office queues


async def _tell_what_waits(uow: UnitOfWork, person: PersonInfo, user_id: int,
                           now: datetime) -> None:
    """Someone who binds after work reached them hears of it as if they had been bound:
    a supervisor gets the new-case notice of each case waiting for acceptance, staff the
    notice of each tip waiting for triage and each proposal waiting for a decision."""
    if person.role in SUPERVISOR_ROLES:
        waiting = [case for case in await uow.cases.list_for_assignee(person.code, limit=1000)
                   if case.status is Status.ASSIGNED][:WAITING_LIMIT]
        for case in waiting:
            await uow.outbox.enqueue(user_id, "routed", supervisor_notice(case, "routed", ""),
                                     now)
        return
    for case in await uow.cases.list_by_status(Status.TRIAGE, limit=WAITING_LIMIT):
        await uow.outbox.enqueue(user_id, "staff.triage", staff_notice(
            "notify.staff.triage", case.reference, category=case.category), now)
    for case in await uow.cases.list_by_status(Status.PROPOSED, limit=WAITING_LIMIT):
        await uow.outbox.enqueue(user_id, "proposed", staff_notice(
            "notify.staff.proposed", case.reference), now)
