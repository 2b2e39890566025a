"""Webhook transport: only requests with the configured secret token reach the bot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from telegram import Update
from telegram.ext import Application

from bot.health import Health
from handlers.http import make_web_app

SECRET = "s3cret-token_0123456789"
UPDATE = {"update_id": 7, "message": {
    "message_id": 1, "date": 1795385375, "text": "你好",
    "chat": {"id": 42, "type": "private", "first_name": "家长"},
    "from": {"id": 42, "is_bot": False, "first_name": "家长"}}}


@pytest.fixture
async def client() -> AsyncIterator[tuple[TestClient, Application]]:  # type: ignore[type-arg]
    app = Application.builder().token("123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ").updater(None).build()
    async with TestClient(TestServer(make_web_app(app, SECRET))) as http:
        yield http, app


@pytest.mark.parametrize("headers", [{}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                                     {"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1]}])
async def test_requests_without_the_secret_are_rejected(client, headers) -> None:  # type: ignore[no-untyped-def]
    http, app = client
    response = await http.post("/telegram", json=UPDATE, headers=headers)
    assert response.status == 403
    assert app.update_queue.empty()


async def test_a_genuine_update_is_queued_for_the_bot(client) -> None:  # type: ignore[no-untyped-def]
    http, app = client
    response = await http.post("/telegram", json=UPDATE,
                               headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert response.status == 200
    queued = app.update_queue.get_nowait()
    assert isinstance(queued, Update) and queued.effective_message.text == "你好"


async def test_garbage_is_refused_and_health_answers(client) -> None:  # type: ignore[no-untyped-def]
    http, app = client
    response = await http.post("/telegram", data=b"\x00\xff not json",
                               headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert response.status == 400 and app.update_queue.empty()
    assert (await (await http.get("/health")).json()) == {"status": "ok"}


@pytest.mark.parametrize(("check", "status", "body"), [
    (lambda: Health(outbox_due=3, oldest_due_seconds=12.34),
     200, {"status": "ok", "database": "ok", "outbox_due": 3, "oldest_due_seconds": 12.3,
           "calendar": {"ok": True, "uncovered_years": []}}),
    (lambda: Health(outbox_due=40, oldest_due_seconds=900.0),
     200, {"status": "degraded", "database": "ok", "outbox_due": 40,
           "oldest_due_seconds": 900.0, "calendar": {"ok": True, "uncovered_years": []}}),
    (lambda: Health(outbox_due=0, oldest_due_seconds=0.0, calendar_uncovered=(2027,)),
     200, {"status": "ok", "database": "ok", "outbox_due": 0, "oldest_due_seconds": 0.0,
           "calendar": {"ok": False, "uncovered_years": [2027]}}),
    (None, 503, {"status": "unavailable", "database": "error"}),
])
async def test_health_says_whether_the_database_answers_and_delivery_keeps_up(
        check, status, body) -> None:  # type: ignore[no-untyped-def]
    async def health_check() -> Health:
        if check is None:
            raise OSError("database is unreachable")
        return check()  # type: ignore[no-any-return]

    app = Application.builder().token("123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ").updater(None).build()
    async with TestClient(TestServer(make_web_app(app, SECRET, health_check))) as http:
        response = await http.get("/health")
        assert response.status == status
        assert await response.json() == body
