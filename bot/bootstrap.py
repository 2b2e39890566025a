"""The composition root: settings in, wired services out. Nothing else builds engines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.filing import FilingService, Rules
from bot.invites import InviteService
from bot.ports import Clock
from bot.reminders import ReminderService
from bot.services import CaseService, SystemClock
from storage.db import create_async_db_engine
from storage.migrate import upgrade
from storage.uow import UnitOfWorkFactory


@dataclass
class Container:
    settings: Settings
    engine: AsyncEngine
    clock: Clock
    cases: CaseService
    filing: FilingService
    invites: InviteService
    uow: UnitOfWorkFactory
    reminders: ReminderService
    # Called after any commit that queued messages (the Telegram deliverer registers here).
    outbox_listeners: list[Callable[[], None]] = field(default_factory=list)

    async def close(self) -> None:
        await self.engine.dispose()


def migrate(settings: Settings) -> None:
    """Bring the configured database to the newest schema (blocking; call before the loop)."""
    upgrade(settings.database.url)


def build(settings: Settings, *, clock: Clock | None = None, threshold: float = 0.5) -> Container:
    """Wire engine, unit of work and services for `settings`."""
    engine = create_async_db_engine(settings.database.url)
    clock = clock or SystemClock(settings.tz)

    listeners: list[Callable[[], None]] = []

    def notify_listeners() -> None:
        for listener in listeners:
            listener()

    uow = UnitOfWorkFactory(engine, on_outbox=notify_listeners)

    rules = Rules(reference_prefix=settings.cases.reference_prefix,
                  tips_per_hour=settings.cases.tips_per_hour,
                  accept_working_days=settings.time_rules.accept_working_days,
                  threshold=settings.classifier.threshold
                  if settings.classifier.threshold is not None else threshold)
    cases = CaseService(uow, clock)
    return Container(settings=settings, engine=engine, clock=clock, cases=cases,
                     filing=FilingService(cases, rules),
                     invites=InviteService(uow, clock), uow=uow,
                     reminders=ReminderService(uow, cases, settings.time_rules, settings.tz),
                     outbox_listeners=listeners)


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
