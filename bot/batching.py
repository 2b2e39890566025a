"""Group commit: concurrent requests that arrive while a write is running share the next one.

SQLite has one writer at a time, and each statement costs an event-loop round trip, so one
transaction per parent caps filing at a few dozen per second under load. Requests that
queue up while a transaction runs are written together in the next one. If a batch fails,
its items are retried one by one so a single bad item cannot sink the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    def __init__(self, write: Callable[[list[Item]], Awaitable[list[Result]]],
                 max_batch: int = 64) -> None:
        self._write = write
        self._max_batch = max_batch
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """Queue `item` and wait until the transaction that stores it has committed."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[:self._max_batch]
            del self._pending[:self._max_batch]
            try:
                results = await self._write([item for item, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    batch[0][1].set_exception(exc)
                    continue
                for item, future in batch:
                    try:
                        (result,) = await self._write([item])
                    except Exception as exc:
                        future.set_exception(exc)
                    else:
                        future.set_result(result)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                future.set_result(result)
