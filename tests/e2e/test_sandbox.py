"""`dudao try`: a scripted terminal session files a tip through the real bot."""

from __future__ import annotations

import io
from pathlib import Path

from bot.config import Settings
from handlers.sandbox import run_sandbox


async def test_terminal_session_files_a_tip_and_switches_to_a_supervisor(
        tmp_path: Path, shipped_classifier: object) -> None:
    from bot.bootstrap import migrate

    settings = Settings(database={"url": f"sqlite:///{tmp_path / 'try.db'}"})
    migrate(settings)
    from bot.runner import import_configured_directory

    await import_configured_directory(settings)
    script = iter(["城关一小三年级数学作业每天写到晚上十一点，太多了", "#1", "/mycases", "#9",
                   "!sup DX01", "!staff DDS01", "/reports", "#1", "!quit"])
    out = io.StringIO()

    def read_line() -> str:
        return next(script)

    files = tmp_path / "received"
    # A generous silence: on a busy machine the report takes more than a second to draw.
    assert await run_sandbox(settings, shipped_classifier, read_line, out, files,
                             quiet=3.0) == 0
    text = out.getvalue()
    assert "体验模式" in text and "[1] 匿名提交" in text
    assert "案件编号：SJ-" in text and "已分派督学" in text
    assert "没有这个编号的按钮" in text
    assert "绑定成功：王建国" in text
    assert "线索办理情况" in text and "文件已保存到" in text
    saved = sorted(p.name for p in files.iterdir())
    assert len(saved) == 2 and saved[0].endswith(".xlsx") and saved[1].endswith(".png")
    assert (files / saved[1]).read_bytes().startswith(b"\x89PNG")
