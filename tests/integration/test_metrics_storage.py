"""The /metrics snapshot on real databases: cases by status and each channel's backlog, from
two grouped queries, with the same answers the fakes give."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.metrics import snapshot
from bot.ports import DINGTALK, TELEGRAM, Backlog, Notice
from tests.support.fakes import FakeClock, FakeStore, FakeUnitOfWorkFactory
from tests.support.services import filing, tip

pytestmark = pytest.mark.postgres


async def test_the_snapshot_counts_cases_by_status_and_the_backlog_per_channel(
        services) -> None:  # type: ignore[no-untyped-def]
    service, clock, _ = services
    for user in (1001, 1002):
        await filing(service).file_tip(tip(user))
    now = clock.now()
    fake = FakeUnitOfWorkFactory(FakeStore())
    for factory in (service.uow, fake):
        async with factory() as uow:
            await uow.outbox.enqueue(5, "assigned", Notice.plain("a"), now - timedelta(minutes=3))
            await uow.outbox.enqueue(1, "supervised", Notice.plain("b"), now - timedelta(
                minutes=1), channel=DINGTALK)
            await uow.outbox.enqueue(1, "report.half", Notice.plain("c"), now,
                                     channel=DINGTALK, not_before=now + timedelta(hours=8))
            await uow.commit()
    taken = await snapshot(service.uow, clock)
    assert taken.cases == {"assigned": 2}
    # Filing queued each parent's reference (leased to the replying handler for a while, so
    # not due yet) and each supervisor's notice.
    queued_by_filing = taken.outbox[TELEGRAM].pending - 1
    assert taken.outbox[TELEGRAM] == Backlog(1 + queued_by_filing, 1 + queued_by_filing - 2,
                                             taken.outbox[TELEGRAM].oldest_due)
    assert taken.outbox[TELEGRAM].oldest_due == now - timedelta(minutes=3)
    assert taken.outbox[DINGTALK] == Backlog(2, 1, now - timedelta(minutes=1))
    assert taken.oldest_due_seconds(DINGTALK) == 60
    faked = await snapshot(fake, FakeClock(now))  # type: ignore[arg-type]
    assert faked.outbox[DINGTALK] == taken.outbox[DINGTALK]
    assert faked.outbox[TELEGRAM].oldest_due == taken.outbox[TELEGRAM].oldest_due
