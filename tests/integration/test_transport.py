"""The aiohttp transport under python-telegram-bot's Bot, against real HTTP servers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from handlers.telegram.transport import AiohttpRequest
from localapi import LocalBotApi
from localapi.media import tiny_png


@pytest.fixture
async def api() -> AsyncIterator[LocalBotApi]:
    async with LocalBotApi() as server:
        yield server


def bot_for(api: LocalBotApi, **options: float) -> Bot:
    return Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url,
               request=AiohttpRequest(**options), get_updates_request=AiohttpRequest())


async def test_text_and_keyboard_arrive_as_sent(api: LocalBotApi) -> None:
    user = api.user(4001, "李华")
    await user.send_text("/start")  # Telegram: a bot may only write to users who wrote first
    async with bot_for(api) as bot:
        me = await bot.get_me()
        sent = await bot.send_message(
            user.id, "<b>收到</b> 您的线索 & 附件", parse_mode="HTML",
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("匿名提交", callback_data="d:anon")]]))
    assert me.is_bot and me.username == "dudao_bot"
    received = await user.wait_for_message()
    assert received.message_id == sent.message_id
    assert received.text == "收到 您的线索 & 附件"
    assert "匿名提交" in str(received.reply_markup)


async def test_uploads_are_multipart_and_arrive_intact(api: LocalBotApi) -> None:
    user = api.user(4002, "王芳")
    await user.send_text("/start")
    table = "编号,类别\nSJ-2026-000001,作业负担\n".encode()
    async with bot_for(api) as bot:
        document = await bot.send_document(user.id, InputFile(table, filename="导出.csv"),
                                           caption="导出")
        photo = await bot.send_photo(user.id, tiny_png(32, 16))
    assert document.document is not None and document.document.file_name == "导出.csv"
    assert user.download(document.document.file_id) == table
    assert user.download(photo.photo[-1].file_id) == tiny_png(32, 16)


async def test_telegram_errors_keep_their_meaning(api: LocalBotApi) -> None:
    async with bot_for(api) as bot:
        with pytest.raises(BadRequest):
            await bot.send_message(999_999, "没有这个聊天")
        user = api.user(4003)
        await user.send_text("/start")
        api.fail_next("sendMessage", error_code=429, retry_after=3)
        with pytest.raises(RetryAfter, match="3 seconds"):
            await bot.send_message(user.id, "太快了")
        await bot.send_message(user.id, "现在可以了")
    assert (await user.wait_for_message()).text == "现在可以了"


async def call_get_me(port: int, **options: float) -> None:
    """One getMe through a fresh transport to 127.0.0.1:`port`."""
    request = AiohttpRequest(**options)
    await request.initialize()
    try:
        await request.post(f"http://127.0.0.1:{port}/bot1:abc/getMe")
    finally:
        await request.shutdown()


async def test_nothing_listening_is_a_network_error() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(NetworkError):
        await call_get_me(port, connect_timeout=1)


async def test_a_silent_server_times_out() -> None:
    release = asyncio.Event()

    async def never_answers(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response()

    app = web.Application()
    app.router.add_post("/{tail:.*}", never_answers)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        with pytest.raises(TimedOut):
            await call_get_me(runner.addresses[0][1], read_timeout=0.2)
    finally:
        release.set()
        await runner.cleanup()


async def test_requests_before_initialize_or_after_shutdown_fail_clearly() -> None:
    request = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:9/x", "POST")
    await request.initialize()
    await request.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:9/x", "POST")
    await request.initialize()  # a shut-down transport can be opened again
    await request.shutdown()


def test_proxy_comes_from_the_environment_and_no_proxy_is_honoured(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    request = AiohttpRequest()
    assert request._proxy_for("https://api.telegram.org/bot1:x/getMe") == \
        "http://proxy.example:3128"
    assert request._proxy_for("http://127.0.0.1:8081/bot1:x/getMe") is None
