"""Merging duplicates end to end: the real Application polling a local Bot API server."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import Disposition, Status
from tests.support.e2e import Dudao, running_dudao, settle
from tests.support.office_e2e import (
    HOMEWORK,
    PARENT_ID,
    STAFF_ID,
    SUP_ID,
    KeywordClassifier,
    event_count,
    file,
    forge,
    has,
    staff_user,
    status_of,
    supervisor_user,
)

PARENT2_ID = 7202
DUPLICATE = "城关第一小学三年级数学作业太多，每天要写到十一点，孩子睡不够"


@pytest.fixture
async def bot(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Dudao]:
    """The whole bot with the keyword classifier, so routing is certain."""
    target = tmp_path / "merge-e2e.db"
    shutil.copy(sqlite_template, target)
    async with running_dudao(f"sqlite:///{target}", KeywordClassifier()) as harness:
        yield harness


async def test_staff_merge_a_duplicate_and_its_parent_follows_and_rates(bot: Dudao) -> None:
    staff = await staff_user(bot)
    supervisor = await supervisor_user(bot)
    first_parent, parent = bot.user(PARENT_ID, first_name="王芳"), bot.user(PARENT2_ID)
    for user in (first_parent, parent):
        await user.send_text("/start")  # a bot can only write to users who started it
        await user.wait_for_message(has("双减"), timeout=10)
    target = await file(bot)
    source = await file(bot, text=DUPLICATE, reporter_user_id=PARENT2_ID)

    await staff.send_text(f"/case {source}")
    card = await staff.wait_for_message(has("线索内容"), timeout=10)
    assert f"可能重复：{target}" in (card.text or "")
    await staff.wait_for_message(has("处理记录"), timeout=10)  # the buttons come last
    await staff.press(f"并入 {target}")
    question = await staff.wait_for_message(has("确定将案件"), timeout=10)
    assert source in (question.text or "") and "不能撤销" in (question.text or "")
    assert await status_of(bot, source) is Status.ASSIGNED  # nothing happens before confirming
    await staff.press("确认合并")
    await staff.wait_for_message(has(f"已将案件 {source} 并入案件 {target}"), timeout=10)
    assert await status_of(bot, source) is Status.CLOSED

    told = await parent.wait_for_message(has("合并办理"), timeout=10)
    assert source in (told.text or "") and target not in (told.text or "")
    notice = await supervisor.wait_for_message(has("并入您承办的案件"), timeout=10)
    assert source in (notice.text or "") and target in (notice.text or "")
    assert "王芳" not in (notice.text or "")

    await parent.send_text("/mycases")
    listing = await parent.wait_for_message(has("您的案件"), timeout=10)
    assert f"{source} · 作业负担 · 合并办理中" in (listing.text or "")
    await parent.press(source)
    view = await parent.wait_for_message(has("已与其他家长反映的相同问题合并办理"), timeout=10)
    assert target not in (view.text or "") and HOMEWORK not in (view.text or "")
    assert "满意" not in str(view.reply_markup)

    # The target is handled; its approval closes the follower and asks its parent to rate.
    await supervisor.press(f"s:acc:{target}")
    await supervisor.wait_for_message(has(f"已受理案件 {target}"), timeout=10)
    accepted = await parent.wait_for_message(has("已由督学受理"), timeout=10)
    assert source in (accepted.text or "") and target not in (accepted.text or "")
    cases = bot.container.cases
    await cases.perform(SUP_ID, target, lambda c, a, now: c.propose(
        a, Disposition.FIXED, now, note="已约谈学校"))
    await cases.perform(STAFF_ID, target, lambda c, a, now: c.approve_proposal(a, now))
    closed = await parent.wait_for_message(has("已办结"), timeout=10)
    assert source in (closed.text or "") and "属实已整改" in (closed.text or "")
    await parent.press(f"c:rate:{source}:satisfied")
    await parent.wait_for_message(has("跳过"), timeout=10)
    await parent.press(f"c:ratenow:{source}:satisfied")
    await parent.wait_for_message(has("感谢"), timeout=10)
    async with bot.container.uow() as uow:
        rated = await uow.cases.get(source)
        main = await uow.cases.get(target)
    assert rated is not None and rated.rating is not None and rated.rating.value == "satisfied"
    assert main is not None and main.rating is None  # the first parent rates their own
    await first_parent.wait_for_message(has(target), timeout=10)


async def test_forged_merge_buttons_from_parent_and_supervisor_change_nothing(
        bot: Dudao) -> None:
    await staff_user(bot)
    supervisor = await supervisor_user(bot)
    target = await file(bot)
    source = await file(bot, text=DUPLICATE, reporter_user_id=PARENT2_ID)
    parent = bot.user(PARENT2_ID)
    await parent.send_text("/start")
    await parent.wait_for_message(has("双减"), timeout=10)
    await supervisor.send_text("/start")
    await supervisor.wait_for_message(timeout=10)
    before = await event_count(bot)
    for user in (parent, supervisor):
        for data in (f"o:mrg:{source}:{target}", f"o:mrgy:{source}:{target}",
                     f"o:nd:{source}:{target}"):
            answer = await user.wait_for_callback_answer(forge(user, data), timeout=10)
            assert answer.show_alert and "只有督导室工作人员" in (answer.text or ""), data
    await settle()
    assert await event_count(bot) == before
    assert await status_of(bot, source) is Status.ASSIGNED
    assert await status_of(bot, target) is Status.ASSIGNED


async def test_staff_double_tap_and_self_merge_are_refused(bot: Dudao) -> None:
    staff = await staff_user(bot)
    target = await file(bot)
    source = await file(bot, text=DUPLICATE, reporter_user_id=PARENT2_ID)
    await staff.send_text("/start")
    await staff.wait_for_message(timeout=10)
    first = forge(staff, f"o:mrgy:{source}:{target}")
    await staff.wait_for_callback_answer(first, timeout=10)
    again = await staff.wait_for_callback_answer(forge(staff, f"o:mrgy:{source}:{target}"),
                                                 timeout=10)
    assert again.show_alert and "已办结" in (again.text or "")
    itself = await staff.wait_for_callback_answer(forge(staff, f"o:mrg:{target}:{target}"),
                                                  timeout=10)
    assert itself.show_alert and "它自己" in (itself.text or "")
    events = await event_count(bot)
    await staff.send_text(f"/case {target}")
    card = await staff.wait_for_message(has("线索内容"), timeout=10)
    assert f"并入本案的线索：{source}" in (card.text or "") and "可能重复" not in (card.text or "")
    assert await event_count(bot) == events
