"""Hotspots (seed 004: 举报问题多的学校、乡镇, 重点督办或者约谈): once a week staff get the
schools, institutions and townships named by the most tips in the last 30 days, above a
threshold, each with a button that lists its tips.

The week's list is due from the configured weekday and hour (Monday 09:00 local by
default) until the next one; each staff member's copy is an outbox row with a dedup key
naming the week, so a restart, a late run after downtime or a second instance sends it once.
The counts come from one grouped query per kind of place (storage/readmodels.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain import DomainError
from bot.facts import TipCount, TipLine
from bot.messages import t
from bot.ports import Clock, Notice, UnitOfWorkFactory
from bot.services import staff_member

KINDS = ("school", "institution", "district")
CASES_LISTED = 30


@dataclass(frozen=True)
class HotspotRules:
    tz: ZoneInfo
    weekday: int = 1  # ISO weekday of the weekly list (1 = Monday)
    hour: int = 9  # local hour from which it is due
    days: int = 30  # the window counted
    threshold: int = 3  # tips a place needs to be listed
    limit: int = 10  # places listed per kind


@dataclass(frozen=True)
class Hotspots:
    """The places above the threshold in one window, most tips first per kind."""

    since: date  # local dates, inclusive
    until: date
    places: tuple[TipCount, ...]


def week_start(now: datetime, rules: HotspotRules) -> datetime:
    """The latest moment at or before `now` at which a weekly list fell due (local time)."""
    local = now.astimezone(rules.tz)
    back = (local.isoweekday() - rules.weekday) % 7
    start = datetime.combine(local.date() - timedelta(days=back), time(rules.hour),
                             tzinfo=rules.tz)
    return start if start <= local else start - timedelta(days=7)


def notice(found: Hotspots) -> Notice:
    """The weekly list for staff: the text and, per place, a button listing its tips (the
    views build the buttons from `places`, "kind:code" per line, labelled by `labels`)."""
    period = {"since": found.since.isoformat(), "until": found.until.isoformat()}
    if not found.places:
        return Notice("hotspots.none", period)
    lines = []
    for kind in KINDS:
        names = "、".join(t("hotspots.place", name=p.name, count=p.count)
                         for p in found.places if p.kind == kind)
        if names:
            lines.append(t(f"hotspots.kind.{kind}", names=names))
    return Notice("hotspots.weekly", {
        **period, "lines": "\n".join(lines),
        "places": "\n".join(f"{p.kind}:{p.code}" for p in found.places),
        "labels": "\n".join(t("hotspots.button", name=p.name, count=p.count)
                            for p in found.places)})


class HotspotService:
    """The weekly hotspot list (scheduler), `/hotspots` and the tips of one place (staff)."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, rules: HotspotRules) -> None:
        self.uow = uow
        self.clock = clock
        self.rules = rules

    def _window(self, now: datetime) -> tuple[datetime, datetime]:
        return now - timedelta(days=self.rules.days), now

    async def current(self, now: datetime | None = None) -> Hotspots:
        """The hotspots of the `days` before `now` (default: the clock's now)."""
        now = now or self.clock.now()
        since, until = self._window(now)
        places: list[TipCount] = []
        async with self.uow.read() as uow:
            for kind in KINDS:
                places += await uow.case_facts.tip_counts(kind, since, until,
                                                          self.rules.threshold,
                                                          self.rules.limit)
        tz = self.rules.tz
        return Hotspots(since.astimezone(tz).date(), until.astimezone(tz).date(), tuple(places))

    async def for_staff(self, user_id: int) -> Hotspots:
        """`/hotspots`: the list as it stands now; bound staff only."""
        await staff_member(self.uow, user_id)
        return await self.current()

    async def tips_about(self, user_id: int, kind: str, code: str) -> tuple[str, list[TipLine]]:
        """The place's name and its tips in the window (a hotspot button); bound staff
        only; a place the directory does not know is refused."""
        await staff_member(self.uow, user_id)
        if kind not in KINDS:
            raise DomainError("office.error.bad_button")
        since, until = self._window(self.clock.now())
        async with self.uow.read() as uow:
            name = (await uow.directory.names(kind, [code])).get(code)
            if name is None:
                raise DomainError("office.error.bad_button")
            return name, await uow.case_facts.tips_about(kind, code, since, until,
                                                         CASES_LISTED)

    async def run(self) -> int:
        """The scheduler's pass: queue this week's list for staff not yet sent it."""
        now = self.clock.now()
        week = week_start(now, self.rules).date()
        async with self.uow.read() as uow:
            staff = [p for p in await uow.directory.people("staff") if p.telegram_user_id]
            keys = {p.code: f"hotspots:{week}:{p.code}" for p in staff}
            queued = await uow.outbox.queued_keys(list(keys.values()))
        waiting = [p for p in staff if keys[p.code] not in queued]
        if not waiting:  # the usual case: one cheap read a minute
            return 0
        # Counted over the window ending when the week's list fell due, so a late run after
        # downtime (or a second instance) sends the same list.
        message = notice(await self.current(week_start(now, self.rules)))
        sent = 0
        async with self.uow() as uow:
            for person in waiting:
                assert person.telegram_user_id is not None
                sent += await uow.outbox.enqueue(person.telegram_user_id, "hotspots", message,
                                                 now, dedup_key=keys[person.code])
            await uow.commit()
        return sent
