"""What a parent does with their own case: rate, reopen, add information or evidence.

Every method first checks that the user is the case's reporter, so a button pressed by
anyone else (a supervisor, staff, a forged press) is refused before anything is asked or
stored.
"""

from __future__ import annotations

from bot.domain import Case, Rating
from bot.messages import t
from bot.notices import supervisor_chat
from bot.services import CaseService, EvidenceInput


class ParentService:
    def __init__(self, cases: CaseService) -> None:
        self.cases = cases

    async def own_case(self, user_id: int, reference: str) -> Case:
        """The user's own case; anyone else (staff included) is refused."""
        actor, case = await self.cases.view(user_id, reference)
        case.require_reporter(actor)
        return case

    async def rate(self, user_id: int, reference: str, rating: Rating, comment: str) -> Case:
        return await self.cases.perform(
            user_id, reference, lambda c, a, now: c.rate(a, rating, now, comment[:500]))

    async def reopen(self, user_id: int, reference: str) -> Case:
        return await self.cases.perform(
            user_id, reference, lambda c, a, now: c.reopen(a, t("parent.reopen.reason"), now))

    async def add_information(self, user_id: int, reference: str, text: str) -> bool:
        """Save what the parent adds; True when a supervisor was told (one is assigned and
        bound), so the parent is not promised a notice nobody gets."""
        case = await self.cases.perform(
            user_id, reference, lambda c, a, now: c.add_information(a, text, now))
        async with self.cases.uow.read() as uow:
            return await supervisor_chat(uow, case) is not None

    async def add_evidence(self, user_id: int, reference: str, item: EvidenceInput) -> None:
        await self.own_case(user_id, reference)
        await self.cases.add_evidence(user_id, reference, item)
