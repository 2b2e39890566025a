"""The office's group robots: a 督办 and the report notices reach DingTalk and WeCom through
the outbox, signed as DingTalk documents it, within 20 a minute; a refusal loses nothing.

The platforms are the fake of tests/support/robots.py on 127.0.0.1; the database is SQLite
and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels import ChannelSender
from bot.metrics import NoMetrics
from bot.outbox import REFUSED_RETRY, OutboxService, Outcome, SendResult
from bot.ports import DINGTALK, TELEGRAM, WECOM, Notice, OutboxMessage, RobotRoute
from bot.report_delivery import ReportDelivery
from bot.reporting import ReportingRules, ReportingService
from bot.services import CaseService
from bot.timerules import QuietHours
from handlers.robots import DingTalkSender, Robot, WeComSender
from storage.db import session_factory
from storage.models import OutboxRow
from tests.support.clock import FakeClock
from tests.support.reminders import TZ, at, rectifying, reminders
from tests.support.robots import FakeRobots, fake_robots
from tests.support.services import seed
from tests.support.sql import Units

pytestmark = pytest.mark.postgres
TOKEN, SECRET, KEY = "tok-office", "SEC0123456789abcdef", "wecom-key-1"
ROUTES = (RobotRoute(DINGTALK, 1, ("supervised", "report.")),
          RobotRoute(WECOM, 1, ("supervised", "report.")))


@dataclass
class Row:
    """An outbox row as a sender reads it."""

    id: int
    chat_id: int
    channel: str = DINGTALK
    kind: str = "supervised"
    text: str = ""
    markup: dict[str, object] | None = None
    notice: dict[str, object] | None = None
    attempts: int = 0


def row(n: int = 1, channel: str = DINGTALK, chat_id: int = 1) -> OutboxMessage:
    notice = Notice("notify.robot.supervised", {"reference": f"SJ-2026-{n:06d}",
                                                "category": "homework_burden", "comment": "请整改"})
    return Row(n, chat_id, channel, notice=notice.to_json())  # type: ignore[return-value]


class Telegram:
    """Telegram's side of delivery: accepts everything."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    async def send(self, message: OutboxMessage, *, silent: bool = False) -> SendResult:
        self.sent.append(message.chat_id)
        return SendResult.sent()


async def test_a_signed_message_reaches_dingtalk() -> None:
    async with fake_robots({TOKEN: SECRET}) as fake:
        sender = DingTalkSender([Robot(1, fake.dingtalk_url(TOKEN), SECRET)])
        try:
            assert (await sender.send(row())).outcome is Outcome.SENT
        finally:
            await sender.close()
    [got] = fake.accepted(DINGTALK)
    assert got.payload["msgtype"] == "text"
    assert got.text == "【督办】案件 SJ-2026-000001（作业负担）已发出督办。请整改"


async def test_a_bad_secret_is_refused_logged_and_kept_for_later(caplog) -> None:  # type: ignore[no-untyped-def]
    async with fake_robots({TOKEN: SECRET}) as fake:
        sender = DingTalkSender([Robot(1, fake.dingtalk_url(TOKEN), "SECwrong", "督导室群")])
        try:
            with caplog.at_level(logging.WARNING, logger="handlers.robots"):
                result = await sender.send(row())
        finally:
            await sender.close()
    assert result.outcome is Outcome.REFUSED and "310000" in result.error
    assert fake.accepted() == [] and [r.errcode for r in fake.refused()] == [310000]
    assert "督导室群 refused: errcode 310000" in caplog.text


async def test_wecom_takes_the_key_in_its_address_and_refuses_a_wrong_one() -> None:
    async with fake_robots(wecom={KEY}) as fake:
        good = WeComSender([Robot(1, fake.wecom_url(KEY))])
        bad = WeComSender([Robot(1, fake.wecom_url("not-the-key"))])
        try:
            assert (await good.send(row(channel=WECOM))).outcome is Outcome.SENT
            refused = await bad.send(row(channel=WECOM))
        finally:
            await good.close()
            await bad.close()
    assert refused.outcome is Outcome.REFUSED and "93000" in refused.error
    assert [r.text[:4] for r in fake.accepted(WECOM)] == ["【督办】"]


