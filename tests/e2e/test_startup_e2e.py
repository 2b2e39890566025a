"""`dudao run` when the Bot API cannot be reached at start: wait with back-off, one log line
per attempt, say 已启动 only once started, leave no HTTP session open."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket

import aiohttp
import pytest

from bot.bootstrap import build
from bot.config import Settings
from handlers.telegram import app as telegram_app
from handlers.telegram.app import run_bot
from localapi.server import LocalBotApi


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telegram_app, "FIRST_RETRY_SECONDS", 0.05)


def settings_for(base_url: str, token: str, db_url: str) -> Settings:
    return Settings(telegram={"token": token, "base_url": base_url,
                              "base_file_url": base_url.replace("/bot", "/file/bot")},
                    database={"url": db_url}, scheduler={"interval_seconds": 3600},
                    web={"listen_port": 0})


def waiting_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "正在等待 Telegram Bot API" in r.getMessage()]


async def test_the_bot_waits_for_a_failing_bot_api_then_answers_a_parent(
        db_url: str, shipped_classifier: object, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.INFO)
    async with LocalBotApi() as api:
        api.fail_next("getMe", times=2, error_code=500)
        api.fail_next("getMe", times=1, drop=True)
        container = build(settings_for(api.base_url, api.token, db_url),
                          classifier=shipped_classifier)
        stop = asyncio.Event()
        running = asyncio.create_task(run_bot(container, stop))
        parent = api.user(5101, first_name="家长")
        await parent.send_text("/start")
        assert (await parent.wait_for_message(timeout=20)).text
        stop.set()
        assert await asyncio.wait_for(running, 30) is True
    lines = waiting_lines(caplog)
    assert len(lines) == 3 and "第 3 次连接失败" in lines[2] and "秒后重试" in lines[2]
    assert any("已连上 Telegram Bot API" in r.getMessage() for r in caplog.records)
    assert capsys.readouterr().out.count("机器人已启动") == 1
    assert "Traceback" not in caplog.text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_bot_api_is_awaited_until_stopped_without_leaks(
        db_url: str, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.INFO)
    base = f"http://127.0.0.1:{_closed_port()}/bot"
    container = build(settings_for(base, "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOpp", db_url))
    stop = asyncio.Event()
    running = asyncio.create_task(run_bot(container, stop))
    for _ in range(200):
        if len(waiting_lines(caplog)) >= 3:
            break
        await asyncio.sleep(0.05)
    stop.set()
    assert await asyncio.wait_for(running, 30) is None
    gc.collect()
    await asyncio.sleep(0)
    assert len(waiting_lines(caplog)) >= 3
    assert "Unclosed client session" not in caplog.text and "Traceback" not in caplog.text
    assert "机器人已启动" not in capsys.readouterr().out


async def test_a_refused_token_stops_with_one_line(
        db_url: str, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    async with LocalBotApi() as api:
        api.fail_next("getMe", times=1, error_code=401)
        container = build(settings_for(api.base_url, api.token, db_url))
        assert await asyncio.wait_for(run_bot(container, asyncio.Event()), 30) is False
    gc.collect()
    captured = capsys.readouterr()
    assert "拒绝了这个机器人令牌" in captured.err and "机器人已启动" not in captured.out
    assert "Unclosed client session" not in caplog.text


async def test_each_start_up_call_is_retried_with_one_line_per_wait(
        db_url: str, shipped_classifier: object, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with LocalBotApi() as api:
        api.fail_next("getMe", error_code=429, retry_after=1)
        api.fail_next("deleteWebhook", times=2, error_code=502)
        api.fail_next("setMyCommands", times=2, error_code=500)
        api.fail_next("getUpdates", times=2, error_code=500)
        container = build(settings_for(api.base_url, api.token, db_url),
                          classifier=shipped_classifier)
        stop = asyncio.Event()
        running = asyncio.create_task(run_bot(container, stop))
        parent = api.user(5102, first_name="家长")
        await parent.send_text("/start")
        assert (await parent.wait_for_message(timeout=30)).text
        for _ in range(100):  # the menu is published in the background, retried
            if api.bot().commands:
                break
            await asyncio.sleep(0.1)
        stop.set()
        assert await asyncio.wait_for(running, 30) is True
        assert api.bot().commands
    waits = [r.getMessage() for r in caplog.records if "正在等待 Telegram Bot API" in
             r.getMessage()]
    assert sum("完成 deleteWebhook" in w for w in waits) == 2
    assert sum("完成 setMyCommands" in w for w in waits) == 2
    assert any("已完成 deleteWebhook" in r.getMessage() for r in caplog.records)
    assert sum("获取 Telegram 更新失败" in r.getMessage() for r in caplog.records) == 2
    assert "Traceback" not in caplog.text


async def test_health_answers_while_the_bot_waits_for_telegram(
        db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A monitor sees the process (and its database) before Telegram answers."""
    caplog.set_level(logging.INFO)
    base = f"http://127.0.0.1:{_closed_port()}/bot"
    settings = settings_for(base, "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOpp", db_url)
    port = _closed_port()
    settings = settings.model_copy(update={"web": settings.web.model_copy(
        update={"listen_port": port})})
    container = build(settings)
    stop = asyncio.Event()
    running = asyncio.create_task(run_bot(container, stop))
    for _ in range(200):
        if waiting_lines(caplog):
            break
        await asyncio.sleep(0.05)
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{port}/health") as response:
        assert response.status == 200
        assert (await response.json())["database"] == "ok"
    stop.set()
    assert await asyncio.wait_for(running, 30) is None
