"""The python-telegram-bot Application: handlers, outbox delivery, polling or webhook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.bootstrap import Container, build
from bot.config import Settings
from bot.intake import IntakeService
from bot.messages import t
from bot.services import check_health
from handlers.telegram import office, parent, protocol, staff, supervisor
from handlers.telegram.context import BotServices, DudaoContext
from handlers.telegram.delivery import OutboxDelivery
from handlers.telegram.flood import FloodGuard
from handlers.telegram.flood import guard as flood_guard
from handlers.telegram.transport import with_aiohttp
from scheduler.jobs import ReminderScheduler

log = logging.getLogger(__name__)


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Updates of different chats run concurrently; one chat's updates run in order."""

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        try:
            async with lock:
                await coroutine
        finally:
            if not lock.locked() and not getattr(lock, "_waiters", None):
                self._locks.pop(chat.id, None)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


COMMANDS = ("report", "mycases", "cancel", "privacy", "help")


async def _post_init(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    services: BotServices = app.bot_data["services"]
    await app.bot.set_my_commands([BotCommand(c, t(f"command.{c}")) for c in COMMANDS])
    count = await services.intake.load_directory(services.container.uow())
    log.info("entity resolver loaded %d directory entries", count)
    delivery = OutboxDelivery(services.container, app.bot)
    app.bot_data["delivery"] = delivery

    async def deliver(_: object) -> None:
        await delivery.run_once()

    assert app.job_queue is not None
    app.job_queue.run_repeating(deliver, interval=1.0, first=0.5, name="outbox")
    services.wake_delivery = lambda: app.job_queue.run_once(deliver, 0)  # type: ignore[union-attr]
    services.container.outbox_listeners.append(services.wake_delivery)
    interval = services.settings.scheduler.interval_seconds
    if interval > 0:
        reminders = ReminderScheduler(services.container.reminders, interval)
        reminders.start()
        app.bot_data["scheduler"] = reminders


async def _post_shutdown(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Stop the reminder scheduler (what it queued is in the outbox, sent on the next start)."""
    reminders: ReminderScheduler | None = app.bot_data.pop("scheduler", None)
    if reminders is not None:
        reminders.shutdown()


async def _on_error(update: object, context: DudaoContext) -> None:
    """Log the failure and tell the user, without losing anything already saved."""
    log.exception("handler failed", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message:
        with contextlib.suppress(Exception):
            await update.effective_message.reply_text(t("general.internal_error"))


async def _unknown_command(update: Update, context: DudaoContext) -> None:
    """Say which commands exist."""
    if update.effective_message:
        await update.effective_message.reply_text(t("parent.unknown_command"))


def build_application(services: BotServices, *, with_updater: bool = True,
                      rate_limiter: bool = True,
                      ) -> Application[Any, Any, Any, Any, Any, Any]:
    """Wire every handler into a python-telegram-bot Application for `services`."""
    tg = services.settings.telegram
    builder = (with_aiohttp(ApplicationBuilder().token(tg.token).base_url(tg.base_url)
                            .base_file_url(tg.base_file_url))
               .context_types(ContextTypes(context=DudaoContext))
               .concurrent_updates(PerChatUpdateProcessor())
               .post_init(_post_init)
               .post_shutdown(_post_shutdown))
    if rate_limiter:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=2))  # type: ignore[arg-type]
    if not with_updater:
        builder = builder.updater(None)
    app = builder.build()
    app.bot_data["services"] = services
    app.bot_data["flood"] = FloodGuard(tg.updates_per_minute)
    app.add_handler(TypeHandler(Update, flood_guard), group=-1)  # before everything else
    private = filters.ChatType.PRIVATE
    # Role-specific commands and buttons go before the generic parent handlers.
    office.register(app)
    supervisor.register(app)
    app.add_handlers([
        CommandHandler("start", parent.start, filters=private),
        CommandHandler("help", parent.help_command, filters=private),
        CommandHandler("privacy", parent.privacy_command, filters=private),
        CommandHandler("report", parent.report_command, filters=private),
        CommandHandler("cancel", parent.cancel_command, filters=private),
        CommandHandler("mycases", parent.my_cases, filters=private),
        CommandHandler("bind", staff.bind_command, filters=private),
        MessageHandler(private & filters.COMMAND, _unknown_command),
        MessageHandler(private & filters.CONTACT, parent.on_contact),
        MessageHandler(private & (filters.PHOTO | filters.Document.ALL), parent.on_evidence),
        MessageHandler(private & filters.TEXT, parent.on_text),
        CallbackQueryHandler(parent.draft_button, pattern=protocol.namespace_pattern("d")),
        CallbackQueryHandler(parent.case_button, pattern=protocol.namespace_pattern("c")),
        MessageHandler(private & ~filters.StatusUpdate.ALL, parent.on_unsupported),
    ])
    app.add_error_handler(_on_error)  # type: ignore[arg-type]
    return app


def make_services(settings: Settings, classifier: Any) -> BotServices:
    container: Container = build(settings, threshold=float(classifier.threshold))
    return BotServices(container=container, intake=IntakeService(classifier))


def serve(settings: Settings, classifier: Any) -> int:
    """Run until interrupted: long polling, or webhook served by aiohttp."""
    services = make_services(settings, classifier)
    app = build_application(services, with_updater=settings.telegram.mode == "polling")
    allowed = ["message", "callback_query"]
    if settings.telegram.mode == "polling":
        print(t("cli.run.starting", mode="long polling"), flush=True)
        app.run_polling(allowed_updates=allowed, drop_pending_updates=False)
        return 0
    asyncio.run(_serve_webhook(app, settings, allowed))
    return 0


async def _serve_webhook(app: Application[Any, Any, Any, Any, Any, Any], settings: Settings,
                         allowed: list[str]) -> None:
    from aiohttp import web

    from handlers.http import make_web_app

    tg = settings.telegram
    async with app:
        await _post_init(app)  # run_webhook is not used (aiohttp serves), so call it here
        await app.start()
        await app.bot.set_webhook(tg.webhook_url, secret_token=tg.webhook_secret,
                                  allowed_updates=allowed)
        container = app.bot_data["services"].container
        runner = web.AppRunner(make_web_app(
            app, tg.webhook_secret, lambda: check_health(container.uow, container.clock)))
        await runner.setup()
        await web.TCPSite(runner, tg.listen_host, tg.listen_port).start()
        print(t("cli.run.starting", mode="webhook"), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()
        await app.stop()
        await _post_shutdown(app)
