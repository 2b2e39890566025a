"""The python-telegram-bot Application: handlers, the container's life cycle, polling or webhook."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from telegram import BotCommand, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.ext import (
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
from bot.health import check_health
from bot.messages import t
from handlers.http import make_web_app
from handlers.metrics import PrometheusMetrics, measured, metrics_route
from handlers.telegram import evidence, office, parent, protocol, staff, supervisor
from handlers.telegram.context import BotServices, DudaoContext
from handlers.telegram.flood import FloodGuard
from handlers.telegram.flood import guard as flood_guard
from handlers.telegram.sender import Limits, PacedRequests, TelegramLimits, TelegramSender
from handlers.telegram.transport import with_aiohttp
from handlers.web import console_routes

log = logging.getLogger(__name__)
# Waiting for an unreachable Bot API at start: 1, 2, 4 ... seconds, at most a minute apart.
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0
AnyApplication = Application[Any, Any, Any, Any, Any, Any]


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Updates of different chats run concurrently; one chat's updates run in order."""

    def __init__(self, max_concurrent_updates: int = 64,
                 metrics: PrometheusMetrics | None = None) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._metrics = metrics

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            started = time.perf_counter()
            await coroutine
            measured(self._metrics, update, started)
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        try:
            async with lock:
                started = time.perf_counter()  # handling time, not the wait for the chat
                await coroutine
                measured(self._metrics, update, started)
        finally:
            if not lock.locked() and not getattr(lock, "_waiters", None):
                self._locks.pop(chat.id, None)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


COMMANDS = ("report", "mycases", "cancel", "privacy", "help")
ALLOWED_UPDATES = ["message", "callback_query"]


def _container(app: AnyApplication) -> Container:
    services: BotServices = app.bot_data["services"]
    return services.container


async def _post_init(app: AnyApplication) -> None:
    """Publish the command menu (in the background, retried), give delivery the bot, start
    the container."""
    app.bot_data["menu"] = asyncio.create_task(_publish_menu(app), name="command-menu")
    container = _container(app)
    container.attach_sender(TelegramSender(app.bot, container.report_delivery))
    container.evidence.downloader = evidence.telegram_downloader(app.bot)
    await container.start()


async def _publish_menu(app: AnyApplication) -> None:
    """setMyCommands, retried with back-off: a menu Telegram refused or could not answer is
    no reason to stay offline, so the bot serves chats meanwhile."""
    commands = [BotCommand(c, t(f"command.{c}")) for c in COMMANDS]
    try:
        await retry_startup_call(app, "setMyCommands",
                                 lambda: app.bot.set_my_commands(commands), asyncio.Event())
    except TelegramError:  # refused (a bad request): waiting would not change it
        log.exception("could not set the command menu")


async def _post_stop(app: AnyApplication) -> None:
    """Let a delivery pass in progress finish while the bot can still send."""
    menu = app.bot_data.pop("menu", None)
    if menu is not None:
        menu.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await menu
    await _container(app).delivery.stop()


async def _post_shutdown(app: AnyApplication) -> None:
    """Stop the container (what is queued stays in the outbox for the next start)."""
    await _container(app).stop()


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


