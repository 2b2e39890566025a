"""The parent's reference survives a crash between saving the tip and replying: the bot is a
separate process that SIGKILLs itself right after the commit; after a restart the reference
reaches the parent (its outbox row was written in the same transaction as the case)."""

from __future__ import annotations

import signal
from pathlib import Path

from sqlalchemy import create_engine, text

from localapi import LocalBotApi
from tests.support.botprocess import TOKEN, BotProcess, write_config
from tests.support.e2e import HOMEWORK, reference_in

STARTED = "机器人已启动"


async def test_sigkill_between_commit_and_reply_then_the_reference_arrives_after_restart(
        tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    async with LocalBotApi(token=TOKEN) as api:
        config = write_config(tmp_path / "dudao.toml", api, f"sqlite:///{db}",
                              delivery={"reply_lease_seconds": 3})
        crashing = await BotProcess(config, tmp_path,
                                    DUDAO_TEST_CRASH_AFTER_FILING="1").start()
        await crashing.wait_for(STARTED)
        parent = api.user(4242, first_name="家长")
        await parent.send_text(HOMEWORK)
        await parent.wait_for_message(lambda m: "匿名提交" in str(m.reply_markup), timeout=60)
        await parent.press("匿名提交")
        assert await crashing.exited(60) == -signal.SIGKILL
        assert not any("案件编号" in (m.text or "") for m in parent.messages)
        with create_engine(f"sqlite:///{db}").connect() as conn:  # the case was saved
            [reference] = conn.execute(text("SELECT reference FROM cases")).scalars()
            assert conn.execute(text("SELECT count(*) FROM outbox WHERE kind = 'filed' "
                                     "AND sent_at IS NULL")).scalar_one() == 1

        restarted = await BotProcess(config, tmp_path).start()
        try:
            await restarted.wait_for(STARTED)
            filed = await parent.wait_for_message(lambda m: "案件编号" in (m.text or ""),
                                                  timeout=60)
        finally:
            assert await restarted.stop() == 0
    assert reference_in(filed.text) == reference
    assert sum(1 for m in parent.messages if "案件编号" in (m.text or "")) == 1
    with create_engine(f"sqlite:///{db}").connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outbox WHERE kind = 'filed' "
                                 "AND sent_at IS NOT NULL")).scalar_one() == 1
