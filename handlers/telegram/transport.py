"""python-telegram-bot's HTTP requests carried by aiohttp instead of httpx.

Measured on this project's 2-core machine against a local aiohttp server: one httpx POST
costs about 0.7 ms of CPU, one aiohttp POST about 0.1 ms (bench/bench_pipeline.py has the
end-to-end numbers). A filed tip needs three Bot API calls and its share of getUpdates, so
the transport is a large part of the bot's CPU. python-telegram-bot supports this through its
`BaseRequest` interface.
"""

from __future__ import annotations

import urllib.request
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.ext import ApplicationBuilder
from telegram.request import BaseRequest, RequestData

Builder = TypeVar("Builder", bound=ApplicationBuilder)


def with_aiohttp(builder: Builder, timeout: float | None = None) -> Builder:
    """Give an ApplicationBuilder aiohttp transports: a pool for calls, one for getUpdates.

    `timeout` (seconds) is how long a call may wait for its answer (read and write) and for
    a pooled connection; None keeps the defaults."""
    if timeout is None:
        return builder.request(AiohttpRequest()).get_updates_request(
            AiohttpRequest(connection_pool_size=1))
    return builder.request(AiohttpRequest(
        read_timeout=timeout, write_timeout=timeout, pool_timeout=timeout)).get_updates_request(
        AiohttpRequest(connection_pool_size=1, read_timeout=timeout, write_timeout=timeout))


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` over one aiohttp session with a bounded connection pool."""

    def __init__(self, *, connection_pool_size: int = 256, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0, media_write_timeout: float = 20.0) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str], str | None] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (needs the running loop, so not in __init__)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = BaseRequest.DEFAULT_NONE,
                         write_timeout: Any = BaseRequest.DEFAULT_NONE,
                         connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                         pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        """Send one Bot API request; map aiohttp's failures onto python-telegram-bot's."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        files = request_data.multipart_data if request_data and request_data.contains_files \
            else None
        read = _given(read_timeout, self._read_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        pool = _given(pool_timeout, self._pool_timeout)
        write = _given(write_timeout, self._media_write_timeout if files else self._write_timeout)
        # aiohttp has no separate write or pool timeout: waiting for a pooled connection counts
        # toward `connect`, and the whole exchange is bounded by write + read.
        total = None if read is None or write is None else read + write + (connect or 0)
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=read,
                                        connect=None if connect is None or pool is None
                                        else connect + pool)
        body = _body(request_data, files)
        try:
            async with self._session.request(method, url, data=body, timeout=timeout,
                                             proxy=self._proxy_for(url)) as response:
                return response.status, await response.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err


    def _proxy_for(self, url: str) -> str | None:
        """HTTPS_PROXY / HTTP_PROXY / NO_PROXY, as httpx's default client honoured them.

        Looked up once per scheme and host: aiohttp's own `trust_env` reads the environment
        (and ~/.netrc) on every request, which tripled the cost of a request here.
        """
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if key not in self._proxies:
            proxy = urllib.request.getproxies().get(parts.scheme)
            if proxy and urllib.request.proxy_bypass(key[1]):
                proxy = None
            self._proxies[key] = proxy
        return self._proxies[key]


def _given(value: Any, default: float | None) -> float | None:
    return default if isinstance(value, type(BaseRequest.DEFAULT_NONE)) else value


def _body(request_data: RequestData | None, files: dict[str, Any] | None) -> Any:
    """Form fields as python-telegram-bot encodes them; multipart when files are attached."""
    if request_data is None:
        return None
    fields = request_data.json_parameters
    if not files:
        return fields or None
    form = aiohttp.FormData(quote_fields=False)
    for name, value in fields.items():
        form.add_field(name, value)
    for name, part in files.items():
        if isinstance(part, tuple):
            filename, content, mimetype = part
            form.add_field(name, content, filename=filename, content_type=mimetype)
        else:
            form.add_field(name, part)
    return form
