"""Office staff end to end: the real Application polling a local Bot API server on 127.0.0.1.

The classifier is a small keyword fake so which tips reach triage is certain; everything
else (database, directory, services, handlers, outbox delivery) is the real thing.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.domain import Status
from handlers.telegram import office
from storage.models import Person
from tests.support.e2e import Dudao, running_dudao, settle
from tests.support.office_e2e import (
    CANTEEN,
    PARENT_ID,
    STAFF_ID,
    SUP2_ID,
    SUP_ID,
    KeywordClassifier,
    edited,
    event_count,
    file,
    forge,
    has,
    open_from_queue,
    proposed,
    reported,
    staff_user,
    status_of,
    supervisor_user,
)


def _wire_office(app: Any) -> None:
    """Put the office handlers first, as build_application does once the lead wires them."""
    existing = app.handlers.get(0, [])
    if any(getattr(h, "callback", None) is office.on_button for h in existing):
        return
    app.handlers.setdefault(0, [])[:0] = office.handlers()


@pytest.fixture
async def bot(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Dudao]:
    target = tmp_path / "office-e2e.db"
    shutil.copy(sqlite_template, target)
    async with running_dudao(f"sqlite:///{target}", KeywordClassifier()) as harness:
        _wire_office(harness.app)
        yield harness


# --- triage -----------------------------------------------------------------------------
async def test_triage_correction_assigns_and_notifies_supervisor(bot: Dudao) -> None:
    staff = await staff_user(bot)
    supervisor = await supervisor_user(bot)
    parent = bot.user(PARENT_ID, first_name="王芳")
    await parent.send_text(CANTEEN)
    await parent.wait_for_message(timeout=10)
    await parent.press("实名提交")
    await parent.wait_for_message(timeout=10)
    await parent.press("不留电话")
    filed = await parent.wait_for_message(has("案件编号"), timeout=10)
    reference = next(w for w in (filed.text or "").replace("：", " ").split() if "SJ-" in w)[:14]
    assert await status_of(bot, reference) is Status.TRIAGE
    await staff.wait_for_message(has("待分办"), timeout=10)  # the office is told at once

    card = await open_from_queue(staff, "/triage", reference)
    assert "分类模型判断：其他" in (card.text or "") and "王芳" in (card.text or "")
    assert "★其他" in str(card.reply_markup)
    tap = await staff.press("作业负担")  # tap 1
    answer = await staff.wait_for_callback_answer(tap, timeout=10)
    assert "作业负担" in (answer.text or "")
    await staff.wait_for_message(edited, timeout=10)  # the card's buttons: supervisors
    await staff.press("★王建国·责任督学")  # tap 2
    done = await staff.wait_for_message(has("已分办"), timeout=10)
    assert reference in (done.text or "") and "王建国" in (done.text or "")

    notice = await supervisor.wait_for_message(has(reference), timeout=10)
    assert "分派给您" in (notice.text or "") and "受理" in str(notice.reply_markup)
    assert "王芳" not in (notice.text or "")  # supervisors never see the reporter
    async with bot.container.uow() as uow:
        case = await uow.cases.get(reference)
        corrections = await uow.cases.corrections()
    assert case is not None and case.status is Status.ASSIGNED
    assert case.assignee_code == "DX01" and case.category == "homework_burden"
    assert corrections == [(case.text, "homework_burden")]
    assert [e.data for e in case.events if e.action == "recategorised"] == [
        {"old": "other", "new": "homework_burden"}]


# --- approvals --------------------------------------------------------------------------
async def test_approve_and_reject_with_comment(bot: Dudao) -> None:
    staff = await staff_user(bot)
    supervisor = await supervisor_user(bot)
    first = await proposed(bot)
    second = await proposed(bot)
    await staff.send_text("/office")
    await staff.wait_for_message(has("督导室工作台"), timeout=10)
    await staff.press("处理意见待审核（2）")
    await staff.wait_for_message(has("待审核的处理意见 2 件"), timeout=10)

    card = await open_from_queue(staff, "/approvals", first)
    assert "不属实" in (card.text or "")
    await staff.press("审核通过")
    await staff.wait_for_message(has("审核通过"), timeout=10)
    assert await status_of(bot, first) is Status.CLOSED

    await open_from_queue(staff, "/approvals", second)
    await staff.press("退回修改")
    await staff.wait_for_message(has("理由"), timeout=10)
    await staff.send_text("请补充<走访>记录")
    await staff.wait_for_message(has("已退回"), timeout=10)
    assert await status_of(bot, second) is Status.ACCEPTED
    back = await supervisor.wait_for_message(has("退回"), timeout=10)
    assert "请补充<走访>记录" in (back.text or "")


# --- 回头看 -----------------------------------------------------------------------------
async def test_verification_failed_then_passed(bot: Dudao) -> None:
    staff = await staff_user(bot)
    supervisor = await supervisor_user(bot)
    parent = bot.user(PARENT_ID)
    await parent.send_text("/start")  # a bot can only write to users who started it
    await parent.wait_for_message(timeout=10)
    reference = await reported(bot)

    await open_from_queue(staff, "/verify", reference)
    await staff.press("复查未通过")
    await staff.wait_for_message(has("新的整改期限"), timeout=10)
    await staff.press("7天（2026-11-30）")
    await staff.wait_for_message(has("原因"), timeout=10)
    await staff.send_text("食堂仍未整改到位")
    await staff.wait_for_message(has("复查未通过"), timeout=10)
    async with bot.container.uow() as uow:
        case = await uow.cases.get(reference)
    assert case is not None and case.status is Status.RECTIFYING
    assert case.rectify_deadline == date(2026, 11, 30)
    assert "食堂仍未整改到位" in (
        await supervisor.wait_for_message(has("复查未通过"), timeout=10)).text  # type: ignore[operator]

    await bot.container.cases.perform(SUP_ID, reference,
                                      lambda c, a, now: c.report_rectified(a, "已整改", now))
    await open_from_queue(staff, "/verify", reference)
    await staff.press("复查通过")
    await staff.wait_for_message(has("已办结"), timeout=10)
    assert await status_of(bot, reference) is Status.CLOSED
    rating = await parent.wait_for_message(has("评价"), timeout=10)
    assert "满意" in str(rating.reply_markup)


# --- /case --------------------------------------------------------------------------------
async def test_case_shows_full_history_in_order(bot: Dudao) -> None:
    staff = await staff_user(bot)
    await supervisor_user(bot)
    reference = await proposed(bot)
    await bot.container.cases.perform(STAFF_ID, reference,
                                      lambda c, a, now: c.reject_proposal(a, "补充照片", now))
    await staff.send_text(f"/case {reference.lower()}")
    card = await staff.wait_for_message(has("处理记录"), timeout=10)
    text = card.text or ""
    steps = ["提交线索", "自动分派", "受理", "提出处理意见", "退回处理意见"]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions), text
    assert "王建国" in text and "补充照片" in text and "督学已受理 → 处理意见待审核" in text
    assert "提出处理意见" in str(card.reply_markup) or "改派" in str(card.reply_markup)
    await staff.send_text("/case SJ-2026-999999")
    await staff.wait_for_message(has("没有找到编号为 SJ-2026-999999"), timeout=10)
    await staff.send_text("/case 乱写")
    await staff.wait_for_message(has("用法：/case"), timeout=10)


async def test_reassign_from_case_view(bot: Dudao) -> None:
    staff = await staff_user(bot)
    other = await supervisor_user(bot, SUP2_ID, "DX02")
    reference = await file(bot)
    await staff.send_text(f"/case {reference}")
    await staff.wait_for_message(has("处理记录"), timeout=10)
    await staff.press("改派")
    await staff.wait_for_message(edited, timeout=10)
    await staff.press("★作业负担")
    await staff.wait_for_message(edited, timeout=10)
    await staff.press("李秀兰·责任督学")
    await staff.wait_for_message(has("已分办"), timeout=10)
    await other.wait_for_message(has(reference), timeout=10)
    async with bot.container.uow() as uow:
        case = await uow.cases.get(reference)
    assert case is not None and case.assignee_code == "DX02"


# --- overdue and 督办 -------------------------------------------------------------------
async def test_overdue_supervise_button(bot: Dudao) -> None:
    staff = await staff_user(bot)
    supervisor = await supervisor_user(bot)
    reference = await file(bot)
    bot.clock.advance(days=3)  # Thursday: the 1-working-day accept clock ran out
    await staff.send_text("/overdue")
    listing = await staff.wait_for_message(has("超期案件"), timeout=10)
    assert reference in (listing.text or "") and "受理期限" in (listing.text or "")
    await staff.press(f"督办 {reference}")
    await staff.wait_for_message(has("已对案件"), timeout=10)
    notice = await supervisor.wait_for_message(has("督办"), timeout=10)
    assert reference in (notice.text or "")


# --- export -------------------------------------------------------------------------------
async def test_export_sends_an_xlsx_document(bot: Dudao) -> None:
    staff = await staff_user(bot)
    references = [await file(bot), await file(bot, text="实验小学课后服务乱收费",
                                               school_code="QX-S005",
                                               category="after_school_service")]
    await staff.send_text("/export")
    document = await staff.wait_for_message(lambda m: m.kind == "document", timeout=20)
    meta = document.content["document"]
    assert meta["file_name"].endswith(".xlsx") and "共 2 件" in (document.text or "")
    sheet = load_workbook(io.BytesIO(staff.download(meta["file_id"]))).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == references
    await staff.send_text("/export 2026-12-01 2026-11-01")
    await staff.wait_for_message(has("结束日期不能早于开始日期"), timeout=10)


async def test_reports_send_figures_a_chart_and_a_workbook_to_staff_only(bot: Dudao) -> None:
    staff = await staff_user(bot)
    await file(bot)
    await file(bot, text="实验小学课后服务乱收费", school_code="QX-S005",
               category="after_school_service")
    await staff.send_text("/reports")
    await staff.wait_for_message(has("请选择要生成的报表"), timeout=10)
    await staff.press("本半月")
    summary = await staff.wait_for_message(has("线索办理情况"), timeout=20)
    assert "共 2 件" in (summary.text or "") and "课后服务 1" in (summary.text or "")
    chart = await staff.wait_for_message(lambda m: m.kind == "photo", timeout=20)
    assert staff.download(chart.file_id or "").startswith(b"\x89PNG")
    document = await staff.wait_for_message(lambda m: m.kind == "document", timeout=20)
    workbook = load_workbook(io.BytesIO(staff.download(document.content["document"]["file_id"])))
    assert workbook.worksheets[0].title == "汇总"
    parent = bot.user(PARENT_ID)
    await parent.send_text("/reports")
    await parent.wait_for_message(has("只有督导室工作人员"), timeout=10)
    query_id = forge(parent, "o:rep:quarter:0")
    answer = await parent.wait_for_callback_answer(query_id, timeout=10)
    assert answer.show_alert and "只有督导室工作人员" in (answer.text or "")
    assert not any(m.kind in ("photo", "document") for m in parent.messages)


# --- refusals -----------------------------------------------------------------------------
async def test_forged_office_buttons_from_parent_and_supervisor_change_nothing(
        bot: Dudao) -> None:
    await staff_user(bot)
    supervisor = await supervisor_user(bot)
    triage = await file(bot, text=CANTEEN, category="other", confidence=0.3)
    pending = await proposed(bot)
    parent = bot.user(PARENT_ID)
    await parent.send_text("/start")
    await parent.wait_for_message(has("双减"), timeout=10)
    before = await event_count(bot)
    for user in (parent, supervisor):
        for data in (f"o:apv:{pending}", f"o:ta:{triage}:0:DX01", f"o:sup:{pending}",
                     f"o:rej:{pending}", f"o:hist:{pending}", "o:q:triage"):
            query_id = forge(user, data)
            answer = await user.wait_for_callback_answer(query_id, timeout=10)
            assert answer.show_alert and "只有督导室工作人员" in (answer.text or ""), data
        await user.send_text("/triage")
        await user.wait_for_message(has("只有督导室工作人员"), timeout=10)
    await settle()
    assert await event_count(bot) == before
    assert await status_of(bot, pending) is Status.PROPOSED
    assert await status_of(bot, triage) is Status.TRIAGE


async def test_staff_double_tap_and_garbage_buttons_are_refused_politely(bot: Dudao) -> None:
    staff = await staff_user(bot)
    await supervisor_user(bot)
    pending = await proposed(bot)
    await staff.send_text("/start")
    await staff.wait_for_message(has("双减"), timeout=10)
    first = forge(staff, f"o:apv:{pending}")
    await staff.wait_for_callback_answer(first, timeout=10)
    again = forge(staff, f"o:apv:{pending}")
    answer = await staff.wait_for_callback_answer(again, timeout=10)
    assert "已办结" in (answer.text or "") and "不能" in (answer.text or "")
    for data in ("o:zz:1", "o:ta:SJ-2026-000001:99:DX01", "o:vd:SJ-2026-000001:16", "o:",
                 f"o:ta:{pending}:0:DDS02"):
        answer = await staff.wait_for_callback_answer(forge(staff, data), timeout=10)
        assert answer.show_alert and answer.text, data


# --- binding --------------------------------------------------------------------------------
async def test_used_or_expired_invite_binds_nobody_and_unbind_needs_new_invite(
        bot: Dudao) -> None:
    staff = await staff_user(bot)
    code, _ = await bot.container.invites.issue("DX03", "supervisor")
    first, second = bot.user(7301), bot.user(7302)
    await first.send_text(f"/bind {code}")
    assert "绑定成功" in ((await first.wait_for_message(timeout=10)).text or "")
    await second.send_text(f"/bind {code}")
    assert "无效" in ((await second.wait_for_message(timeout=10)).text or "")

    expiring, _ = await bot.container.invites.issue("DX04", "supervisor", hours=1)
    bot.clock.advance(hours=2)
    await second.send_text(f"/bind {expiring}")
    assert "无效" in ((await second.wait_for_message(timeout=10)).text or "")
    async with bot.container.uow() as uow:
        bound = dict((await uow.session.execute(
            select(Person.code, Person.telegram_user_id)
            .where(Person.code.in_(["DX03", "DX04"])))).all())
    assert bound == {"DX03": 7301, "DX04": None}

    await staff.send_text("/unbind DX03")
    await staff.wait_for_message(has("已解除 张卫东（DX03）的绑定"), timeout=10)
    await first.wait_for_message(has("绑定已被解除"), timeout=10)
    await first.send_text(f"/bind {code}")  # the old code stays used
    assert "无效" in ((await first.wait_for_message(timeout=10)).text or "")
    fresh, _ = await bot.container.invites.issue("DX03", "supervisor")
    await first.send_text(f"/bind {fresh}")
    assert "绑定成功" in ((await first.wait_for_message(timeout=10)).text or "")


async def test_typed_input_is_escaped_and_unknown_codes_refused(bot: Dudao) -> None:
    staff = await staff_user(bot)
    await staff.send_text("/unbind <b>X</b>")
    refusal = await staff.wait_for_message(has("目录中没有代码"), timeout=10)
    assert "<b>X</b>" in (refusal.text or "")  # shown literally, not as markup
    await staff.send_text("/unbind")
    await staff.wait_for_message(has("用法：/unbind"), timeout=10)
    await staff.send_text("/export 2026-11-01")
    await staff.wait_for_message(has("用法：/export"), timeout=10)


async def test_help_lists_the_commands_of_the_senders_role(bot: Dudao) -> None:
    staff, supervisor = await staff_user(bot), await supervisor_user(bot)
    parent = bot.user(PARENT_ID)
    for user, expected, absent in ((staff, "/reports", "/visit"), (supervisor, "/visit", "/triage"),
                                   (parent, "/mycases", "/triage")):
        await user.send_text("/help")
        text = (await user.wait_for_message(has("/"), timeout=10)).text or ""
        assert expected in text and absent not in text, text
