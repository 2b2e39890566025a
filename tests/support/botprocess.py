"""`dudao run` as a separate process against a local Bot API server of the test."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from localapi import LocalBotApi

# A token in BotFather's shape (bot id, colon, 35 characters).
TOKEN = "7123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


def write_config(path: Path, api: LocalBotApi, db_url: str, **sections: dict[str, object],
                 ) -> Path:
    """A dudao.toml for a bot that talks to `api` and keeps its data in `db_url`."""
    config: dict[str, dict[str, object]] = {
        "telegram": {"token": api.token, "base_url": api.base_url,
                     "base_file_url": api.base_file_url},
        "database": {"url": db_url},
        "web": {"listen_port": 0},
        "scheduler": {"interval_seconds": 0},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    lines = []
    for name, values in config.items():
        lines.append(f"[{name}]")
        for key, value in values.items():
            if isinstance(value, bool):
                lines.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, int | float):
                lines.append(f"{key} = {value}")
            else:
                lines.append(f'{key} = "{value}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class BotProcess:
    """One `dudao run --config FILE` child; its stdout and stderr are collected in `lines`."""

    def __init__(self, config: Path, cwd: Path, **env: str) -> None:
        self.config, self.cwd = config, cwd
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", **env)
        self.lines: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> BotProcess:
        root = Path(__file__).resolve().parents[2]
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root),
                                                               self.env.get("PYTHONPATH")]))
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", "--config", str(self.config),
            cwd=self.cwd, env=self.env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.lines.append(line.decode("utf-8", "replace").rstrip())

    def said(self, needle: str) -> int:
        return sum(1 for line in self.lines if needle in line)

    async def wait_for(self, needle: str, timeout: float = 90.0) -> None:
        """Wait until the process printed a line containing `needle`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.said(needle):
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(f"dudao exited ({self.process.returncode}):\n"
                                     + "\n".join(self.lines[-40:]))
            if loop.time() > deadline:
                raise AssertionError(f"no line with {needle!r} in {timeout} s:\n"
                                     + "\n".join(self.lines[-40:]))
            await asyncio.sleep(0.1)

    async def exited(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        code = await asyncio.wait_for(self.process.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)
        return code

    async def stop(self) -> int:
        """SIGTERM and wait (SIGKILL after 30 s)."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await self.exited(30)
        except TimeoutError:
            self.process.kill()
            return await self.exited(10)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None
