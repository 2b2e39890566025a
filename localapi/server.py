"""A local Telegram Bot API server for tests, benchmarks and the `dudao try` sandbox.

It speaks the Bot API over HTTP on 127.0.0.1, so the real python-telegram-bot Application
runs against it unchanged; Telegram itself is never contacted. Simulated users act on the
other side, in-process.

Start it and point a bot at it::

    async with LocalBotApi() as api:                # picks a free port on 127.0.0.1
        app = (Application.builder().token(api.token)
               .base_url(api.base_url).base_file_url(api.base_file_url).build())
        # ... add handlers, then: async with app: await app.start();
        #     await app.updater.start_polling()  (localapi.ptb.polling does this)

Play a user::

    parent = api.user(1001, first_name="王芳", username="wangfang")
    await parent.send_text("/start")
    reply = await parent.wait_for_message(timeout=5)   # next unread bot message or edit
    await parent.press("匿名")                         # inline button by text or data
    parent.messages, parent.last_message, parent.callback_answers, parent.reply_keyboard
    async for message in parent.follow(): ...          # every message and edit (transcripts)

Make Telegram misbehave::

    api.set_rate_limits(RateLimits())                   # Telegram's limits: 429 + retry_after
    api.set_random_faults(RandomFaults(rate=0.2, seed=7))  # 20 %: 429, 500 or a 6 s hang
    api.fail_next("sendMessage", times=2, error_code=500)
    api.fail_next("sendMessage", drop=True)            # connection closed, no answer

Inspect: `api.calls` (every method call: method, params, time, status),
`api.calls_of("sendMessage")`, `api.bot().commands`, `api.bot().webhook`.

What it does like Telegram: tokens (401 for unknown ones, 404 for malformed ones and unknown
methods), {"ok": ...} envelopes, JSON / form / multipart parameters, long polling with
offset confirmation and 409 for a second poller or an active webhook, webhook delivery with
the X-Telegram-Bot-Api-Secret-Token header, strict HTML parse mode, 4096/1024 length limits,
callback_data of at most 64 bytes, per-chat message ids, edits ("message is not modified";
an edit without reply_markup drops the inline keyboard), "chat not found" until the user has
written, 403 once the user blocked the bot, files (upload, file_id reuse, getFile,
download), commands per scope and language.
Where it differs: private chats only, no inline mode, no URL uploads, media groups
(sendMediaGroup) keep captions as plain text, photos are not resized (every PhotoSize holds
the original bytes), webhook updates are POSTed one at a time and http:// webhooks are
allowed, Markdown parse modes keep the text as sent, only sends (not edits) count against
the flood limits, unknown methods (getChat ...) answer 404 Not Found.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

from localapi.client import FakeUser
from localapi.limits import Fault, FaultPlan, RandomFaults, RateLimiter, RateLimits
from localapi.methods import METHODS, CallContext
from localapi.params import Params, read_params
from localapi.state import (
    JSON,
    ApiError,
    BotAccount,
    Chat,
    WebhookConfig,
    new_token,
    now,
)

_MAX_UPLOAD = 50 * 1024 * 1024  # Telegram's upload limit for bots
_WEBHOOK_TIMEOUT = aiohttp.ClientTimeout(total=10)
_WEBHOOK_MAX_BACKOFF = 2.0


@dataclass
class ApiCall:
    """One method call received: what was asked and how it was answered."""

    token: str
    method: str
    params: dict[str, Any]
    time: float
    status: int = 0  # HTTP status; 0 while running or when the connection was dropped
    error: str | None = None
    injected: str | None = None  # a random fault: "429", "500" or "hang"


class LocalBotApi:
    """The server: bots, their users, the HTTP application, failures and the call log."""

    def __init__(self, *, token: str | None = None, bot_username: str = "dudao_bot",
                 bot_first_name: str = "督导", rate_limits: RateLimits | None = None,
                 call_log_size: int = 100_000) -> None:
        # Bounded so a sandbox left running for days does not grow without end.
        self.calls: deque[ApiCall] = deque(maxlen=call_log_size)
        self.faults = FaultPlan()
        self.random_faults: RandomFaults | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self._bots: dict[str, BotAccount] = {}
        self._bot_ids = itertools.count(7_000_000_001)
        self._users: dict[tuple[str, int], FakeUser] = {}
        self._rate_limits = rate_limits
        self._limiters: dict[str, RateLimiter] = {}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._webhook_tasks: dict[str, asyncio.Task[None]] = {}
        self._closing = False
        self.default_bot = self.add_bot(token=token, username=bot_username,
                                        first_name=bot_first_name)

    # --- bots and users ---

    @property
    def token(self) -> str:
        """Return the default bot's token."""
        return self.default_bot.token

    @property
    def base_url(self) -> str:
        """Return the value for ApplicationBuilder.base_url (the token is appended)."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """Return the value for ApplicationBuilder.base_file_url."""
        return f"http://{self.host}:{self.port}/file/bot"

    def add_bot(self, *, token: str | None = None, username: str = "dudao_bot",
                first_name: str = "督导") -> BotAccount:
        """Create a bot; without a token, one shaped like Telegram's is made up."""
        if token is not None:
            bot_id_text, sep, _ = token.partition(":")
            if not sep or not bot_id_text.isdigit():
                raise ValueError("a token looks like '123456:ABC-DEF...'")
            bot_id = int(bot_id_text)
        else:
            bot_id = next(self._bot_ids)
            token = new_token(bot_id)
        bot = BotAccount(id=bot_id, token=token, first_name=first_name, username=username)
        self._bots[token] = bot
        return bot

    def bot(self, token: str | None = None) -> BotAccount:
        """Return a bot's state (the default bot without a token)."""
        return self._bots[token] if token is not None else self.default_bot

    def user(self, user_id: int, first_name: str = "用户", *, last_name: str | None = None,
             username: str | None = None, phone_number: str | None = None,
             language_code: str = "zh-hans", token: str | None = None) -> FakeUser:
        """Return the simulated user with this id, chatting with a bot (created once)."""
        bot = self.bot(token)
        key = (bot.token, user_id)
        if key not in self._users:
            user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
            if last_name:
                user["last_name"] = last_name
            if username:
                user["username"] = username
            user["language_code"] = language_code
            chat = bot.chats.setdefault(user_id, Chat(user=user, phone_number=phone_number))
            self._users[key] = FakeUser(bot, chat)
        return self._users[key]

    # --- misbehaviour and inspection ---

    def set_rate_limits(self, limits: RateLimits | None) -> None:
        """Switch Telegram's flood limits on (fresh buckets) or off (None)."""
        self._rate_limits = limits
        self._limiters.clear()

    def fail_next(self, method: str, times: int = 1, *, error_code: int = 500,
                  description: str | None = None, retry_after: int | None = None,
                  drop: bool = False, executed: bool = False,
                  token: str | None = None) -> Fault:
        """Make the next `times` calls of `method` fail; see limits.Fault for the options."""
        return self.faults.add(Fault(method=method, times=times, error_code=error_code,
                                     description=description, retry_after=retry_after,
                                     drop=drop, executed=executed, token=token))

    def set_random_faults(self, faults: RandomFaults | None) -> None:
        """Fail a share of calls at random from now on (None: stop)."""
        self.random_faults = faults

    def calls_of(self, method: str, token: str | None = None) -> list[ApiCall]:
        """Return the calls of one method (case-insensitive), oldest first."""
        return [c for c in self.calls if c.method.lower() == method.lower()
                and token in (None, c.token)]

    def file_bytes(self, file_id: str, token: str | None = None) -> bytes:
        """Return the content of a stored file."""
        return self.bot(token).files[file_id].data

    # --- lifecycle ---

    def make_app(self) -> web.Application:
        """Build the aiohttp application (to mount elsewhere or serve with start())."""
        app = web.Application(client_max_size=_MAX_UPLOAD)
        app.router.add_route("*", r"/bot{token}/{method}", self._handle_method)
        app.router.add_get(r"/file/bot{token}/{path:.+}", self._handle_file)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on host:port; port 0 picks a free one (see base_url afterwards)."""
        self._closing = False
        self._session = aiohttp.ClientSession(timeout=_WEBHOOK_TIMEOUT)
        self._runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.host = host
        self.port = int(self._runner.addresses[0][1])
        for bot in self._bots.values():
            self._webhook_changed(bot)

    async def stop(self) -> None:
        """End long polls and webhook deliveries, then close the server."""
        self._closing = True
        for bot in self._bots.values():
            bot.updates.signal.notify()
        tasks = list(self._webhook_tasks.values())
        self._webhook_tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> LocalBotApi:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, traceback: TracebackType | None) -> None:
        await self.stop()

    # --- HTTP ---

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        """Answer /bot<token>/<method>."""
        token, method = request.match_info["token"], request.match_info["method"]
        bot = self._bots.get(token)
        if bot is None:
            # Telegram: a malformed token is "Not Found", a well-formed unknown one 401.
            malformed = ":" not in token
            return _error(ApiError(404, "Not Found") if malformed
                          else ApiError(401, "Unauthorized"))
        try:
            params = await read_params(request)
        except ApiError as error:
            return _error(error)
        call = ApiCall(token=token, method=method, params=params.for_log(), time=time.time())
        self.calls.append(call)
        fault = self.faults.take(token, method)
        if fault is not None and not fault.executed:
            return self._fail(request, call, fault)
        chaos = self.random_faults
        kind = chaos.pick(method) if chaos is not None else None
        if chaos is not None and kind is not None:
            call.injected = kind
            if kind != "hang":
                injected = chaos.error(kind)
                call.status, call.error = injected.error_code, injected.description
                return _error(injected)
        response = await self._run_method(bot, method, params, call)
        if chaos is not None and kind == "hang":  # taken in (and counted) now, answered late
            await asyncio.sleep(chaos.hang_seconds)
        if fault is not None:
            return self._fail(request, call, fault)
        return response

    async def _run_method(self, bot: BotAccount, method: str, params: Params,
                          call: ApiCall) -> web.Response:
        handler = METHODS.get(method.lower())
        if handler is None:
            call.status, call.error = 404, "Not Found"
            return _error(ApiError(404, "Not Found"))
        context = CallContext(bot=bot, params=params, limiter=self._limiter(bot),
                              webhook_changed=self._webhook_changed,
                              is_closing=lambda: self._closing)
        try:
            result = await handler(context)
        except ApiError as error:
            call.status, call.error = error.error_code, error.description
            return _error(error)
        call.status = 200
        return web.json_response({"ok": True, "result": result})

    def _fail(self, request: web.Request, call: ApiCall, fault: Fault) -> web.StreamResponse:
        if fault.drop:
            call.status, call.error = 0, "connection dropped"
            if request.transport is not None:
                request.transport.close()
            # The connection is gone; aiohttp discards whatever is answered now.
            return web.Response(status=499)
        error = fault.error()
        call.status, call.error = error.error_code, error.description
        return _error(error)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        """Serve /file/bot<token>/<file_path>."""
        bot = self._bots.get(request.match_info["token"])
        stored = bot.files_by_path.get(request.match_info["path"]) if bot else None
        if stored is None:
            return _error(ApiError(404, "Not Found"))
        return web.Response(body=stored.data,
                            content_type=stored.mime_type or "application/octet-stream")

    def _limiter(self, bot: BotAccount) -> RateLimiter | None:
        if self._rate_limits is None:
            return None
        if bot.token not in self._limiters:
            self._limiters[bot.token] = RateLimiter(self._rate_limits)
        return self._limiters[bot.token]

    # --- webhooks ---

    def _webhook_changed(self, bot: BotAccount) -> None:
        """Restart the delivery task of a bot after setWebhook / deleteWebhook."""
        old = self._webhook_tasks.pop(bot.token, None)
        if old is not None:
            old.cancel()
        bot.updates.signal.notify()  # a waiting getUpdates answers 409 now
        if bot.webhook is not None and self._session is not None and not self._closing:
            self._webhook_tasks[bot.token] = asyncio.create_task(
                self._deliver_webhook(bot, bot.webhook), name=f"webhook-{bot.id}")

    async def _deliver_webhook(self, bot: BotAccount, hook: WebhookConfig) -> None:
        """POST pending updates to the webhook in order, retrying with a growing pause."""
        queue = bot.updates
        failures = 0
        while bot.webhook is hook:
            await queue.signal.wait_until(lambda: bool(queue.pending), None)
            update = queue.pending[0]
            if await self._post_update(hook, update):
                failures = 0
                if queue.pending and queue.pending[0] is update:
                    queue.pending.pop(0)
                continue
            failures += 1
            pause = min(0.05 * 2**failures, _WEBHOOK_MAX_BACKOFF)
            await queue.signal.wait_until(lambda: bot.webhook is not hook, pause)

    async def _post_update(self, hook: WebhookConfig, update: JSON) -> bool:
        """POST one update; record the error Telegram would show in getWebhookInfo."""
        assert self._session is not None
        headers = {"X-Telegram-Bot-Api-Secret-Token": hook.secret_token} \
            if hook.secret_token else {}
        try:
            async with self._session.post(hook.url, json=update, headers=headers) as response:
                if 200 <= response.status < 300:
                    return True
                hook.last_error_message = \
                    f"Wrong response from the webhook: {response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError) as error:
            hook.last_error_message = f"Connection failed: {type(error).__name__}"
        hook.last_error_date = now()
        return False


def _error(error: ApiError) -> web.Response:
    return web.json_response(error.payload(), status=error.error_code)