def build_application(container: Container, *, with_updater: bool = True,
                      rate_limiter: bool = True) -> AnyApplication:
    """Wire every handler into a python-telegram-bot Application over `container`."""
    tg, delivery = container.settings.telegram, container.settings.delivery
    builder = (with_aiohttp(ApplicationBuilder().token(tg.token).base_url(tg.base_url)
                            .base_file_url(tg.base_file_url),
                            timeout=delivery.request_timeout_seconds)
               .context_types(ContextTypes(context=DudaoContext))
               .concurrent_updates(PerChatUpdateProcessor(metrics=container.metrics))
               .post_init(_post_init)
               .post_stop(_post_stop)
               .post_shutdown(_post_shutdown))
    if rate_limiter:  # Telegram's limits, kept for the handlers' replies and the outbox
        builder = builder.rate_limiter(PacedRequests(TelegramLimits(Limits(
            messages_per_second=delivery.messages_per_second,
            per_chat_per_second=delivery.per_chat_per_second,
            per_chat_burst=delivery.per_chat_burst,
            group_messages_per_minute=delivery.group_messages_per_minute))))  # type: ignore[arg-type]
    if not with_updater:
        builder = builder.updater(None)
    app = builder.build()
    app.bot_data["services"] = BotServices(container)
    app.bot_data["flood"] = FloodGuard(tg.updates_per_minute)
    app.add_handler(TypeHandler(Update, flood_guard), group=-1)  # before everything else
    private = filters.ChatType.PRIVATE
    # Role-specific commands and buttons go before the generic parent handlers.
    office.register(app)
    supervisor.register(app)
    evidence.register(app)
    app.add_handlers([
        CommandHandler("start", parent.start, filters=private),
        CommandHandler("help", parent.help_command, filters=private),
        CommandHandler("privacy", parent.privacy_command, filters=private),
        CommandHandler("report", parent.report_command, filters=private),
        CommandHandler("cancel", parent.cancel_command, filters=private),
        CommandHandler("mycases", parent.my_cases, filters=private),
        CommandHandler("bind", staff.bind_command, filters=private),
        CommandHandler("web", staff.web_command, filters=private),
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


def serve(settings: Settings, classifier: Any) -> int:
    """Run until SIGINT/SIGTERM: long polling, or webhook served by aiohttp.

    Returns 0, or 2 when Telegram refused the token (said in one line on stderr).
    """
    started = asyncio.run(_serve_until_signal(build(settings, classifier=classifier)))
    return 0 if started is not False else 2


async def _serve_until_signal(container: Container) -> bool | None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return await run_bot(container, stop)


async def run_bot(container: Container, stop: asyncio.Event) -> bool | None:
    """Serve Telegram with `container` until `stop` is set; the container is stopped after.

    The HTTP server (health, metrics, console, webhook) listens first, so a monitor sees the
    process while it waits (retrying with back-off) for the Bot API to answer getMe. Returns
    True once it served, None when stopped while still waiting, False when Telegram refused
    the token or webhook mode could not listen.
    """
    tg = container.settings.telegram
    app = build_application(container, with_updater=tg.mode == "polling")
    runner = http_runner(app)
    await runner.setup()
    try:
        if not await listen(runner, container):
            reached: bool | None = False
        else:
            try:
                reached = await wait_for_bot_api(app, stop)
            except InvalidToken:
                print(t("startup.bot_api_token_rejected", url=tg.base_url), file=sys.stderr,
                      flush=True)
                reached = False
        if not reached:
            await app.bot.shutdown()  # its HTTP sessions were opened by the attempts
            await container.stop()
            return None if reached is None else False
        async with telegram_running(app, stop):
            print(t("cli.run.starting", mode=t(f"cli.run.mode.{tg.mode}")), flush=True)
            await stop.wait()
    finally:
        await runner.cleanup()
    return True


async def wait_for_bot_api(app: AnyApplication, stop: asyncio.Event) -> bool | None:
    """Call getMe until the Bot API answers: True, or None if `stop` was set first.

    Each failed attempt is one log line saying what is awaited and when the next try is.
    A refused token (InvalidToken) is raised: waiting would not change it.
    """
    tg = _container(app).settings.telegram
    delay, attempt = FIRST_RETRY_SECONDS, 0
    while not stop.is_set():
        attempt += 1
        try:
            await app.bot.initialize()  # getMe; the bot's sessions are opened only once
        except InvalidToken:
            raise
        except TelegramError as exc:
            log.warning(t("startup.bot_api_waiting", url=tg.base_url, attempt=attempt,
                          reason=_one_line(exc), seconds=_seconds(delay)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)
            continue
        if attempt > 1:
            log.warning(t("startup.bot_api_reached", url=tg.base_url, attempt=attempt))
        return True
    return None


async def retry_startup_call(app: AnyApplication, method: str,
                             call: Callable[[], Awaitable[object]], stop: asyncio.Event) -> bool:
    """Make a start-up call until the Bot API answers it: True, or False if `stop` was set
    first. Server errors, 429s (honouring retry_after), timeouts and network errors are
    waited out with back-off, one log line per wait saying what is awaited; a refusal
    (InvalidToken, BadRequest, Forbidden) is raised: waiting would not change it."""
    tg = _container(app).settings.telegram
    delay, attempt = FIRST_RETRY_SECONDS, 0
    while not stop.is_set():
        attempt += 1
        try:
            await call()
        except (InvalidToken, BadRequest, Forbidden):
            raise
        except TelegramError as exc:
            wait = delay
            if isinstance(exc, RetryAfter):
                retry = exc.retry_after
                wait = float(retry) if isinstance(retry, int | float) else \
                    retry.total_seconds()
            log.warning(t("startup.bot_api_call_waiting", method=method, url=tg.base_url,
                          attempt=attempt, reason=_one_line(exc), seconds=_seconds(wait)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            delay = min(delay * 2, MAX_RETRY_SECONDS)
            continue
        if attempt > 1:
            log.warning(t("startup.bot_api_call_done", method=method, attempt=attempt))
        return True
    return False


def _polling_error(exc: TelegramError) -> None:
    """One line for a failed getUpdates (the updater retries it with back-off)."""
    log.warning(t("startup.polling_error", reason=_one_line(exc)))


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


@contextlib.asynccontextmanager
async def telegram_running(app: AnyApplication,
                           stopping: asyncio.Event | None = None) -> AsyncIterator[None]:
    """The Application, its container and its updates (long polling or the webhook registered)
    for the duration of the block: what `run_polling`/`run_webhook` do, ending on our signal."""
    tg = _container(app).settings.telegram
    stop = stopping or asyncio.Event()
    try:
        async with app:
            await _post_init(app)
            await app.start()
            try:
                if tg.mode == "webhook":
                    await retry_startup_call(app, "setWebhook", lambda: app.bot.set_webhook(
                        tg.webhook_url, secret_token=tg.webhook_secret,
                        allowed_updates=ALLOWED_UPDATES), stop)
                else:
                    assert app.updater is not None
                    # deleteWebhook first, retried here with one log line per wait; then
                    # getUpdates, whose errors the updater rides out with its own back-off.
                    await retry_startup_call(app, "deleteWebhook", lambda: app.bot.delete_webhook(
                        drop_pending_updates=False), stop)
                    if not stop.is_set():
                        await app.updater.start_polling(allowed_updates=ALLOWED_UPDATES,
                                                        drop_pending_updates=False,
                                                        bootstrap_retries=-1,
                                                        error_callback=_polling_error)
                yield
            finally:
                if app.updater is not None and app.updater.running:
                    await app.updater.stop()
                await app.stop()
                await _post_stop(app)
    finally:
        await _post_shutdown(app)


def http_runner(app: AnyApplication) -> web.AppRunner:
    """The one HTTP server: health, metrics, the console, and the webhook in webhook mode."""
    container = _container(app)
    tg = container.settings.telegram
    webhook = tg.mode == "webhook"
    return web.AppRunner(make_web_app(
        app if webhook else None, tg.webhook_secret if webhook else "",
        lambda: check_health(container.uow, container.clock,
                             lambda: container.calendar.status().uncovered_years),
        first_time=container.incoming.first_time if container.incoming else None,
        routes=[console_routes(container),
                metrics_route(container.metrics, container.snapshot)]), access_log=None)


async def listen(runner: web.AppRunner, container: Container, *,
                 announce: bool = True) -> bool:
    """Bind the server (with `announce`, say its address). False when webhook mode cannot
    listen (no update would arrive); in polling mode a busy port is said in the log and the
    bot serves chats without it."""
    tg, web_cfg = container.settings.telegram, container.settings.web
    try:
        await web.TCPSite(runner, web_cfg.listen_host, web_cfg.listen_port).start()
    except OSError as exc:
        busy = exc.errno == errno.EADDRINUSE
        where = {"host": web_cfg.listen_host, "port": web_cfg.listen_port,
                 "detail": t("startup.port_taken") if busy else _one_line(exc)}
        if tg.mode == "webhook":
            print(t("startup.web_port_busy", **where), file=sys.stderr, flush=True)
            return False
        log.error(t("startup.web_port_busy_polling", **where))
        return True
    if announce:
        print(t("cli.run.web", url=web_cfg.base_url(bound_port(runner))), flush=True)
    return True


def bound_port(runner: web.AppRunner) -> int | None:
    """The TCP port the server listens on (useful with listen_port = 0)."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return None
