"""Two dudao instances in webhook mode on one PostgreSQL database, behind a reverse proxy
that sends each user's updates to one instance (their open question lives there) and
delivers some updates twice, once to each instance (a webhook redelivery): 100 parents file
tips about one supervisor's schools; each outbox row is delivered once, every parent gets
their reference, and no update is handled twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import text

from bot.bootstrap import Container, build
from bot.config import Settings
from bot.directory.files import read_directory_files
from bot.directory.service import import_directory
from handlers.http import COUNTS_KEY, make_web_app
from handlers.telegram.app import bound_port, build_application, telegram_running
from localapi import LocalBotApi
from tests.support.delivery import file_tip
from tests.support.e2e import REF, SAMPLE

PARENTS = 100
SECRET = "two-instances_secret_0123456789"


@contextlib.asynccontextmanager
async def instance(settings: Settings, classifier: object,
                   ) -> AsyncIterator[tuple[Container, web.Application, int]]:
    """One `dudao run` in webhook mode, in this process: the bot and its HTTP server."""
    container = build(settings, classifier=classifier)
    app = build_application(container, with_updater=False)
    await app.bot.initialize()
    web_app = make_web_app(app, SECRET, first_time=container.incoming.first_time
                           if container.incoming else None)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with telegram_running(app):
            yield container, web_app, bound_port(runner) or 0
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def proxy(ports: list[int], every: int) -> AsyncIterator[str]:
    """A reverse proxy: each user to one instance; every `every`th update also to the other."""
    session = aiohttp.ClientSession()
    seen = 0

    async def forward(request: web.Request) -> web.Response:
        nonlocal seen
        body = await request.read()
        update: dict[str, Any] = json.loads(body)
        user = (update.get("message") or update.get("callback_query") or {}).get(
            "from", {}).get("id", 0)
        home = ports[user % len(ports)]
        headers = {"X-Telegram-Bot-Api-Secret-Token":
                   request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")}
        seen += 1
        targets = [home] + ([p for p in ports if p != home] if seen % every == 0 else [])
        statuses = []
        for port in targets:
            async with session.post(f"http://127.0.0.1:{port}/telegram", data=body,
                                    headers=headers) as response:
                statuses.append(response.status)
        return web.Response(status=statuses[0])

    app = web.Application()
    app.router.add_post("/telegram", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{bound_port(runner)}/telegram"
    finally:
        await runner.cleanup()
        await session.close()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_webhook_instances_deliver_each_row_once_and_answer_every_parent(
        db_url: str, shipped_classifier: object) -> None:
    async with LocalBotApi() as api:
        settings = Settings(
            telegram={"token": api.token, "base_url": api.base_url,
                      "base_file_url": api.base_file_url, "mode": "webhook",
                      "webhook_url": "https://dudao.example/telegram",
                      "webhook_secret": SECRET},
            database={"url": db_url}, scheduler={"interval_seconds": 0},
            web={"listen_port": 0}, directory={"import_on_start": []},
            # Pacing is tested elsewhere; here one supervisor's 100 notices go quickly.
            delivery={"per_chat_per_second": 20, "per_chat_burst": 20})
        seed = build(settings)
        await import_directory(seed.uow, read_directory_files(sorted(SAMPLE.glob("*.csv"))))
        code, _ = await seed.invites.issue("DX01", "supervisor")
        await seed.stop()
        async with instance(settings, shipped_classifier) as (first, first_web, port_a), \
                instance(settings, shipped_classifier) as (_, second_web, port_b), \
                proxy([port_a, port_b], every=7) as url, aiohttp.ClientSession() as http:
            async with http.post(f"{api.base_url}{api.token}/setWebhook", json={
                    "url": url, "secret_token": SECRET}) as response:  # to the proxy
                assert response.status == 200
            supervisor = api.user(90_001, first_name="王建国")
            await supervisor.send_text(f"/bind {code}")
            await supervisor.wait_for_message(lambda m: "绑定成功" in (m.text or ""),
                                              timeout=30)
            parents = [api.user(91_000 + i, first_name="家长") for i in range(PARENTS)]
            references = await asyncio.wait_for(asyncio.gather(
                *(file_tip(p, timeout=90) for p in parents)), 300)
            for _ in range(600):
                if sum("新分派案件" in (m.text or "") for m in supervisor.messages) \
                        >= PARENTS:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # anything sent twice would have arrived by now
            async with first.uow() as uow:
                unsent = (await uow.session.execute(text(
                    "SELECT count(*) FROM outbox WHERE sent_at IS NULL"))).scalar_one()
                updates = (await uow.session.execute(text(
                    "SELECT count(*) FROM processed_updates"))).scalar_one()
            repeated = first_web[COUNTS_KEY].repeated + second_web[COUNTS_KEY].repeated
    notices = Counter(REF.search(m.text or "").group(0)  # type: ignore[union-attr]
                      for m in supervisor.messages if "新分派案件" in (m.text or ""))
    print(f"\n{PARENTS} parents on two instances: {len(notices)} notices, "
          f"{sum(notices.values()) - len(notices)} sent twice; {repeated} redelivered "
          f"updates not handled again; {updates} update ids recorded")
    assert len(set(references)) == PARENTS
    for parent in parents:  # one reference each, one summary each: nothing handled twice
        assert sum("案件编号" in (m.text or "") for m in parent.messages) == 1
        assert sum("匿名提交" in str(m.reply_markup) for m in parent.messages) == 1
    assert set(notices) == set(references) and set(notices.values()) == {1}
    assert unsent == 0
    assert repeated > 0
