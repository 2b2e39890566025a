"""The unit of work: one transaction, the repositories that share it, one explicit commit."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.repository import (
    CaseRepository,
    DirectoryRepository,
    InviteRepository,
    OutboxRepository,
)


class SqlUnitOfWork:
    """`async with uow:` opens a session; leaving without `commit()` rolls everything back."""

    cases: CaseRepository
    directory: DirectoryRepository
    invites: InviteRepository
    outbox: OutboxRepository
    session: AsyncSession

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __aenter__(self) -> SqlUnitOfWork:
        self.session = self._sessions()
        self.cases = CaseRepository(self.session)
        self.directory = DirectoryRepository(self.session)
        self.invites = InviteRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            await self.session.rollback()
        finally:
            await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()
