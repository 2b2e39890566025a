"""The outbox policy on its own: a fake store, a fake sender and a clock moved by hand."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.outbox import (
    BLOCKED_RETRY,
    LEASE,
    REFUSED_RETRY,
    DeliveryLoop,
    OutboxService,
    SendResult,
    retry_delay,
)
from bot.timerules import QuietHours

TZ = ZoneInfo("Asia/Shanghai")
STAFF_NIGHT, STAFF_DAY, PARENT = 301, 302, 401


@dataclass
class Row:
    id: int
    chat_id: int
    kind: str = "assigned"
    text: str = "通知"
    markup: dict[str, Any] | None = None
    attempts: int = 0
    not_before: datetime = datetime(2026, 1, 1, tzinfo=TZ)
    sent_at: datetime | None = None
    last_error: str = ""
    channel: str = "telegram"


@dataclass
class StaffPerson:
    telegram_user_id: int | None
    night_pings: bool


@dataclass
class Store:
    """The outbox table and its staff, shared by every unit of work."""

    rows: list[Row] = field(default_factory=list)
    staff: list[StaffPerson] = field(default_factory=lambda: [
        StaffPerson(STAFF_NIGHT, True), StaffPerson(STAFF_DAY, False)])
    commits: int = 0
    renewals: list[list[int]] = field(default_factory=list)

    def add(self, chat_id: int, kind: str = "assigned", attempts: int = 0) -> Row:
        row = Row(len(self.rows) + 1, chat_id, kind, attempts=attempts)
        self.rows.append(row)
        return row

    async def has_due(self, now: datetime) -> bool:
        return any(r.sent_at is None and r.not_before <= now for r in self.rows)

    async def claim_due(self, now: datetime, lease: timedelta, limit: int = 100) -> list[Row]:
        due = [r for r in self.rows if r.sent_at is None and r.not_before <= now][:limit]
        for row in due:
            row.not_before = now + lease
        return due

    async def mark_sent(self, row_id: int, now: datetime) -> None:
        self.rows[row_id - 1].sent_at = now

    async def mark_failed(self, row_id: int, error: str, retry_at: datetime) -> None:
        row = self.rows[row_id - 1]
        row.attempts += 1
        row.last_error = error
        row.not_before = retry_at

    async def postpone(self, row_id: int, until: datetime) -> None:
        self.rows[row_id - 1].not_before = until

    async def renew(self, row_ids: list[int], until: datetime) -> None:
        self.renewals.append(list(row_ids))
        for row_id in row_ids:
            row = self.rows[row_id - 1]
            if row.sent_at is None and row.not_before < until:
                row.not_before = until

    async def people(self, role: str | None = None) -> list[StaffPerson]:
        return list(self.staff) if role == "staff" else []


class FakeUow:
    def __init__(self, store: Store) -> None:
        self.outbox = self.directory = store
        self.store = store

    async def __aenter__(self) -> FakeUow:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def commit(self) -> None:
        self.store.commits += 1


class FakeUowFactory:
    def __init__(self, store: Store) -> None:
        self.store = store

    def __call__(self) -> FakeUow:
        return FakeUow(self.store)

    def read(self) -> FakeUow:
        return FakeUow(self.store)


@dataclass
class Clock:
    current: datetime

    def now(self) -> datetime:
        return self.current


@dataclass
class Sender:
    """Answers with the next scripted result (sent when the script is empty)."""

    script: list[SendResult] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    silent: list[int] = field(default_factory=list)

    async def send(self, message: Any, *, silent: bool = False) -> SendResult:
        result = self.script.pop(0) if self.script else SendResult.sent()
        if result == SendResult.sent():
            self.sent.append(message.id)
            if silent:
                self.silent.append(message.id)
        return result


def service(store: Store, at: datetime, sender: Sender) -> tuple[OutboxService, Clock]:
    clock = Clock(at)
    return OutboxService(FakeUowFactory(store), clock, QuietHours(), TZ, sender), clock  # type: ignore[arg-type]


DAY = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
NIGHT = datetime(2026, 11, 23, 23, 30, tzinfo=TZ)
MORNING = datetime(2026, 11, 24, 7, 0, tzinfo=TZ)


async def test_by_day_everything_due_is_sent_and_marked_with_one_commit_per_row() -> None:
    store, sender = Store(), Sender()
    for chat in (PARENT, STAFF_DAY, STAFF_NIGHT):
        store.add(chat)
    outbox, _ = service(store, DAY, sender)
    assert await outbox.run_once() == 3
    assert sender.sent == [1, 2, 3]
    assert all(r.sent_at == DAY for r in store.rows)
    assert store.commits == 1 + 3  # the claim, then each row on its own
    assert await outbox.run_once() == 0


async def test_quiet_hours_hold_scheduled_pings_until_morning_except_for_night_staff() -> None:
    store, sender = Store(), Sender()
    ping = store.add(PARENT, kind="ping.due")
    day_staff = store.add(STAFF_DAY, kind="coverage")
    night_staff = store.add(STAFF_NIGHT, kind="report.half")
    reply = store.add(PARENT, kind="filed")
    outbox, clock = service(store, NIGHT, sender)
    assert await outbox.run_once() == 2
    assert sorted(sender.sent) == [night_staff.id, reply.id]  # chats go side by side
    assert sender.silent == []  # opted-in staff and a waiting user hear it as by day
    assert ping.sent_at is None and day_staff.sent_at is None
    assert ping.not_before == day_staff.not_before == MORNING
    assert ping.attempts == 0  # held back, not failed
    clock.current = MORNING
    assert await outbox.run_once() == 2
    assert ping.sent_at == day_staff.sent_at == MORNING


async def test_at_night_a_notice_caused_by_someone_s_action_goes_at_once_without_sound(
        ) -> None:
    store, sender = Store(), Sender()
    routed = store.add(PARENT, kind="routed")  # a parent filed: the supervisor hears now
    approved = store.add(PARENT, kind="approved")
    escalated = store.add(STAFF_DAY, kind="staff.escalated")  # the scheduler's 督办 waits
    outbox, _ = service(store, NIGHT, sender)
    assert await outbox.run_once() == 2
    assert sender.sent == sender.silent == [routed.id, approved.id]  # one chat: in order
    assert escalated.sent_at is None and escalated.not_before == MORNING
    by_day, day_sender = Store(), Sender()
    by_day.add(PARENT, kind="routed")
    outbox, _ = service(by_day, DAY, day_sender)
    assert await outbox.run_once() == 1 and day_sender.silent == []


async def test_a_night_opt_in_only_counts_for_bound_staff() -> None:
    store, sender = Store(staff=[StaffPerson(None, True)]), Sender()
    row = store.add(STAFF_NIGHT, kind="ping.due")
    outbox, _ = service(store, NIGHT, sender)
    assert await outbox.run_once() == 0
    assert row.not_before == MORNING


@pytest.mark.parametrize(("result", "attempts", "wait"), [
    (SendResult.slow_down(600), 0, timedelta(seconds=600)),  # too long to hold the lane
    (SendResult.blocked("Forbidden: bot was blocked by the user"), 0, BLOCKED_RETRY),
    (SendResult.refused("Bad Request: chat not found"), 0, REFUSED_RETRY),
    (SendResult.failed("timed out"), 0, timedelta(seconds=5)),
    (SendResult.failed("timed out"), 3, timedelta(seconds=40)),
    (SendResult.failed("timed out"), 20, timedelta(hours=1)),
])
async def test_each_failure_waits_its_own_time_and_counts_an_attempt(
        result: SendResult, attempts: int, wait: timedelta) -> None:
    store = Store()
    row = store.add(PARENT, attempts=attempts)
    outbox, clock = service(store, DAY, Sender([result]))
    assert await outbox.run_once() == 0
    assert row.sent_at is None
    assert row.attempts == attempts + 1 and row.last_error == result.error
    assert row.not_before == DAY + wait
    assert retry_delay(result, attempts) == wait
    clock.current = DAY + wait - timedelta(seconds=1)
    assert await outbox.run_once() == 0
    clock.current = DAY + wait
    assert await outbox.run_once() == 1 and row.sent_at == DAY + wait


async def test_one_failure_does_not_stop_the_rows_after_it() -> None:
    store = Store()
    first, second = store.add(PARENT), store.add(STAFF_DAY)
    outbox, _ = service(store, DAY, Sender([SendResult.blocked("blocked")]))
    assert await outbox.run_once() == 1
    assert first.sent_at is None and second.sent_at == DAY


async def test_claimed_rows_are_leased_so_a_crash_means_late_not_lost() -> None:
    store = Store()
    row = store.add(PARENT)

    class Crashing(Sender):
        async def send(self, message: Any, *, silent: bool = False) -> SendResult:
            raise RuntimeError("process died mid-send")

    outbox, clock = service(store, DAY, Crashing())
    with pytest.raises(RuntimeError):
        await outbox.run_once()
    assert row.sent_at is None and row.not_before == DAY + LEASE
    outbox.sender = Sender()
    assert await outbox.run_once() == 0  # another instance keeps off while the lease runs
    clock.current = DAY + LEASE
    assert await outbox.run_once() == 1


async def test_the_loop_sends_when_woken_and_stops_cleanly() -> None:
    store, sender = Store(), Sender()
    outbox, _ = service(store, DAY, sender)
    loop = DeliveryLoop(outbox, interval=3600)  # only a wake-up makes it run
    loop.start()
    await asyncio.sleep(0.05)  # the first pass finds nothing
    store.add(PARENT)
    loop.wake()
    for _ in range(50):
        if sender.sent:
            break
        await asyncio.sleep(0.01)
    assert sender.sent == [1]
    await loop.stop()
    assert not loop.running
    store.add(PARENT)
    loop.wake()  # a stopped loop ignores wake-ups
    await asyncio.sleep(0.05)
    assert sender.sent == [1]


@dataclass
class SlowSender(Sender):
    """Takes `delay` seconds for chat `slow`; logs (chat, start, end) of each send."""

    slow: int = 0
    delay: float = 0.0
    log: list[tuple[int, float, float]] = field(default_factory=list)

    async def send(self, message: Any, *, silent: bool = False) -> SendResult:
        loop = asyncio.get_running_loop()
        start = loop.time()
        if message.chat_id == self.slow:
            await asyncio.sleep(self.delay)
        result = await super().send(message, silent=silent)
        self.log.append((message.chat_id, start, loop.time()))
        return result


async def test_a_slow_chat_holds_up_only_itself_and_each_chat_stays_in_order() -> None:
    store = Store()
    slow = [store.add(PARENT) for _ in range(3)]
    others = [store.add(1000 + i) for i in range(5)]
    sender = SlowSender(slow=PARENT, delay=0.2)
    outbox, _ = service(store, DAY, sender)
    assert await outbox.run_once() == 8
    slow_ends = [end for chat, _, end in sender.log if chat == PARENT]
    other_ends = [end for chat, _, end in sender.log if chat != PARENT]
    assert max(other_ends) < min(slow_ends)  # nobody waited for the slow chat
    assert [i for i in sender.sent if i in {r.id for r in slow}] == [r.id for r in slow]
    assert all(r.sent_at == DAY for r in slow + others)


async def test_a_short_429_pauses_its_own_lane_then_sends_the_same_row_in_order() -> None:
    store = Store()
    first, second = store.add(PARENT), store.add(PARENT)
    other = store.add(STAFF_DAY)
    sender = Sender([SendResult.slow_down(0.2)])
    outbox, _ = service(store, DAY, sender)
    assert await outbox.run_once() == 3
    assert sender.sent.index(first.id) < sender.sent.index(second.id)
    assert sender.sent[0] == other.id  # the other chat did not wait for the pause
    assert first.attempts == 0  # waited out, not failed


async def test_a_failure_hands_the_rest_of_its_chat_back_so_order_holds() -> None:
    store = Store()
    first, second = store.add(PARENT), store.add(PARENT)
    outbox, clock = service(store, DAY, Sender([SendResult.failed("502 Bad Gateway")]))
    assert await outbox.run_once() == 0
    assert first.not_before == second.not_before == DAY + timedelta(seconds=5)
    assert (first.attempts, second.attempts) == (1, 0)
    clock.current = DAY + timedelta(seconds=5)
    sender = Sender()
    outbox.sender = sender
    assert await outbox.run_once() == 2 and sender.sent == [first.id, second.id]


async def test_leases_are_renewed_while_rows_are_held(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.outbox.RENEW_EVERY", 0.05)
    store = Store()
    rows = [store.add(PARENT) for _ in range(2)]
    outbox, clock = service(store, DAY, SlowSender(slow=PARENT, delay=0.2))
    clock.current = DAY + timedelta(seconds=1)
    assert await outbox.run_once() == 2
    assert store.renewals  # the second row waited 0.2 s behind the first: renewed meanwhile
    assert all(r.sent_at is not None for r in rows)


async def test_the_loop_keeps_lanes_going_while_it_claims_more() -> None:
    store = Store()
    for _ in range(3):
        store.add(PARENT)
    sender = SlowSender(slow=PARENT, delay=0.1)
    outbox, _ = service(store, DAY, sender)
    loop = DeliveryLoop(outbox, interval=3600, batch=2, low_water=10)
    loop.start()
    for _ in range(50):
        if len(sender.sent) >= 1:
            break
        await asyncio.sleep(0.01)
    others = [store.add(2000 + i) for i in range(4)]
    loop.wake()
    for _ in range(200):
        if len(sender.sent) == 7:
            break
        await asyncio.sleep(0.01)
    await loop.stop()
    assert sorted(sender.sent) == list(range(1, 8))
    assert [i for i in sender.sent if i <= 3] == [1, 2, 3]
    assert all(r.sent_at == DAY for r in others) and loop.held == 0


async def test_stopping_hands_back_what_was_waiting_in_lanes() -> None:
    store = Store()
    rows = [store.add(PARENT) for _ in range(3)]
    sender = SlowSender(slow=PARENT, delay=0.2)
    outbox, _ = service(store, DAY, sender)
    loop = DeliveryLoop(outbox, interval=3600)
    loop.start()
    for _ in range(100):
        if loop.held == 3:
            break
        await asyncio.sleep(0.01)
    await loop.stop()  # the first send finishes; the two behind it are due again at once
    assert rows[0].sent_at == DAY
    assert [(r.sent_at, r.not_before) for r in rows[1:]] == [(None, DAY), (None, DAY)]


class SlowClaimStore(Store):
    """Claims take a while, as they do on a busy database."""

    async def claim_due(self, now: datetime, lease: timedelta, limit: int = 100) -> list[Row]:
        rows = await super().claim_due(now, lease, limit)
        await asyncio.sleep(0.1)
        return rows


async def test_idle_waits_for_a_claim_in_flight_so_a_morning_row_goes_once() -> None:
    """A test (or a shutdown) that waits for the loop to be idle must not slip in while the
    loop is claiming: rows it claimed at night would otherwise be sent, and claimed again,
    after the clock moved to the morning."""
    store, sender = SlowClaimStore(), Sender()
    outbox, clock = service(store, NIGHT, sender)
    loop = DeliveryLoop(outbox, interval=3600)
    loop.start()
    await asyncio.sleep(0.2)  # the first pass found nothing
    store.add(PARENT, kind="ping.due")
    loop.wake()
    await asyncio.sleep(0.02)  # the loop is claiming now
    await loop.idle()
    assert sender.sent == [] and store.rows[0].not_before == MORNING
    clock.current = MORNING + timedelta(seconds=1)
    assert await outbox.run_once(wait=True) == 1
    await loop.idle()
    await loop.stop()
    assert sender.sent == [1]
