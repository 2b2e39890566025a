"""Webhook transport: only requests with the configured secret token reach the bot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from telegram import Update
from telegram.ext import Application

from bot.bootstrap import build
from bot.config import Settings
from bot.health import Health
from bot.incoming import KEEP, IncomingUpdates
from handlers.http import COUNTS_KEY, make_web_app

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


async def test_a_bad_secret_is_counted_and_logged(client, caplog) -> None:  # type: ignore[no-untyped-def]
    http, app = client
    assert app.update_queue.empty()
    for _ in range(2):
        assert (await http.post("/telegram", json=UPDATE, headers={
            "X-Telegram-Bot-Api-Secret-Token": "guess"})).status == 403
    assert http.server.app[COUNTS_KEY].forbidden == 2
    assert sum("without the right secret token" in r.getMessage() for r in caplog.records) == 2


async def test_a_redelivered_update_is_handled_once_across_instances(db_url: str) -> None:
    """Two servers on one database (two instances): the same update POSTed to each, and
    again to the first, is queued for a bot once; the rest are answered 200."""
    container = build(Settings(database={"url": db_url}, scheduler={"interval_seconds": 0}))
    assert container.incoming is not None
    other = IncomingUpdates(container.uow, container.clock)  # a second instance's
    bots = [Application.builder().token("123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ").updater(None)
            .build() for _ in range(2)]
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    try:
        async with TestClient(TestServer(make_web_app(
                bots[0], SECRET, first_time=container.incoming.first_time))) as first, \
                TestClient(TestServer(make_web_app(bots[1], SECRET,
                                                   first_time=other.first_time))) as second:
            for http in (first, second, first):
                assert (await http.post("/telegram", json=UPDATE, headers=headers)).status == 200
            fresh = dict(UPDATE, update_id=8)
            assert (await second.post("/telegram", json=fresh, headers=headers)).status == 200
            assert first.server.app[COUNTS_KEY].repeated == 1
            assert second.server.app[COUNTS_KEY].repeated == 1
    finally:
        await container.stop()
    assert bots[0].update_queue.qsize() == 1 and bots[1].update_queue.qsize() == 1
    assert (bots[1].update_queue.get_nowait()).update_id == 8


async def test_update_ids_are_forgotten_after_a_day(db_url: str) -> None:
    container = build(Settings(database={"url": db_url}, scheduler={"interval_seconds": 0}))
    try:
        now = container.clock.now()
        async with container.uow() as uow:
            assert await uow.updates.first_seen(1, now - timedelta(days=2))
            assert await uow.updates.first_seen(2, now)
            assert not await uow.updates.first_seen(2, now)
            assert await uow.updates.forget_before(now - KEEP) == 1
            assert await uow.updates.first_seen(1, now)  # forgotten: new again
            await uow.commit()
    finally:
        await container.stop()
