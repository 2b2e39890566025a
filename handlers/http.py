"""HTTP transport (aiohttp): the one server `dudao run` keeps in both modes.

It always serves /health; in webhook mode also /telegram; other parts (metrics, the office
console) add their routes through `make_web_app(routes=...)`.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.health import Health

log = logging.getLogger(__name__)


@dataclass
class WebhookCounts:
    """What the webhook turned away, for the log and the metrics."""

    forbidden: int = 0  # requests without the configured secret token (403)
    repeated: int = 0  # updates delivered again, answered 200 and not handled twice


APP_KEY: web.AppKey[Application[Any, Any, Any, Any, Any, Any]] = web.AppKey("ptb_app")
SECRET_KEY: web.AppKey[str] = web.AppKey("webhook_secret")
HealthCheck = Callable[[], Awaitable[Health]]
HEALTH_KEY: web.AppKey[HealthCheck | None] = web.AppKey("health_check")
FirstTime = Callable[[int], Awaitable[bool]]
FIRST_TIME_KEY: web.AppKey[FirstTime | None] = web.AppKey("first_time")
COUNTS_KEY: web.AppKey[WebhookCounts] = web.AppKey("webhook_counts")
CleanupContext = Callable[[web.Application], AsyncIterator[None]]
Routes = Callable[[web.Application], None]
MAX_BODY = 1024 * 1024


async def telegram_webhook(request: web.Request) -> web.Response:
    """Accept an update only with the configured secret token header, once per update id."""
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    counts = request.app[COUNTS_KEY]
    if not secrets.compare_digest(given.encode(), request.app[SECRET_KEY].encode()):
        counts.forbidden += 1
        log.warning("webhook request from %s without the right secret token: 403 "
                    "(%d so far)", request.remote, counts.forbidden)
        return web.Response(status=403, text="forbidden")
    try:
        data = json.loads(await request.read())
        app = request.app[APP_KEY]
        update = Update.de_json(data, app.bot)
    except (ValueError, TypeError, KeyError):
        return web.Response(status=400, text="bad update")
    first_time = request.app[FIRST_TIME_KEY]
    if first_time is not None:
        try:
            fresh = await first_time(update.update_id)
        except Exception:  # the database did not answer: Telegram delivers it again later
            log.exception("could not record update %s", update.update_id)
            return web.Response(status=503, text="unavailable")
        if not fresh:
            counts.repeated += 1
            return web.Response(text="ok")
    await app.update_queue.put(update)
    return web.Response(text="ok")


async def health(request: web.Request) -> web.Response:
    """200 with the outbox backlog while the database answers; 503 when it does not."""
    check = request.app[HEALTH_KEY]
    if check is None:
        return web.json_response({"status": "ok"})
    try:
        result = await check()
    except Exception:
        log.exception("health check failed")
        return web.json_response({"status": "unavailable", "database": "error"}, status=503)
    return web.json_response({"status": result.status, "database": "ok",
                              "outbox_due": result.outbox_due,
                              "oldest_due_seconds": round(result.oldest_due_seconds, 1),
                              "calendar": {"ok": not result.calendar_uncovered,
                                           "uncovered_years": list(result.calendar_uncovered)}})


def make_web_app(app: Application[Any, Any, Any, Any, Any, Any] | None = None,
                 secret: str = "", health_check: HealthCheck | None = None, *,
                 lifecycle: CleanupContext | None = None,
                 routes: Sequence[Routes] = (),
                 first_time: FirstTime | None = None) -> web.Application:
    """/health, the webhook when `app` and `secret` are given, and every `routes` hook.

    `first_time(update_id)` says whether an update is new (shared by every instance); a
    repeated one is answered 200 and not handled again.

    `lifecycle` (an aiohttp cleanup context) lives and dies with the server.
    """
    web_app = web.Application(client_max_size=MAX_BODY)
    if lifecycle is not None:
        web_app.cleanup_ctx.append(lifecycle)
    web_app[HEALTH_KEY] = health_check
    web_app.router.add_get("/health", health)
    if app is not None and secret:
        web_app[APP_KEY] = app
        web_app[SECRET_KEY] = secret
        web_app[FIRST_TIME_KEY] = first_time
        web_app[COUNTS_KEY] = WebhookCounts()
        web_app.router.add_post("/telegram", telegram_webhook)
    for add in routes:
        add(web_app)
    return web_app
