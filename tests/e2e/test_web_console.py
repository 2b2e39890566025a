"""The office console over HTTP: /web links, Mini App initData, CSRF, and who may do what.

Every refusal is checked to change nothing: the case's status and the audit trail stay.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import Status
from tests.support.e2e import Dudao, running_dudao
from tests.support.office_e2e import (
    PARENT_ID,
    SUP2_ID,
    KeywordClassifier,
    event_count,
    file,
    proposed,
    staff_user,
    status_of,
    supervisor_user,
)
from tests.support.web import SESSION_SECRET, Browser, console_server, login_link


@pytest.fixture
async def bot(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Dudao]:
    target = tmp_path / "web.db"
    shutil.copy(sqlite_template, target)
    async with running_dudao(f"sqlite:///{target}", KeywordClassifier(),
                             web={"session_secret": SESSION_SECRET}) as harness:
        yield harness


async def test_staff_approve_on_the_web_is_the_chat_event_and_the_parent_hears(
        bot: Dudao) -> None:
    parent = bot.user(PARENT_ID)
    await parent.send_text("/start")
    await parent.wait_for_message(timeout=10)
    staff = await staff_user(bot)
    await supervisor_user(bot)
    reference = await proposed(bot)
    async with console_server(bot) as base, Browser(base) as browser:
        link = await login_link(staff)
        assert link.startswith(base + "/login/")
        queue = await browser.login(link)
        assert queue.status == 200 and queue.url.endswith("/cases")
        assert reference in queue.text and 'name="csrf"' in queue.text
        page = await browser.get(f"/cases/{reference}")
        assert page.status == 200
        assert "审核通过" in page.text  # the approve button (通过), as in chat
        assert "提出处理意见" in page.text  # the audit trail in the chat's words
        done = await browser.act(reference, "approve")
        assert done.status == 200 and "已审核通过" in done.text
    assert await status_of(bot, reference) is Status.CLOSED
    async with bot.container.uow.read() as uow:
        case = await uow.cases.get(reference)
    assert case is not None
    approved = next(e for e in case.events if e.action == "approved")
    assert approved.data.get("channel") == "web" and approved.actor == "DDS01"
    accepted = next(e for e in case.events if e.action == "accepted")
    assert "channel" not in accepted.data  # done in chat
    await bot.deliver()
    heard = await parent.wait_for_message(
        lambda m: reference in (m.text or "") and "已办结" in (m.text or ""), timeout=10)
    assert "不属实" in (heard.text or "")  # the outcome, with the rating buttons
    assert heard.inline_keyboard


async def test_a_login_link_works_once_and_not_after_ten_minutes(bot: Dudao) -> None:
    staff = await staff_user(bot)
    async with console_server(bot) as base:
        link = await login_link(staff)
        async with Browser(base) as first:
            assert (await first.login(link)).status == 200
        async with Browser(base) as second:
            again = await second.login(link)
            assert again.status == 403 and "已使用或已过期" in again.text
            assert "/login/" not in (await second.get("/cases")).url  # not logged in
            assert "督导室案件" not in (await second.get("/cases")).text
        stale = await login_link(staff)
        bot.clock.advance(minutes=11)
        async with Browser(base) as late:
            refused = await late.login(stale)
            assert refused.status == 403
    used = await bot.uow_count("SELECT count(*) FROM web_logins WHERE used_at IS NOT NULL")
    assert used == 1  # the expired link was not used either
    assert await bot.uow_count("SELECT count(*) FROM web_logins WHERE token_hash LIKE '%/%'") \
        == 0


async def test_the_mini_app_logs_in_with_signed_init_data_only(bot: Dudao) -> None:
    staff = await staff_user(bot)
    await supervisor_user(bot)
    reference = await proposed(bot)
    before = await event_count(bot)
    async with console_server(bot, public_url="https://console.example.org") as base:
        await login_link(staff)  # /web also sets the chat's menu button (https only)
        assert staff.menu_button == {"type": "web_app", "text": "工作台",
                                     "web_app": {"url": "https://console.example.org/app"}}
        signed_at = int(bot.clock.now().timestamp())  # Telegram's clock is the bot's here
        opened = staff.open_mini_app(auth_date=signed_at)
        init_data = opened.split("#tgWebAppData=", 1)[1].split("&tgWebAppVersion")[0]
        from urllib.parse import unquote
        init_data = unquote(init_data)
        async with Browser(base) as browser:
            app_page = await browser.get("/app")
            assert "tgWebAppData" in app_page.text
            forged = init_data.replace("%E6%9E%97", "%E7%8E%8B")  # another name, same hash
            assert forged != init_data
            refused = await browser.post("/auth/telegram",
                                         {"csrf": app_page.csrf, "init_data": forged})
            assert refused.status == 403 and "签名无效或已过期" in refused.text
            stale = staff.init_data(auth_date=signed_at - 2 * 86400)
            refused = await browser.post("/auth/telegram",
                                         {"csrf": app_page.csrf, "init_data": stale})
            assert refused.status == 403
            other_bot = init_data.replace("hash=", "hash=0")
            refused = await browser.post("/auth/telegram",
                                         {"csrf": app_page.csrf, "init_data": other_bot})
            assert refused.status == 403
            assert reference not in (await browser.get("/cases")).text
            ok = await browser.post("/auth/telegram",
                                    {"csrf": app_page.csrf, "init_data": init_data})
            assert ok.status == 200 and reference in ok.text
    assert await event_count(bot) == before


async def test_missing_csrf_token_changes_nothing(bot: Dudao) -> None:
    staff = await staff_user(bot)
    await supervisor_user(bot)
    reference = await proposed(bot)
    before = await event_count(bot)
    async with console_server(bot) as base, Browser(base) as browser:
        await browser.login(await login_link(staff))
        for data in ({"action": "approve"}, {"action": "approve", "csrf": "forged"}):
            refused = await browser.post(f"/cases/{reference}/act", data)
            assert refused.status == 403 and "操作没有执行" in refused.text
    assert await status_of(bot, reference) is Status.PROPOSED
    assert await event_count(bot) == before


async def test_a_supervisor_sees_only_their_cases_and_cannot_act_as_staff(bot: Dudao) -> None:
    await staff_user(bot)
    await supervisor_user(bot)
    other = bot.user(SUP2_ID, first_name="李秀兰")
    await bot.bind(other, "DX02")
    reference = await proposed(bot)  # DX01's case
    before = await event_count(bot)
    async with console_server(bot) as base:
        async with Browser(base) as browser:
            queue = await browser.login(await login_link(other))
            assert queue.status == 200 and reference not in queue.text
            assert (await browser.get(f"/cases/{reference}")).status == 404
            page = await browser.get("/cases")
            refused = await browser.post(f"/cases/{reference}/act",
                                         {"csrf": page.csrf, "action": "approve"})
            assert refused.status in (403, 404)
        mine = bot.user(7101)
        async with Browser(base) as browser:
            queue = await browser.login(await login_link(mine))
            assert reference in queue.text
            page = await browser.get(f"/cases/{reference}")
            assert page.status == 200 and "审核通过" not in page.text
            assert "13800000001" not in page.text
            refused = await browser.act(reference, "approve")
            assert refused.status == 403 and "督导室工作人员" in refused.text
            refused = await browser.act(reference, "reassign", category="other",
                                        supervisor="DX02")
            assert refused.status == 403
            assert (await browser.get("/directory")).status == 403  # office staff only
            upload = await browser.post("/directory/import", {
                "csrf": page.csrf, "name": "schools.csv",
                "data": "Y29kZSxuYW1lCg=="})
            assert upload.status == 403
            assert (await browser.get("/downloads/export.xlsx?from=2026-11-01&to=2026-11-30")
                    ).status == 403
            mine = await browser.get("/dashboard")
            assert mine.status == 200 and "本月未到校" in mine.text
            assert "城关第一小学" in mine.text and "实验小学" not in mine.text
    assert await status_of(bot, reference) is Status.PROPOSED
    assert await event_count(bot) == before


async def test_a_parent_gets_no_login_link(bot: Dudao) -> None:
    parent = bot.user(PARENT_ID)
    await parent.send_text("/web")
    reply = await parent.wait_for_message(timeout=10)
    assert "/login/" not in (reply.text or "") and "已绑定" in (reply.text or "")
    assert await bot.uow_count("SELECT count(*) FROM web_logins") == 0





async def test_reading_pages_changes_nothing_but_the_login(bot: Dudao) -> None:
    staff = await staff_user(bot)
    await supervisor_user(bot)
    reference = await proposed(bot)
    tables = ("cases", "case_events", "outbox", "evidence", "visits", "people", "schools")

    async def counts() -> list[int]:
        return [await bot.uow_count(f"SELECT count(*) FROM {name}") for name in tables]

    async with console_server(bot) as base, Browser(base) as browser:
        await browser.login(await login_link(staff))
        before = await counts()
        for path in ("/", "/cases", "/cases?status=proposed&q=作业", f"/cases/{reference}",
                     "/cases?district=NOPE", "/dashboard", "/dashboard?kind=half",
                     "/directory?q=城关", "/app", f"/cases/{reference.lower()}"):
            page = await browser.get(path)
            assert page.status == 200, path
            assert 'name="csrf"' in page.text, path  # every page carries the token
        # the coverage rate is named for the period its figure covers
        assert "本季度每月到校覆盖率" in (await browser.get("/dashboard")).text
        assert "本月到校覆盖率" in (await browser.get("/dashboard?kind=half")).text
        assert await counts() == before
    assert await status_of(bot, reference) is Status.PROPOSED


async def test_supervisor_and_staff_steps_on_the_web_are_the_domain_steps(bot: Dudao) -> None:
    staff = await staff_user(bot)
    supervisor = await supervisor_user(bot)
    reference = await file(bot)
    async with console_server(bot) as base:
        async with Browser(base) as sv:
            await sv.login(await login_link(supervisor))
            assert (await sv.act(reference, "accept")).status == 200
            assert await status_of(bot, reference) is Status.ACCEPTED
            refused = await sv.act(reference, "propose", disposition="needs_info")
            assert refused.status == 400  # not a disposition one proposes
            done = await sv.act(reference, "propose", disposition="rectify", days="7",
                                comment="限期整改")
            assert done.status == 200 and "等待督导室审核" in done.text
        assert await status_of(bot, reference) is Status.PROPOSED
        async with Browser(base) as office:
            await office.login(await login_link(staff))
            empty = await office.act(reference, "reject")
            assert empty.status == 400  # a rejection needs a reason
            assert (await office.act(reference, "reject", comment="请补充整改要求")).status == 200
            assert await status_of(bot, reference) is Status.ACCEPTED
            moved = await office.act(reference, "reassign", category="homework_burden",
                                     supervisor="DX02")
            assert moved.status == 200 and "已改派" in moved.text
            unknown = await office.act(reference, "reassign", category="homework_burden",
                                       supervisor="NOBODY")
            assert unknown.status == 400
    async with bot.container.uow.read() as uow:
        case = await uow.cases.get(reference)
    assert case is not None and case.assignee_code == "DX02"
    steps = [(e.action, e.data.get("channel")) for e in case.events]
    assert steps[-4:] == [("accepted", "web"), ("proposed", "web"),
                          ("proposal_rejected", "web"), ("assigned", "web")]


async def test_an_address_nothing_serves_is_answered_in_chinese(bot: Dudao) -> None:
    async with console_server(bot) as base, Browser(base) as browser:
        for path in ("/no-such-page", "/cases/SJ-2026-000001/nothing-here"):
            page = await browser.get(path)
            assert page.status == 404, path
            assert "没有这个页面" in page.text and "Not Found" not in page.text, path
