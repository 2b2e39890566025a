"""A fake DingTalk and WeCom group-robot endpoint on 127.0.0.1, strict as the real ones.

DingTalk (`POST /robot/send?access_token=…[&timestamp=…&sign=…]`): an unknown token is
errcode 300001; a robot with a secret wants `timestamp` (milliseconds, within an hour) and
`sign` = Base64(HMAC-SHA256(secret, timestamp + "\\n" + secret)), computed here on its own
from the platform's documentation, else errcode 310000; more than 20 messages in 60 seconds
is errcode 130101. WeCom (`POST /cgi-bin/webhook/send?key=…`): an unknown key is 93000, the
same limit is 45009. Every request is recorded, accepted or not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

LIMIT_PER_MINUTE = 20


@dataclass
class Received:
    channel: str  # dingtalk | wecom
    robot: str  # the access token or key
    accepted: bool
    errcode: int
    payload: dict[str, Any]

    @property
    def text(self) -> str:
        body = self.payload.get(self.payload.get("msgtype", "text"), {})
        return str(body.get("content") or body.get("text") or "")


@dataclass
class FakeRobots:
    """The fake platforms: DingTalk robots by access token (-> secret), WeCom by key."""

    dingtalk: dict[str, str] = field(default_factory=dict)
    wecom: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    fail_with: int | None = None  # answer every request with this HTTP status
    base_url: str = ""
    _times: dict[str, list[float]] = field(default_factory=dict)

    def dingtalk_url(self, token: str) -> str:
        return f"{self.base_url}/robot/send?access_token={token}"

    def wecom_url(self, key: str) -> str:
        return f"{self.base_url}/cgi-bin/webhook/send?key={key}"

    def accepted(self, channel: str | None = None) -> list[Received]:
        return [r for r in self.received if r.accepted and channel in (None, r.channel)]

    def refused(self) -> list[Received]:
        return [r for r in self.received if not r.accepted]

    def _too_fast(self, robot: str) -> bool:
        now = time.monotonic()
        recent = [t for t in self._times.get(robot, []) if now - t < 60]
        recent.append(now)
        self._times[robot] = recent
        return len(recent) > LIMIT_PER_MINUTE

    def _answer(self, channel: str, robot: str, code: int, message: str,
                payload: dict[str, Any]) -> web.Response:
        self.received.append(Received(channel, robot, code == 0, code, payload))
        return web.json_response({"errcode": code, "errmsg": message})

    async def _dingtalk(self, request: web.Request) -> web.Response:
        if self.fail_with is not None:
            return web.Response(status=self.fail_with)
        payload = await request.json()
        token = request.query.get("access_token", "")
        if token not in self.dingtalk:
            return self._answer("dingtalk", token, 300001, "token is not exist", payload)
        secret = self.dingtalk[token]
        if secret:
            stamp, sign = request.query.get("timestamp", ""), request.query.get("sign", "")
            expected = base64.b64encode(hmac.new(
                secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest())
            fresh = stamp.isdigit() and abs(time.time() * 1000 - int(stamp)) < 3600_000
            # aiohttp has already URL-decoded the query: `sign` is the Base64 text itself.
            if not (fresh and hmac.compare_digest(sign.encode(), expected)):
                return self._answer("dingtalk", token, 310000, "sign not match", payload)
        if self._too_fast(token):
            return self._answer("dingtalk", token, 130101, "send too fast", payload)
        return self._answer("dingtalk", token, 0, "ok", payload)

    async def _wecom(self, request: web.Request) -> web.Response:
        if self.fail_with is not None:
            return web.Response(status=self.fail_with)
        payload = await request.json()
        key = request.query.get("key", "")
        if key not in self.wecom:
            return self._answer("wecom", key, 93000, "invalid webhook url", payload)
        if self._too_fast(key):
            return self._answer("wecom", key, 45009, "api freq out of limit", payload)
        return self._answer("wecom", key, 0, "ok", payload)


@asynccontextmanager
async def fake_robots(dingtalk: dict[str, str] | None = None,
                      wecom: set[str] | None = None) -> AsyncIterator[FakeRobots]:
    """Serve the fake platforms on 127.0.0.1 (a free port) for the block."""
    robots = FakeRobots(dict(dingtalk or {}), set(wecom or ()))
    app = web.Application()
    app.router.add_post("/robot/send", robots._dingtalk)
    app.router.add_post("/cgi-bin/webhook/send", robots._wecom)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    robots.base_url = f"http://127.0.0.1:{port}"
    try:
        yield robots
    finally:
        await runner.cleanup()
