"""What dudao reports about itself, as a port: the services and transports say what happened
(`Metrics`), an adapter (handlers/metrics.py, Prometheus) counts it. Nothing here knows how
the numbers are exported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.ports import Backlog, Clock, UnitOfWorkFactory


class Metrics(Protocol):
    """Where the services and transports report what they did (one per container)."""

    def update_handled(self, kind: str, seconds: float) -> None:
        """An incoming update of `kind` (message, callback, command, other) took `seconds`."""
        ...

    def send_attempted(self, channel: str, outcome: str) -> None:
        """One delivery attempt on `channel` ended with `outcome` (a bot.outbox.Outcome)."""
        ...

    def classified(self, seconds: float) -> None:
        """The classifier took `seconds` for one tip."""
        ...


class NoMetrics:
    """Counts nothing (commands of the command line, unit tests)."""

    def update_handled(self, kind: str, seconds: float) -> None:
        return None

    def send_attempted(self, channel: str, outcome: str) -> None:
        return None

    def classified(self, seconds: float) -> None:
        return None


@dataclass(frozen=True)
class Snapshot:
    """What the database holds right now: cases by status, each channel's outbox backlog."""

    cases: dict[str, int]
    outbox: dict[str, Backlog]
    taken_at: datetime

    def oldest_due_seconds(self, channel: str) -> float:
        backlog = self.outbox.get(channel)
        if backlog is None or backlog.oldest_due is None:
            return 0.0
        return max(0.0, (self.taken_at - backlog.oldest_due).total_seconds())


async def snapshot(uow: UnitOfWorkFactory, clock: Clock) -> Snapshot:
    """Two grouped queries in one read-only unit of work."""
    now = clock.now()
    async with uow.read() as work:
        return Snapshot(await work.cases.count_each_status(),
                        await work.outbox.backlog_by_channel(now), now)


class TimedClassifier:
    """A classifier that reports how long each prediction took; everything else passes."""

    def __init__(self, classifier: Any, metrics: Metrics) -> None:
        self._classifier = classifier
        self._metrics = metrics

    @property
    def threshold(self) -> float:
        return float(self._classifier.threshold)  # a reloaded model brings its own

    def add_words(self, words: Any) -> None:
        self._classifier.add_words(words)

    def predict(self, text: str) -> Any:
        started = time.perf_counter()
        try:
            return self._classifier.predict(text)
        finally:
            self._metrics.classified(time.perf_counter() - started)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._classifier, name)
