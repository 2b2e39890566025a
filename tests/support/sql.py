"""A unit-of-work factory on a real database without the production caches.

`storage.uow.UnitOfWorkFactory` adds the SQLite write lock and the directory cache; tests that
change the directory between two calls want every read fresh, so they use this one.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ports import RobotRoute
from storage.db import session_factory
from storage.uow import SqlUnitOfWork


class Units:
    """`Units(engine)()` for changes, `.read()` for queries: the shape services expect."""

    def __init__(self, engine: AsyncEngine, robots: Sequence[RobotRoute] = ()) -> None:
        self._sessions = session_factory(engine)
        self.robots = tuple(robots)

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._sessions, robots=self.robots)

    def read(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._sessions, robots=self.robots)
