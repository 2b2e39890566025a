"""A reminder burst to 3,000 supervisors against a Bot API server enforcing Telegram's limits.

The whole bot (python-telegram-bot Application, outbox delivery loop, SQLite) runs against
the local Bot API server with its flood limits on: at most 30 message attempts in any
second (refused ones counted), about one a second per private chat. 3,000 reminder rows are
queued in one transaction, as the scheduler does; we measure from that commit until the last
supervisor has the message. 100 s is the floor at 30/s; the target is 110 s with no 429.

    .venv/bin/python -m bench.bench_delivery [--supervisors 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.bootstrap import build, migrate
from bot.config import Settings
from bot.ports import Notice
from handlers.telegram.app import build_application
from localapi import LocalBotApi, RateLimits
from localapi.ptb import polling


class DaytimeClock:
    """Monday 10:00 in Shanghai, so no reminder waits for the morning."""

    def now(self) -> datetime:
        return datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def most_in_any_second(times: list[float]) -> int:
    ordered = sorted(times)
    return max((bisect.bisect_right(ordered, t + 1.0) - i for i, t in enumerate(ordered)),
               default=0)


async def run(supervisors: int, workdir: Path) -> dict[str, float]:
    async with LocalBotApi(rate_limits=RateLimits()) as api:
        settings = Settings(telegram={"token": api.token, "base_url": api.base_url,
                                      "base_file_url": api.base_file_url},
                            database={"url": f"sqlite:///{workdir / 'bench.db'}"},
                            scheduler={"interval_seconds": 0}, directory={"import_on_start": []})
        migrate(settings)
        container = build(settings, clock=DaytimeClock())
        users = []
        for i in range(supervisors):
            users.append(api.user(800_000 + i, first_name=f"督学{i}"))
            api.bot().chats[800_000 + i].started = True  # they wrote to the bot before
        app = build_application(container)
        async with polling(app, timeout=5):
            async with container.uow() as uow:
                for i, user in enumerate(users):
                    await uow.outbox.enqueue(user.id, "visit_reminder", Notice.plain(
                        f"本月尚未走访的学校：提醒 {i}"), container.clock.now(),
                        dedup_key=f"bench:{i}")
                started = time.monotonic()
                await uow.commit()  # wakes delivery
            pending = users
            while pending:  # cheap: only those still waiting are looked at, 4 times a second
                await asyncio.sleep(0.25)
                pending = [user for user in pending if not user.messages]
            elapsed = time.monotonic() - started
        sends = [c for c in api.calls if c.method.lower() == "sendmessage"]
        return {"supervisors": supervisors, "seconds": elapsed,
                "attempts": len(sends), "too_many": sum(c.status == 429 for c in sends),
                "most_per_second": most_in_any_second([c.time for c in sends]),
                "send_span": max(c.time for c in sends) - min(c.time for c in sends),
                "duplicates": sum(len(u.messages) - 1 for u in users)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supervisors", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(args.supervisors, Path(tmp)))
    print(f"reminder burst to {result['supervisors']} supervisors: "
          f"{result['seconds']:.1f} s (floor at 30/s: {result['supervisors'] / 30:.0f} s; "
          f"first to last attempt {result['send_span']:.1f} s); "
          f"{result['attempts']} attempts, at most {result['most_per_second']} in any second, "
          f"{result['too_many']} 429s, {result['duplicates']} duplicates")


if __name__ == "__main__":
    main()
