"""The school or institution of a tip, corrected in the chat: the parent at the summary
("不是这所"), staff on an open case (/entity); both re-route and are audited."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bot.domain import Status
from classifier.retrain import GateFailure, GateResult, RetrainOutcome, Scores
from tests.support.e2e import Dudao, reference_in
from tests.support.office_e2e import staff_user

WAIT = 15


async def test_the_institution_wins_and_the_parent_can_say_it_is_not_this_one(
        dudao: Dudao) -> None:
    parent = dudao.user(1101)
    await parent.send_text("睿思一对一在城关镇租了民房，每周六给初中生上数学课，一次一百五")
    summary = await parent.wait_for_message(timeout=WAIT)
    assert "睿思一对一辅导" in (summary.text or "")  # the institution, not 城关镇
    assert "不是这所" in str(summary.reply_markup)
    await parent.press("不是这所，重新选择")
    question = await parent.wait_for_message(timeout=WAIT)
    assert "睿思一对一辅导" not in str(question.reply_markup)
    await parent.press("都不是，我来输入")
    await parent.wait_for_message(timeout=WAIT)
    await parent.send_text("智学堂")
    await parent.wait_for_message(lambda m: "青溪县智学堂课外辅导" in str(m.reply_markup),
                                  timeout=WAIT)
    await parent.press("青溪县智学堂课外辅导")
    summary = await parent.wait_for_message(lambda m: "请确认" in (m.text or ""), timeout=WAIT)
    assert "智学堂" in (summary.text or "")
    await parent.press("匿名提交")
    reference = reference_in((await parent.wait_for_message(
        lambda m: "案件编号" in (m.text or ""), timeout=WAIT)).text)
    async with dudao.container.uow() as uow:
        case = await uow.cases.get(reference)
    assert case is not None and case.institution_code == "QX-J018"
    assert case.district_code == "QX-DH"
    assert case.events[0].data["entity_detected"] == "QX-J019"  # what the bot had found


async def test_staff_set_the_school_of_an_open_case(dudao: Dudao) -> None:
    staff = await staff_user(dudao)
    parent = dudao.user(1102)
    await parent.send_text("孩子的数学老师周末在家里给学生补课，一个月八百")
    question = await parent.wait_for_message(timeout=WAIT)
    await parent.press("不清楚/跳过")
    await parent.wait_for_message(lambda m: "请确认" in (m.text or ""), timeout=WAIT)
    await parent.press("匿名提交")
    reference = reference_in((await parent.wait_for_message(
        lambda m: "案件编号" in (m.text or ""), timeout=WAIT)).text)
    assert "哪所学校" in (question.text or "") or question.reply_markup is not None
    await staff.send_text(f"/entity {reference} 城关二小")
    done = await staff.wait_for_message(lambda m: "已更正" in (m.text or ""), timeout=WAIT)
    assert reference in (done.text or "")
    assert "城关第二小学" in (done.text or "")
    async with dudao.container.uow() as uow:
        case = await uow.cases.get(reference)
    assert case is not None and case.school_code == "QX-S002"
    assert case.assignee_code == "DX01" and case.status is Status.ASSIGNED
    assert "entity_set" in [e.action for e in case.events]
    # A parent cannot use it.
    await parent.send_text(f"/entity {reference} 城关一小")
    refusal = await parent.wait_for_message(timeout=WAIT)
    assert "工作人员" in (refusal.text or "") or "督导室" in (refusal.text or "")


async def test_staff_retrain_from_the_chat_and_hear_why_the_old_model_stays(
        dudao: Dudao, tmp_path: Path) -> None:

    scores = Scores(0.9, {"other": 0.9}, 0.97, 0.8)
    refused = RetrainOutcome(False, "v-new", "v-old", 0, GateResult(scores, scores, (
        GateFailure("recall_dropped", {"label": "other", "old": 0.98, "new": 0.9}),)))
    service = dudao.container.retrain
    assert service is not None
    service._trainer = lambda _corrections: refused  # the real one trains for minutes
    service.rules = replace(service.rules, model_path=tmp_path / "model")
    staff = await staff_user(dudao)
    parent = dudao.user(1103)
    await parent.send_text("/retrain")
    assert "工作人员" in ((await parent.wait_for_message(timeout=WAIT)).text or "")
    await staff.send_text("/retrain")
    started = await staff.wait_for_message(lambda m: "已开始" in (m.text or ""), timeout=WAIT)
    assert "重新训练" in (started.text or "")
    told = await staff.wait_for_message(lambda m: "未通过检验" in (m.text or ""), timeout=WAIT)
    assert "v-old" in (told.text or "") and "其他" in (told.text or "")
    assert "98.0%" in (told.text or "") and "90.0%" in (told.text or "")