async def test_never_more_than_20_attempts_a_minute_per_robot() -> None:
    async with fake_robots({TOKEN: SECRET, "tok-2": ""}) as fake:
        sender = DingTalkSender([Robot(1, fake.dingtalk_url(TOKEN), SECRET),
                                 Robot(2, fake.dingtalk_url("tok-2"))])
        try:
            results = [await sender.send(row(n)) for n in range(1, 26)]
            other = await sender.send(row(99, chat_id=2))
        finally:
            await sender.close()
    assert [r.outcome for r in results] == [Outcome.SENT] * 20 + [Outcome.RETRY_AFTER] * 5
    assert all(50 <= r.retry_after <= 60 for r in results[20:])  # until the window has room
    assert other.outcome is Outcome.SENT  # the limit is per robot
    assert len(fake.received) == 21 and fake.refused() == []  # the 130101 never provoked


@pytest.mark.parametrize(("status", "outcome"), [(500, Outcome.FAILED), (502, Outcome.FAILED),
                                                 (429, Outcome.RETRY_AFTER),
                                                 (404, Outcome.REFUSED)])
async def test_http_errors_map_to_retry_or_refusal(status: int, outcome: Outcome) -> None:
    async with fake_robots({TOKEN: ""}) as fake:
        fake.fail_with = status
        sender = DingTalkSender([Robot(1, fake.dingtalk_url(TOKEN))])
        try:
            assert (await sender.send(row())).outcome is outcome
        finally:
            await sender.close()


async def test_an_unreachable_robot_is_a_transient_failure() -> None:
    async with fake_robots() as fake:
        url = fake.dingtalk_url(TOKEN)
    sender = DingTalkSender([Robot(1, url)])  # the server is gone: connection refused
    try:
        assert (await sender.send(row())).outcome is Outcome.FAILED
    finally:
        await sender.close()


async def test_a_row_for_a_robot_no_longer_configured_is_set_aside() -> None:
    router = ChannelSender({TELEGRAM: Telegram()}, NoMetrics())
    assert (await router.send(row())).outcome is Outcome.UNSENDABLE
    sender = WeComSender([Robot(1, "http://127.0.0.1:9/")])
    assert (await sender.send(row(channel=WECOM, chat_id=3))).outcome is Outcome.UNSENDABLE


# --- through the services and the outbox -----------------------------------------------------
async def _world(engine: AsyncEngine) -> tuple[CaseService, FakeClock]:
    await seed(engine)
    clock = FakeClock(at(date(2026, 11, 23), 10))
    return CaseService(Units(engine, ROUTES), clock), clock


def _outbox(service: CaseService, clock: FakeClock, fake: FakeRobots, secret: str,
            telegram: Telegram) -> tuple[OutboxService, list[DingTalkSender | WeComSender]]:
    robots: list[DingTalkSender | WeComSender] = [
        DingTalkSender([Robot(1, fake.dingtalk_url(TOKEN), secret)]),
        WeComSender([Robot(1, fake.wecom_url(KEY))])]
    outbox = OutboxService(service.uow, clock, QuietHours(), TZ)
    for channel, sender in {TELEGRAM: telegram, DINGTALK: robots[0], WECOM: robots[1]}.items():
        outbox.senders[channel] = ChannelSender({channel: sender}, NoMetrics())
    return outbox, robots


async def _robot_rows(engine: AsyncEngine) -> list[OutboxRow]:
    async with session_factory(engine)() as s:
        found = await s.execute(select(OutboxRow).where(OutboxRow.channel != TELEGRAM)
                                .order_by(OutboxRow.id))
        return list(found.scalars())


async def test_the_systems_escalation_reaches_both_groups_once(engine: AsyncEngine) -> None:
    service, clock = await _world(engine)
    reference = await rectifying(service)
    clock.current = at(date(2026, 12, 14))  # three days overdue, a Monday: the system's 督办
    assert (await reminders(service).run()).escalations == 1
    assert (await reminders(service).run()).escalations == 0
    queued = await _robot_rows(engine)
    assert sorted((r.channel, r.chat_id, r.kind) for r in queued) == [
        (DINGTALK, 1, "supervised"), (WECOM, 1, "supervised")]
    telegram = Telegram()
    async with fake_robots({TOKEN: SECRET}, {KEY}) as fake:
        outbox, robots = _outbox(service, clock, fake, SECRET, telegram)
        try:
            await outbox.run_once()
            assert await outbox.run_once() == 0  # nothing twice
        finally:
            for robot in robots:
                await robot.close()
    assert [r.channel for r in fake.accepted()] == [DINGTALK, WECOM]
    assert all(reference in r.text and "逾期" in r.text for r in fake.accepted())
    assert all(r.sent_at is not None for r in await _robot_rows(engine))
    assert telegram.sent  # the staff and the supervisor still hear it on Telegram


