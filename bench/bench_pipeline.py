"""Benchmark: parents filing tips through the full dudao pipeline vs a bare echo bot.

Both run in the same process against the same local Bot API server implementation, one
after the other, with the same number of simulated users. A dudao "tip" is two parent
messages: the tip text (naming a school) and the 匿名提交 button; its latency runs from
the first message to the reply carrying the case reference. Classification runs in a
worker thread (IntakeService.analyse), storage is SQLite in a temporary directory.

    .venv/bin/python -m bench.bench_pipeline --users 20 --tips 10
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import platform
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench.bench_echo_localapi import LoadResult, echo_app, run_load
from bot.bootstrap import build, migrate
from bot.config import Settings
from bot.directory.files import read_directory_files
from bot.directory.service import import_directory
from handlers.telegram.app import PerChatUpdateProcessor, build_application
from localapi import FakeUser, LocalBotApi
from localapi.ptb import polling

ROOT = Path(__file__).resolve().parent.parent
TIPS = [
    "{s}三年级数学老师每天布置两个小时作业，孩子写到晚上十一点",
    "{s}的课后服务强制报名，不报名老师就在群里点名",
    "{s}老师周末在家里给学生有偿补课，一节课两百元",
    "{s}一年级每天都有书面作业，还要家长拍照打卡",
    "{s}课后服务时间老师讲新课，不参加的孩子跟不上",
    "{s}的英语老师暗示孩子去她亲戚开的补习班",
]
SCHOOLS = ["城关一小", "城关二小", "二中", "实验小学", "育才中学"]


async def tip_step(user: FakeUser, index: int) -> None:
    """One tip: the text, then 匿名提交, waiting for the reference."""
    rng = random.Random(user.id * 1000 + index)
    text = rng.choice(TIPS).format(s=rng.choice(SCHOOLS)) + f"（第{index + 1}次）"
    await user.send_text(text)
    await user.wait_for_message(lambda m: "匿名提交" in str(m.reply_markup), timeout=60)
    await user.press("匿名提交")
    await user.wait_for_message(lambda m: "案件编号" in (m.text or ""), timeout=60)


OFFICIAL_BASE = 900_000


def officials() -> list[tuple[int, str, str]]:
    """(Telegram user id, person code, role) for every supervisor and staff member."""
    people: list[tuple[str, str]] = []
    for name, role in (("supervisors.csv", "supervisor"), ("staff.csv", "staff")):
        with (ROOT / "data" / "directory" / name).open(encoding="utf-8") as rows:
            people += [(row["code"], role) for row in csv.DictReader(rows)]
    return [(OFFICIAL_BASE + i, code, role) for i, (code, role) in enumerate(people)]


async def greet_officials(api: LocalBotApi) -> list[FakeUser]:
    """Each official writes to the bot first (Telegram lets a bot write only to such users)."""
    users = [api.user(user_id, code) for user_id, code, _ in officials()]
    for user in users:
        await user.send_text("/start")
    return users


async def bind_officials(container: Any) -> None:
    """Bind every official through a one-time invite, so each tip notifies its supervisor."""
    for user_id, code, role in officials():
        invite, _ = await container.invites.issue(code, role)
        await container.invites.bind(user_id, invite)


def bench_settings(api_token: str, base_url: str, base_file_url: str, db: Path) -> Settings:
    """Embedded defaults on `db`; no flood or hourly limits, no quiet hours (notices go now)."""
    return Settings(telegram={"token": api_token, "base_url": base_url,
                              "base_file_url": base_file_url, "updates_per_minute": 100_000},
                    database={"url": f"sqlite:///{db}"},
                    cases={"tips_per_hour": 1_000_000},
                    time_rules={"quiet_start": "00:00:00", "quiet_end": "00:00:00"},
                    scheduler={"interval_seconds": 0})


async def run_dudao(users: int, tips: int, classifier: Any, workdir: Path,
                    notify: bool = False) -> LoadResult:
    """Start the whole bot on a fresh SQLite database and let parents file tips."""
    db = workdir / f"bench-{time.monotonic_ns()}.db"
    async with LocalBotApi() as api:
        settings = bench_settings(api.token, api.base_url, api.base_file_url, db)
        migrate(settings)
        container = build(settings, classifier=classifier)
        await import_directory(container.uow, read_directory_files(
            sorted((ROOT / "data" / "directory").glob("*.csv"))))
        # No AIORateLimiter: we measure the pipeline, not Telegram's 30 msg/s ceiling.
        app = build_application(container, rate_limiter=False)
        async with polling(app, timeout=5):  # post_shutdown stops the container
            if notify:
                for official in await greet_officials(api):
                    await official.wait_for_message(timeout=30)
                await bind_officials(container)
            fakes = [api.user(500_000 + i, f"家长{i}") for i in range(users)]

            async def converse(user: FakeUser) -> list[float]:
                out = []
                for index in range(tips):
                    started = time.perf_counter()
                    await tip_step(user, index)
                    out.append(time.perf_counter() - started)
                return out

            started = time.perf_counter()
            per_user = await asyncio.gather(*(converse(u) for u in fakes))
            elapsed = time.perf_counter() - started
    label = "dudao full pipeline" + (", supervisors notified" if notify else "")
    return LoadResult(label, users, tips, elapsed, [x for lat in per_user for x in lat])


async def run_separate(kind: str, users: int, steps: int, workdir: Path) -> LoadResult:
    """The bot in its own process (as in production); server and users stay here."""
    step = tip_step if kind.startswith("dudao") else _echo_step
    labels = {"dudao": "dudao full pipeline", "echo": "echo, concurrent_updates=False",
              "dudao-notify": "dudao full pipeline, supervisors notified",
              "echo-aiohttp": "echo, aiohttp transport (dudao's)"}
    async with LocalBotApi() as api:
        greeted = await greet_officials(api) if kind == "dudao-notify" else []
        child = await asyncio.create_subprocess_exec(
            sys.executable, *(os.environ.get("DUDAO_BENCH_BOT", "-m bench.pipeline_bot").split()),
            kind, api.token, api.base_url,
            api.base_file_url, str(workdir / f"{kind}-{time.monotonic_ns()}.db"),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE)
        assert child.stdout is not None
        try:
            while (line := await asyncio.wait_for(child.stdout.readline(), 120)) != b"READY\n":
                if not line:
                    raise RuntimeError(f"the {kind} bot process ended before it was ready")
            for official in greeted:
                await official.wait_for_message(timeout=30)
            fakes = [api.user(700_000 + i, f"家长{i}") for i in range(users)]

            async def converse(user: FakeUser) -> list[float]:
                out = []
                for index in range(steps):
                    started = time.perf_counter()
                    await step(user, index)
                    out.append(time.perf_counter() - started)
                return out

            started = time.perf_counter()
            per_user = await asyncio.gather(*(converse(u) for u in fakes))
            elapsed = time.perf_counter() - started
        finally:
            child.terminate()
            await child.wait()
    label = labels[kind] + " (bot in its own process)"
    return LoadResult(label, users, steps, elapsed, [x for lat in per_user for x in lat])


async def _echo_step(user: FakeUser, index: int) -> None:
    text = f"消息 {user.id}-{index}"
    await user.send_text(text)
    await user.wait_for_message(lambda m: m.text == text, timeout=60)


def echo_aiohttp(api: LocalBotApi) -> Any:
    """The bare echo bot on dudao's aiohttp transport instead of python-telegram-bot's httpx."""
    from telegram.ext import MessageHandler, filters

    from handlers.telegram.transport import with_aiohttp
    from localapi.ptb import application_builder

    app = with_aiohttp(application_builder(api)).concurrent_updates(False).build()

    async def echo(update: Any, context: Any) -> None:
        await update.effective_message.reply_text(update.effective_message.text)

    app.add_handler(MessageHandler(filters.TEXT, echo))
    return app


def echo_per_chat(api: LocalBotApi) -> Any:
    from telegram.ext import MessageHandler, filters

    from localapi.ptb import application_builder

    app = application_builder(api).concurrent_updates(PerChatUpdateProcessor()).build()

    async def echo(update: Any, context: Any) -> None:
        await update.effective_message.reply_text(update.effective_message.text)

    app.add_handler(MessageHandler(filters.TEXT, echo))
    return app


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="dudao pipeline vs echo bot")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--tips", type=int, default=10, help="tips per user")
    parser.add_argument("--model", default=None, help="model directory (default: shipped)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-pipeline.md")
    args = parser.parse_args(argv)
    from classifier import load

    print("loading the shipped classifier ...", flush=True)
    classifier = load(args.model)
    messages = 2 * args.tips  # the echo users send as many messages as the parents do
    rows: list[tuple[str, LoadResult, float]] = []
    for label, factory in (("echo, concurrent_updates=False", echo_app(False)),
                           ("echo, concurrent_updates=True", echo_app(True)),
                           ("echo, per-chat processor (dudao's)", echo_per_chat),
                           ("echo, aiohttp transport (dudao's)", echo_aiohttp)):
        print(f"running {label} ...", flush=True)
        result = await run_load(factory, users=args.users, messages=messages, label=label)
        rows.append((label, result, result.throughput))
    print("running dudao full pipeline ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        dudao = await run_dudao(args.users, args.tips, classifier, Path(tmp))
        print("running dudao with every supervisor bound (each tip notifies one) ...",
              flush=True)
        notified = await run_dudao(args.users, args.tips, classifier, Path(tmp), notify=True)
    print("running both again with the bot in its own process ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        echo_alone = await run_separate("echo", args.users, messages, Path(tmp))
        echo_fast_alone = await run_separate("echo-aiohttp", args.users, messages, Path(tmp))
        dudao_alone = await run_separate("dudao", args.users, args.tips, Path(tmp))
        notified_alone = await run_separate("dudao-notify", args.users, args.tips, Path(tmp))
    # The target compares with a bare python-telegram-bot echo bot (its own httpx transport);
    # the echo bot on dudao's transport is reported beside it.
    bare = [r for r in rows if "aiohttp" not in r[0]]
    best_echo = max(r[2] for r in bare)
    fast_echo = next(r[2] for r in rows if "aiohttp" in r[0])
    dudao_msgs = dudao.throughput * 2
    lines = [
        f"## Parent pipeline vs bare echo bot ({date.today().isoformat()})",
        "",
        f"Machine: {platform.machine()}, Python {sys.version.split()[0]}, "
        f"{args.users} simulated users in one process with the local Bot API server.",
        "",
        "| bot | users × exchanges | seconds | exchanges/s | parent messages/s | "
        "p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, result, _ in rows:
        lines.append(f"| {label} | {result.users}×{result.messages} | {result.seconds:.2f} | "
                     f"{result.throughput:.0f} | {result.throughput:.0f} | "
                     f"{result.percentile(50):.1f} | {result.percentile(95):.1f} |")
    for result in (dudao, notified):
        lines.append(f"| {result.label}: tip → reference (2 messages) | "
                     f"{result.users}×{result.messages} | {result.seconds:.2f} | "
                     f"{result.throughput:.1f} tips/s | {result.throughput * 2:.0f} | "
                     f"{result.percentile(50):.1f} | {result.percentile(95):.1f} |")
    for result, factor in ((echo_alone, 1), (echo_fast_alone, 1), (dudao_alone, 2),
                           (notified_alone, 2)):
        lines.append(f"| {result.label} | {result.users}×{result.messages} | "
                     f"{result.seconds:.2f} | {result.throughput:.1f} | "
                     f"{result.throughput * factor:.0f} | {result.percentile(50):.1f} | "
                     f"{result.percentile(95):.1f} |")
    ratio = dudao_msgs / best_echo
    alone = dudao_alone.throughput * 2 / echo_alone.throughput
    lines += ["", f"Same process: dudao handles {dudao_msgs:.0f} parent messages/s = "
              f"**{ratio:.2f}×** the best echo setting ({best_echo:.0f}/s).",
              f"Bot in its own process: {dudao_alone.throughput * 2:.0f} vs "
              f"{echo_alone.throughput:.0f} messages/s = **{alone:.2f}×**.",
              f"Against the echo bot on dudao's own aiohttp transport: "
              f"{dudao_msgs / fast_echo:.2f}× (same process, {fast_echo:.0f}/s) and "
              f"{dudao_alone.throughput * 2 / echo_fast_alone.throughput:.2f}× (own process, "
              f"{echo_fast_alone.throughput:.0f}/s).",
              f"With every supervisor bound (each tip also sends its supervisor a notice "
              f"through the outbox): {notified.throughput * 2 / best_echo:.2f}× (same process) "
              f"and {notified_alone.throughput * 2 / echo_alone.throughput:.2f}× (own process) "
              f"of the bare echo bot.",
              f"Target ≥ 0.33×: {'met' if max(ratio, alone) >= 1 / 3 else 'NOT met'}"
              f" (same process {'met' if ratio >= 1 / 3 else 'not met'}, own process "
              f"{'met' if alone >= 1 / 3 else 'not met'}).", ""]
    report = "\n".join(lines)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
