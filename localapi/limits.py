"""Telegram's flood limits (optional) and injected failures."""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from localapi.state import ApiError, too_many_requests


@dataclass(frozen=True)
class RateLimits:
    """Telegram's flood limits per bot, as the Bot API documents them.

    Overall: at most `overall_rate` message attempts in any one-second window (refused
    attempts count too). Private chat: about one a second, a short burst tolerated (a token
    bucket of `per_chat_burst` refilled at `per_chat_rate`). Group (chat id < 0): at most
    `group_per_minute` in any 60-second window. Set the burst to 1 for strictness.
    """

    per_chat_rate: float = 1.0
    per_chat_burst: int = 3
    overall_rate: int = 30
    group_per_minute: int = 20


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


class _Window:
    """Times of the attempts in the last `span` seconds."""

    def __init__(self, limit: int, span: float) -> None:
        self.limit, self.span = limit, span
        self.times: deque[float] = deque()

    def wait_needed(self, at: float) -> float:
        """Seconds until one more attempt fits (0: now), counting the attempts so far."""
        while self.times and self.times[0] <= at - self.span:
            self.times.popleft()
        if len(self.times) < self.limit:
            return 0.0
        return self.times[len(self.times) - self.limit] + self.span - at

    def add(self, at: float) -> None:
        self.times.append(at)


class RateLimiter:
    """Charges each message attempt; answers 429 with retry_after when over a limit."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._overall = _Window(limits.overall_rate, 1.0)
        self._chats: dict[int, _Bucket] = {}
        self._groups: dict[int, _Window] = {}

    def admit(self, chat_id: int) -> None:
        """Count an attempt to send to `chat_id`; raise 429 Too Many Requests if over."""
        at = self._clock()
        overall = self._overall.wait_needed(at)
        self._overall.add(at)  # Telegram counts attempts, refused ones too
        if chat_id < 0:
            group = self._groups.setdefault(chat_id, _Window(self.limits.group_per_minute,
                                                             60.0))
            wait = max(overall, group.wait_needed(at))
            if wait > 0:
                raise too_many_requests(max(1, math.ceil(wait)))
            group.add(at)
            return
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = _Bucket(self.limits.per_chat_rate, self.limits.per_chat_burst,
                           self.limits.per_chat_burst, at)
            self._chats[chat_id] = chat
        wait = max(chat.wait_needed(at), overall)
        if wait > 0:
            raise too_many_requests(max(1, math.ceil(wait)))
        chat.tokens -= 1


@dataclass
class RandomFaults:
    """Fail a share of all calls at random (seeded, so a run can be repeated): each one
    answers 429 (retry_after 1-3 s) or 500, or takes effect at once and answers only
    `hang_seconds` later, as when Telegram is slow. `methods` limits it to some methods
    (None: every call, start-up included)."""

    rate: float = 0.2
    seed: int = 1
    hang_seconds: float = 6.0
    kinds: tuple[str, ...] = ("429", "500", "hang")
    methods: frozenset[str] | None = None
    injected: dict[str, int] = field(default_factory=dict)  # kind -> count

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._waits = random.Random(self.seed + 1)  # retry_after draws, apart from picks

    def pick(self, method: str) -> str | None:
        """The fault for this call ("429", "500", "hang"), or None."""
        if self.methods is not None and method.lower() not in self.methods:
            return None
        if self._random.random() >= self.rate:
            return None
        kind = self._random.choice(self.kinds)
        self.injected[kind] = self.injected.get(kind, 0) + 1
        return kind

    def error(self, kind: str) -> ApiError:
        if kind == "429":
            return too_many_requests(self._waits.randint(1, 3))
        return ApiError(500, "Internal Server Error")


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
