"""The merge question can be cancelled: nothing merges, the question loses its buttons."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import Status
from tests.support.e2e import Dudao, running_dudao
from tests.support.office_e2e import (
    PARENT_ID,
    KeywordClassifier,
    file,
    has,
    staff_user,
    status_of,
)

PARENT2_ID = 7302
DUPLICATE = "城关第一小学三年级数学作业太多，每天要写到十一点，孩子睡不够"


@pytest.fixture
async def bot(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Dudao]:
    target = tmp_path / "merge-cancel.db"
    shutil.copy(sqlite_template, target)
    async with running_dudao(f"sqlite:///{target}", KeywordClassifier()) as harness:
        yield harness


async def test_staff_cancel_a_merge_and_both_cases_stay_apart(bot: Dudao) -> None:
    staff = await staff_user(bot)
    for user in (bot.user(PARENT_ID, first_name="王芳"), bot.user(PARENT2_ID)):
        await user.send_text("/start")
        await user.wait_for_message(has("双减"), timeout=10)
    target = await file(bot)
    source = await file(bot, text=DUPLICATE, reporter_user_id=PARENT2_ID)

    await staff.send_text(f"/case {source}")
    await staff.wait_for_message(has("处理记录"), timeout=10)
    await staff.press(f"并入 {target}")
    question = await staff.wait_for_message(has("确定将案件"), timeout=10)
    assert question.buttons == [["确认合并", "取消"]]
    await staff.press("取消")
    await staff.wait_for_message(has(f"已取消，案件 {source} 没有并入案件 {target}"), timeout=10)
    with pytest.raises(LookupError):  # the question lost its buttons: no confirming later
        await staff.press("确认合并")
    assert await status_of(bot, source) is Status.ASSIGNED
    assert await status_of(bot, target) is Status.ASSIGNED
