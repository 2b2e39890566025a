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
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels import ChannelSender
from bot.config import PROJECT_ROOT, Settings
from bot.console import ConsoleService
from bot.documents import DocumentRules, DocumentService
from bot.evidence import EvidenceService
from bot.evidence_store import EvidenceStore
from bot.filing import FilingService, Rules
from bot.hotspots import HotspotRules, HotspotService
from bot.incoming import IncomingUpdates
from bot.intake import IntakeService
from bot.invites import InviteService
from bot.merging import MergingService
from bot.metrics import Snapshot, TimedClassifier, snapshot
from bot.office import OfficeRules, OfficeService
from bot.outbox import DeliveryLoop, OutboxService, Sender
from bot.parents import ParentService
from bot.ports import TELEGRAM, Clock
from bot.reminders import ReminderService
from bot.report_delivery import ReportDelivery
from bot.reporting import ReportingRules, ReportingService
from bot.retrain import RetrainRules, RetrainService
from bot.services import CaseService, SystemClock
from bot.supervision import SupervisionRules, SupervisionService
from bot.timerules import QuietHours
from bot.triage import TriageService
from bot.web_login import WebLoginService
from bot.workcalendar import CalendarFolder, CalendarService
from handlers.metrics import PrometheusMetrics
from handlers.robots import robot_routes, robot_senders
from scheduler.jobs import ReminderScheduler, RetrainJob, ScheduledJob
from storage.db import create_async_db_engine
from storage.db import safe_url as safe_url
from storage.migrate import upgrade
from storage.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)
DEFAULT_THRESHOLD = 0.5
EVIDENCE_RETENTION_SECONDS = 3600.0  # the retention run: hourly is plenty for days


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
    evidence: EvidenceService
    documents: DocumentService
    report_delivery: ReportDelivery
    hotspots: HotspotService
    calendar: CalendarService
    web_login: WebLoginService
    console: ConsoleService
    intake: IntakeService | None = None  # None where no classifier is loaded (most CLI)
    scheduler: ReminderScheduler | None = None  # None when the interval is 0
    metrics: PrometheusMetrics = field(default_factory=PrometheusMetrics)
    robots: dict[str, Sender] = field(default_factory=dict)  # channel -> its group robots
    retrain: RetrainService | None = None  # None without a classifier
    retrain_job: RetrainJob | None = None  # None when retrain_days or the scheduler is 0
    incoming: IncomingUpdates | None = None  # webhook redeliveries taken in once

    def attach_sender(self, sender: Sender) -> None:
        """Give delivery its transports: `sender` for Telegram (its bot exists only once its
        app is built) and the configured group robots for theirs, each counted for /metrics."""
        for channel, transport in {TELEGRAM: sender, **self.robots}.items():
            self.outbox.senders[channel] = ChannelSender({channel: transport}, self.metrics)

    async def snapshot(self) -> Snapshot:
        """Cases by status and each channel's outbox backlog, for /metrics."""
        return await snapshot(self.uow, self.clock)

    async def start(self) -> None:
        """Start what runs: directory in the resolver, reminders, delivery (with a sender)."""
        self.calendar.warn_at_start()  # loads the imported schedules; warns if uncovered
        if self.intake is not None:
            count = await self.intake.load_directory(self.uow())
            log.info("entity resolver loaded %d directory entries", count)
        if self.scheduler is not None:
            self.scheduler.start()
        if self.retrain_job is not None:
            self.retrain_job.start()
        if self.outbox.sender is not None:
            self.delivery.start()

    async def stop(self) -> None:
        """Stop delivery and reminders (what is queued is sent on the next start); dispose."""
        await self.delivery.stop()
        if self.scheduler is not None:
            await self.scheduler.stop()
        for robots in self.robots.values():
            close = getattr(robots, "close", None)
            if close is not None:
                await close()
        if self.retrain_job is not None:
            self.retrain_job.shutdown()
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

    uow = UnitOfWorkFactory(engine, on_outbox=wake, robots=robot_routes(settings))
    metrics = PrometheusMetrics()
    threshold = settings.classifier.threshold
    follow_model = threshold is None and classifier is not None
    if threshold is None:
        threshold = float(classifier.threshold) if classifier is not None else DEFAULT_THRESHOLD
    time_rules, case_rules = settings.time_rules, settings.cases
    cases = CaseService(uow, clock)
    filing = FilingService(cases, Rules(
        reference_prefix=case_rules.reference_prefix, tips_per_hour=case_rules.tips_per_hour,
        accept_working_days=time_rules.accept_working_days, threshold=threshold,
        reply_lease=timedelta(seconds=settings.delivery.reply_lease_seconds)),
        threshold_of=(lambda: float(classifier.threshold)) if follow_model else None)
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
    triage = TriageService(uow, cases)
    reminders = ReminderService(uow, cases, time_rules, settings.tz)
    outbox = OutboxService(uow, clock, QuietHours(time_rules.quiet_start, time_rules.quiet_end),
                           settings.tz)
    delivery = DeliveryLoop(outbox)
    document_rules = DocumentRules(
        office_name=settings.documents.office_name, seal_text=settings.documents.seal_text,
        templates_dir=settings.documents.templates_dir, tz=settings.tz)
    reporting = ReportingService(uow, clock, ReportingRules(
        tz=settings.tz, accept_working_days=time_rules.accept_working_days,
        propose_working_days=time_rules.propose_working_days,
        decide_working_days=time_rules.decide_working_days), document_rules)
    report_delivery = ReportDelivery(uow, clock, reporting, settings.tz)
    evidence = EvidenceService(uow, clock, EvidenceStore(settings.evidence.dir),
                               max_bytes=case_rules.max_evidence_bytes,
                               retention_days=settings.evidence.retention_days)
    spots = settings.hotspots
    hotspots = HotspotService(uow, clock, HotspotRules(
        tz=settings.tz, weekday=spots.weekday, hour=spots.hour, days=spots.days,
        threshold=spots.threshold, limit=spots.limit))
    calendar = CalendarService(uow, clock, settings.tz,
                               CalendarFolder(Path(settings.calendar.dir)))
    interval = settings.scheduler.interval_seconds
    retrain = _retrain_service(settings, uow, clock, classifier)
    container = Container(
        settings=settings, engine=engine, clock=clock, uow=uow, cases=cases, filing=filing,
        invites=InviteService(uow, clock), office=office, supervision=supervision,
        triage=triage, merging=MergingService(uow, clock),
        parents=ParentService(cases),
        reporting=reporting,
        reminders=reminders, outbox=outbox, delivery=delivery, evidence=evidence,
        documents=DocumentService(uow, clock, document_rules),
        report_delivery=report_delivery, hotspots=hotspots, calendar=calendar,
        web_login=WebLoginService(
            uow, clock, settings.telegram.token, link_minutes=settings.web.login_link_minutes,
            init_data_max_age=timedelta(hours=settings.web.init_data_max_age_hours)),
        console=ConsoleService(uow, clock, cases, office, supervision, triage, settings.tz),
        intake=(IntakeService(TimedClassifier(classifier, metrics)) if classifier is not None
                else None),
        scheduler=ReminderScheduler(reminders, interval, jobs=(
            ScheduledJob("report_delivery", report_delivery.run, interval),
            ScheduledJob("evidence_ingest", evidence.ingest_pending, interval),
            ScheduledJob("evidence_retention", evidence.purge_expired,
                         max(interval, EVIDENCE_RETENTION_SECONDS)),
            ScheduledJob("hotspots", hotspots.run, interval),
            ScheduledJob("calendar", calendar.run, interval),
        )) if interval > 0 else None,
        metrics=metrics, robots=robot_senders(settings), incoming=IncomingUpdates(uow, clock),
        retrain=retrain,
        retrain_job=(RetrainJob(retrain, settings.classifier.retrain_days)
                     if retrain is not None and settings.classifier.retrain_days > 0
                     and interval > 0 else None))
    if sender is not None:
        container.attach_sender(sender)
    return container


def _retrain_service(settings: Settings, uow: UnitOfWorkFactory, clock: Clock,
                     classifier: Any) -> RetrainService | None:
    """Retraining for a bot that serves a model (None for commands without a classifier)."""
    if classifier is None:
        return None
    from classifier.artifact import resolve_dir, shipped_model_dir

    configured = settings.classifier.corpus_path
    model_path = settings.classifier.model_path
    return RetrainService(uow, clock, RetrainRules(
        corpus_dir=Path(configured) if configured else PROJECT_ROOT / "data" / "corpus",
        model_path=resolve_dir(model_path) if model_path else Path("var") / "model",
        keep=settings.classifier.keep_versions,
        fallback=shipped_model_dir()), reloader=classifier if hasattr(classifier, "check")
        else None)


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
