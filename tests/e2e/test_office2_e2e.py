"""Through Telegram: 不予受理 at triage, typed deadlines, night alerts, /mycases with the
pending question, institution visits and hotspots (the real Application, a local Bot API)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.domain import Disposition, Status
from bot.ports import Notice
from localapi.client import FakeUser
from localapi.state import ChatMessage
from storage.models import InstitutionVisitRow, Person
from tests.support.e2e import Dudao, running_dudao
from tests.support.office_e2e import (
    PARENT_ID,
    STAFF_ID,
    SUP_ID,
    KeywordClassifier,
    file,
    has,
    staff_user,
    supervisor_user,
)

WAIT = 10.0


@pytest.fixture
async def bot(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Dudao]:
    target = tmp_path / "office2-e2e.db"
    shutil.copy(sqlite_template, target)
    async with running_dudao(f"sqlite:///{target}", KeywordClassifier()) as harness:
        yield harness


async def case_of(bot: Dudao, reference: str) -> Any:
    async with bot.container.uow() as uow:
        return await uow.cases.get(reference)


async def press(user: FakeUser, button: str) -> None:
    query = await user.press(button)
    assert query is not None
    answer = await user.wait_for_callback_answer(query, timeout=WAIT)
    assert not answer.show_alert, answer.text


def sends_to(bot: Dudao, chat: int, text: str) -> list[Any]:
    return [c for c in bot.api.calls_of("sendMessage")
            if int(c.params.get("chat_id", 0)) == chat and text in str(c.params.get("text"))]


def silent(call: Any) -> bool:
    return str(call.params.get("disable_notification")).lower() == "true"


async def test_staff_close_an_emoji_tip_as_not_accepted_and_the_parent_is_told(
        bot: Dudao) -> None:
    staff = await staff_user(bot)
    parent = bot.user(PARENT_ID)
    await parent.send_text("😡😡😡")
    await parent.wait_for_message(has("请确认"), timeout=WAIT)
    await parent.press("匿名提交")
    filed = await parent.wait_for_message(has("案件编号"), timeout=WAIT)
    reference = filed.text.split("案件编号：")[1][:14]  # type: ignore[union-attr]
    await bot.deliver()
    await staff.send_text(f"/case {reference}")
    await staff.wait_for_message(lambda m: "不予受理" in str(m.reply_markup), timeout=WAIT)
    await press(staff, "不予受理")
    await staff.wait_for_message(has("不予受理的原因"), timeout=WAIT)
    await staff.send_text("内容只有表情，无法核查具体问题")
    await staff.wait_for_message(has("已不予受理"), timeout=WAIT)
    case = await case_of(bot, reference)
    assert (case.status, case.disposition) == (Status.CLOSED, Disposition.DECLINED)
    await bot.deliver()
    told = await parent.wait_for_message(has("不予受理"), timeout=WAIT)
    assert "内容只有表情，无法核查具体问题" in (told.text or "")
    assert "满意" in str(told.reply_markup)  # the parent may still rate (and then reopen)
    await parent.send_text("/mycases")
    listed = await parent.wait_for_message(has("您的案件"), timeout=WAIT)
    assert reference in (listed.text or "") and "已办结" in (listed.text or "")
    # Dissatisfied, the parent reopens it: it goes back to the office, and they are told so
    # once, not that a supervisor will handle it.
    await press(parent, "不满意")
    await parent.wait_for_message(has("意见"), timeout=WAIT)
    await press(parent, "跳过")
    await parent.wait_for_message(lambda m: "申请重新办理" in str(m.reply_markup), timeout=WAIT)
    await press(parent, "申请重新办理")
    await parent.wait_for_message(has("已重新提交督导室"), timeout=WAIT)
    await bot.deliver()
    assert (await case_of(bot, reference)).status is Status.TRIAGE
    told_again = [c for c in bot.api.calls_of("sendMessage")
                  if int(c.params.get("chat_id", 0)) == PARENT_ID
                  and "已重新" in str(c.params.get("text"))]
    assert len(told_again) == 1 and "督学会再次处理" not in str(told_again[0].params["text"])


async def test_a_supervisor_types_the_rectification_deadline(bot: Dudao) -> None:
    sup = await supervisor_user(bot)
    reference = await file(bot)
    await bot.container.cases.perform(SUP_ID, reference, lambda c, a, now: c.accept(a, now))
    await sup.send_text("/cases")
    await sup.wait_for_message(has("待办案件"), timeout=WAIT)
    await press(sup, f"s:open:{reference}")
    await sup.wait_for_message(has("提出处理意见"), timeout=WAIT)
    await press(sup, "提出处理意见")
    await sup.wait_for_message(has("请选择处理意见"), timeout=WAIT)
    await press(sup, "属实限期整改")
    await sup.wait_for_message(has("直接输入日期"), timeout=WAIT)
    await sup.send_text("2026-11-01")
    await sup.wait_for_message(has("不能是今天或已经过去的日期"), timeout=WAIT)
    await sup.send_text("2028-01-01")
    await sup.wait_for_message(has("超过一年"), timeout=WAIT)
    await sup.send_text("下个月")
    await sup.wait_for_message(has("没有看懂这个日期"), timeout=WAIT)
    await sup.send_text("12月20日")
    await sup.wait_for_message(has("2026-12-20"), timeout=WAIT)
    await sup.send_text("责令学校调整作业量并公示")
    await sup.wait_for_message(has("已提交督导室审核"), timeout=WAIT)
    case = await case_of(bot, reference)
    assert case.status is Status.PROPOSED and case.rectify_deadline == date(2026, 12, 20)


async def test_staff_switch_night_alerts_and_the_night_rule_holds(bot: Dudao) -> None:
    staff = await staff_user(bot)
    sup = await supervisor_user(bot)
    menu = bot.api.calls_of("setMyCommands")[-1]
    assert "night" in str(menu.params.get("commands"))
    await staff.send_text("/help")
    await staff.wait_for_message(has("/night"), timeout=WAIT)
    await staff.send_text("/night")
    await staff.wait_for_message(has("夜间提醒：已关闭"), timeout=WAIT)
    await press(staff, "开启夜间提醒")
    async with bot.container.uow() as uow:
        stored = await uow.session.execute(select(Person.night_pings).where(
            Person.code == "DDS01"))
        assert stored.scalar_one() is True
    # 23:30: a scheduled reminder reaches staff who opted in at once, with sound; the
    # supervisor's waits for the morning; a question caused by an action goes silently.
    tz = bot.container.settings.tz
    bot.clock.current = datetime(2026, 11, 23, 23, 30, tzinfo=tz)
    reference = await file(bot)
    await bot.container.cases.perform(SUP_ID, reference, lambda c, a, now: c.accept(a, now))
    await bot.container.supervision.ask_parent(SUP_ID, reference, "请问是几年级？")
    async with bot.container.uow() as uow:
        await uow.outbox.enqueue(STAFF_ID, "staff.escalated", Notice.plain("夜间督办提醒"),
                                 bot.clock.now())
        await uow.outbox.enqueue(SUP_ID, "ping.late", Notice.plain("夜间整改提醒"),
                                 bot.clock.now())
        await uow.commit()
    await bot.deliver()
    [to_staff] = sends_to(bot, STAFF_ID, "夜间督办提醒")
    assert not silent(to_staff)
    assert sends_to(bot, SUP_ID, "夜间整改提醒") == []
    [question] = sends_to(bot, PARENT_ID, "请问是几年级？")
    assert silent(question)
    [accepted] = sends_to(bot, PARENT_ID, "已由督学受理")
    assert silent(accepted)
    # Switched off by command: the next night's reminder to staff waits for the morning too.
    await staff.send_text("/night off")
    await staff.wait_for_message(has("夜间提醒：已关闭"), timeout=WAIT)
    async with bot.container.uow() as uow:
        await uow.outbox.enqueue(STAFF_ID, "staff.escalated", Notice.plain("第二个督办提醒"),
                                 bot.clock.now())
        await uow.commit()
    await bot.deliver()
    assert sends_to(bot, STAFF_ID, "第二个督办提醒") == []
    bot.clock.current = datetime(2026, 11, 24, 7, 0, 1, tzinfo=tz)
    await bot.deliver()
    assert len(sends_to(bot, STAFF_ID, "第二个督办提醒")) == 1
    assert len(sends_to(bot, SUP_ID, "夜间整改提醒")) == 1
    await staff.send_text("/night maybe")
    await staff.wait_for_message(has("用法：/night"), timeout=WAIT)
    await sup.send_text("/night")  # not staff: refused, nothing changes
    await sup.wait_for_message(has("督导室工作人员"), timeout=WAIT)


async def test_mycases_shows_the_supervisors_question(bot: Dudao) -> None:
    await supervisor_user(bot)
    parent = bot.user(PARENT_ID)
    await parent.send_text("/start")
    await parent.wait_for_message(timeout=WAIT)
    reference = await file(bot)
    await bot.container.cases.perform(SUP_ID, reference, lambda c, a, now: c.accept(a, now))
    await bot.container.supervision.ask_parent(SUP_ID, reference, "请问是几年级几班？")
    await parent.send_text("/mycases")
    listed = await parent.wait_for_message(has("您的案件"), timeout=WAIT)
    assert "督学的问题：请问是几年级几班？" in (listed.text or "")


async def test_a_liaison_supervisor_logs_an_institution_visit(bot: Dudao) -> None:
    tutor = bot.user(7301, first_name="胡国平")
    await bot.bind(tutor, "DX13")
    await tutor.send_text("/visit")
    pick: ChatMessage = await tutor.wait_for_message(has("培训机构"), timeout=WAIT)
    assert "青溪县启明星文化培训学校" in str(pick.reply_markup)
    await press(tutor, "🏫 青溪县启明星文化培训学校（培训机构）")
    await tutor.wait_for_message(has("哪天到机构督导检查"), timeout=WAIT)
    await press(tutor, "今天 11月23日")
    await tutor.wait_for_message(has("收费公示"), timeout=WAIT)
    await tutor.send_text("查看办学许可和收费公示，均已张贴")
    await tutor.wait_for_message(has("照片"), timeout=WAIT)
    await press(tutor, "不附照片")
    saved = await tutor.wait_for_message(has("已记录"), timeout=WAIT)
    assert "青溪县启明星文化培训学校" in (saved.text or "") and "1/" in (saved.text or "")
    async with bot.container.uow() as uow:
        rows = (await uow.session.execute(select(InstitutionVisitRow.visit_date,
                                                 InstitutionVisitRow.note))).all()
    assert [tuple(r) for r in rows] == [(date(2026, 11, 23), "查看办学许可和收费公示，均已张贴")]
    await tutor.send_text("/visits")
    cov = await tutor.wait_for_message(has("培训机构督导检查：已检查 1/"), timeout=WAIT)
    assert "⬜" in (cov.text or "")
    # Someone else's institution, forged: refused, nothing stored.
    query = tutor._press_inline(cov, {"text": "x", "callback_data": "s:vi:QX-J003"})
    answer = await tutor.wait_for_callback_answer(query, timeout=WAIT)
    assert answer.show_alert and "不在您的联系督导范围" in (answer.text or "")


async def test_the_weekly_hotspots_open_their_tips(bot: Dudao) -> None:
    staff = await staff_user(bot)
    tz = bot.container.settings.tz
    bot.clock.current = datetime(2026, 11, 23, 8, 0, tzinfo=tz)  # before Monday 09:00
    references = [await file(bot) for _ in range(3)]
    bot.clock.current = datetime(2026, 11, 23, 10, 0, tzinfo=tz)  # the week's list is due
    await bot.container.hotspots.run()
    await bot.deliver()
    weekly = await staff.wait_for_message(has("本周问题线索热点"), timeout=WAIT)
    assert "青溪县城关第一小学（3条）" in (weekly.text or "")
    await press(staff, "青溪县城关第一小学（3条）")
    listed = await staff.wait_for_message(has("近30天的线索 3 条"), timeout=WAIT)
    assert all(ref in (listed.text or "") for ref in references)
    await press(staff, f"查看 {references[0]}")
    await staff.wait_for_message(has("线索内容"), timeout=WAIT)
    await staff.send_text("/hotspots")
    now = await staff.wait_for_message(lambda m: m is not weekly and "城关镇（3条）" in (
        m.text or ""), timeout=WAIT)
    assert now.reply_markup is not None
    await bot.container.hotspots.run()
    await bot.deliver()
    assert sum("本周问题线索热点" in (m.text or "") for m in staff.messages) == 2  # + /hotspots
