"""Benchmark: simulated users chat with a python-telegram-bot app through the local Bot API.

Each of N users sends M messages one after another (the next once the reply arrived);
all users run at once. Reports messages/s and send-to-reply latency for several
`concurrent_updates` settings as a markdown table. Server, bot and users share one event
loop and process, so the numbers are an upper bound on the transport's own cost.

    .venv/bin/python -m bench.bench_echo_localapi --users 50 --messages 20

The driver is reusable for the full dudao pipeline: pass `run_load` an app factory (and, if
the conversation is not an echo, a `step` that plays one exchange of one user).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from localapi import FakeUser, LocalBotApi
from localapi.ptb import application_builder, polling

App = Application[Any, Any, Any, Any, Any, Any]
AppFactory = Callable[[LocalBotApi], App]
Step = Callable[[FakeUser, int], Awaitable[None]]


@dataclass(frozen=True)
class LoadResult:
    """Latencies of every exchange of one run, and how long the run took."""

    label: str
    users: int
    messages: int
    seconds: float
    latencies: list[float]

    @property
    def throughput(self) -> float:
        """Return completed exchanges per second."""
        return len(self.latencies) / self.seconds

    def percentile(self, q: float) -> float:
        """Return the q-th percentile latency in milliseconds."""
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    def row(self) -> str:
        """Return this result as a markdown table row."""
        return (f"| {self.label} | {self.users}×{self.messages} | {self.seconds:.2f} | "
                f"{self.throughput:.0f} | {self.percentile(50):.1f} | {self.percentile(95):.1f} "
                f"| {max(self.latencies) * 1000:.1f} |")


TABLE_HEADER = ("| concurrent_updates | users×messages | seconds | messages/s | p50 ms | "
                "p95 ms | max ms |\n|---|---|---|---|---|---|---|")


async def echo_step(user: FakeUser, index: int) -> None:
    """Send one text and wait for the bot's reply to it."""
    text = f"消息 {user.id}-{index}"
    await user.send_text(text)
    await user.wait_for_message(lambda m: m.text == text, timeout=30)


async def run_load(app_factory: AppFactory, *, users: int = 50, messages: int = 20,
                   step: Step = echo_step, label: str = "", first_user_id: int = 100_000,
                   ) -> LoadResult:
    """Start a local Bot API and the app, let `users` users play `messages` steps each."""
    async with LocalBotApi() as api:
        app = app_factory(api)
        async with polling(app, timeout=5):
            fakes = [api.user(first_user_id + i, f"用户{i}") for i in range(users)]

            async def converse(user: FakeUser) -> list[float]:
                latencies = []
                for index in range(messages):
                    started = time.perf_counter()
                    await step(user, index)
                    latencies.append(time.perf_counter() - started)
                return latencies

            started = time.perf_counter()
            per_user = await asyncio.gather(*(converse(u) for u in fakes))
            elapsed = time.perf_counter() - started
    latencies = [latency for user_latencies in per_user for latency in user_latencies]
    return LoadResult(label, users, messages, elapsed, latencies)


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply with the same text."""
    assert update.effective_message is not None and update.effective_message.text
    await update.effective_message.reply_text(update.effective_message.text)


def echo_app(concurrent_updates: bool | int) -> AppFactory:
    """Return a factory of bare echo bots with the given concurrent_updates setting."""
    def build(api: LocalBotApi) -> App:
        app = application_builder(api).concurrent_updates(concurrent_updates).build()
        app.add_handler(MessageHandler(filters.TEXT, _echo))
        return app
    return build


def _setting(text: str) -> bool | int:
    """Parse a concurrent_updates value: true, false or a number."""
    lowered = text.lower()
    return lowered == "true" if lowered in ("true", "false") else int(text)


async def main(argv: Sequence[str] | None = None) -> None:
    """Run the echo benchmark for each concurrent_updates setting and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--settings", nargs="+", default=["false", "true", "8"],
                        help="concurrent_updates values: false, true or a number")
    args = parser.parse_args(argv)
    rows = []
    for text in args.settings:
        setting = _setting(text)
        result = await run_load(echo_app(setting), users=args.users, messages=args.messages,
                                label=str(setting))
        rows.append(result.row())
    print(TABLE_HEADER)
    print("\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
