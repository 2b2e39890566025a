"""What the scheduler asks for: deadline pings, overdue escalation (督办), monthly visit
reminders, and the office's visit coverage after a month ends (the reports themselves are
sent by bot/report_delivery.py).

Everything due is decided from the database and today's date. Each reminder is an outbox row
with a dedup key naming what it is about (the case and its deadline, the supervisor and the
reminder day, the month), so a restart or a second instance queues it once, and a run after
downtime queues what is still due, late, never twice. Quiet hours are bot/outbox.py's rule.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.config import TimeRules
from bot.domain import Actor, Role
from bot.messages import t
from bot.notices import ping_notice
from bot.ports import DeadlineRow, Notice, PersonInfo, UnitOfWork, UnitOfWorkFactory
from bot.services import CaseService
from bot.timerules import month_bounds

MAX_SCHOOLS_LISTED = 15
MAX_LAGGARDS_LISTED = 5


@dataclass(frozen=True)
class ReminderRun:
    """How many messages one run queued (already-queued reminders are not counted)."""

    pings: int = 0
    escalations: int = 0
    visit_reminders: int = 0
    coverage_reports: int = 0


@dataclass(frozen=True)
class Outgoing:
    """One reminder to queue, named by its dedup key."""

    chat_id: int
    kind: str
    notice: Notice
    key: str


def deadline_ping(deadline: date, today: date, days_before: int) -> tuple[str, int] | None:
    """Which ping a rectification deadline calls for today, and the days left or over.

    "soon" once in the `days_before` days before the deadline (sent late if the first of
    those days was missed), "today" on the day, "late" every day after it.
    """
    if today < deadline - timedelta(days=days_before):
        return None
    if today < deadline:
        return "soon", (deadline - today).days
    if today == deadline:
        return "today", 0
    return "late", (today - deadline).days


async def _with_next_actions(uow: UnitOfWork, ping: Outgoing) -> Outgoing:
    """A deadline ping with the buttons its case offers the supervisor now (no second
    extension request while one is pending). Only pings not yet queued get here: few."""
    reference = ping.notice.reference
    case = await uow.cases.get(reference) if reference else None
    if case is None:
        return ping
    supervisor = Actor(Role.SUPERVISOR, person_code=case.assignee_code)
    return replace(ping, notice=replace(ping.notice, actions=case.next_actions(supervisor)))


class ReminderService:
    """Decides and queues every reminder that is due; the scheduler calls `run`."""

    def __init__(self, uow: UnitOfWorkFactory, cases: CaseService, rules: TimeRules,
                 tz: ZoneInfo) -> None:
        self.uow = uow
        self.cases = cases
        self.clock = cases.clock
        self.rules = rules
        self.tz = tz

    async def run(self) -> ReminderRun:
        """Queue everything due now."""
        now = self.clock.now()
        today = now.astimezone(self.tz).date()
        pings, escalations = await self._deadlines(today, now)
        return ReminderRun(pings=pings, escalations=escalations,
                           visit_reminders=await self._visit_reminders(today, now),
                           coverage_reports=await self._coverage(today, now))

    async def _deadlines(self, today: date, now: datetime) -> tuple[int, int]:
        """Ping supervisors about rectification deadlines; escalate the long overdue.

        The job runs every minute, so each page is read first and a write transaction is
        opened only for pings not yet queued: a steady state costs reads, not writes.
        """
        until = today + timedelta(days=self.rules.ping_days_before)
        pings = escalations = 0
        after: tuple[date, int] | None = None
        while True:  # pages of a few hundred rows keep each transaction short
            async with self.uow.read() as uow:
                page = await uow.cases.rectification_deadlines(until, after)
                if not page:
                    break
                wanted = self._pings(page, today)
                queued = await uow.outbox.queued_keys([m.key for m in wanted])
                fresh = [await _with_next_actions(uow, m) for m in wanted if m.key not in queued]
            after = (page[-1].deadline, page[-1].case_id)
            pings += await self._queue(now, fresh)
            for row in page:
                days_over = (today - row.deadline).days
                overdue_since = datetime.combine(row.deadline + timedelta(days=1), time(0),
                                                 tzinfo=self.tz)
                if days_over < self.rules.escalate_after_days or (
                        row.supervised_at is not None and row.supervised_at >= overdue_since):
                    continue
                escalations += await self.cases.escalate_overdue(row.reference, overdue_since,
                                                                 days_over)
        return pings, escalations

    def _pings(self, page: list[DeadlineRow], today: date) -> list[Outgoing]:
        """The pings this page of deadlines calls for today, keyed per deadline (and day)."""
        wanted = []
        for row in page:
            ping = deadline_ping(row.deadline, today, self.rules.ping_days_before)
            if ping is None or row.assignee_user_id is None:
                continue  # not yet due, or nobody bound to tell (escalation still applies)
            kind, days = ping
            key = f"ping:{row.reference}:{row.deadline}:{kind}"
            if kind == "late":
                key += f":{today}"
            wanted.append(Outgoing(row.assignee_user_id, f"ping.{kind}",
                                   self._ping(row, kind, days), key))
        return wanted

    def _ping(self, row: DeadlineRow, kind: str, days: int) -> Notice:
        params: dict[str, str | int] = {
            "reference": row.reference, "category": row.category,
            "deadline": row.deadline.isoformat(), "days": days,
            "escalate": self.rules.escalate_after_days}
        supervised = row.supervised_at is not None and \
            row.supervised_at.astimezone(self.tz).date() > row.deadline
        if kind == "late" and (supervised or days >= self.rules.escalate_after_days):
            # From the escalation day on, the case is under a 督办 (issued in this same run
            # if staff had not issued one already).
            return ping_notice(row.reference, "reminder.ping.late_supervised", params)
        return ping_notice(row.reference, f"reminder.ping.{kind}", params)

    async def _visit_reminders(self, today: date, now: datetime) -> int:
        """On the reminder days, each supervisor hears which of their schools and tutoring
        institutions (联系督导) still await a visit this month."""
        days = [day for day in self.rules.visit_reminder_days if day <= today.day]
        if not days:
            return 0
        day = max(days)  # after downtime, the latest reminder day stands for the earlier ones
        start, next_month = month_bounds(today)
        async with self.uow.read() as uow:
            supervisors = [p for p in await uow.directory.people() if p.role != "staff"]
            waiting = await self._not_yet_told(uow, supervisors,
                                               f"visit:{start:%Y-%m}-{day:02d}")
            unvisited: dict[str, list[str]] = defaultdict(list)
            institutions: dict[str, list[str]] = defaultdict(list)
            if waiting:
                for _, name, code in await uow.directory.unvisited_schools(start, next_month):
                    unvisited[code].append(name)
                for _, name, code in await uow.directory.unvisited_institutions(start,
                                                                                next_month):
                    institutions[code].append(name)
        messages = []
        for code, (chat, key) in waiting.items():
            notice = _visit_notice(today.month, unvisited.get(code, []),
                                   institutions.get(code, []))
            if notice is not None:
                messages.append(Outgoing(chat, "visit_reminder", notice, key))
        return await self._queue(now, messages)

    async def _coverage(self, today: date, now: datetime) -> int:
        """After a month ends, staff get its visit coverage: visited / assigned schools, and
        visited / tutoring institutions with a liaison supervisor."""
        this_month = month_bounds(today)[0]
        start = month_bounds(this_month - timedelta(days=1))[0]
        async with self.uow.read() as uow:
            waiting = await self._not_yet_told(uow, await uow.directory.people("staff"),
                                               f"coverage:{start:%Y-%m}")
            if not waiting:
                return 0
            total = await uow.directory.supervised_school_count()
            missing = await uow.directory.unvisited_schools(start, this_month)
            institutions = await uow.directory.supervised_institution_count()
            unchecked = await uow.directory.unvisited_institutions(start, this_month)
            names = {p.code: p.name for p in await uow.directory.people()}
        notice = self._coverage_notice(start, total, missing, names)
        if institutions:
            notice = _with_institutions(notice, institutions, unchecked, names)
        return await self._queue(now, [Outgoing(chat, "coverage", notice, key)
                                       for chat, key in waiting.values()])

    @staticmethod
    async def _not_yet_told(uow: UnitOfWork, people: list[PersonInfo],
                            key: str) -> dict[str, tuple[int, str]]:
        """Person code -> (chat, dedup key) of the bound people not yet sent message `key`."""
        keyed = {p.code: (p.telegram_user_id, f"{key}:{p.code}")
                 for p in people if p.telegram_user_id}
        queued = await uow.outbox.queued_keys([dedup for _, dedup in keyed.values()])
        return {code: (chat, dedup) for code, (chat, dedup) in keyed.items()
                if dedup not in queued}

    async def _queue(self, now: datetime, messages: list[Outgoing]) -> int:
        """Queue messages in one transaction (none: no transaction); count the new ones."""
        if not messages:
            return 0
        sent = 0
        async with self.uow() as uow:
            for m in messages:
                sent += await uow.outbox.enqueue(m.chat_id, m.kind, m.notice, now,
                                                 dedup_key=m.key)
            await uow.commit()
        return sent

    @staticmethod
    def _coverage_notice(month: date, total: int, missing: list[tuple[str, str, str]],
                         names: dict[str, str]) -> Notice:
        if not missing:
            return Notice("reminder.coverage.full", {"year": month.year, "month": month.month,
                                                     "total": total})
        visited = total - len(missing)
        by_person = Counter(person for _, _, person in missing)
        laggards = "；".join(t("reminder.coverage.laggard", name=names.get(code, code), count=n)
                            for code, n in by_person.most_common(MAX_LAGGARDS_LISTED))
        return Notice("reminder.coverage", {
            "year": month.year, "month": month.month, "visited": visited, "total": total,
            "rate": f"{visited / total:.0%}" if total else "—", "laggards": laggards})


def _listed(names: list[str]) -> str:
    listed = "、".join(names[:MAX_SCHOOLS_LISTED])
    return t("reminder.visit.more", names=listed) if len(names) > MAX_SCHOOLS_LISTED else listed


def _visit_notice(month: int, schools: list[str], institutions: list[str]) -> Notice | None:
    """One supervisor's monthly reminder: the schools, then the institutions, not visited."""
    params: dict[str, str | int] = {"month": month, "count": len(schools),
                                    "schools": _listed(schools),
                                    "inst_count": len(institutions),
                                    "institutions": _listed(institutions)}
    if schools:
        more = ("reminder.visit.institutions",) if institutions else ()
        return Notice("reminder.visit", params, more=more)
    if institutions:
        return Notice("reminder.visit.institutions", params)
    return None


def _with_institutions(notice: Notice, total: int, missing: list[tuple[str, str, str]],
                       names: dict[str, str]) -> Notice:
    """The coverage notice with a line on the tutoring institutions checked this month."""
    visited = total - len(missing)
    by_person = Counter(person for _, _, person in missing)
    laggards = "；".join(t("reminder.coverage.inst_laggard", name=names.get(code, code),
                          count=n) for code, n in by_person.most_common(MAX_LAGGARDS_LISTED))
    params = dict(notice.params)
    params.update({"inst_visited": visited, "inst_total": total,
                   "inst_rate": f"{visited / total:.0%}",
                   "inst_laggards": t("reminder.coverage.institutions_laggards",
                                      laggards=laggards) if laggards else ""})
    return replace(notice, params=params, more=(*notice.more, "reminder.coverage.institutions"))
