"""What the scheduler asks for: deadline pings, overdue escalation (督办), monthly visit
reminders, and the office's visit coverage after a month ends.

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
from bot.notices import ping_notice, tell_robots
from bot.ports import DeadlineRow, Notice, PersonInfo, UnitOfWork, UnitOfWorkFactory
from bot.reports import Period, half_month, quarter
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
    report_notices: int = 0


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


def report_due(today: date) -> tuple[Period, str, Notice] | None:
    """The report falling due today or tomorrow: (period, dedup key part, notice).

    半月报 before the 15th (the 1st–14th) and before the month ends (the 15th on); 季度通报
    before the 25th of the quarter's third month.
    """
    last = (month_bounds(today)[1] - timedelta(days=1)).day
    if today.month % 3 == 0 and today.day in (24, 25):
        period = quarter(today)
        return (period, f"quarter:{period.start}", Notice(
            "reminder.report.quarter", {"due": t("report.due", month=today.month, day=25),
                                        "period": period.label}))
    if today.day in (14, 15, last - 1, last):
        first_half = today.day <= 15
        period = half_month(today.replace(day=1) if first_half else today)
        due_day = 15 if first_half else last
        return (period, f"half:{period.start}", Notice(
            "reminder.report.half", {"due": t("report.due", month=today.month, day=due_day),
                                     "period": period.label}))
    return None


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
                           coverage_reports=await self._coverage(today, now),
                           report_notices=await self._report_notices(today, now))

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
        """On the reminder days, each supervisor hears which schools still await a visit."""
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
            if waiting:
                for _, name, code in await uow.directory.unvisited_schools(start, next_month):
                    unvisited[code].append(name)
        messages = []
        for code, (chat, key) in waiting.items():
            schools = unvisited.get(code)
            if not schools:
                continue
            listed = "、".join(schools[:MAX_SCHOOLS_LISTED])
            if len(schools) > MAX_SCHOOLS_LISTED:
                listed = t("reminder.visit.more", names=listed)
            messages.append(Outgoing(chat, "visit_reminder", Notice(
                "reminder.visit", {"month": today.month, "count": len(schools),
                                   "schools": listed}), key))
        return await self._queue(now, messages)

    async def _coverage(self, today: date, now: datetime) -> int:
        """After a month ends, staff get its visit coverage (visited / assigned schools)."""
        this_month = month_bounds(today)[0]
        start = month_bounds(this_month - timedelta(days=1))[0]
        async with self.uow.read() as uow:
            waiting = await self._not_yet_told(uow, await uow.directory.people("staff"),
                                               f"coverage:{start:%Y-%m}")
            if not waiting:
                return 0
            total = await uow.directory.supervised_school_count()
            missing = await uow.directory.unvisited_schools(start, this_month)
            names = {p.code: p.name for p in await uow.directory.people()}
        notice = self._coverage_notice(start, total, missing, names)
        return await self._queue(now, [Outgoing(chat, "coverage", notice, key)
                                       for chat, key in waiting.values()])

    async def _report_notices(self, today: date, now: datetime) -> int:
        """Tell staff when a 半月报 or 季度通报 falls due (the day before, and on the day)."""
        due = report_due(today)
        if due is None:
            return 0
        period, key, notice = due
        async with self.uow.read() as uow:
            waiting = await self._not_yet_told(uow, await uow.directory.people("staff"),
                                               f"report:{key}")
        queued = await self._queue(now, [Outgoing(chat, f"report.{period.kind}", notice,
                                                  dedup) for chat, dedup in waiting.values()])
        return queued + await self._tell_robots(now, f"report.{period.kind}", notice,
                                                f"report:{key}")

    async def _tell_robots(self, now: datetime, kind: str, notice: Notice, key: str) -> int:
        """Copy a scheduled staff notice to the group robots that take it, once each."""
        async with self.uow.read() as uow:
            keys = [f"{key}@{r.channel}{r.chat_id}" for r in uow.robots if r.wants(kind)]
            if not keys or not set(keys) - await uow.outbox.queued_keys(keys):
                return 0
        async with self.uow() as uow:
            queued = await tell_robots(uow, kind, notice, now, dedup_key=key)
            await uow.commit()
        return queued

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
