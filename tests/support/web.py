"""Console test helpers: the console's HTTP server beside a running bot, /web links, and a
cookie-keeping HTTP client that reads CSRF tokens from pages as a browser would."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from handlers.http import make_web_app
from handlers.telegram.app import bound_port
from handlers.web import console_routes
from localapi.client import FakeUser
from tests.support.e2e import Dudao

SESSION_SECRET = "test-console-secret-0123456789abcdef"
LINK = re.compile(r"https?://\S+/login/[A-Za-z0-9_-]+")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@asynccontextmanager
async def console_server(bot: Dudao, public_url: str | None = None) -> AsyncIterator[str]:
    """Serve the console for `bot` on a free port; its base URL (public_url set to it unless
    another is given, e.g. an https one for the Mini App button)."""
    runner = web.AppRunner(make_web_app(routes=[console_routes(bot.container)]),
                           access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{bound_port(runner)}"
    bot.container.settings.web.public_url = public_url or base
    try:
        yield base
    finally:
        await runner.cleanup()


async def login_link(user: FakeUser) -> str:
    """Send /web and return the link the bot answers with."""
    await user.send_text("/web")
    reply = await user.wait_for_message(lambda m: "/login/" in (m.text or ""), timeout=10)
    found = LINK.search(reply.text or "")
    assert found, reply.text
    return found.group(0)


@dataclass
class Page:
    status: int
    text: str
    url: str

    @property
    def csrf(self) -> str:
        found = CSRF.search(self.text)
        assert found, self.text[:500]
        return found.group(1)


class Browser:
    """An HTTP client that keeps cookies (also for 127.0.0.1) and follows redirects."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    async def get(self, path: str) -> Page:
        async with self.session.get(self._url(path)) as response:
            return Page(response.status, await response.text(), str(response.url))

    async def post(self, path: str, data: dict[str, Any]) -> Page:
        async with self.session.post(self._url(path), data=data) as response:
            return Page(response.status, await response.text(), str(response.url))

    async def login(self, link: str) -> Page:
        """Open a /web link and press its button, as a person does."""
        page = await self.get(link)
        return await self.post(link, {"csrf": page.csrf})

    async def act(self, reference: str, action: str, **fields: str) -> Page:
        """Post one action form of a case page, with the page's CSRF token."""
        page = await self.get(f"/cases/{reference}")
        return await self.post(f"/cases/{reference}/act",
                               {"csrf": page.csrf, "action": action, **fields})
