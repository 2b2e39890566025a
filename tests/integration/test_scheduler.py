"""The real APScheduler job, driven by a clock the test moves (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date

import pytest

from bot.reminders import ReminderRun
from scheduler.jobs import ReminderScheduler
from tests.support.reminders import DEADLINE, at, rectifying, reminders, rows

pytestmark = pytest.mark.postgres


async def until(check: Callable[[], Awaitable[object]], timeout: float = 10.0) -> None:
    """Wait until `check()` returns something truthy (the job runs on its own schedule)."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


async def test_the_scheduled_job_queues_each_ping_once_as_days_pass(services) -> None:
    service, clock, engine = services
    await rectifying(service)
    clock.current = at(date(2026, 12, 7))
    job = ReminderScheduler(reminders(service), interval_seconds=0.05)
    job.start()
    try:
        await until(lambda: rows(engine, "ping.soon"))
        clock.current = at(DEADLINE)
        await until(lambda: rows(engine, "ping.today"))
        runs = job.runs
        await until(lambda: asyncio.sleep(0, job.runs >= runs + 5))  # it keeps running
    finally:
        job.shutdown()
    assert [r.kind for r in await rows(engine, "ping.")] == ["ping.soon", "ping.today"]


class FlakyReminders:
    """A reminder service whose first run fails (say, the database restarting)."""

    def __init__(self) -> None:
        self.calls = 0

    async def run(self) -> ReminderRun:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("database restarting")
        return ReminderRun(pings=1)


async def test_a_failed_run_is_logged_and_the_next_one_goes_ahead(
        caplog: pytest.LogCaptureFixture) -> None:
    flaky = FlakyReminders()
    job = ReminderScheduler(flaky, interval_seconds=0.05)  # type: ignore[arg-type]
    job.start()
    try:
        await until(lambda: asyncio.sleep(0, flaky.calls >= 3))
    finally:
        job.shutdown()
    assert "reminder run failed" in caplog.text
