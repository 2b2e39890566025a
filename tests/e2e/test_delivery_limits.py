"""Telegram's limits kept by construction: against a local Bot API server that enforces them
(30 attempts in any second, about 1/s per private chat, refused ones counted), a burst of 60
parents filing tips together with a reminder burst to 300 supervisors (one of whom has a
backlog of 10) provokes no 429, and the backlog arrives in order without holding up anyone."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from bot.ports import Notice
from localapi import RateLimits
from tests.support.delivery import file_tip, has_written, pace, texts_with
from tests.support.e2e import running_dudao

PARENTS, SUPERVISORS, BACKLOG = 60, 300, 10


async def test_a_burst_of_parents_and_reminders_stays_within_telegram_s_limits(
        tmp_path: Path, sqlite_template: Path, shipped_classifier: object) -> None:
    target = tmp_path / "limits.db"
    shutil.copy(sqlite_template, target)
    async with running_dudao(f"sqlite:///{target}", shipped_classifier,
                             delivery={}) as dudao:  # the default pace, per chat too
        dudao.api.set_rate_limits(RateLimits())  # Telegram's: 30/s by attempts, ~1/s a chat
        supervisors = [has_written(dudao.api, 700_000 + i) for i in range(SUPERVISORS)]
        busy = has_written(dudao.api, 699_999)
        parents = [dudao.user(600_000 + i) for i in range(PARENTS)]
        async with dudao.container.uow() as uow:
            for i in range(BACKLOG):
                await uow.outbox.enqueue(busy.id, "ping.due", Notice.plain(f"积压提醒{i:02d}"),
                                         dudao.clock.now())
            for i, supervisor in enumerate(supervisors):
                await uow.outbox.enqueue(supervisor.id, "ping.due",
                                         Notice.plain(f"整改今天到期（提醒{i}）"),
                                         dudao.clock.now(), dedup_key=f"burst:{i}")
            await uow.commit()  # wakes delivery: 300 reminders start going out
        references = await asyncio.wait_for(
            asyncio.gather(*(file_tip(parent, timeout=120) for parent in parents)), 180)
        for _ in range(600):
            if all(texts_with(s, "整改今天到期") for s in supervisors) and \
                    texts_with(busy, "积压提醒") == BACKLOG:
                break
            await asyncio.sleep(0.1)
        seen = pace(dudao.api)
        print(f"\n{PARENTS} parents + {SUPERVISORS} reminders: {seen}")
    assert len(set(references)) == PARENTS  # every parent got their own reference
    assert [texts_with(s, "整改今天到期") for s in supervisors] == [1] * SUPERVISORS
    assert [m.text for m in busy.messages] == [f"积压提醒{i:02d}" for i in range(BACKLOG)]
    assert seen.too_many == 0
    assert seen.most_per_second <= 30
    assert seen.most_per_chat_second <= RateLimits().per_chat_burst
    assert seen.attempts >= SUPERVISORS + BACKLOG + 2 * PARENTS  # parents: summary, reference
