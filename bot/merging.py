"""Merging duplicates: staff fold a tip into the case it repeats, or keep the two apart.

The source's parent follows the target from then on (see `CaseService._carry_to_followers`).
"""

from __future__ import annotations

import copy
from datetime import datetime

from bot.domain import Case, DomainError, InvalidTransition
from bot.notices import merged_notices
from bot.ports import Clock, UnitOfWork, UnitOfWorkFactory
from bot.services import actor_for, staff_member, stamp_channel


class MergingService:
    """Merge and dismiss possible duplicates; bound office staff only."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    async def check_merge(self, user_id: int, source_ref: str,
                          target_ref: str) -> tuple[Case, Case]:
        """Refuse now, before staff confirm, a merge that the domain would refuse."""
        actor = actor_for(await staff_member(self.uow, user_id), user_id)
        async with self.uow.read() as uow:
            source, target = await _load_pair(uow, source_ref, target_ref, lock=False)
            copy.deepcopy(source).merge_into(actor, copy.deepcopy(target), self.clock.now())
            await _refuse_source_with_followers(uow, source)
        return source, target

    async def merge(self, user_id: int, source_ref: str, target_ref: str) -> tuple[Case, Case]:
        """Merge the duplicate `source_ref` into `target_ref`: one transaction, both cases
        locked; the source's parent follows the target from now on."""
        actor = actor_for(await staff_member(self.uow, user_id), user_id)
        now = self.clock.now()
        async with self.uow() as uow:
            source, target = await _load_pair(uow, source_ref, target_ref, lock=True)
            marks = len(source.events), len(target.events)
            source.merge_into(actor, target, now)  # the domain's refusals come first
            stamp_channel(source, marks[0])
            stamp_channel(target, marks[1])
            await _refuse_source_with_followers(uow, source)  # a refusal rolls it all back
            await uow.cases.save(source)
            await uow.cases.save(target)
            await _tell_merged(uow, source, target, now)
            await uow.commit()
        return source, target

    async def dismiss_duplicate(self, user_id: int, reference: str, other_ref: str) -> Case:
        """Staff keep two cases apart: each stops listing the other as a possible duplicate."""
        actor = actor_for(await staff_member(self.uow, user_id), user_id)
        now = self.clock.now()
        async with self.uow() as uow:
            case, other = await _load_pair(uow, reference, other_ref, lock=True)
            case.dismiss_duplicate(actor, other, now)
            if case.reference not in other.dismissed_duplicates:
                other.dismiss_duplicate(actor, case, now)
            await uow.cases.save(case)
            await uow.cases.save(other)
            await uow.commit()
        return case


async def _load_pair(uow: UnitOfWork, first: str, second: str, *,
                     lock: bool) -> tuple[Case, Case]:
    """Two cases by reference (the same object if both name one case)."""
    wanted = first.strip().upper(), second.strip().upper()
    loaded: dict[str, Case] = {}
    for reference in sorted(set(wanted)):  # one lock order, so two merges never deadlock
        case = await (uow.cases.get_for_update(reference) if lock else uow.cases.get(reference))
        if case is None:
            raise DomainError("case.error.not_found", reference=reference[:32])
        loaded[reference] = case
    return loaded[wanted[0]], loaded[wanted[1]]


async def _refuse_source_with_followers(uow: UnitOfWork, source: Case) -> None:
    # Cases still waiting on the source would wait for an outcome that never comes.
    if source.id is not None and any(f.awaiting_merged_outcome
                                     for f in await uow.cases.followers(source)):
        raise InvalidTransition("case.error.merge_source_has_followers",
                                reference=source.reference)


async def _tell_merged(uow: UnitOfWork, source: Case, target: Case, now: datetime) -> None:
    """The source's parent (nothing about anyone else) and both supervisors hear of it."""
    parent, receiving, merged = merged_notices(source, target)
    await uow.outbox.enqueue(source.reporter_user_id, "merged", parent, now)
    if target.assignee_code:
        person = await uow.directory.person(target.assignee_code)
        if person and person.telegram_user_id:
            await uow.outbox.enqueue(person.telegram_user_id, "merge_received", receiving,
                                     now)
    if source.assignee_code and source.assignee_code != target.assignee_code:
        person = await uow.directory.person(source.assignee_code)
        if person and person.telegram_user_id:
            await uow.outbox.enqueue(person.telegram_user_id, "merged", merged, now)
