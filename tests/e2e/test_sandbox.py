"""`dudao try` driven the way a person types: a line, a pause to read, the next line."""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from handlers.sandbox import run_sandbox
from localapi.media import tiny_png
from tests.support.clock import FakeClock
from tests.support.terminal import Terminal, sandbox_settings
from tests.support.web import Page

TIP = "城关一小三年级数学作业每天写到晚上十一点，太多了"


async def _session(tmp_path: Path, classifier: object, terminal: Terminal, **options: object,
                   ) -> str:
    settings = await sandbox_settings(tmp_path)
    code = await run_sandbox(settings, classifier, terminal.read_line, terminal.out,
                             tmp_path / "received", log_file=tmp_path / "var" / "try.log",
                             **options)  # type: ignore[arg-type]
    assert code == 0
    return terminal.text


async def test_a_slow_report_is_shown_while_the_person_keeps_typing(
        tmp_path: Path, shipped_classifier: object) -> None:
    terminal = Terminal([("!staff DDS01", "绑定成功"), ("/reports", "本半月"),
                         ("#1", None),  # the chart takes a while; the person types on at once
                         ("!help", ".xlsx"), ("!quit", None)])
    text = await _session(tmp_path, shipped_classifier, terminal)
    assert "线索办理情况" in text
    assert text.index("指令：") < text.index(".xlsx")  # typed before the report came
    saved = sorted(p.name for p in (tmp_path / "received").iterdir())
    assert len(saved) == 2 and saved[0].endswith(".xlsx") and saved[1].endswith(".png")


