"""The outbox policy: what may be sent now, and what happens after each attempt.

Rows are claimed with a lease (and SKIP LOCKED on PostgreSQL) so two instances do not send
the same row; the lease is renewed while a row waits in this instance, so it cannot run out
under a working sender. A row is marked sent only after the sender reports it accepted, so
a crash or a transport error means "sent late", never "lost"; delivery is at least once (a
send whose answer was lost may be repeated), made rare by generous transport timeouts.

Claimed rows go into lanes, one per (channel, chat): lanes run concurrently, the rows of one
lane in order, so one slow chat (paced at about 1/s, or a hanging request) holds up only
itself. The transport of each channel is a `Sender` that keeps its own rate limits and
reports a `SendResult`; it decides nothing about the rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Protocol

from bot.notices import REPLY_KINDS, is_scheduled
from bot.ports import TELEGRAM, Clock, OutboxMessage, UnitOfWorkFactory
from bot.timerules import QuietHours

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
RENEW_EVERY = 15.0  # seconds: leases of rows still held here are renewed well before LEASE
# The parent's reference row is written leased for this long: the handler replies at once
# and marks it; only if that instance dies first does delivery send it.
REPLY_LEASE = timedelta(seconds=30)
MAX_PAUSES = 5  # 429s one row may wait out in its lane before it is set aside
MAX_LANE_PAUSE = 120.0  # a longer retry_after sets the row aside instead of holding the lane
UNCERTAIN_RETRY = timedelta(seconds=30)
LaneKey = tuple[str, int]
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
    UNCERTAIN = "uncertain"  # no answer in time: the transport may have delivered it


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

    @classmethod
    def uncertain(cls, error: str) -> SendResult:
        return cls(Outcome.UNCERTAIN, error)


class Sender(Protocol):
    """One channel's transport. It keeps the channel's rate limits itself (waiting before an
    attempt rather than provoking a refusal), so the lanes may call it concurrently."""

    async def send(self, message: OutboxMessage, *, silent: bool = False) -> SendResult:
        """Deliver one message; `silent` asks for no sound (night, quiet hours)."""
        ...


def lane_of(message: OutboxMessage) -> LaneKey:
    """The lane a row is delivered in: its channel (Telegram unless the row says another)
    and its chat. Rows of one lane go out in order; lanes run side by side."""
    return (getattr(message, "channel", None) or TELEGRAM, message.chat_id)


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
    if result.outcome is Outcome.UNCERTAIN:
        return max(UNCERTAIN_RETRY, timedelta(seconds=min(3600, 5 * 2 ** min(attempts, 10))))
    return timedelta(seconds=min(3600, 5 * 2 ** min(attempts, 10)))


class OutboxService:
    """Sends what is due through each channel's sender, honouring quiet hours and the retry
    schedule, in lanes per (channel, chat)."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, quiet: QuietHours, tz: tzinfo,
                 sender: Sender | None = None) -> None:
        self.uow = uow
        self.clock = clock
        self.quiet = quiet
        self.tz = tz
        self.senders: dict[str, Sender] = {}
        if sender is not None:
            self.senders[TELEGRAM] = sender
        self._lock = asyncio.Lock()
        self._night_ok: set[int] = set()
        self._postponed: set[int] = set()  # rows just held for the morning (not sent)

    @property
    def sender(self) -> Sender | None:
        """The Telegram channel's sender."""
        return self.senders.get(TELEGRAM)

    @sender.setter
    def sender(self, sender: Sender | None) -> None:
        if sender is None:
            self.senders.pop(TELEGRAM, None)
        else:
            self.senders[TELEGRAM] = sender

    async def run_once(self, limit: int = 100, *, wait: bool = False) -> int:
        """Send what is due now (up to `limit` rows, lanes side by side); returns how many
        messages the senders accepted.

        A run already in progress makes this one return at once unless `wait` is set.
        """
        if self._lock.locked() and not wait:
            return 0
        async with self._lock:
            if not self.senders:
                raise RuntimeError("the outbox has no sender")
            rows = await self.claim(limit)
            if not rows:
                return 0
            lanes: dict[LaneKey, list[OutboxMessage]] = {}
            for row in rows:
                lanes.setdefault(lane_of(row), []).append(row)
            held = {row.id for row in rows}
            renewing = asyncio.create_task(self._keep_leased(held))
            try:
                counts = await asyncio.gather(*(self.deliver_lane(deque(lane), held)
                                                for lane in lanes.values()))
            finally:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing
            return sum(counts)

    async def claim(self, limit: int) -> list[OutboxMessage]:
        """Lease up to `limit` due rows for this instance (oldest first)."""
        now = self.clock.now()
        async with self.uow.read() as uow:
            if not await uow.outbox.has_due(now):  # the usual case: no writer lock taken
                return []
        async with self.uow() as uow:
            rows = list(await uow.outbox.claim_due(now, LEASE, limit))
            await uow.commit()
        if rows and self.quiet.contains(now.astimezone(self.tz)):
            async with self.uow.read() as uow:  # who opted in matters only at night
                self._night_ok = {p.telegram_user_id for p in await uow.directory.people(
                    "staff") if p.night_pings and p.telegram_user_id}
        return rows

    async def renew(self, row_ids: Iterable[int]) -> None:
        """Extend the lease of rows this instance still holds."""
        ids = sorted(row_ids)
        if not ids:
            return
        async with self.uow() as uow:
            await uow.outbox.renew(ids, self.clock.now() + LEASE)
            await uow.commit()

    async def _keep_leased(self, held: set[int]) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY)
            try:
                await self.renew(held)
            except Exception:
                log.exception("could not renew outbox leases; retrying")

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

    async def deliver_lane(self, lane: deque[OutboxMessage], held: set[int]) -> int:
        """Send one lane's rows in order; each leaves `held` once it is decided.

        A transient failure sets the row aside with its back-off and hands the rest of the
        lane back too (same time), so a chat's messages keep their order.
        """
        sent = 0
        while lane:
            row = lane.popleft()
            try:
                outcome, wait = await self._deliver(row)
            finally:
                held.discard(row.id)
            if outcome is Outcome.SENT:
                if row.id in self._postponed:  # held for the morning, not sent
                    self._postponed.discard(row.id)
                else:
                    sent += 1
            elif outcome in (Outcome.FAILED, Outcome.UNCERTAIN, Outcome.RETRY_AFTER) and lane:
                rest = list(lane)
                lane.clear()
                try:
                    await self._postpone_many([r.id for r in rest], self.clock.now() + wait)
                finally:
                    held.difference_update(r.id for r in rest)
        return sent

    async def _deliver(self, row: OutboxMessage) -> tuple[Outcome, timedelta]:
        """One row to its final outcome for now: sent, postponed or set aside, and how long
        it waits. A 429 pauses only this lane, for what the transport asked (retry_after)."""
        sender = self.senders.get(lane_of(row)[0])
        if sender is None:
            await self._mark_failed(row.id, f"no sender for {lane_of(row)[0]}", REFUSED_RETRY)
            return Outcome.REFUSED, REFUSED_RETRY
        pauses = 0
        while True:
            local_now = self.clock.now().astimezone(self.tz)
            timing = self.timing(row, local_now, self._night_ok)
            if timing is Timing.MORNING:
                await self._postpone(row.id, self.quiet.next_allowed(local_now))
                self._postponed.add(row.id)
                return Outcome.SENT, timedelta(0)  # nothing the rows behind it must wait for
            result = await sender.send(row, silent=timing is Timing.SILENTLY)
            if result.outcome is Outcome.SENT:
                await self._mark_sent(row.id)
                return Outcome.SENT, timedelta(0)
            if (result.outcome is Outcome.RETRY_AFTER and pauses < MAX_PAUSES
                    and result.retry_after <= MAX_LANE_PAUSE):
                pauses += 1
                await asyncio.sleep(max(result.retry_after, 0.05))
                continue
            if result.outcome in (Outcome.REFUSED, Outcome.UNSENDABLE, Outcome.UNCERTAIN):
                log.warning("outbox %s %s: %s", row.id, result.outcome.value, result.error)
            wait = retry_delay(result, row.attempts)
            await self._mark_failed(row.id, result.error, wait)
            return result.outcome, wait

    async def release(self, row_ids: Sequence[int]) -> None:
        """Hand rows this instance claimed but will not send back to every instance now."""
        await self._postpone_many(row_ids, self.clock.now())

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

    async def _postpone_many(self, row_ids: Sequence[int], until: datetime) -> None:
        async with self.uow() as uow:
            for row_id in row_ids:
                await uow.outbox.postpone(row_id, until)
            await uow.commit()


