"""Supervisors work their cases through the real Application and a local Bot API server.

Cases are filed through the service (the parent flow has its own tests) so these tests do
not depend on the classifier; everything a supervisor does goes through Telegram updates.
Each test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from telegram.ext import CallbackQueryHandler

from bot.domain import Disposition, Status
from bot.filing import TipInput
from handlers.telegram import supervisor
from localapi.client import FakeUser
from localapi.state import CallbackAnswer, ChatMessage
from storage.models import EvidenceRow, VisitRow
from tests.support.e2e import Dudao, running_dudao, settle

pytestmark = pytest.mark.postgres
PARENT, SUP, OTHER_SUP, STAFF = 1001, 2001, 2002, 3001
WAIT = 10.0


class StubClassifier:
    """Stands in for the trained model: these tests file cases through the service."""

    threshold = 0.5

    def predict(self, text: str) -> Any:
        return SimpleNamespace(category="homework_burden", confidence=0.9, model_version="stub",
                               top_k=[("homework_burden", 0.9)])

    def add_words(self, words: Any) -> None:
        return None


def _install_supervisor_handlers(app: Any) -> None:
    """Put the supervisor handlers in front of the generic ones, unless app.py already does."""
    group = app.handlers.setdefault(0, [])
    if any(isinstance(h, CallbackQueryHandler) and getattr(h.pattern, "pattern", "") == "^s:"
           for h in group):
        return
    generic = list(group)
    group.clear()
    supervisor.register(app)
    group.extend(generic)


@pytest.fixture
async def bot(db_url: str) -> AsyncIterator[Dudao]:
    async with running_dudao(db_url, StubClassifier()) as harness:
        _install_supervisor_handlers(harness.app)
        yield harness


@pytest.fixture
async def people(bot: Dudao) -> SimpleNamespace:
    """A parent who has started the bot, DX01 and DX02 (责任督学) and a staff member, bound."""
    parent = bot.user(PARENT)
    await parent.send_text("/start")
    await parent.wait_for_message(timeout=WAIT)
    sup, other, staff = bot.user(SUP, "王建国"), bot.user(OTHER_SUP, "李秀兰"), bot.user(STAFF)
    await bot.bind(sup, "DX01")
    await bot.bind(other, "DX02")
    await bot.bind(staff, "DDS01", role="staff")
    return SimpleNamespace(parent=parent, sup=sup, other=other, staff=staff)


async def file_case(bot: Dudao, text: str = "城关一小三年级作业太多，每天写到十一点",
                    school: str = "QX-S001") -> str:
    filed = await bot.container.filing.file_tip(TipInput(
        text=text, reporter_user_id=PARENT, category="homework_burden", confidence=0.95,
        school_code=school))
    await bot.deliver()
    return filed.reference


async def case_of(bot: Dudao, reference: str) -> Any:
    async with bot.container.uow() as uow:
        return await uow.cases.get(reference)


def containing(*parts: str) -> Any:
    return lambda m: all(p in (m.text or "") for p in parts)


async def press(user: FakeUser, button: str) -> CallbackAnswer:
    query = await user.press(button)
    assert query is not None
    return await user.wait_for_callback_answer(query, timeout=WAIT)


async def forge(user: FakeUser, data: str) -> CallbackAnswer:
    """Send a callback query with any data, as a modified client could."""
    message = user.last_message
    assert message is not None
    query = user._press_inline(message, {"text": "x", "callback_data": data})
    return await user.wait_for_callback_answer(query, timeout=WAIT)


async def notification(user: FakeUser, reference: str) -> ChatMessage:
    return await user.wait_for_message(containing(reference), timeout=WAIT)


async def accepted_case(bot: Dudao, people: SimpleNamespace) -> str:
    reference = await file_case(bot)
    await notification(people.sup, reference)
    await press(people.sup, f"s:acc:{reference}")
    await people.sup.wait_for_message(containing("已受理"), timeout=WAIT)
    return reference


async def test_accept_from_the_notification_button(bot: Dudao, people) -> None:
    reference = await file_case(bot, "城关一小作业太多，我的电话13812345678")
    note = await notification(people.sup, reference)
    assert "138****5678" in (note.text or "") and "13812345678" not in (note.text or "")
    answer = await press(people.sup, "受理")
    assert not answer.show_alert
    reply = await people.sup.wait_for_message(containing("已受理", reference), timeout=WAIT)
    assert "提出处理意见" in str(reply.reply_markup)
    told = await people.parent.wait_for_message(containing(reference, "受理"), timeout=WAIT)
    assert "督学" in (told.text or "")
    assert (await case_of(bot, reference)).status is Status.ACCEPTED


async def test_notices_render_user_text_escaped_at_delivery(bot: Dudao, people) -> None:
    reference = await file_case(bot, "城关一小<b>三年级</b>作业太多 & 每天写到十一点")
    notice = await notification(people.sup, reference)
    assert "城关一小<b>三年级</b>作业太多 & 每天写到十一点" in (notice.text or "")
    assert "作业负担" in (notice.text or "")  # the category id, translated at delivery
    assert [b["callback_data"] for row in notice.reply_markup["inline_keyboard"]
            for b in row] == [f"s:acc:{reference}", f"s:back:{reference}",
                              f"s:open:{reference}"]


async def test_double_tap_on_accept_is_refused_politely(bot: Dudao, people) -> None:
    reference = await file_case(bot)
    await notification(people.sup, reference)
    first = await people.sup.press("受理")
    second = await people.sup.press("受理")  # the same notification's button, again
    answers = [await people.sup.wait_for_callback_answer(q, timeout=WAIT)
               for q in (first, second)]
    assert not answers[0].show_alert
    assert answers[1].show_alert and "已经受理" in (answers[1].text or "")
    case = await case_of(bot, reference)
    assert [e.action for e in case.events].count("accepted") == 1


async def test_propose_rectification_with_a_deadline(bot: Dudao, people) -> None:
    reference = await accepted_case(bot, people)
    await press(people.sup, "提出处理意见")
    await people.sup.wait_for_message(containing("请选择处理意见"), timeout=WAIT)
    await press(people.sup, "属实限期整改")
    choices = await people.sup.wait_for_message(containing("整改期限"), timeout=WAIT)
    labels = [b["text"] for row in choices.inline_keyboard for b in row]
    assert labels == ["7天（11月30日）", "15天（12月8日，默认）", "30天（12月23日）"]
    await press(people.sup, "15天（12月8日，默认）")
    await people.sup.wait_for_message(containing("跳过"), timeout=WAIT)
    await people.sup.send_text("责令学校一周内调整作业量并公示")
    done = await people.sup.wait_for_message(containing("已提交督导室审核"), timeout=WAIT)
    assert "2026-12-08" in (done.text or "")
    case = await case_of(bot, reference)
    assert case.status is Status.PROPOSED and case.disposition is Disposition.RECTIFY
    assert case.rectify_deadline == date(2026, 12, 8)
    assert case.disposition_note == "责令学校一周内调整作业量并公示"
    await people.staff.wait_for_message(containing(reference, "待审核"), timeout=WAIT)


async def test_report_done_with_a_photo(bot: Dudao, people) -> None:
    reference = await accepted_case(bot, people)
    cases = bot.container.cases
    await cases.perform(SUP, reference, lambda c, a, now: c.propose(
        a, Disposition.RECTIFY, now, deadline=date(2026, 12, 8)))
    await cases.perform(STAFF, reference, lambda c, a, now: c.approve_proposal(a, now))
    await people.sup.send_text("/cases")
    await people.sup.wait_for_message(containing("待办案件"), timeout=WAIT)
    await press(people.sup, f"s:open:{reference}")
    detail = await people.sup.wait_for_message(containing("整改期限：2026-12-08"), timeout=WAIT)
    assert "报告整改完成" in str(detail.reply_markup)
    await press(people.sup, "报告整改完成")
    await people.sup.wait_for_message(containing("整改情况"), timeout=WAIT)
    await people.sup.send_photo()
    await people.sup.wait_for_message(containing("照片已保存"), timeout=WAIT)
    await press(people.sup, "直接提交")
    await people.sup.wait_for_message(containing("整改完成", "复查"), timeout=WAIT)
    case = await case_of(bot, reference)
    assert case.status is Status.RECTIFICATION_REPORTED
    async with bot.container.uow() as uow:
        evidence = (await uow.session.execute(
            select(EvidenceRow.kind, EvidenceRow.added_by))).all()
    assert [tuple(e) for e in evidence] == [("photo", "DX01")]
    await people.staff.wait_for_message(containing(reference, "回头看"), timeout=WAIT)


async def test_hand_back_with_a_reason(bot: Dudao, people) -> None:
    reference = await file_case(bot)
    await notification(people.sup, reference)
    await press(people.sup, "退回分办")
    await people.sup.wait_for_message(containing("理由"), timeout=WAIT)
    await people.sup.send_text("该校上月已调整为李督学负责")
    await people.sup.wait_for_message(containing("已退回", reference), timeout=WAIT)
    case = await case_of(bot, reference)
    assert case.status is Status.TRIAGE and case.assignee_code is None
    assert case.events[-1].comment == "该校上月已调整为李督学负责"
    await people.staff.wait_for_message(containing(reference, "该校上月已调整为李督学负责"),
                                        timeout=WAIT)


async def test_cancel_ends_an_open_question(bot: Dudao, people) -> None:
    reference = await file_case(bot)
    await notification(people.sup, reference)
    await press(people.sup, "退回分办")
    await people.sup.wait_for_message(containing("理由"), timeout=WAIT)
    await people.sup.send_text("/cancel")
    await people.sup.wait_for_message(containing("已取消"), timeout=WAIT)
    await people.sup.send_text("该校上月已调整为李督学负责")  # no longer an answer
    await people.sup.wait_for_message(containing("已绑定为督学"), timeout=WAIT)
    assert (await case_of(bot, reference)).status is Status.ASSIGNED


async def test_ask_the_parent_round_trip(bot: Dudao, people) -> None:
    reference = await accepted_case(bot, people)
    await press(people.sup, "请家长补充")
    await people.sup.wait_for_message(containing("问题"), timeout=WAIT)
    await people.sup.send_text("请问是几年级几班？大约从什么时候开始？")
    await people.sup.wait_for_message(containing("已转给家长"), timeout=WAIT)
    question = await people.parent.wait_for_message(containing("几年级几班"), timeout=WAIT)
    assert "回复督学" in str(question.reply_markup)
    await press(people.parent, "回复督学")
    await people.parent.wait_for_message(containing(reference), timeout=WAIT)
    await people.parent.send_text("三年级二班，开学就这样。有事打我电话13912345678")
    await people.parent.wait_for_message(containing("已保存"), timeout=WAIT)
    relayed = await people.sup.wait_for_message(containing("补充了信息"), timeout=WAIT)
    assert "三年级二班" in (relayed.text or "")
    assert "139****5678" in (relayed.text or "") and "13912345678" not in (relayed.text or "")
    assert (await case_of(bot, reference)).status is Status.ACCEPTED


async def test_visit_is_logged_with_a_photo_and_counted(bot: Dudao, people) -> None:
    await people.sup.send_text("/visit")
    pick = await people.sup.wait_for_message(containing("学校"), timeout=WAIT)
    assert len(pick.inline_keyboard) == 4  # DX01's four schools
    await press(people.sup, "青溪县城关第二小学")
    await people.sup.wait_for_message(containing("哪天到校"), timeout=WAIT)
    await press(people.sup, "昨天 11月22日")
    await people.sup.wait_for_message(containing("记录督导情况"), timeout=WAIT)
    await people.sup.send_text("查看作业公示栏和课后服务签到表")
    await people.sup.wait_for_message(containing("照片"), timeout=WAIT)
    await people.sup.send_photo()
    saved = await people.sup.wait_for_message(containing("已记录"), timeout=WAIT)
    assert "2026-11-22" in (saved.text or "") and "1/4" in (saved.text or "")
    async with bot.container.uow() as uow:
        visit = (await uow.session.execute(
            select(VisitRow.visit_date, VisitRow.photo_file_id, VisitRow.note))).one()
    assert visit.visit_date == date(2026, 11, 22) and visit.photo_file_id
    assert visit.note == "查看作业公示栏和课后服务签到表"
    await people.sup.send_text("/visits")
    coverage = await people.sup.wait_for_message(containing("到校督导"), timeout=WAIT)
    assert "✅ 青溪县城关第二小学" in (coverage.text or "")
    assert (coverage.text or "").count("⬜") == 3


async def test_cases_lists_the_most_urgent_first(bot: Dudao, people) -> None:
    cases = bot.container.cases
    assigned = await file_case(bot)
    bot.clock.advance(hours=1)
    overdue = await file_case(bot, "城关二小作业多", school="QX-S002")
    await cases.perform(SUP, overdue, lambda c, a, now: c.accept(a, now))
    await cases.perform(SUP, overdue, lambda c, a, now: c.propose(
        a, Disposition.RECTIFY, now, deadline=date(2026, 11, 30)))
    await cases.perform(STAFF, overdue, lambda c, a, now: c.approve_proposal(a, now))
    bot.clock.advance(hours=1)
    accepted = await file_case(bot, "城关三小课后服务强制收费", school="QX-S003")
    await cases.perform(SUP, accepted, lambda c, a, now: c.accept(a, now))
    await file_case(bot, "实验小学作业多", school="QX-S005")  # DX02's
    bot.clock.advance(days=10)  # the rectification deadline has passed
    await people.sup.send_text("/cases")
    listing = await people.sup.wait_for_message(containing("待办案件"), timeout=WAIT)
    text = listing.text or ""
    assert text.index(overdue) < text.index(assigned) < text.index(accepted)
    assert "已超期3天" in text and "3件" in text
    data = [row[0]["callback_data"] for row in listing.inline_keyboard]
    assert data == [f"s:open:{overdue}", f"s:open:{assigned}", f"s:open:{accepted}"]


async def test_forged_buttons_of_another_supervisor_change_nothing(bot: Dudao, people) -> None:
    reference = await file_case(bot)
    before = len((await case_of(bot, reference)).events)
    for action in ("acc", "back", "prop", "open", "done", "ext"):
        answer = await forge(people.other, f"s:{action}:{reference}")
        assert answer.show_alert and "没有找到" in (answer.text or ""), action
    answer = await forge(people.other, "s:vs:QX-S001")  # DX01's school
    assert answer.show_alert and "不在您的责任范围" in (answer.text or "")
    await settle()
    case = await case_of(bot, reference)
    assert case.status is Status.ASSIGNED and len(case.events) == before
    assert people.other.last_message is not None
    assert reference not in (people.other.last_message.text or "")


async def test_a_parent_pressing_a_supervisor_button_is_refused(bot: Dudao, people) -> None:
    reference = await file_case(bot)
    for data in (f"s:acc:{reference}", f"s:open:{reference}", "s:skip", "s:bogus"):
        answer = await forge(people.parent, data)
        assert answer.show_alert and "仅供已绑定的督学" in (answer.text or ""), data
    await people.parent.send_text("/cases")
    refused = await people.parent.wait_for_message(timeout=WAIT)
    assert "仅供已绑定的督学" in (refused.text or "")
    await settle()
    assert (await case_of(bot, reference)).status is Status.ASSIGNED


async def test_transfer_asks_for_the_receiving_department(bot: Dudao, people) -> None:
    reference = await accepted_case(bot, people)
    await press(people.sup, "提出处理意见")
    await press(people.sup, "转办")
    await people.sup.wait_for_message(containing("接收转办的部门"), timeout=WAIT)
    await people.sup.send_text("<b>市场监管局</b>" + "局" * 120)  # too long: asked again
    again = await people.sup.wait_for_message(timeout=WAIT)
    assert "太长" in (again.text or "")
    await people.sup.send_text("县市场监管局")
    done = await people.sup.wait_for_message(containing("已提交督导室审核"), timeout=WAIT)
    assert "转县市场监管局" in (done.text or "")
    case = await case_of(bot, reference)
    assert case.disposition is Disposition.TRANSFERRED and case.transfer_to == "县市场监管局"


async def test_extension_request_from_the_case_view(bot: Dudao, people) -> None:
    reference = await accepted_case(bot, people)
    cases = bot.container.cases
    await cases.perform(SUP, reference, lambda c, a, now: c.propose(
        a, Disposition.RECTIFY, now, deadline=date(2026, 12, 8)))
    await cases.perform(STAFF, reference, lambda c, a, now: c.approve_proposal(a, now))
    await people.sup.send_text("/cases")
    await people.sup.wait_for_message(containing("待办案件"), timeout=WAIT)
    await press(people.sup, f"s:open:{reference}")
    await people.sup.wait_for_message(containing("整改期限"), timeout=WAIT)
    await press(people.sup, "申请延期")
    choices = await people.sup.wait_for_message(containing("2026-12-08"), timeout=WAIT)
    assert [b["text"] for row in choices.inline_keyboard for b in row] == [
        "延长7天（至12月15日）", "延长15天（至12月23日）", "延长30天（至1月7日）"]
    await press(people.sup, "延长15天（至12月23日）")
    await people.sup.wait_for_message(containing("延期理由"), timeout=WAIT)
    await people.sup.send_text("学校需要重新排课，涉及全年级")
    await people.sup.wait_for_message(containing("延期申请已提交", "2026-12-23"), timeout=WAIT)
    case = await case_of(bot, reference)
    assert case.pending_extension == date(2026, 12, 23)
    assert case.rectify_deadline == date(2026, 12, 8)
    await people.staff.wait_for_message(containing(reference, "延期"), timeout=WAIT)


async def test_a_stale_dialogue_is_refused_when_answered(bot: Dudao, people) -> None:
    reference = await file_case(bot)
    await notification(people.sup, reference)
    await press(people.sup, "退回分办")
    await people.sup.wait_for_message(containing("理由"), timeout=WAIT)
    # Meanwhile the supervisor accepts the case from the same notification.
    await press(people.sup, "受理")
    await people.sup.wait_for_message(containing("已受理"), timeout=WAIT)
    answer = await forge(people.sup, "s:skip")  # a reason is required: nothing to skip
    assert answer.show_alert and "过期" in (answer.text or "")
    await people.sup.send_text("该校不归我负责")  # still a valid hand-back from ACCEPTED
    await people.sup.wait_for_message(containing("已退回"), timeout=WAIT)
    assert (await case_of(bot, reference)).status is Status.TRIAGE
