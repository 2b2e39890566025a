"""A bot process for bench_pipeline's separate-process mode: dudao or a bare echo bot.

    python -m bench.pipeline_bot KIND TOKEN BASE_URL BASE_FILE_URL DB_PATH

KIND is "dudao", "dudao-notify" (every supervisor bound), "echo" or "echo-aiohttp" (the
echo bot on dudao's transport). It prints READY once polling, and runs until terminated.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


async def main(kind: str, token: str, base_url: str, base_file_url: str, db: str) -> None:
    from telegram.ext import Application, MessageHandler, filters

    from localapi.ptb import polling

    if kind.startswith("dudao"):
        from bench.bench_pipeline import bench_settings, bind_officials
        from bot.bootstrap import build, migrate
        from bot.directory.files import read_directory_files
        from bot.directory.service import import_directory
        from classifier import load
        from handlers.telegram.app import build_application

        settings = bench_settings(token, base_url, base_file_url, Path(db))
        migrate(settings)
        classifier = load()
        classifier.predict("预热")
        container = build(settings, classifier=classifier)
        await import_directory(container.uow, read_directory_files(
            sorted((ROOT / "data" / "directory").glob("*.csv"))))
        if kind == "dudao-notify":
            await bind_officials(container)
        app = build_application(container, rate_limiter=False)
    else:
        builder = (Application.builder().token(token).base_url(base_url)
                   .base_file_url(base_file_url).concurrent_updates(False))
        if kind == "echo-aiohttp":
            from handlers.telegram.transport import with_aiohttp

            builder = with_aiohttp(builder)
        app = builder.build()

        async def echo(update: Any, context: Any) -> None:
            await update.effective_message.reply_text(update.effective_message.text)

        app.add_handler(MessageHandler(filters.TEXT, echo))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with polling(app, timeout=5):
        print("READY", flush=True)
        await _profiled(stop.wait())  # post_shutdown stops dudao's container


async def _profiled(waiting: Any) -> None:
    """With DUDAO_BENCH_YAPPI=FILE, record the bot's CPU per function while it serves."""
    target = os.environ.get("DUDAO_BENCH_YAPPI")
    if not target:
        await waiting
        return
    import yappi  # a dev tool, not a dependency: pip install yappi

    yappi.set_clock_type("cpu")
    yappi.start()
    try:
        await waiting
    finally:
        yappi.stop()
        yappi.get_func_stats().save(target, type="pstat")


if __name__ == "__main__":
    profile_to = os.environ.get("DUDAO_BENCH_PROFILE")
    if profile_to:  # where the bot's CPU goes: DUDAO_BENCH_PROFILE=/tmp/bot.prof
        import cProfile

        cProfile.run("asyncio.run(main(*sys.argv[1:6]))", profile_to)
    else:
        asyncio.run(main(*sys.argv[1:6]))
