"""The office console in a real headless Chromium: /web link → queue → a case → approve, and
the parent hears the outcome in Telegram; the Mini App's page logs in with initData.

Each page is saved as a screenshot (var/test-artifacts/console/; with
DUDAO_CONSOLE_SCREENSHOTS=1 also into docs/screenshots/console/ for the guides).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from bot.domain import Status
from tests.support.browser import Chromium, chromium_paths
from tests.support.e2e import Dudao, running_dudao
from tests.support.office_e2e import (
    PARENT_ID,
    KeywordClassifier,
    proposed,
    reported,
    staff_user,
    status_of,
    supervisor_user,
)
from tests.support.web import SESSION_SECRET, console_server, login_link

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "console"
COPY = (DOCS,) if os.environ.get("DUDAO_CONSOLE_SCREENSHOTS") == "1" else ()


@pytest.fixture
async def bot(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Dudao]:
    chromium_paths()  # skip early without a browser
    target = tmp_path / "browser.db"
    shutil.copy(sqlite_template, target)
    async with running_dudao(f"sqlite:///{target}", KeywordClassifier(),
                             web={"session_secret": SESSION_SECRET}) as harness:
        yield harness


def _looks_drawn(path: Path) -> None:
    """A real page, not a blank or error screen: wide enough and with several colours."""
    with Image.open(path) as image:
        assert image.width >= 360 and image.height >= 300
        colours = image.convert("RGB").resize((64, 64)).getcolors(64 * 64) or []
        assert len(colours) > 8, path


async def test_staff_approve_in_chromium_and_the_parent_hears(bot: Dudao,
                                                             tmp_path: Path) -> None:
    parent = bot.user(PARENT_ID)
    await parent.send_text("/start")
    await parent.wait_for_message(timeout=10)
    staff = await staff_user(bot)
    await supervisor_user(bot)
    await reported(bot)  # a second case, so the queue shows more than one
    reference = await proposed(bot)
    browser = Chromium()
    try:
        async with console_server(bot) as base:
            link = await login_link(staff)
            await browser.open(link)
            shots = [await browser.screenshot("1-login", *COPY)]
            await browser.click("#login")
            await browser.wait_for(lambda: browser.url.endswith("/cases"))
            assert reference in await browser.text()
            shots.append(await browser.screenshot("2-queue", *COPY))
            await browser.click(f'a.ref[href="/cases/{reference}"]')
            await browser.wait_for(lambda: reference in browser.url)
            page = await browser.text()
            assert "审核通过" in page and "提出处理意见" in page
            shots.append(await browser.screenshot("3-case", *COPY))
            await browser.click("#approve")
            await browser.wait_for(lambda: "done=approve" in browser.url)
            assert "已审核通过" in await browser.text()
            shots.append(await browser.screenshot("4-approved", *COPY))
            await browser.open(base + "/dashboard")
            assert "按类别" in await browser.text()
            shots.append(await browser.screenshot("5-dashboard", *COPY))
            await browser.open(base + "/directory?q=" + "城关")
            assert "城关第一小学" in await browser.text()
            shots.append(await browser.screenshot("6-directory", *COPY))
            upload = tmp_path / "schools.csv"
            upload.write_text("code,name,district_code,stage,aliases,supervisor_code\n"
                              "QX-S001,青溪县城关第一小学,QX-CG,小学,城关一小|一小,DX01\n"
                              "QX-S901,青溪县城关实验小学,QX-CG,小学,实验小学,DX01\n",
                              encoding="utf-8")
            await browser.send_file('input[type="file"]', upload)
            await browser.click('form[action="/directory/preview"] button')
            await browser.wait_for(lambda: browser.url.endswith("/directory/preview"))
            preview = await browser.text()
            assert "第3行" in preview and "新增" in preview and "确认导入" in preview
            shots.append(await browser.screenshot("7-directory-preview", *COPY))
            assert await bot.uow_count("SELECT count(*) FROM schools WHERE code = 'QX-S901'") \
                == 0  # a preview changes nothing
            await browser.click('form[action="/directory/import"] button')
            await browser.wait_for(lambda: browser.url.endswith("/directory/import"))
            assert await bot.uow_count("SELECT count(*) FROM schools WHERE code = 'QX-S901'") \
                == 1
    finally:
        browser.close()
    assert await status_of(bot, reference) is Status.CLOSED
    await bot.deliver()
    heard = await parent.wait_for_message(
        lambda m: reference in (m.text or "") and "已办结" in (m.text or ""), timeout=10)
    assert heard.inline_keyboard  # the rating buttons
    for shot in shots:
        _looks_drawn(shot)


async def test_the_mini_app_page_logs_in_inside_a_phone_sized_chromium(bot: Dudao) -> None:
    supervisor = await supervisor_user(bot)
    reference = await proposed(bot)
    signed = supervisor.init_data(auth_date=int(bot.clock.now().timestamp()))
    browser = Chromium(390, 844)
    try:
        async with console_server(bot) as base:
            from urllib.parse import quote

            await browser.open(f"{base}/app#tgWebAppData={quote(signed, safe='')}")
            await browser.wait_for(lambda: browser.url.endswith("/cases"))
            assert reference in await browser.text()
            shots = [await browser.screenshot("8-mini-app-queue", *COPY)]
            await browser.open(f"{base}/cases/{reference}")
            page = await browser.text()
            assert "审核通过" not in page and "13800000001" not in page
            shots.append(await browser.screenshot("9-mini-app-case", *COPY))
    finally:
        browser.close()
    for shot in shots:
        _looks_drawn(shot)
