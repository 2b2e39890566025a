"""Reminders reach people through Telegram: the scheduler runs inside the real bot."""

from __future__ import annotations

import shutil
from datetime import date, datetime, time
from pathlib import Path

from bot.domain import Disposition
from bot.filing import TipInput
from tests.support.e2e import running_dudao


async def test_a_deadline_ping_reaches_the_supervisor_and_its_button_works(
        tmp_path: Path, sqlite_template: Path, shipped_classifier: object) -> None:
    target = tmp_path / "e2e.db"
    shutil.copy(sqlite_template, target)
    async with running_dudao(f"sqlite:///{target}", shipped_classifier,
                             scheduler={"interval_seconds": 0.1}) as dudao:
        supervisor, staff = dudao.user(71001, "王建国"), dudao.user(71002, "林晓琳")
        await dudao.bind(supervisor, "DX01")
        await dudao.bind(staff, "DDS01", role="staff")
        cases = dudao.container.cases
        filed = await dudao.container.filing.file_tip(TipInput(
            text="城关一小三年级作业每天写到十一点", reporter_user_id=71003,
            category="homework_burden", confidence=0.97, school_code="QX-S001"))
        reference = filed.reference
        await cases.perform(71001, reference, lambda c, a, now: c.accept(a, now))
        await cases.perform(71001, reference, lambda c, a, now: c.propose(
            a, Disposition.RECTIFY, now, deadline=date(2026, 12, 10)))
        await cases.perform(71002, reference, lambda c, a, now: c.approve_proposal(a, now))

        tz = dudao.container.settings.tz
        dudao.clock.current = datetime.combine(date(2026, 12, 7), time(9), tzinfo=tz)
        ping = await supervisor.wait_for_message(
            lambda m: "整改提醒" in (m.text or ""), timeout=10)
        assert reference in (ping.text or "") and "还有 3 天" in (ping.text or "")
        await supervisor.press("报告整改完成")
        prompt = await supervisor.wait_for_message(timeout=10)
        assert "整改情况" in (prompt.text or "")

        # 3 days over on Sunday 12-13: the 督办 waits for Monday, a working day
        dudao.clock.current = datetime.combine(date(2026, 12, 14), time(9), tzinfo=tz)
        order = await staff.wait_for_message(lambda m: "督办" in (m.text or ""), timeout=10)
        assert reference in (order.text or "") and "逾期 4 天" in (order.text or "")
        await supervisor.wait_for_message(lambda m: "【督办】" in (m.text or ""), timeout=10)
        parent_texts = [m.text or "" for m in dudao.api.user(71003).messages]
        assert not any("督办" in text or "逾期" in text for text in parent_texts)
