"""The real `dudao run` process under a shifted system clock (libfaketime): a stage clock
that ran out while the bot was stopped is pinged once after it starts.

The case is filed (and its supervisor bound) on Monday 2026-11-23 10:00 Shanghai time with
the in-process bot; the process then starts with its system clock at Wednesday 09:00, a
working day after the accept clock ran out (Tuesday 10:00). Needs Debian's `faketime`
(.ci/test installs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from bot.filing import TipInput
from localapi.server import LocalBotApi
from tests.support.e2e import running_dudao

ROOT = Path(__file__).resolve().parents[2]
FAKETIME = shutil.which("faketime")


@pytest.mark.skipif(FAKETIME is None, reason="Debian's faketime is not installed")
async def test_a_clock_that_ran_out_while_stopped_is_pinged_once_after_start(
        tmp_path: Path, sqlite_template: Path, shipped_classifier: object) -> None:
    assert FAKETIME is not None
    target = tmp_path / "e2e.db"
    shutil.copy(sqlite_template, target)
    db_url = f"sqlite:///{target}"
    async with running_dudao(db_url, shipped_classifier) as dudao:
        await dudao.bind(dudao.user(74001, "王建国"), "DX01")
        reference = (await dudao.container.filing.file_tip(TipInput(
            text="城关一小三年级作业每天写到十一点", reporter_user_id=74003,
            category="homework_burden", confidence=0.97, school_code="QX-S001"))).reference

    async with LocalBotApi() as api:
        supervisor = api.user(74001, "王建国")
        await supervisor.send_text("/start")  # a chat the new server knows, as on Telegram
        env = dict(os.environ, TZ="UTC", PYTHONUNBUFFERED="1", FAKETIME_DONT_FAKE_MONOTONIC="1",
                   DUDAO_DATABASE__URL=db_url, DUDAO_TELEGRAM__TOKEN=api.token,
                   DUDAO_TELEGRAM__BASE_URL=api.base_url,
                   DUDAO_TELEGRAM__BASE_FILE_URL=api.base_file_url,
                   DUDAO_SCHEDULER__INTERVAL_SECONDS="1")
        log = (tmp_path / "run.log").open("w")
        process = await asyncio.create_subprocess_exec(
            FAKETIME, "-f", "@2026-11-25 01:00:00", sys.executable, "-m", "bot.cli", "run",
            cwd=tmp_path, env=env, stdout=log, stderr=log,
            start_new_session=True)  # faketime runs the bot as its child: signal the group
        try:
            waiting = asyncio.ensure_future(supervisor.wait_for_message(
                lambda m: "已超时" in (m.text or ""), timeout=120))
            await asyncio.wait([waiting, asyncio.ensure_future(process.wait())],
                               return_when=asyncio.FIRST_COMPLETED)
            assert waiting.done(), (tmp_path / "run.log").read_text(encoding="utf-8")
            ping = waiting.result()
            assert reference in (ping.text or "") and "受理" in (ping.text or "")
            assert "1 个工作日" in (ping.text or "")
            await asyncio.sleep(4)  # more scheduler runs: nothing new
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
            for _ in range(300):  # the wrapper and the bot it runs shut down (up to 30 s)
                try:
                    os.killpg(process.pid, 0)
                except ProcessLookupError:
                    break
                await asyncio.sleep(0.1)
            with contextlib.suppress(ProcessLookupError):  # nothing of it may outlive the test
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            log.close()
        texts = [m.text or "" for m in supervisor.messages]
        assert sum(1 for text in texts if reference in text and "已超时" in text) == 1, texts
        assert not any("今日到期" in text for text in texts)  # missed while stopped
        output = (tmp_path / "run.log").read_text(encoding="utf-8")
        assert "Traceback" not in output, output
