"""GET /metrics on the one HTTP server, in both modes: after a parent files a tip about a
school whose supervisor is bound, the counts say so (updates by kind, the case by status, the
notification sent, the handler's and the classifier's timings)."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from bot.bootstrap import build
from bot.config import Settings
from bot.directory.files import read_directory_files
from bot.directory.service import import_directory
from handlers.telegram.app import run_bot
from localapi.server import LocalBotApi
from tests.support.e2e import HOMEWORK, SAMPLE, reference_in
from tests.support.metrics import samples, value

SECRET = "metrics-secret_0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(api: LocalBotApi, db_url: str, mode: str, port: int) -> Settings:
    settings = Settings(telegram={"token": api.token, "base_url": api.base_url,
                                  "base_file_url": api.base_file_url},
                        database={"url": db_url}, scheduler={"interval_seconds": 3600},
                        web={"listen_port": port})
    if mode == "webhook":  # validation wants https; the local server posts over plain http
        settings = settings.model_copy(update={"telegram": settings.telegram.model_copy(
            update={"mode": "webhook", "webhook_url": f"http://127.0.0.1:{port}/telegram",
                    "webhook_secret": SECRET})})
    return settings


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_metrics_count_a_filed_tip_in_both_modes(
        mode: str, db_url: str, shipped_classifier: object) -> None:
    port = _free_port()
    async with LocalBotApi() as api:
        container = build(_settings(api, db_url, mode, port),
                          classifier=shipped_classifier)
        await import_directory(container.uow,
                               read_directory_files(sorted(SAMPLE.glob("*.csv"))))
        stop = asyncio.Event()
        running = asyncio.create_task(run_bot(container, stop))
        try:
            supervisor, parent = api.user(7101, first_name="督学"), api.user(7102)
            await supervisor.send_text("/start")  # the bot is up once it answers
            await supervisor.wait_for_message(timeout=20)
            code, _ = await container.invites.issue("DX01", "supervisor")
            await supervisor.send_text(f"/bind {code}")
            assert "绑定成功" in ((await supervisor.wait_for_message(timeout=10)).text or "")
            await parent.send_text(HOMEWORK)
            summary = await parent.wait_for_message(timeout=10)
            assert "匿名提交" in str(summary.reply_markup)
            await parent.press("匿名提交")
            reference = reference_in((await parent.wait_for_message(
                lambda m: "案件编号" in (m.text or ""), timeout=10)).text)
            told = await supervisor.wait_for_message(lambda m: reference in (m.text or ""),
                                                     timeout=10)
            assert told.text
            url = f"http://127.0.0.1:{port}/metrics"
            async with aiohttp.ClientSession() as http, http.get(url) as response:
                assert response.status == 200
                assert response.content_type == "text/plain"
                found = samples(await response.text())
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)
    assert (value(found, "dudao_updates_handled_total", kind="command") or 0) >= 2
    assert (value(found, "dudao_updates_handled_total", kind="message") or 0) >= 1
    assert (value(found, "dudao_updates_handled_total", kind="callback") or 0) >= 1
    assert (value(found, "dudao_handler_seconds_count", kind="callback") or 0) >= 1
    assert (value(found, "dudao_classifier_seconds_count") or 0) >= 1
    assert value(found, "dudao_cases", status="assigned") == 1
    assert value(found, "dudao_cases", status="closed") == 0
    assert (value(found, "dudao_outbox_sends_total", channel="telegram",
                  outcome="sent") or 0) >= 1
    assert value(found, "dudao_outbox_throttled_total", channel="telegram") is None