class DeliveryLoop:
    """Delivers continuously: claims due rows when woken (a commit queued some) or every
    `interval` seconds, while fewer than `low_water` rows are held, and feeds them to lanes
    that run side by side; renews the lease of every row it holds."""

    def __init__(self, outbox: OutboxService, interval: float = 1.0, *, batch: int = 100,
                 low_water: int = 60) -> None:
        self.outbox = outbox
        self.interval = interval
        self.batch = batch
        self.low_water = low_water
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._lanes: dict[LaneKey, deque[OutboxMessage]] = {}
        self._lane_tasks: dict[LaneKey, asyncio.Task[None]] = {}
        self._held: set[int] = set()
        self._claiming = False  # a pass is claiming rows (not yet in lanes)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def held(self) -> int:
        """How many claimed rows this instance holds (queued in lanes or being sent)."""
        return len(self._held)

    async def idle(self, timeout: float = 30.0) -> None:
        """Wait until this instance holds no claimed rows (no claim in progress, every lane
        has finished)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while ((self._claiming or self._held or self._lane_tasks)
               and loop.time() < deadline):
            await asyncio.sleep(0.01)

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
        """Let the sends in progress finish (up to `grace` seconds), then end the loop; rows
        still queued in lanes are handed back (due now, for whichever instance runs)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self.wake()
        waiting = [row.id for lane in self._lanes.values() for row in lane]
        for lane in self._lanes.values():
            lane.clear()  # only the send in progress per lane finishes
        self._held.difference_update(waiting)
        if waiting:  # hand them back at once rather than after the lease
            try:
                await self.outbox.release(waiting)
            except Exception:
                log.exception("could not hand back %d outbox rows; they go out after the "
                              "lease", len(waiting))
        lanes = list(self._lane_tasks.values())
        try:
            await asyncio.wait_for(asyncio.gather(task, *lanes, return_exceptions=True), grace)
        except TimeoutError:
            log.warning("outbox delivery did not stop within %.0f s; cancelled", grace)
        self._wakeup = None
        self._lanes.clear()
        self._lane_tasks.clear()
        self._held.clear()

    async def _loop(self) -> None:
        assert self._wakeup is not None
        wakeup = self._wakeup
        loop = asyncio.get_running_loop()
        renewed = loop.time()
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), self.interval)
            wakeup.clear()
            if self._stopping:
                return
            try:
                if loop.time() - renewed >= RENEW_EVERY:
                    renewed = loop.time()
                    await self.outbox.renew(set(self._held))
                if len(self._held) < self.low_water:
                    self._claiming = True
                    self._dispatch(await self.outbox.claim(self.batch))
            except Exception:
                log.exception("outbox delivery failed; the next pass retries")
            finally:
                self._claiming = False

    def _dispatch(self, rows: list[OutboxMessage]) -> None:
        for row in rows:
            self._held.add(row.id)
            key = lane_of(row)
            lane = self._lanes.get(key)
            if lane is None:
                lane = self._lanes[key] = deque()
            lane.append(row)
            if key not in self._lane_tasks:
                self._lane_tasks[key] = asyncio.create_task(self._run_lane(key, lane),
                                                            name=f"outbox-lane-{key[1]}")

    async def _run_lane(self, key: LaneKey, lane: deque[OutboxMessage]) -> None:
        try:
            while lane:
                try:
                    await self.outbox.deliver_lane(lane, self._held)
                except Exception:
                    log.exception("outbox lane %s failed; its rows go out after the lease",
                                  key)
                    self._held.difference_update(r.id for r in lane)
                    lane.clear()
        finally:
            self._lane_tasks.pop(key, None)
            if self._lanes.get(key) is lane:
                del self._lanes[key]
            if not self._stopping and len(self._held) < self.low_water:
                self.wake()  # room for more
