"""The office's group robots as outbox transports: DingTalk and WeCom custom robots.

A robot is a webhook address that takes one JSON message per POST. Each sender keeps its
robots' rate limit itself (both platforms allow 20 messages a minute per robot; DingTalk
then blocks the robot for ten minutes), renders a row as plain text with the same
catalogue as Telegram, and maps the platform's answers to a `SendResult` the outbox policy
understands: sent, slow down, refused (a bad address or signature: logged, retried in an
hour), failed (network, 5xx: retried with back-off).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import aiohttp
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from bot.config import DingTalkSettings, Settings, WeComSettings
from bot.outbox import Sender, SendResult
from bot.ports import DINGTALK, WECOM, OutboxMessage, RobotRoute
from handlers.telegram.views import UnrenderableNotice, plain, render_outbox

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 5.0  # they answer in well under a second; a hang holds up a delivery pass
MAX_TEXT_BYTES = 2000  # WeCom takes at most 2048 bytes of text; DingTalk more
THROTTLED_SECONDS = 60.0  # the platform said "too fast": wait out its minute


@dataclass(frozen=True)
class Robot:
    """One configured group robot; `number` is its place in its channel's list, from 1."""

    number: int
    url: str
    secret: str = ""
    name: str = ""

    def label(self, channel: str) -> str:
        return self.name or f"{channel} robot {self.number}"


def robot_text(message: OutboxMessage) -> str:
    """The row as a group reads it: the catalogue text, without tags or buttons."""
    html, _ = render_outbox(message)
    text = plain(html)
    data = text.encode("utf-8")
    if len(data) > MAX_TEXT_BYTES:
        text = data[:MAX_TEXT_BYTES - 3].decode("utf-8", "ignore") + "…"
    return text


class RobotSender:
    """Delivers rows of one channel to its robots (the row's chat_id is the robot's number).

    The limit is a moving window (the `limits` library, as used by Flask-Limiter): at most
    `per_minute` attempts in ANY 60 seconds, which is how the platforms count. A leaky
    bucket (aiolimiter) would let a full burst plus the refill through within one minute and
    earn DingTalk's ten-minute block. Over the limit the sender does not wait: it answers
    "slow down" with the time until the window has room, so Telegram's rows behind it in
    the same pass go on.
    """

    channel = ""
    throttled_codes: frozenset[int] = frozenset()  # the platform's "too fast" errcodes

    def __init__(self, robots: Sequence[Robot], per_minute: int = 20, *,
                 timeout: float = TIMEOUT_SECONDS,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.robots: Mapping[int, Robot] = {r.number: r for r in robots}
        self.rate = RateLimitItemPerMinute(per_minute)
        self.window = MovingWindowRateLimiter(MemoryStorage())
        self.timeout = timeout
        self.wall_clock = wall_clock
        self._session: aiohttp.ClientSession | None = None

    async def send(self, message: OutboxMessage, *, silent: bool = False) -> SendResult:
        robot = self.robots.get(message.chat_id)
        if robot is None:
            return SendResult.unsendable(f"no {self.channel} robot number {message.chat_id}")
        try:
            text = robot_text(message)
        except UnrenderableNotice as exc:
            return SendResult.unsendable(str(exc))
        if not await self.window.hit(self.rate, self.channel, str(robot.number)):
            stats = await self.window.get_window_stats(self.rate, self.channel,
                                                       str(robot.number))
            return SendResult.slow_down(max(1.0, stats.reset_time - self.wall_clock()))
        result = await self._post(robot, text)
        if result.outcome.value != "sent":
            log.warning("%s %s: %s", robot.label(self.channel), result.outcome.value,
                        result.error)
        return result

    async def _post(self, robot: Robot, text: str) -> SendResult:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            async with self._session.post(self.address(robot), json=self.payload(text)
                                          ) as response:
                if response.status == 429:
                    return SendResult.slow_down(_retry_after(response.headers))
                if response.status >= 500:
                    return SendResult.failed(f"HTTP {response.status}")
                if response.status >= 400:
                    return SendResult.refused(f"HTTP {response.status}")
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return SendResult.failed(redact(f"{type(exc).__name__}: {exc}")[:300])
        except ValueError:  # not JSON: a proxy's error page or the like
            return SendResult.failed("the robot's answer was not JSON")
        if not isinstance(answer, dict):
            return SendResult.failed("the robot's answer was not a JSON object")
        return self.result(answer)

    def address(self, robot: Robot) -> str:
        return robot.url

    def payload(self, text: str) -> dict[str, Any]:
        return {"msgtype": "text", "text": {"content": text}}

    def result(self, answer: Mapping[str, Any]) -> SendResult:
        code = answer.get("errcode", -1)
        if code == 0:
            return SendResult.sent()
        error = f"errcode {code}: {answer.get('errmsg', '')}"[:300]
        if code in self.throttled_codes:
            return SendResult.slow_down(THROTTLED_SECONDS)
        return SendResult.refused(error)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class DingTalkSender(RobotSender):
    """DingTalk custom robots; with a secret (加签) every request is signed: HMAC-SHA256 of
    "timestamp\\nsecret" keyed by the secret, Base64, URL-encoded, sent as `sign` beside the
    millisecond `timestamp` (DingTalk refuses a timestamp more than an hour off)."""

    channel = DINGTALK
    # 130101: "send too fast" (over 20 a minute); 410100: flow control.
    throttled_codes = frozenset({130101, 410100})

    def address(self, robot: Robot) -> str:
        if not robot.secret:
            return robot.url
        timestamp = str(round(self.wall_clock() * 1000))
        sign = dingtalk_sign(timestamp, robot.secret)
        joiner = "&" if "?" in robot.url else "?"
        return f"{robot.url}{joiner}timestamp={timestamp}&sign={sign}"


class WeComSender(RobotSender):
    """WeCom (企业微信) group robots: the key in the webhook address is the credential."""

    channel = WECOM
    throttled_codes = frozenset({45009})  # "api freq out of limit"


def dingtalk_sign(timestamp: str, secret: str) -> str:
    """DingTalk's signature of `timestamp` (milliseconds, as sent), URL-encoded."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(),
                      hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


_CREDENTIALS = re.compile(r"(access_token|key|sign)=[^&\s'\"]+")


def redact(text: str) -> str:
    """`text` without the credentials a robot's address carries (for the log and the row)."""
    return _CREDENTIALS.sub(r"\1=***", text)


def _retry_after(headers: Mapping[str, str]) -> float:
    try:
        return max(1.0, float(headers.get("Retry-After", "")))
    except ValueError:
        return THROTTLED_SECONDS


def robot_senders(settings: Settings) -> dict[str, Sender]:
    """A sender per channel that has robots configured (none by default)."""
    senders: dict[str, Sender] = {}
    if settings.dingtalk.robots:
        senders[DINGTALK] = DingTalkSender(_robots(settings.dingtalk),
                                           settings.dingtalk.per_minute)
    if settings.wecom.robots:
        senders[WECOM] = WeComSender(_robots(settings.wecom), settings.wecom.per_minute)
    return senders


def robot_routes(settings: Settings) -> list[RobotRoute]:
    """Which robots receive which staff notices."""
    return [RobotRoute(channel, number, tuple(section.kinds))
            for channel, section in ((DINGTALK, settings.dingtalk), (WECOM, settings.wecom))
            for number in range(1, len(section.robots) + 1)]


def _robots(section: DingTalkSettings | WeComSettings) -> list[Robot]:
    return [Robot(number, r.url, getattr(r, "secret", ""), r.name)
            for number, r in enumerate(section.robots, start=1)]
