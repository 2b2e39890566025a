"""Webhook mode: the local Bot API POSTs updates with the secret header to an aiohttp app."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from telegram import Update
from telegram.error import Conflict
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from localapi import LocalBotApi
from localapi.ptb import application_builder

App = Application[Any, Any, Any, Any, Any, Any]
SECRET = "dudao_webhook-Secret1"


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Echo text."""
    assert update.effective_message is not None and update.effective_message.text
    await update.effective_message.reply_text(f"webhook: {update.effective_message.text}")


@dataclass
class Receiver:
    """A webhook endpoint that checks the secret header and feeds the application."""

    app: App
    url: str = ""
    headers_seen: list[str | None] = field(default_factory=list)
    request_seen: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        header = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        self.headers_seen.append(header)
        self.request_seen.set()
        if not secrets.compare_digest(header or "", SECRET):
            return web.Response(status=403)
        await self.app.update_queue.put(Update.de_json(await request.json(), self.app.bot))
        return web.Response()


@pytest.fixture
async def api() -> AsyncIterator[LocalBotApi]:
    async with LocalBotApi() as server:
        yield server


@pytest.fixture
async def receiver(api: LocalBotApi) -> AsyncIterator[Receiver]:
    app = application_builder(api).updater(None).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    receiver = Receiver(app)
    web_app = web.Application()
    web_app.router.add_post("/telegram", receiver.handle)
    runner = web.AppRunner(web_app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/telegram"
    async with app:
        await app.start()
        try:
            yield receiver
        finally:
            await app.stop()
            await runner.cleanup()


async def test_updates_are_posted_with_the_secret_header(api: LocalBotApi,
                                                         receiver: Receiver) -> None:
    bot = receiver.app.bot
    assert await bot.set_webhook(receiver.url, secret_token=SECRET) is True
    parent = api.user(3001, "吴老师")
    await parent.send_text("你好")
    assert (await parent.wait_for_message()).text == "webhook: 你好"
    assert receiver.headers_seen == [SECRET]
    info = await bot.get_webhook_info()
    assert info.url == receiver.url and info.pending_update_count == 0
    with pytest.raises(Conflict):
        await bot.get_updates()
    assert await bot.delete_webhook() is True
    assert await bot.get_updates(timeout=0) == ()


async def test_rejected_deliveries_are_retried_and_not_lost(api: LocalBotApi,
                                                            receiver: Receiver) -> None:
    bot = receiver.app.bot
    await bot.set_webhook(receiver.url, secret_token="wrong_secret")
    parent = api.user(3002, "郑老师")
    await parent.send_text("第一条")
    await asyncio.wait_for(receiver.request_seen.wait(), timeout=5)
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 1
    assert info.last_error_message is not None and "403" in info.last_error_message
    # With the right secret the same update is delivered, exactly once.
    await bot.set_webhook(receiver.url, secret_token=SECRET)
    assert (await parent.wait_for_message()).text == "webhook: 第一条"
    await parent.send_text("第二条")
    assert (await parent.wait_for_message()).text == "webhook: 第二条"
    assert [m.text for m in parent.messages] == ["webhook: 第一条", "webhook: 第二条"]
