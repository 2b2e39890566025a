"""A case's whole life, every step a Telegram update from the person who takes it.

Parent → routed by the shipped classifier → supervisor accepts → proposes 限期整改 → staff
reject → supervisor proposes again → staff approve → supervisor reports rectification →
staff verify (回头看) → closed → parent rates. The audit trail must be complete and in order.
"""

from __future__ import annotations

from typing import Any

from bot.domain import Rating, Status
from localapi.client import FakeUser
from tests.support.e2e import HOMEWORK, Dudao, reference_in

WAIT = 10.0


def has(*parts: str) -> Any:
    return lambda m: all(p in (m.text or "") for p in parts)


async def tap(user: FakeUser, button: str) -> None:
    query = await user.press(button)
    if query is not None:
        await user.wait_for_callback_answer(query, timeout=WAIT)


async def test_whole_life_through_telegram(dudao: Dudao) -> None:
    supervisor, staff = dudao.user(61001, "王建国"), dudao.user(61002, "林晓琳")
    await dudao.bind(supervisor, "DX01")
    await dudao.bind(staff, "DDS01", role="staff")

    parent = dudao.user(61003, "家长")
    await parent.send_text(HOMEWORK)
    await parent.wait_for_message(has("请确认"), timeout=WAIT)
    await tap(parent, "匿名提交")
    reference = reference_in((await parent.wait_for_message(has("案件编号"), timeout=WAIT)).text)

    assigned = await supervisor.wait_for_message(has(reference, "新分派案件"), timeout=WAIT)
    assert "每天布置两个多小时的作业" in (assigned.text or "")  # the tip, without identity
    await tap(supervisor, f"s:acc:{reference}")
    await parent.wait_for_message(has(reference, "受理"), timeout=WAIT)

    async def propose(note: str) -> None:
        await supervisor.send_text("/cases")
        await supervisor.wait_for_message(has("待办案件"), timeout=WAIT)
        await tap(supervisor, f"s:open:{reference}")
        await supervisor.wait_for_message(has(reference), timeout=WAIT)
        await tap(supervisor, "提出处理意见")
        await supervisor.wait_for_message(has("请选择处理意见"), timeout=WAIT)
        await tap(supervisor, "属实限期整改")
        await supervisor.wait_for_message(has("整改期限"), timeout=WAIT)
        await tap(supervisor, "15天（12月8日，默认）")
        await supervisor.wait_for_message(has("跳过"), timeout=WAIT)
        await supervisor.send_text(note)
        await supervisor.wait_for_message(has("已提交督导室审核"), timeout=WAIT)

    async def open_for_staff(command: str) -> None:
        await staff.send_text(command)
        await staff.wait_for_message(lambda m: reference in (m.text or "")
                                     and bool(m.inline_keyboard), timeout=WAIT)
        await tap(staff, f"查看 {reference}")
        await staff.wait_for_message(has(reference, "线索内容"), timeout=WAIT)

    await propose("责令学校调整作业量")
    await open_for_staff("/approvals")
    await tap(staff, "退回修改")
    await staff.wait_for_message(has("理由"), timeout=WAIT)
    await staff.send_text("请写明整改措施和公示方式")
    await staff.wait_for_message(has("已退回"), timeout=WAIT)
    await supervisor.wait_for_message(has(reference, "退回"), timeout=WAIT)

    await propose("责令学校一周内调整作业量，并在家长群公示")
    await open_for_staff("/approvals")
    await tap(staff, "审核通过")
    await staff.wait_for_message(has("审核通过"), timeout=WAIT)
    await parent.wait_for_message(has(reference, "限期整改", "2026-12-08"), timeout=WAIT)

    await supervisor.send_text("/cases")
    await supervisor.wait_for_message(has("待办案件"), timeout=WAIT)
    await tap(supervisor, f"s:open:{reference}")
    await supervisor.wait_for_message(has("整改期限：2026-12-08"), timeout=WAIT)
    await tap(supervisor, "报告整改完成")
    await supervisor.wait_for_message(has("整改情况"), timeout=WAIT)
    await supervisor.send_text("学校已调整作业量并公示，家长反映良好")
    await supervisor.wait_for_message(has("整改完成", "复查"), timeout=WAIT)

    await open_for_staff("/verify")
    await tap(staff, "复查通过")
    await staff.wait_for_message(has("已办结"), timeout=WAIT)

    closed = await parent.wait_for_message(has(reference, "已办结"), timeout=WAIT)
    assert "属实限期整改" in (closed.text or "")
    await tap(parent, "基本满意")
    await parent.wait_for_message(has("意见"), timeout=WAIT)
    await parent.send_text("希望以后不要再犯")
    await parent.wait_for_message(has("感谢"), timeout=WAIT)

    async with dudao.container.uow() as uow:
        case = await uow.cases.get(reference)
    assert case is not None and case.status is Status.CLOSED
    assert case.rating is Rating.BASICALLY_SATISFIED
    assert [e.action for e in case.events] == [
        "filed", "routed", "accepted", "proposed", "proposal_rejected", "proposed", "approved",
        "rectification_reported", "verified", "rated"]
    assert [e.actor for e in case.events][2:] == [
        "DX01", "DX01", "DDS01", "DX01", "DDS01", "DX01", "DDS01", "61003"]
    for earlier, later in zip(case.events, case.events[1:], strict=False):
        assert earlier.to_status == later.from_status and earlier.at <= later.at
