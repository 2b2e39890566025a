"""Glue for running a python-telegram-bot Application against a LocalBotApi."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telegram.ext import Application, ApplicationBuilder

from localapi.server import LocalBotApi


def application_builder(api: LocalBotApi, token: str | None = None,
                        ) -> ApplicationBuilder[Any, Any, Any, Any, Any, Any]:
    """Return an ApplicationBuilder pointed at the local server (default bot's token)."""
    return (Application.builder()
            .token(token or api.token)
            .base_url(api.base_url)
            .base_file_url(api.base_file_url))


AnyApplication = Application[Any, Any, Any, Any, Any, Any]


@asynccontextmanager
async def polling(app: AnyApplication, *, timeout: int = 10,
                  **polling_options: Any) -> AsyncIterator[AnyApplication]:
    """Run `app` with long polling for the duration of the block, then shut it down.

    Like `Application.run_polling`, it calls the app's `post_init` after initialising, its
    `post_stop` after stopping and its `post_shutdown` after shutting down.
    """
    try:
        async with app:
            if app.post_init is not None:
                await app.post_init(app)
            await app.start()
            assert app.updater is not None, "build the application with an updater"
            await app.updater.start_polling(poll_interval=0.0, timeout=timeout,
                                            **polling_options)
            try:
                yield app
            finally:
                await app.updater.stop()
                await app.stop()
                if app.post_stop is not None:
                    await app.post_stop(app)
    finally:  # also when the block or a start-up step failed, as run_polling does
        if app.post_shutdown is not None:
            await app.post_shutdown(app)
