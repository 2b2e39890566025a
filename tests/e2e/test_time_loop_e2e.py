"""The time loop through Telegram: the scheduler inside the real bot pings a stage clock's
owner, issues the 督办 to staff, and a rectification that fails 回头看 twice asks staff to
record a 约谈, which they do in chat."""

from __future__ import annotations

import shutil
from datetime import date, datetime, time
from pathlib import Path

from bot.domain import Disposition
from bot.filing import TipInput
from tests.support.e2e import running_dudao


async def test_an_unaccepted_case_pings_then_brings_a_supervision_order_and_the_ladder(
        tmp_path: Path, sqlite_template: Path, shipped_classifier: object) -> None:
    target = tmp_path / "e2e.db"
    shutil.copy(sqlite_template, target)
    async with running_dudao(f"sqlite:///{target}", shipped_classifier,
                             scheduler={"interval_seconds": 0.1}) as dudao:
        supervisor, staff = dudao.user(72001, "王建国"), dudao.user(72002, "林晓琳")
        await dudao.bind(supervisor, "DX01")
        await dudao.bind(staff, "DDS01", role="staff")
        cases, tz = dudao.container.cases, dudao.container.settings.tz

        def tip(user: int) -> TipInput:
            return TipInput(text="城关一小三年级作业每天写到十一点", reporter_user_id=user,
                            category="homework_burden", confidence=0.97,
                            school_code="QX-S001")

        # Filed Monday 11-23 10:00 and left unaccepted: due Tuesday, 督办 on Friday.
        idle = (await dudao.container.filing.file_tip(tip(72003))).reference
        dudao.clock.current = datetime.combine(date(2026, 11, 24), time(9), tzinfo=tz)
        ping = await supervisor.wait_for_message(
            lambda m: "今日到期" in (m.text or ""), timeout=10)
        assert idle in (ping.text or "") and "受理" in (ping.text or "")
        dudao.clock.current = datetime.combine(date(2026, 11, 27), time(9), tzinfo=tz)
        order = await staff.wait_for_message(lambda m: "【督办】" in (m.text or ""), timeout=10)
        assert idle in (order.text or "") and "超时 3 个工作日" in (order.text or "")
        await supervisor.wait_for_message(lambda m: "【督办】" in (m.text or ""), timeout=10)

        # A rectification that fails 回头看 twice climbs to the 约谈 rung.
        reference = (await dudao.container.filing.file_tip(tip(72004))).reference
        await cases.perform(72001, reference, lambda c, a, now: c.accept(a, now))
        await cases.perform(72001, reference, lambda c, a, now: c.propose(
            a, Disposition.RECTIFY, now, deadline=date(2026, 12, 4)))
        await cases.perform(72002, reference, lambda c, a, now: c.approve_proposal(a, now))
        for deadline in (date(2026, 12, 10), date(2026, 12, 20)):
            await cases.perform(72001, reference, lambda c, a, now: c.report_rectified(
                a, "已整改", now))
            await cases.perform(72002, reference, lambda c, a, now, d=deadline:
                                c.verify_rectification(a, now, passed=False,
                                                       comment="仍未整改", new_deadline=d))
        asked = await staff.wait_for_message(lambda m: "【约谈】" in (m.text or ""), timeout=10)
        assert reference in (asked.text or "")
        await staff.press(f"查看 {reference}")
        await staff.wait_for_message(lambda m: reference in (m.text or ""), timeout=10)
        await staff.press("记录约谈")
        await staff.wait_for_message(lambda m: "约谈的日期" in (m.text or ""), timeout=10)
        await staff.send_text("今天")
        await staff.wait_for_message(lambda m: "约谈对象" in (m.text or ""), timeout=10)
        await staff.send_text("城关一小校长")
        await staff.wait_for_message(lambda m: "约谈结果" in (m.text or ""), timeout=10)
        await staff.send_text("责令一周内整改到位")
        done = await staff.wait_for_message(lambda m: "已记录" in (m.text or ""), timeout=10)
        assert reference in (done.text or "")
        _, case = await cases.view(72002, reference)
        interview = case.events[-1]
        assert interview.action == "interviewed" and interview.data["who"] == "城关一小校长"
        assert interview.data["date"] == "2026-11-27" and case.pending_rung is None


async def test_a_recheck_comes_back_and_a_failed_one_reopens_the_rectification(
        tmp_path: Path, sqlite_template: Path, shipped_classifier: object) -> None:
    target = tmp_path / "e2e.db"
    shutil.copy(sqlite_template, target)
    async with running_dudao(f"sqlite:///{target}", shipped_classifier,
                             scheduler={"interval_seconds": 0.1}) as dudao:
        supervisor, staff = dudao.user(73001, "王建国"), dudao.user(73002, "林晓琳")
        await dudao.bind(supervisor, "DX01")
        await dudao.bind(staff, "DDS01", role="staff")
        cases, tz = dudao.container.cases, dudao.container.settings.tz
        reference = (await dudao.container.filing.file_tip(TipInput(
            text="城关一小三年级作业每天写到十一点", reporter_user_id=73003,
            category="homework_burden", confidence=0.97, school_code="QX-S001"))).reference
        await cases.perform(73001, reference, lambda c, a, now: c.accept(a, now))
        await cases.perform(73001, reference, lambda c, a, now: c.propose(
            a, Disposition.RECTIFY, now, deadline=date(2026, 12, 4)))
        await cases.perform(73002, reference, lambda c, a, now: c.approve_proposal(a, now))
        await cases.perform(73001, reference, lambda c, a, now: c.report_rectified(
            a, "已整改", now))
        await cases.perform(73002, reference, lambda c, a, now: c.verify_rectification(
            a, now, passed=True))
        # verified Monday 11-23: the re-check is due 30 days later, Wednesday 12-23
        dudao.clock.current = datetime.combine(date(2026, 12, 23), time(9), tzinfo=tz)
        due = await supervisor.wait_for_message(
            lambda m: "回头看复查" in (m.text or "") and "今日到期" in (m.text or ""),
            timeout=10)
        assert reference in (due.text or "")
        await supervisor.press("回头看复查")
        await supervisor.wait_for_message(lambda m: "整改效果" in (m.text or ""), timeout=10)
        await supervisor.press(f"s:rc:{reference}:7")
        await supervisor.wait_for_message(lambda m: "复查情况" in (m.text or ""), timeout=10)
        await supervisor.send_photo(caption="作业量又超标")
        done = await supervisor.wait_for_message(lambda m: "问题反弹" in (m.text or ""),
                                                 timeout=10)
        assert "2026-12-30" in (done.text or "")
        _, case = await cases.view(73002, reference)
        assert case.status.value == "rectifying" and case.events[-1].action == "recheck_failed"
        assert case.events[-1].data.get("photo")
