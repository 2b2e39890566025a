"""Channels and metrics on fakes: which staff notices the group robots get, delivery picked by
a row's channel and counted, the Prometheus registry of each container, the robots' config."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from telegram import Update

from bot.channels import ChannelSender
from bot.config import ConfigError, load_settings
from bot.metrics import NoMetrics, Snapshot, TimedClassifier, snapshot
from bot.notices import staff_notice, tell_staff
from bot.outbox import OutboxService, Outcome, SendResult, Timing
from bot.ports import DINGTALK, TELEGRAM, WECOM, Backlog, Notice, OutboxMessage, RobotRoute
from bot.timerules import QuietHours
from handlers.metrics import PrometheusMetrics, update_kind
from handlers.robots import dingtalk_sign, redact, robot_routes, robot_senders
from tests.support.fakes import FakeClock, FakeStore, FakeUnitOfWorkFactory
from tests.support.metrics import samples, value

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
STAFF_CHAT = 3001


def _store() -> FakeStore:
    store = FakeStore()
    store.add_person("ST1", "陈老师", "staff", STAFF_CHAT)
    store.add_person("ST2", "未绑定", "staff")
    return store


def test_a_kind_ending_in_a_dot_is_a_prefix() -> None:
    route = RobotRoute(DINGTALK, 1, ("supervised", "report."))
    assert route.wants("supervised") and route.wants("report.half")
    assert not route.wants("supervised.x") and not route.wants("report")
    assert not route.wants("staff.triage")


async def test_staff_notices_are_copied_to_the_robots_that_take_their_kind() -> None:
    factory = FakeUnitOfWorkFactory(_store(), robots=[
        RobotRoute(DINGTALK, 1, ("staff.triage",)), RobotRoute(DINGTALK, 2, ("supervised",)),
        RobotRoute(WECOM, 1, ("staff.",))])
    async with factory() as uow:
        await tell_staff(uow, "staff.triage",
                         staff_notice("notify.staff.triage", "SJ-2026-000001"), NOW)
        await uow.commit()
    queued = [(m.channel, m.chat_id, m.kind) for m in factory.store.outbox]
    assert queued == [(TELEGRAM, STAFF_CHAT, "staff.triage"), (DINGTALK, 1, "staff.triage"),
                      (WECOM, 1, "staff.triage")]


async def test_without_robots_staff_notices_go_to_telegram_only() -> None:
    factory = FakeUnitOfWorkFactory(_store())
    async with factory() as uow:
        await tell_staff(uow, "staff.escalated",
                         staff_notice("notify.staff.escalated", "SJ-2026-000001", days=3,
                                      name="王督学"), NOW)
        await uow.commit()
    assert [m.channel for m in factory.store.outbox] == [TELEGRAM]


@dataclass
class Row:
    id: int
    chat_id: int
    channel: str
    kind: str = "supervised"
    text: str = ""
    markup: dict[str, object] | None = None
    notice: dict[str, object] | None = None
    attempts: int = 0


class Answering:
    def __init__(self, result: SendResult) -> None:
        self.result = result
        self.got: list[int] = []

    async def send(self, message: OutboxMessage, *, silent: bool = False) -> SendResult:
        self.got.append(message.id)
        return self.result


async def test_each_row_goes_through_its_channels_sender_and_every_attempt_is_counted() -> None:
    metrics = PrometheusMetrics()
    telegram, dingtalk = Answering(SendResult.sent()), Answering(SendResult.slow_down(30))
    router = ChannelSender({TELEGRAM: telegram, DINGTALK: dingtalk}, metrics)
    rows = [Row(1, 42, TELEGRAM), Row(2, 1, DINGTALK), Row(3, 43, TELEGRAM),
            Row(4, 1, WECOM)]
    outcomes = [(await router.send(r)).outcome for r in rows]  # type: ignore[arg-type]
    assert outcomes == [Outcome.SENT, Outcome.RETRY_AFTER, Outcome.SENT, Outcome.UNSENDABLE]
    assert telegram.got == [1, 3] and dingtalk.got == [2]
    found = samples(metrics.exposition())
    assert value(found, "dudao_outbox_sends_total", channel=TELEGRAM, outcome="sent") == 2
    assert value(found, "dudao_outbox_sends_total", channel=DINGTALK,
                 outcome="retry_after") == 1
    assert value(found, "dudao_outbox_throttled_total", channel=DINGTALK) == 1
    assert value(found, "dudao_outbox_sends_total", channel=WECOM, outcome="unsendable") == 1


def test_two_containers_registries_do_not_clash() -> None:
    first, second = PrometheusMetrics(), PrometheusMetrics()  # the global registry refuses this
    first.update_handled("message", 0.02)
    first.update_handled("message", 0.2)
    second.update_handled("callback", 0.01)
    one, two = samples(first.exposition()), samples(second.exposition())
    assert value(one, "dudao_updates_handled_total", kind="message") == 2
    assert value(one, "dudao_updates_handled_total", kind="callback") == 0
    assert value(two, "dudao_updates_handled_total", kind="callback") == 1
    assert value(one, "dudao_handler_seconds_bucket", kind="message", le="0.1") == 1
    assert value(one, "dudao_handler_seconds_count", kind="message") == 2


def test_the_database_gauges_show_every_status_and_only_channels_with_rows() -> None:
    metrics = PrometheusMetrics()
    metrics.show(Snapshot({"assigned": 3, "closed": 1},
                          {TELEGRAM: Backlog(5, 2, NOW - timedelta(seconds=90)),
                           DINGTALK: Backlog(1, 0, None)}, NOW))
    found = samples(metrics.exposition())
    assert value(found, "dudao_cases", status="assigned") == 3
    assert value(found, "dudao_cases", status="rectifying") == 0
    assert value(found, "dudao_outbox_pending", channel=TELEGRAM) == 5
    assert value(found, "dudao_outbox_due", channel=TELEGRAM) == 2
    assert value(found, "dudao_outbox_oldest_due_seconds", channel=TELEGRAM) == 90
    assert value(found, "dudao_outbox_oldest_due_seconds", channel=DINGTALK) == 0
    metrics.show(Snapshot({}, {}, NOW))  # everything sent
    found = samples(metrics.exposition())
    assert value(found, "dudao_outbox_pending", channel=TELEGRAM) is None
    assert value(found, "dudao_cases", status="assigned") == 0


async def test_a_snapshot_reads_cases_by_status_and_the_backlog_per_channel() -> None:
    factory = FakeUnitOfWorkFactory(_store())
    async with factory() as uow:
        await uow.outbox.enqueue(STAFF_CHAT, "proposed", Notice.plain("a"),
                                 NOW - timedelta(minutes=2))
        await uow.outbox.enqueue(1, "report.half", Notice.plain("b"), NOW,
                                 channel=DINGTALK, not_before=NOW + timedelta(hours=1))
        await uow.commit()
    taken = await snapshot(factory, FakeClock(NOW))  # type: ignore[arg-type]
    assert taken.cases == {}
    assert taken.outbox == {TELEGRAM: Backlog(1, 1, NOW - timedelta(minutes=2)),
                            DINGTALK: Backlog(1, 0, None)}
    assert taken.oldest_due_seconds(TELEGRAM) == 120


def test_update_kinds() -> None:
    chat = {"id": 5, "type": "private", "first_name": "家长"}
    user = {"id": 5, "is_bot": False, "first_name": "家长"}
    message = {"message_id": 1, "date": 1795385375, "chat": chat, "from": user}
    assert update_kind(Update.de_json({"update_id": 1, "message": {**message, "text": "你好"}},
                                      None)) == "message"
    assert update_kind(Update.de_json({"update_id": 2, "message": {**message, "text": "/help"}},
                                      None)) == "command"
    assert update_kind(Update.de_json({"update_id": 3, "callback_query": {
        "id": "q", "from": user, "chat_instance": "c", "data": "x",
        "message": {**message, "text": "案件"}}}, None)) == "callback"
    assert update_kind(object()) == "other"


def test_the_classifier_is_timed_and_otherwise_untouched() -> None:
    class Model:
        threshold = 0.6
        words: list[str] = []

        def predict(self, text: str) -> str:
            return "homework_burden"

        def add_words(self, words: list[str]) -> None:
            self.words.extend(words)

    metrics = PrometheusMetrics()
    timed = TimedClassifier(Model(), metrics)
    assert timed.predict("作业太多") == "homework_burden" and timed.threshold == 0.6
    timed.add_words(["城关一小"])
    assert value(samples(metrics.exposition()), "dudao_classifier_seconds_count") == 1
    TimedClassifier(Model(), NoMetrics()).predict("x")  # the null port counts nothing


def test_robots_are_numbered_in_the_order_configured(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "dudao.toml"
    config.write_text(
        '[dingtalk]\nrobots = [{url = "https://oapi.dingtalk.com/robot/send?access_token=a",'
        ' secret = "SECa"}, {url = "https://oapi.dingtalk.com/robot/send?access_token=b"}]\n'
        '[wecom]\nkinds = ["staff.escalated"]\n'
        'robots = [{url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}]\n',
        encoding="utf-8")
    settings = load_settings(config)
    assert robot_routes(settings) == [
        RobotRoute(DINGTALK, 1, ("supervised", "report.")),
        RobotRoute(DINGTALK, 2, ("supervised", "report.")),
        RobotRoute(WECOM, 1, ("staff.escalated",))]
    assert sorted(robot_senders(settings)) == [DINGTALK, WECOM]
    assert robot_senders(load_settings()) == {}  # none by default


def test_a_bad_robot_address_is_named_without_showing_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "dudao.toml"
    config.write_text('[dingtalk]\nrobots = [{url = "oapi.dingtalk.com?access_token=SECRETTOKEN"}]'
                      '\n[wecom]\nper_minute = 30\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert "dingtalk.robots[0].url" in message and "Webhook 地址" in message
    assert "SECRETTOKEN" not in message
    assert "wecom.per_minute" in message


def test_dingtalks_signature_matches_its_documentation() -> None:
    # The documented recipe by hand: HMAC-SHA256 over "timestamp\nsecret", Base64, URL-encoded.
    import base64
    import hashlib
    import hmac
    from urllib.parse import unquote_plus

    stamp, secret = "1700000000000", "SECabc"
    sign = dingtalk_sign(stamp, secret)
    raw = hmac.new(b"SECabc", b"1700000000000\nSECabc", hashlib.sha256).digest()
    assert unquote_plus(sign) == base64.b64encode(raw).decode()
    assert "+" not in sign and "/" not in sign and "=" not in sign  # safe in a query


def test_at_night_group_robots_wait_for_the_morning_even_for_a_notice_caused_by_an_action(
        ) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    outbox = OutboxService(FakeUnitOfWorkFactory(), FakeClock(NOW), QuietHours(), tz)
    night, day = datetime(2026, 11, 23, 23, 30, tzinfo=tz), datetime(2026, 11, 23, 9, tzinfo=tz)
    order = Row(1, 1, DINGTALK, kind="supervised")
    assert outbox.timing(order, night, set()) is Timing.MORNING  # type: ignore[arg-type]
    assert outbox.timing(order, day, set()) is Timing.NOW  # type: ignore[arg-type]
    on_telegram = Row(2, 1, TELEGRAM, kind="supervised")
    assert outbox.timing(on_telegram, night, set()) is Timing.SILENTLY  # type: ignore[arg-type]
    # A robot numbered like an opted-in staff member's chat is not that staff member.
    assert outbox.timing(order, night, {1}) is Timing.MORNING  # type: ignore[arg-type]
    assert outbox.timing(on_telegram, night, {1}) is Timing.NOW  # type: ignore[arg-type]


def test_a_robots_credentials_never_reach_the_log() -> None:
    error = ("ClientResponseError: 400, url='https://oapi.dingtalk.com/robot/send?"
             "access_token=abc123&timestamp=1&sign=x%2By' and key=k-1")
    assert redact(error) == ("ClientResponseError: 400, url='https://oapi.dingtalk.com/robot/"
                             "send?access_token=***&timestamp=1&sign=***' and key=***")
