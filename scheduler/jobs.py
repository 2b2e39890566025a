"""APScheduler jobs: ask the reminder service what is due; the outbox service sends it.
Beside it, `ScheduledJob`s run other services the same way: the reports that arrive by
themselves (bot/report_delivery.py) and the evidence retention run (bot/evidence.py).

The job decides nothing itself. Because the service derives every reminder from the
database and dedups it in the outbox, a missed run (downtime), a late run, a restart or a
second instance running the same job all end with each reminder queued once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.reminders import ReminderRun, ReminderService
from bot.retrain import RetrainService

log = logging.getLogger(__name__)
STOP_WAIT_SECONDS = 5.0
T = TypeVar("T")


@dataclass(frozen=True)
class ScheduledJob:
    """Another service run on an interval; it decides from the database what to do, so a
    missed or repeated run is harmless. A failure is logged and the next run tries again."""

    name: str
    run: Callable[[], Awaitable[object]]
    interval_seconds: float


class ReminderScheduler:
    """Interval jobs on an AsyncIOScheduler, started inside the running event loop: the
    reminders, and any `jobs` beside them."""

    def __init__(self, reminders: ReminderService, interval_seconds: float = 60.0,
                 jobs: Sequence[ScheduledJob] = ()) -> None:
        self.reminders = reminders
        self.interval_seconds = interval_seconds
        self.jobs = tuple(jobs)
        self.runs = 0
        self._scheduler: AsyncIOScheduler | None = None
        self._running: set[asyncio.Future[Any]] = set()

    def start(self) -> None:
        """Run the job now and then every `interval_seconds` (needs a running loop)."""
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        # coalesce + one instance: a slow run is never overlapped, missed runs collapse
        # into one; misfire_grace_time=None runs a late job rather than dropping it.
        self._scheduler.add_job(self.run_once, "interval", seconds=self.interval_seconds,
                                next_run_time=datetime.now(UTC), id="reminders",
                                max_instances=1, coalesce=True, misfire_grace_time=None)
        for job in self.jobs:
            self._scheduler.add_job(self.run_job, "interval", args=[job],
                                    seconds=job.interval_seconds,
                                    next_run_time=datetime.now(UTC), id=job.name,
                                    max_instances=1, coalesce=True, misfire_grace_time=None)
        self._scheduler.start()

    async def run_job(self, job: ScheduledJob) -> object | None:
        """One run of another job; a failure is logged and the next run tries again."""
        result = await self._shielded(job.name, job.run)
        if result:
            log.info("%s: %s", job.name, result)
        return result

    async def run_once(self) -> ReminderRun | None:
        """One pass; a failure is logged and the next pass tries again."""
        try:
            result = await self._shielded("reminder", self.reminders.run)
        finally:
            self.runs += 1
        if result is not None and result != ReminderRun():
            log.info("reminders queued: %s", result)
        return result

    async def _shielded(self, name: str, run: Callable[[], Awaitable[T]]) -> T | None:
        """Run a pass as a task of its own: APScheduler cancels what runs when it shuts down,
        and a pass cut off inside a transaction would leave its connection half closed; the
        pass finishes instead, and `stop` waits for it."""
        task = asyncio.ensure_future(run())
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            log.info("%s run: the scheduler stopped; the pass finishes first", name)
            return None
        except Exception:
            log.exception("%s run failed; the next run will retry", name)
            return None

    def shutdown(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None

    async def stop(self) -> None:
        """Shut down and wait (briefly) for the passes still running to finish, so the engine
        is disposed after them, not under them."""
        self.shutdown()
        running = {task for task in self._running if not task.done()}
        if running:
            await asyncio.wait(running, timeout=STOP_WAIT_SECONDS)


class RetrainJob:
    """Retrain every `days` days, counted from the last attempt (kept beside the model
    versions, so restarts do not postpone it forever nor repeat it); one at a time.

    The training itself runs in a worker thread inside `RetrainService.run`, so the event
    loop keeps serving while it lasts."""

    def __init__(self, service: RetrainService, days: float) -> None:
        self.service = service
        self.days = days
        self._scheduler: AsyncIOScheduler | None = None

    def start(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_job(self.run_once, "interval", seconds=self.days * 86400,
                                next_run_time=self.first_run(datetime.now(UTC)),
                                id="retrain", max_instances=1, coalesce=True,
                                misfire_grace_time=None)
        self._scheduler.start()

    def first_run(self, now: datetime) -> datetime:
        """A period after the last attempt; a period from now if there was none; never in
        the first minutes after a start (the bot comes up first)."""
        period = timedelta(days=self.days)
        last = self.service.last_attempt()
        due = last + period if last is not None else now + period
        return max(due, now + timedelta(minutes=5))

    async def run_once(self) -> object:
        """One retraining; a failure is logged (and told to staff by the service)."""
        if self.service.running:
            return None
        try:
            return await self.service.run()
        except Exception:
            log.exception("scheduled retraining failed; the next run will retry")
            return None

    def shutdown(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
