"""The case read model's port: the facts reports and exports are computed from.

Plain typed values (enums, category ids, datetimes, codes and names from the directory),
nothing translated: counting happens on these, Chinese appears only when a message, chart
or file is rendered. storage/readmodels.py answers the query on a database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from bot.domain import Disposition, Rating, Status

Progress = Callable[[int, int], None]  # (cases read so far, cases in all)


@dataclass(frozen=True)
class EventFact:
    """One status change from the audit trail: what the service clocks read."""

    at: datetime
    from_status: Status | None
    to_status: Status
    action: str = ""  # the event's kind (the escalation ladder reads it)


@dataclass(frozen=True)
class CaseFact:
    reference: str
    created_at: datetime
    category: str  # a category id (bot.domain.CATEGORIES)
    status: Status
    disposition: Disposition | None
    rating: Rating | None
    school_code: str | None
    school_name: str | None
    institution_code: str | None
    institution_name: str | None
    district_code: str | None
    district_name: str | None
    assignee_code: str | None
    assignee_name: str | None
    rectify_deadline: date | None
    closed_at: datetime | None
    merged_into: str | None  # the reference of the case this tip joined
    merged_into_status: Status | None
    events: tuple[EventFact, ...]
    text: str = ""  # the tip as the parent wrote it (mask it for readers who are not staff)


@dataclass(frozen=True)
class TipCount:
    """How many tips named one school, institution or township (district) in a window."""

    kind: str  # school | institution | district
    code: str
    name: str
    count: int


@dataclass(frozen=True)
class TipLine:
    """One tip in a list of the tips about a place."""

    reference: str
    category: str
    status: Status
    created_at: datetime


class CaseFacts(Protocol):
    """The cases filed in a time range, with their audit events."""

    async def tip_counts(self, kind: str, since: datetime, until: datetime, threshold: int,
                         limit: int) -> list[TipCount]:
        """The places of `kind` named by at least `threshold` tips created in [since, until)
        (tips closed as 不予受理 not counted), most tips first, at most `limit`."""
        ...

    async def tips_about(self, kind: str, code: str, since: datetime, until: datetime,
                         limit: int) -> list[TipLine]:
        """The tips about one place created in [since, until), newest first."""
        ...

    async def created_between(self, start: datetime, end: datetime,
                              progress: Progress | None = None) -> list[CaseFact]:
        """Cases created in [start, end), oldest first; `progress` hears of each batch."""
        ...
