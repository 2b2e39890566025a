"""A person at `dudao try`'s terminal: types a line, reads, types the next (tests/e2e)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterable
from pathlib import Path

from bot.config import Settings

# One typed line and what the person waits to read before typing the next one (None: types
# on at once, as someone who does not wait for the bot).
Step = tuple[str, str | None]


class Terminal:
    """Feeds `run_sandbox` its lines from a thread, pausing like a person who reads."""

    def __init__(self, steps: Iterable[Step], timeout: float = 60.0) -> None:
        self.out = io.StringIO()
        self._steps = iter(steps)
        self._timeout = timeout
        self._expect: str | None = None
        self._mark = 0
        self.typed: list[str] = []

    @property
    def text(self) -> str:
        return self.out.getvalue()

    def read_line(self) -> str:
        """The next line, once the previous one's expected answer is on screen."""
        if self._expect is not None:
            deadline = time.monotonic() + self._timeout
            while self._expect not in self.text[self._mark:]:
                if time.monotonic() > deadline:
                    raise AssertionError(f"never shown after {self.typed[-1]!r}: "
                                         f"{self._expect!r}\n--- screen ---\n{self.text}")
                time.sleep(0.02)
        step = next(self._steps, None)
        if step is None:
            raise EOFError
        line, self._expect = step
        self._mark = len(self.text)
        self.typed.append(line)
        return line


async def sandbox_settings(tmp_path: Path) -> Settings:
    """A fresh SQLite database with the shipped directory imported, as `dudao try` makes."""
    from bot.bootstrap import migrate
    from bot.runner import import_configured_directory

    settings = Settings(database={"url": f"sqlite:///{tmp_path / 'try.db'}"})
    migrate(settings)
    await import_configured_directory(settings)
    return settings
