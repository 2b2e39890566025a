"""Notifications survive Telegram errors, respect quiet hours and are sent exactly once."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.outbox import OutboxService
from bot.ports import Notice
from handlers.telegram.sender import TelegramSender
from localapi import FakeUser
from tests.support.e2e import HOMEWORK, Dudao, file_anonymously


def sent_to(dudao: Dudao, chat_id: int, needle: str) -> int:
    return sum(1 for m in dudao.api.user(chat_id).messages if needle in (m.text or ""))


async def file_with_lost_reply(dudao: Dudao, user_id: int) -> FakeUser:
    """File a tip whose reference reply Telegram refuses; wait until it is in the outbox."""
    parent = dudao.user(user_id)
    await parent.send_text(HOMEWORK)
    await parent.wait_for_message(timeout=10)
    dudao.api.fail_next("sendMessage", times=1, error_code=500)
    await parent.press("匿名提交")
    async with dudao.container.uow() as uow:
        for _ in range(50):  # the filing commits before the reply is attempted
            if await uow.outbox.pending_count():
                break
            await asyncio.sleep(0.05)
    return parent


async def test_reference_reply_lost_to_a_telegram_error_is_sent_later(dudao: Dudao) -> None:
    parent = await file_with_lost_reply(dudao, 2001)
    dudao.clock.advance(minutes=1)
    await dudao.deliver()
    filed = await parent.wait_for_message(lambda m: "案件编号" in (m.text or ""), timeout=10)
    assert "SJ-2026-000001" in (filed.text or "")
    assert await dudao.uow_count("SELECT count(*) FROM cases") == 1


async def test_lost_reference_reply_is_not_held_for_quiet_hours(dudao: Dudao) -> None:
    dudao.clock.current = datetime(2026, 11, 23, 23, 30, tzinfo=dudao.container.settings.tz)
    parent = await file_with_lost_reply(dudao, 2006)
    dudao.clock.advance(minutes=1)  # 23:31: deep in quiet hours, yet the parent is waiting
    await dudao.deliver()
    filed = await parent.wait_for_message(lambda m: "案件编号" in (m.text or ""), timeout=10)
    assert "SJ-2026-000001" in (filed.text or "")


async def test_failed_send_is_retried_after_backoff(dudao: Dudao) -> None:
    supervisor = dudao.user(880002, "王建国")
    await dudao.bind(supervisor, "DX01")
    reference = await file_anonymously(dudao, 2002)
    # Requeue by failing the supervisor's notification: fail, then check the row waits.
    await dudao.deliver()
    assert sent_to(dudao, supervisor.id, reference) == 1
    dudao.api.fail_next("sendMessage", times=1, drop=True)
    async with dudao.container.uow() as uow:
        await uow.outbox.enqueue(supervisor.id, "test", Notice.plain("测试通知"),
                                 dudao.clock.now())
        await uow.commit()
    await dudao.deliver()
    assert sent_to(dudao, supervisor.id, "测试通知") == 0
    assert await dudao.uow_count(
        "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND attempts = 1") == 1
    dudao.clock.advance(seconds=30)
    await dudao.deliver()
    assert sent_to(dudao, supervisor.id, "测试通知") == 1


async def test_two_delivery_instances_send_each_message_once(dudao: Dudao) -> None:
    supervisor = dudao.user(880003, "王建国")
    await dudao.bind(supervisor, "DX01")
    async with dudao.container.uow() as uow:
        for i in range(20):
            await uow.outbox.enqueue(supervisor.id, "test", Notice.plain(f"第{i}条提醒"),
                                     dudao.clock.now())
        await uow.commit()
    first = dudao.container.outbox  # and a second one, as if another process ran
    second = OutboxService(first.uow, first.clock, first.quiet, first.tz,
                           TelegramSender(dudao.app.bot))
    await asyncio.gather(dudao.deliver(), second.run_once(wait=True), dudao.deliver(),
                         second.run_once(wait=True))
    await dudao.deliver()
    for i in range(20):
        assert sent_to(dudao, supervisor.id, f"第{i}条提醒") == 1


async def test_at_night_a_new_case_reaches_its_supervisor_at_once_without_sound(
        dudao: Dudao) -> None:
    supervisor = dudao.user(880004, "王建国")
    await dudao.bind(supervisor, "DX01")
    tz = dudao.container.settings.tz
    dudao.clock.current = datetime(2026, 11, 23, 23, 30, tzinfo=tz)
    parent = dudao.user(2004)
    await parent.send_text(HOMEWORK)
    await parent.wait_for_message(timeout=10)
    await parent.press("匿名提交")
    filed = await parent.wait_for_message(lambda m: "案件编号" in (m.text or ""), timeout=10)
    assert filed is not None  # the parent's own answer is not held back at night
    await dudao.deliver()
    assert sum("新分派案件" in (m.text or "") for m in supervisor.messages) == 1
    [call] = [c for c in dudao.api.calls_of("sendMessage")
              if int(c.params.get("chat_id", 0)) == supervisor.id
              and "新分派案件" in str(c.params.get("text"))]
    assert str(call.params.get("disable_notification")).lower() == "true"


async def test_quiet_hours_hold_scheduled_reminders_until_morning(dudao: Dudao) -> None:
    supervisor = dudao.user(880007, "王建国")
    await dudao.bind(supervisor, "DX01")
    tz = dudao.container.settings.tz
    dudao.clock.current = datetime(2026, 11, 23, 23, 30, tzinfo=tz)
    async with dudao.container.uow() as uow:
        await uow.outbox.enqueue(supervisor.id, "ping.due", Notice.plain("整改今天到期"),
                                 dudao.clock.now())
        await uow.commit()
    await dudao.deliver()
    assert sent_to(dudao, supervisor.id, "整改今天到期") == 0
    dudao.clock.current = datetime(2026, 11, 24, 7, 0, 1, tzinfo=tz)
    await dudao.deliver()
    assert sent_to(dudao, supervisor.id, "整改今天到期") == 1


async def test_blocked_user_does_not_stop_other_deliveries(dudao: Dudao) -> None:
    a, b = dudao.user(880005, "甲"), dudao.user(880006, "乙")
    for user in (a, b):  # Telegram only delivers to users who have started the bot
        await user.send_text("/start")
        await user.wait_for_message(timeout=10)
    a.block()
    async with dudao.container.uow() as uow:
        await uow.outbox.enqueue(a.id, "test", Notice.plain("给甲"), dudao.clock.now())
        await uow.outbox.enqueue(b.id, "test", Notice.plain("给乙"), dudao.clock.now())
        await uow.commit()
    await dudao.deliver()
    assert sent_to(dudao, b.id, "给乙") == 1
    a.unblock()
    dudao.clock.advance(hours=6, seconds=1)
    await dudao.deliver()
    assert sent_to(dudao, a.id, "给甲") == 1


async def test_a_notice_this_version_cannot_render_does_not_stop_the_others(dudao: Dudao,
                                                                           ) -> None:
    user = dudao.user(880007, "丙")
    await user.send_text("/start")
    await user.wait_for_message(timeout=10)
    async with dudao.container.uow() as uow:
        await uow.outbox.enqueue(user.id, "test", Notice("notify.no_such_key"),
                                 dudao.clock.now())
        await uow.outbox.enqueue(user.id, "test", Notice.plain("后面的通知"), dudao.clock.now())
        await uow.commit()
    # The delivery loop may send it before deliver()'s own pass does: count what arrived.
    await dudao.deliver()
    assert sent_to(dudao, user.id, "后面的通知") == 1
    failed = await dudao.uow_count(
        "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND last_error LIKE '%no_such_key%'")
    assert failed == 1