async def test_a_refused_robot_message_is_retried_later_not_lost(engine: AsyncEngine) -> None:
    service, clock = await _world(engine)
    reference = await rectifying(service)
    await service.perform(3001, reference, lambda c, a, now: c.supervise(a, now, "请加快整改"))
    async with fake_robots({TOKEN: SECRET}, {KEY}) as fake:
        outbox, robots = _outbox(service, clock, fake, "SECwrong", Telegram())
        try:
            await outbox.run_once()
        finally:
            for robot in robots:
                await robot.close()
        [dingtalk] = [r for r in await _robot_rows(engine) if r.channel == DINGTALK]
        assert dingtalk.sent_at is None and dingtalk.attempts == 1
        assert "310000" in dingtalk.last_error
        assert dingtalk.not_before == clock.current + REFUSED_RETRY
        assert [r.errcode for r in fake.refused()] == [310000]
        # The operator fixes the secret; an hour later the message goes out.
        clock.current += REFUSED_RETRY + timedelta(seconds=1)
        outbox, robots = _outbox(service, clock, fake, SECRET, Telegram())
        try:
            # The DingTalk copy, and the parent's reference no handler replied with here.
            assert await outbox.run_once() == 2
        finally:
            for robot in robots:
                await robot.close()
    assert [r.channel for r in fake.accepted()] == [WECOM, DINGTALK]
    assert "请加快整改" in fake.accepted()[1].text


def report_delivery(service: CaseService, clock: FakeClock) -> ReportDelivery:
    return ReportDelivery(service.uow, clock, ReportingService(service.uow, clock,
                                                               ReportingRules(tz=TZ)), TZ)


async def test_scheduled_reports_reach_the_groups_once_a_day(engine: AsyncEngine) -> None:
    service, clock = await _world(engine)
    clock.current = at(date(2026, 12, 14))  # the day before the half-month report is due
    await report_delivery(service, clock).run()
    assert await _robot_rows(engine) == []
    clock.current = at(date(2026, 12, 15))
    await asyncio.gather(report_delivery(service, clock).run(),  # two instances at once
                         report_delivery(service, clock).run())
    await report_delivery(service, clock).run()  # the next minute: nothing new
    queued = await _robot_rows(engine)
    assert sorted((r.channel, r.kind) for r in queued) == [(DINGTALK, "report.figures"),
                                                          (WECOM, "report.figures")]


async def test_a_report_staff_build_is_posted_to_the_groups_once_a_day(
        engine: AsyncEngine) -> None:
    service, clock = await _world(engine)
    await rectifying(service)
    reporting = ReportingService(service.uow, clock, ReportingRules(tz=TZ))
    await reporting.report(3001, "half")
    await reporting.report(3001, "half")  # built again the same day: not posted again
    queued = await _robot_rows(engine)
    assert sorted((r.channel, r.kind) for r in queued) == [(DINGTALK, "report.figures"),
                                                          (WECOM, "report.figures")]
    telegram = Telegram()
    async with fake_robots({TOKEN: SECRET}, {KEY}) as fake:
        outbox, robots = _outbox(service, clock, fake, SECRET, telegram)
        try:
            await outbox.run_once()
        finally:
            for robot in robots:
                await robot.close()
    texts = [r.text for r in fake.accepted()]
    assert len(texts) == 2 and all(text.startswith("2026年11月15日至30日线索办理情况（共 1 件）")
                                   for text in texts), texts
    assert all("按类别：作业负担 1" in text for text in texts)
    clock.current += timedelta(days=1)
    await reporting.report(3001, "half")  # the next day: the figures of that day
    assert len(await _robot_rows(engine)) == 4


async def test_two_schedulers_at_once_copy_each_order_and_notice_once(
        engine: AsyncEngine) -> None:
    """Several instances may each run the scheduler: the robots still get one copy each."""
    service, clock = await _world(engine)
    await rectifying(service)
    clock.current = at(date(2026, 12, 14))  # 4 days overdue: the system's 督办
    first, second = reminders(service), reminders(service)
    runs = await asyncio.gather(first.run(), second.run())
    assert sum(r.escalations for r in runs) == 1
    queued = await _robot_rows(engine)
    assert sorted((r.channel, r.kind) for r in queued) == [
        (DINGTALK, "supervised"), (WECOM, "supervised")]
