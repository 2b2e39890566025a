"""A clock the test sets by hand (services read `now()`; tests assign `current`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class FakeClock:
    current: datetime

    def now(self) -> datetime:
        return self.current