async def test_every_identity_keeps_its_inbox_and_is_bound_once(
        tmp_path: Path, shipped_classifier: object) -> None:
    terminal = Terminal([("!sup DX01", "绑定成功"), ("!staff dds01", "绑定成功"),
                         ("!parent", "家长"), (TIP, "匿名提交"),
                         ("#1", "王建国（DX01） 收到了新消息"),
                         ("!sup DX01", "新分派案件"), ("!parent", "家长"),
                         ("!staff DDS01", "已绑定"), ("!sup DX01", "已绑定"), ("!quit", None)])
    text = await _session(tmp_path, shipped_classifier, terminal)
    assert text.count("绑定成功") == 2 and text.count("一次性邀请码") == 2  # DX01, DDS01 once
    away = text.index("王建国（DX01） 在您离开期间收到 1 条消息")
    assert away < text.index("新分派案件") and text.count("新分派案件") == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_console_link_web_gives_opens_while_the_sandbox_runs(
        tmp_path: Path, shipped_classifier: object) -> None:
    port = _free_port()
    terminal = Terminal([("!staff DDS01", "绑定成功"), ("/web", "/login/"), ("!quit", None)])
    opened: dict[str, object] = {}

    def read_line() -> str:  # runs in a worker thread while the bot serves in the loop
        line = terminal.read_line()
        if line == "!quit":
            found = re.search(r"http://\S+/login/[\w-]+", terminal.text)
            assert found, terminal.text
            browser = urllib.request.build_opener(
                urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
            with browser.open(found.group(0), timeout=10) as page:  # the link's page
                csrf = Page(page.status, page.read().decode(), page.url).csrf
            form = urllib.parse.urlencode({"csrf": csrf}).encode()
            with browser.open(found.group(0), data=form, timeout=10) as page:  # its button
                opened.update(status=page.status, url=page.url, text=page.read().decode())
        return line

    settings = await sandbox_settings(tmp_path)
    settings = settings.model_copy(update={"web": settings.web.model_copy(
        update={"listen_port": port})})
    code = await run_sandbox(settings, shipped_classifier, read_line, terminal.out,
                             tmp_path / "received", log_file=tmp_path / "var" / "try.log")
    assert code == 0
    assert f"网页工作台：http://127.0.0.1:{port}" in terminal.text
    assert opened["status"] == 200 and "/login/" not in str(opened["url"])
    assert "督导室案件" in str(opened["text"])


async def test_a_taken_console_port_is_said_and_the_chat_goes_on(
        tmp_path: Path, shipped_classifier: object) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        settings = await sandbox_settings(tmp_path)
        settings = settings.model_copy(update={"web": settings.web.model_copy(
            update={"listen_port": port})})
        terminal = Terminal([(TIP, "匿名提交"), ("!quit", None)])
        code = await run_sandbox(settings, shipped_classifier, terminal.read_line,
                                 terminal.out, tmp_path / "received",
                                 log_file=tmp_path / "var" / "try.log")
    assert code == 0
    assert f"网页工作台未能启动：端口 {port} 已被占用" in terminal.text
    assert "匿名提交" in terminal.text  # the chat went on


async def test_files_from_disk_and_a_pop_up_refusal_are_shown(
        tmp_path: Path, shipped_classifier: object) -> None:
    pdf, png = tmp_path / "作业.pdf", tmp_path / "照片.png"
    pdf.write_bytes(b"%PDF-1.4 homework")
    png.write_bytes(tiny_png())
    terminal = Terminal([(TIP, "匿名提交"), (f"!doc {pdf}", "共1个"), (f"!photo {png}", "共2个"),
                         ("!doc", "请写上要发送的文件路径"),
                         (f"!doc {tmp_path / 'nope.pdf'}", "找不到文件"),
                         ("#1", None),  # pressed twice: the second tap is refused
                         ("#1", "弹窗提示：这条线索已提交或已取消"), ("!quit", None)])
    text = await _session(tmp_path, shipped_classifier, terminal)
    assert "案件编号：SJ-" in text


async def test_readme_promise_at_half_past_eleven_at_night(
        tmp_path: Path, shipped_classifier: object) -> None:
    """A parent's tip, the supervisor's notice, a staff approval and a report, at 23:30."""
    clock = FakeClock(datetime(2026, 12, 3, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai")))
    terminal = Terminal([
        ("!sup DX01", "绑定成功"), ("!staff DDS01", "绑定成功"), ("!parent", "家长"),
        (TIP, "匿名提交"), ("#1", "收到了新消息"),
        ("!sup DX01", "新分派案件"), ("#1", "提出处理意见"), ("#1", "请选择处理意见"),
        ("#2", "跳过"),
        ("已约谈学校，要求三年级每天书面作业不超过60分钟。", "林晓琳（DDS01） 收到了新消息"),
        ("!staff DDS01", "处理意见待审核"), ("#1", "审核通过"), ("#1", "已审核通过"),
        ("/reports", "本半月"), ("#1", ".xlsx"), ("!parent", "处理结果"), ("!quit", None)])
    text = await _session(tmp_path, shipped_classifier, terminal, clock=clock)
    assert "关闭了免打扰时段" in text
    assert "新分派案件 SJ-2026-000001" in text
    assert "案件 SJ-2026-000001 的处理意见已审核通过" in text
    assert "线索办理情况（共 1 件）" in text


def test_dudao_try_through_a_pipe_keeps_logs_out_and_answers_every_command(
        tmp_path: Path) -> None:
    """The real command, typed into a pipe with pauses: logs to var/, Chinese answers."""
    env = dict(os.environ, DUDAO_DATABASE__URL=f"sqlite:///{tmp_path / 'pipe.db'}",
               DUDAO_SCHEDULER__INTERVAL_SECONDS="0.2", PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "try"], cwd=tmp_path, env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, encoding="utf-8")
    assert process.stdin is not None and process.stdout is not None
    assert process.stderr is not None
    screen: list[str] = []
    errors: list[str] = []
    readers = [threading.Thread(target=lambda: screen.extend(iter(process.stdout.readline, ""))),
               threading.Thread(target=lambda: errors.extend(iter(process.stderr.readline, "")))]
    for reader in readers:
        reader.start()

    def type_and_wait(line: str | None, expected: str) -> None:
        mark = len(screen)
        if line is not None:
            process.stdin.write(line + "\n")  # type: ignore[union-attr]
            process.stdin.flush()  # type: ignore[union-attr]
        deadline = time.monotonic() + 90
        while expected not in "".join(screen[mark:]):
            assert process.poll() is None, "".join(screen + errors)
            assert time.monotonic() < deadline, "".join(screen + errors)
            time.sleep(0.05)

    try:
        type_and_wait(None, "体验模式")
        type_and_wait("!sup", "请写上督学代码")
        time.sleep(1.0)  # a pause: several scheduler runs happen meanwhile
        type_and_wait("!staff", "请写上工作人员代码")
        type_and_wait("!sup XX99", "目录中没有代码为 XX99 的督学")
        type_and_wait("!frobnicate", "没有这个指令：!frobnicate")
        process.stdin.write("!quit\n")
        process.stdin.flush()
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
        for reader in readers:
            reader.join(timeout=10)
    shown = "".join(screen)
    assert "invite.error" not in shown and "匿名提交" not in shown  # `!sup` is no tip
    log = tmp_path / "var" / "dudao-try.log"
    assert f"写入 {Path('var') / 'dudao-try.log'}" in shown
    assert "entity resolver loaded" in log.read_text(encoding="utf-8")  # the bot's start-up log
    assert "entity resolver" not in shown + "".join(errors)
