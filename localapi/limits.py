"""Telegram's flood limits (optional) and injected failures."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from localapi.state import ApiError, too_many_requests


@dataclass(frozen=True)
class RateLimits:
    """Flood limits per bot: about 1 message/s in one chat and 30 messages/s in all.

    Telegram tolerates short bursts, hence the bucket sizes; set them to 1 for strictness.
    """

    per_chat_rate: float = 1.0
    per_chat_burst: int = 3
    overall_rate: float = 30.0
    overall_burst: int = 30


@dataclass
class _Bucket:
    """A token bucket: `capacity` tokens refilled at `rate` per second."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    def wait_needed(self, at: float) -> float:
        """Refill to `at` and return the seconds until one token is available (0: now)."""
        self.tokens = min(self.capacity, self.tokens + (at - self.updated) * self.rate)
        self.updated = at
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class RateLimiter:
    """Charges one token per message sent; answers 429 with retry_after when over the limit."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._overall = _Bucket(limits.overall_rate, limits.overall_burst,
                                limits.overall_burst, clock())
        self._chats: dict[int, _Bucket] = {}

    def admit(self, chat_id: int) -> None:
        """Take a token for a message to `chat_id` or raise 429 Too Many Requests."""
        at = self._clock()
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = _Bucket(self.limits.per_chat_rate, self.limits.per_chat_burst,
                           self.limits.per_chat_burst, at)
            self._chats[chat_id] = chat
        wait = max(chat.wait_needed(at), self._overall.wait_needed(at))
        if wait > 0:
            raise too_many_requests(max(1, math.ceil(wait)))
        chat.tokens -= 1
        self._overall.tokens -= 1


@dataclass
class Fault:
    """Make the next `times` calls of `method` fail.

    With `drop` the connection is closed without an answer (a network failure); otherwise
    the call answers `error_code` / `description` (and `retry_after` for 429). With
    `executed` the call takes effect first and only its answer is lost or replaced, as when
    Telegram delivers a message but the response never arrives.
    """

    method: str
    times: int = 1
    error_code: int = 500
    description: str | None = None
    retry_after: int | None = None
    drop: bool = False
    executed: bool = False
    token: str | None = None  # None: any bot
    hits: int = field(default=0, init=False)

    def error(self) -> ApiError:
        """Return the error this fault answers with."""
        if self.error_code == 429:
            return too_many_requests(self.retry_after or 1)
        return ApiError(self.error_code, self.description or _DEFAULT_DESCRIPTIONS.get(
            self.error_code, "Internal Server Error"), self.retry_after)


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected error",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class FaultPlan:
    """The injected failures still to happen, matched by method name (case-insensitive)."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Schedule a fault."""
        self._faults.append(fault)
        return fault

    def take(self, token: str, method: str) -> Fault | None:
        """Return the fault that applies to this call, using one of its repetitions."""
        for fault in self._faults:
            if fault.method.lower() == method.lower() and fault.token in (None, token):
                fault.hits += 1
                if fault.hits >= fault.times:
                    self._faults.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        """Cancel every fault still scheduled."""
        self._faults.clear()
