"""The unit of work: one transaction, the repositories that share it, one explicit commit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.ports import RobotRoute
from storage.db import session_factory
from storage.directory_store import SqlDirectoryStore
from storage.readmodels import SqlCaseFacts
from storage.repository import (
    CaseRepository,
    DirectoryCache,
    DirectoryRepository,
    InviteRepository,
    OutboxRepository,
    UpdateLog,
    WebLoginRepository,
)


class SqlUnitOfWork:
    """`async with uow:` opens a session; leaving without `commit()` rolls everything back."""

    cases: CaseRepository
    case_facts: SqlCaseFacts
    directory: DirectoryRepository
    directory_store: SqlDirectoryStore
    invites: InviteRepository
    outbox: OutboxRepository
    web_logins: WebLoginRepository
    updates: UpdateLog
    session: AsyncSession

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 on_outbox: Callable[[], None] | None = None,
                 write_lock: asyncio.Lock | None = None,
                 id_cache: dict[tuple[str, str], int] | None = None,
                 directory_cache: DirectoryCache | None = None,
                 robots: Sequence[RobotRoute] = ()) -> None:
        self._sessions = sessions
        self.robots = robots
        self._id_cache = id_cache
        self._directory_cache = directory_cache
        self._on_outbox = on_outbox
        self._write_lock = write_lock

    async def __aenter__(self) -> SqlUnitOfWork:
        if self._write_lock is not None:
            # SQLite has one writer at a time; queueing here avoids its busy-wait sleeps.
            await self._write_lock.acquire()
        self.session = self._sessions()
        self.cases = CaseRepository(self.session, self._id_cache)
        self.case_facts = SqlCaseFacts(self.session)
        self.directory = DirectoryRepository(self.session, self._directory_cache)
        self.directory_store = SqlDirectoryStore(self.session)
        self.invites = InviteRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.web_logins = WebLoginRepository(self.session)
        self.updates = UpdateLog(self.session)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            await self.session.rollback()
        finally:
            await self.session.close()
            if self._write_lock is not None:
                self._write_lock.release()

    async def commit(self) -> None:
        """Commit; if messages were queued, tell the deliverer they are waiting."""
        await self.session.commit()
        if self.outbox.enqueued and self._on_outbox is not None:
            self.outbox.enqueued = 0
            self._on_outbox()


class UnitOfWorkFactory:
    """Makes units of work: `factory()` for changes, `factory.read()` for queries only."""

    def __init__(self, engine: AsyncEngine, on_outbox: Callable[[], None] | None = None,
                 robots: Sequence[RobotRoute] = ()) -> None:
        self.robots = tuple(robots)  # where staff notices are copied (config [channels])
        self._write = session_factory(engine)
        self._read = session_factory(engine, readonly=True)
        self._on_outbox = on_outbox
        self._lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        self._ids: dict[tuple[str, str], int] = {}
        self.directory_cache = DirectoryCache()

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._write, self._on_outbox, self._lock, self._ids,
                             self.directory_cache, self.robots)

    def read(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._read, id_cache=self._ids,
                             directory_cache=self.directory_cache, robots=self.robots)
