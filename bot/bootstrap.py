"""The composition root: settings in, the whole wired container out, with a life cycle.

`build` wires every service; `await container.start()` starts what runs (the entity
resolver's directory, the reminder scheduler, outbox delivery when a sender is attached) and
`await container.stop()` stops it and disposes the engine. Telegram's post_init/post_shutdown,
the webhook server, the sandbox and the command line all call these same two.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.filing import FilingService, Rules
from bot.incoming import IncomingUpdates
from bot.intake import IntakeService
from bot.invites import InviteService
from bot.merging import MergingService
from bot.office import OfficeRules, OfficeService
from bot.outbox import DeliveryLoop, OutboxService, Sender
from bot.parents import ParentService
from bot.ports import Clock
from bot.reminders import ReminderService
from bot.reporting import ReportingRules, ReportingService
from bot.services import CaseService, SystemClock
from bot.supervision import SupervisionRules, SupervisionService
from bot.timerules import QuietHours
from bot.triage import TriageService
from scheduler.jobs import ReminderScheduler
from storage.db import create_async_db_engine
from storage.db import safe_url as safe_url
from storage.migrate import upgrade
from storage.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)
DEFAULT_THRESHOLD = 0.5


@dataclass
class Container:
    settings: Settings
    engine: AsyncEngine
    clock: Clock
    uow: UnitOfWorkFactory
    cases: CaseService
    filing: FilingService
    invites: InviteService
    office: OfficeService
    supervision: SupervisionService
    triage: TriageService
    merging: MergingService
    parents: ParentService
    reporting: ReportingService
    reminders: ReminderService
    outbox: OutboxService
    delivery: DeliveryLoop
    intake: IntakeService | None = None  # None where no classifier is loaded (most CLI)
    scheduler: ReminderScheduler | None = None  # None when the interval is 0
    incoming: IncomingUpdates | None = None  # webhook redeliveries taken in once

    def attach_sender(self, sender: Sender) -> None:
        """Give delivery its transport (Telegram's bot exists only once its app is built)."""
        self.outbox.sender = sender

    async def start(self) -> None:
        """Start what runs: directory in the resolver, reminders, delivery (with a sender)."""
        if self.intake is not None:
            count = await self.intake.load_directory(self.uow())
            log.info("entity resolver loaded %d directory entries", count)
        if self.scheduler is not None:
            self.scheduler.start()
        if self.outbox.sender is not None:
            self.delivery.start()

    async def stop(self) -> None:
        """Stop delivery and reminders (what is queued is sent on the next start); dispose."""
        await self.delivery.stop()
        if self.scheduler is not None:
            self.scheduler.shutdown()
        await self.engine.dispose()


class DatabaseUnavailable(Exception):
    """The database's file or folder cannot be created (SQLite); the message is the reason."""


def migrate(settings: Settings) -> None:
    """Bring the configured database to the newest schema (blocking; call before the loop)."""
    try:
        upgrade(settings.database.url)
    except OSError as exc:  # e.g. the SQLite file's folder cannot be created
        raise DatabaseUnavailable(f"{type(exc).__name__}: {exc}") from exc


_CONNECTING = ("connect", "unable to open database", "could not translate host", "timeout",
               "password authentication", "does not exist", "name or service")


def connection_failure(exc: BaseException) -> str | None:
    """The driver's one-line reason if `exc` is a failure to reach the database, else None."""
    if isinstance(exc, DatabaseUnavailable):
        return str(exc)
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return None
    text = " ".join(str(exc.orig or exc).split())
    if not any(word in text.lower() for word in _CONNECTING):
        return None
    return text[:300]


def build(settings: Settings, *, clock: Clock | None = None, classifier: Any = None,
          sender: Sender | None = None) -> Container:
    """Wire engine, unit of work, every service and the scheduler for `settings`.

    `classifier` (a loaded model) enables intake; `sender` enables outbox delivery.
    """
    engine = create_async_db_engine(settings.database.url)
    clock = clock or SystemClock(settings.tz)
    delivery: DeliveryLoop | None = None

    def wake() -> None:  # called by every commit that queued messages
        if delivery is not None:
            delivery.wake()

    uow = UnitOfWorkFactory(engine, on_outbox=wake)
    threshold = settings.classifier.threshold
    if threshold is None:
        threshold = float(classifier.threshold) if classifier is not None else DEFAULT_THRESHOLD
    time_rules, case_rules = settings.time_rules, settings.cases
    cases = CaseService(uow, clock)
    filing = FilingService(cases, Rules(
        reference_prefix=case_rules.reference_prefix, tips_per_hour=case_rules.tips_per_hour,
        accept_working_days=time_rules.accept_working_days, threshold=threshold,
        reply_lease=timedelta(seconds=settings.delivery.reply_lease_seconds)))
    office = OfficeService(uow, clock, cases, OfficeRules(
        tz=settings.tz, duplicate_window_days=case_rules.duplicate_window_days,
        accept_working_days=time_rules.accept_working_days,
        propose_working_days=time_rules.propose_working_days,
        decide_working_days=time_rules.decide_working_days))
    supervision = SupervisionService(uow, clock, cases, SupervisionRules(
        tz=settings.tz, accept_working_days=time_rules.accept_working_days,
        propose_working_days=time_rules.propose_working_days,
        rectify_default_days=time_rules.rectify_default_days,
        duplicate_window_days=case_rules.duplicate_window_days))
    reminders = ReminderService(uow, cases, time_rules, settings.tz)
    outbox = OutboxService(uow, clock, QuietHours(time_rules.quiet_start, time_rules.quiet_end),
                           settings.tz, sender)
    delivery = DeliveryLoop(outbox)
    interval = settings.scheduler.interval_seconds
    return Container(
        settings=settings, engine=engine, clock=clock, uow=uow, cases=cases, filing=filing,
        invites=InviteService(uow, clock), office=office, supervision=supervision,
        triage=TriageService(uow, cases), merging=MergingService(uow, clock),
        parents=ParentService(cases),
        reporting=ReportingService(uow, clock, ReportingRules(
            tz=settings.tz, accept_working_days=time_rules.accept_working_days,
            propose_working_days=time_rules.propose_working_days)),
        reminders=reminders, outbox=outbox, delivery=delivery,
        incoming=IncomingUpdates(uow, clock),
        intake=IntakeService(classifier) if classifier is not None else None,
        scheduler=ReminderScheduler(reminders, interval) if interval > 0 else None)


@asynccontextmanager
async def open_container(settings: Settings, **options: Any) -> AsyncIterator[Container]:
    """Migrate and build a container for a command; always stop it (engine disposed) after."""
    await asyncio.to_thread(migrate, settings)
    container = build(settings, **options)
    try:
        yield container
    finally:
        await container.stop()


def directory_files(paths: list[str]) -> list[Path]:
    """Expand folders into the CSV/XLSX files they hold, in a stable order."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir()
                                if p.suffix.lower() in (".csv", ".xlsx")))
        else:
            files.append(path)
    return files
