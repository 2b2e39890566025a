"""The outbox policy: what may be sent now, and what happens after each attempt.

Rows are claimed with a lease (and SKIP LOCKED on PostgreSQL) so two instances never send
the same row; a row is marked sent only after the sender reports it accepted, so a crash or
a transport error means "sent late", never "lost". The transport (Telegram) is a `Sender`
that reports a `SendResult`; it decides nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Protocol

from bot.notices import REPLY_KINDS, is_scheduled
from bot.ports import TELEGRAM, Clock, OutboxMessage, UnitOfWorkFactory
from bot.timerules import QuietHours

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
BLOCKED_RETRY = timedelta(hours=6)
REFUSED_RETRY = timedelta(hours=1)
UNSENDABLE_RETRY = timedelta(days=1)  # set aside, so the rows behind it go out


class Outcome(StrEnum):
    SENT = "sent"
    RETRY_AFTER = "retry_after"  # the transport asked us to slow down for a while
    BLOCKED = "blocked"  # the recipient blocked the bot
    REFUSED = "refused"  # the transport refused this message (bad request)
    FAILED = "failed"  # a transient failure (network, server error)
    UNSENDABLE = "unsendable"  # this version cannot render the stored message


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    error: str = ""
    retry_after: float = 0.0  # seconds, for RETRY_AFTER

    @classmethod
    def sent(cls) -> SendResult:
        return cls(Outcome.SENT)

    @classmethod
    def slow_down(cls, seconds: float) -> SendResult:
        return cls(Outcome.RETRY_AFTER, "429", seconds)

    @classmethod
    def blocked(cls, error: str) -> SendResult:
        return cls(Outcome.BLOCKED, error)

    @classmethod
    def refused(cls, error: str) -> SendResult:
        return cls(Outcome.REFUSED, error)

    @classmethod
    def failed(cls, error: str) -> SendResult:
        return cls(Outcome.FAILED, error)

    @classmethod
    def unsendable(cls, error: str) -> SendResult:
        return cls(Outcome.UNSENDABLE, error)


class Sender(Protocol):
    async def send(self, message: OutboxMessage, *, silent: bool = False) -> SendResult:
        """Deliver one message; `silent` asks for no sound (night, quiet hours)."""
        ...


class Timing(StrEnum):
    NOW = "now"
    SILENTLY = "silently"  # now, without sound
    MORNING = "morning"  # held until quiet hours end


def retry_delay(result: SendResult, attempts: int) -> timedelta:
    """How long a row waits after `result`, having failed `attempts` times before."""
    if result.outcome is Outcome.RETRY_AFTER:
        return timedelta(seconds=result.retry_after)
    if result.outcome is Outcome.BLOCKED:
        return BLOCKED_RETRY
    if result.outcome is Outcome.REFUSED:
        return REFUSED_RETRY
    if result.outcome is Outcome.UNSENDABLE:
        return UNSENDABLE_RETRY
    return timedelta(seconds=min(3600, 5 * 2 ** min(attempts, 10)))


class OutboxService:
    """Sends what is due through `sender`, honouring quiet hours and the retry schedule."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, quiet: QuietHours, tz: tzinfo,
                 sender: Sender | None = None) -> None:
        self.uow = uow
        self.clock = clock
        self.quiet = quiet
        self.tz = tz
        self.sender = sender
        self._lock = asyncio.Lock()

    async def run_once(self, limit: int = 100, *, wait: bool = False) -> int:
        """Send what is due now; returns how many messages the sender accepted.

        A run already in progress makes this one return at once unless `wait` is set.
        """
        if self._lock.locked() and not wait:
            return 0
        async with self._lock:
            return await self._run(limit)

    def timing(self, message: OutboxMessage, local_now: datetime,
               night_ok: set[int]) -> Timing:
        """Outside quiet hours everything goes now. Inside, a scheduled reminder waits for
        the morning (unless the staff member opted in to night notices); a notice caused by
        someone's action goes now, without sound, except to a group robot (DingTalk, WeCom),
        which cannot post silently and waits for the morning; the answer to what the user
        just did and messages to opted-in staff go now as usual."""
        opted_in = message.chat_id in night_ok and message.channel == TELEGRAM
        if not self.quiet.contains(local_now) or opted_in or message.kind in REPLY_KINDS:
            return Timing.NOW
        if message.channel != TELEGRAM:  # a group robot cannot post without sound
            return Timing.MORNING
        return Timing.MORNING if is_scheduled(message.kind) else Timing.SILENTLY

    async def _run(self, limit: int) -> int:
        sender = self.sender
        if sender is None:
            raise RuntimeError("the outbox has no sender")
        now = self.clock.now()
        async with self.uow.read() as uow:
            if not await uow.outbox.has_due(now):  # the usual case: no writer lock taken
                return 0
        async with self.uow() as uow:
            rows = list(await uow.outbox.claim_due(now, LEASE, limit))
            await uow.commit()
        sent = 0
        local_now = now.astimezone(self.tz)
        night_ok: set[int] = set()
        if self.quiet.contains(local_now):  # who opted in matters only at night
            async with self.uow.read() as uow:
                night_ok = {p.telegram_user_id for p in await uow.directory.people("staff")
                            if p.night_pings and p.telegram_user_id}
        for row in rows:
            timing = self.timing(row, local_now, night_ok)
            if timing is Timing.MORNING:
                await self._postpone(row.id, self.quiet.next_allowed(local_now))
                continue
            result = await sender.send(row, silent=timing is Timing.SILENTLY)
            if result.outcome is Outcome.SENT:
                await self._mark_sent(row.id)
                sent += 1
                continue
            if result.outcome in (Outcome.REFUSED, Outcome.UNSENDABLE):
                log.warning("outbox %s %s: %s", row.id, result.outcome.value, result.error)
            await self._mark_failed(row.id, result.error, retry_delay(result, row.attempts))
        return sent

    async def _mark_sent(self, row_id: int) -> None:
        async with self.uow() as uow:
            await uow.outbox.mark_sent(row_id, self.clock.now())
            await uow.commit()

    async def _mark_failed(self, row_id: int, error: str, retry: timedelta) -> None:
        async with self.uow() as uow:
            await uow.outbox.mark_failed(row_id, error, self.clock.now() + retry)
            await uow.commit()

    async def _postpone(self, row_id: int, until: datetime) -> None:
        async with self.uow() as uow:
            await uow.outbox.postpone(row_id, until)
            await uow.commit()


class DeliveryLoop:
    """Runs `outbox.run_once` every `interval` seconds, and at once when woken."""

    def __init__(self, outbox: OutboxService, interval: float = 1.0) -> None:
        self.outbox = outbox
        self.interval = interval
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop in the running event loop (the first pass runs at once)."""
        self._stopping = False
        self._wakeup = asyncio.Event()
        self._wakeup.set()
        self._task = asyncio.create_task(self._loop(), name="outbox-delivery")

    def wake(self) -> None:
        """Send what was just queued without waiting for the next tick."""
        if self._wakeup is not None:
            self._wakeup.set()

    async def stop(self, grace: float = 10.0) -> None:
        """Let the current pass finish (up to `grace` seconds), then end the loop."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self.wake()
        try:
            await asyncio.wait_for(task, grace)
        except TimeoutError:
            log.warning("outbox delivery did not stop within %.0f s; cancelled", grace)
        self._wakeup = None

    async def _loop(self) -> None:
        assert self._wakeup is not None
        wakeup = self._wakeup
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), self.interval)
            wakeup.clear()
            if self._stopping:
                return
            try:
                await self.outbox.run_once()
            except Exception:
                log.exception("outbox delivery failed; the next pass retries")
