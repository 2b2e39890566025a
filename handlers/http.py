"""HTTP transport (aiohttp): the Telegram webhook and a health check."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application

log = logging.getLogger(__name__)
APP_KEY: web.AppKey[Application[Any, Any, Any, Any, Any, Any]] = web.AppKey("ptb_app")
SECRET_KEY: web.AppKey[str] = web.AppKey("webhook_secret")
MAX_BODY = 1024 * 1024


async def telegram_webhook(request: web.Request) -> web.Response:
    """Accept an update only with the configured secret token header."""
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not secrets.compare_digest(given.encode(), request.app[SECRET_KEY].encode()):
        return web.Response(status=403, text="forbidden")
    try:
        data = json.loads(await request.read())
        app = request.app[APP_KEY]
        update = Update.de_json(data, app.bot)
    except (ValueError, TypeError, KeyError):
        return web.Response(status=400, text="bad update")
    await app.update_queue.put(update)
    return web.Response(text="ok")


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_web_app(app: Application[Any, Any, Any, Any, Any, Any], secret: str) -> web.Application:
    web_app = web.Application(client_max_size=MAX_BODY)
    web_app[APP_KEY] = app
    web_app[SECRET_KEY] = secret
    web_app.router.add_post("/telegram", telegram_webhook)
    web_app.router.add_get("/health", health)
    return web_app
