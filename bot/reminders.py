"""What the scheduler asks for: deadline pings, overdue escalation (督办), monthly visit
reminders, and the office's visit coverage after a month ends.

Everything due is decided from the database and today's date. Each reminder is an outbox row
with a dedup key naming what it is about (the case and its deadline, the supervisor and the
reminder day, the month), so a restart or a second instance queues it once, and a run after
downtime queues what is still due, late, never twice. Quiet hours are the deliverer's rule.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.config import TimeRules
from bot.messages import t
from bot.reports import Period, half_month, quarter
from bot.services import CaseService, UowFactory, reading, rectifying_buttons
from bot.timerules import month_bounds
from storage.repository import DeadlineRow

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


def report_due(today: date) -> tuple[Period, str, str] | None:
    """The report falling due today or tomorrow: (period, dedup key part, notice text).

    半月报 before the 15th (the 1st–14th) and before the month ends (the 15th on); 季度通报
    before the 25th of the quarter's third month.
    """
    last = (month_bounds(today)[1] - timedelta(days=1)).day
    if today.month % 3 == 0 and today.day in (24, 25):
        period = quarter(today)
        return (period, f"quarter:{period.start}", t(
            "reminder.report.quarter", due=t("report.due", month=today.month, day=25),
            period=period.label))
    if today.day in (14, 15) or today.day in (last - 1, last):
        period = half_month(today if today.day != 15 else today - timedelta(days=1))
        due_day = 15 if period.start.day == 1 else last
        return (period, f"half:{period.start}", t(
            "reminder.report.half", due=t("report.due", month=today.month, day=due_day),
            period=period.label))
    return None


class ReminderService:
    """Decides and queues every reminder that is due; the scheduler calls `run`."""

    def __init__(self, uow: UowFactory, cases: CaseService, rules: TimeRules,
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
            async with reading(self.uow) as uow:
                page = await uow.cases.rectification_deadlines(until, after)
                wanted = self._pings(page, today)
                queued = await uow.outbox.queued_keys([key for _, key, _, _ in wanted])
            if not page:
                break
            after = (page[-1].deadline, page[-1].case_id)
            new = [item for item in wanted if item[1] not in queued]
            if new:
                async with self.uow() as uow:
                    for row, key, kind, days in new:
                        assert row.assignee_user_id is not None
                        pings += await uow.outbox.enqueue(
                            row.assignee_user_id, f"ping.{kind}",
                            self._ping_text(row, kind, days), now,
                            markup=rectifying_buttons(row.reference), dedup_key=key)
                    await uow.commit()
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

    def _pings(self, page: list[DeadlineRow],
               today: date) -> list[tuple[DeadlineRow, str, str, int]]:
        """(row, dedup key, kind, days) of the pings this page calls for today."""
        wanted = []
        for row in page:
            ping = deadline_ping(row.deadline, today, self.rules.ping_days_before)
            if ping is None or row.assignee_user_id is None:
                continue  # not yet due, or nobody bound to tell (escalation still applies)
            kind, days = ping
            key = f"ping:{row.reference}:{row.deadline}:{kind}"
            wanted.append((row, key + (f":{today}" if kind == "late" else ""), kind, days))
        return wanted

    def _ping_text(self, row: DeadlineRow, kind: str, days: int) -> str:
        params = {"reference": row.reference, "category": t(f"category.{row.category}"),
                  "deadline": row.deadline.isoformat(), "days": days,
                  "escalate": self.rules.escalate_after_days}
        supervised = row.supervised_at is not None and \
            row.supervised_at.astimezone(self.tz).date() > row.deadline
        if kind == "late" and (supervised or days >= self.rules.escalate_after_days):
            # From the escalation day on, the case is under a 督办 (issued in this same run
            # if staff had not issued one already).
            return t("reminder.ping.late_supervised", **params)
        return t(f"reminder.ping.{kind}", **params)

    async def _visit_reminders(self, today: date, now: datetime) -> int:
        """On the reminder days, each supervisor hears which schools still await a visit."""
        days = [day for day in self.rules.visit_reminder_days if day <= today.day]
        if not days:
            return 0
        day = max(days)  # after downtime, the latest reminder day stands for the earlier ones
        start, next_month = month_bounds(today)
        async with reading(self.uow) as uow:
            supervisors = [p for p in await uow.directory.people()
                           if p.telegram_user_id and p.role != "staff"]
            keys = {p.code: f"visit:{p.code}:{start:%Y-%m}-{day:02d}" for p in supervisors}
            queued = await uow.outbox.queued_keys(list(keys.values()))
            waiting = [p for p in supervisors if keys[p.code] not in queued]
            unvisited: dict[str, list[str]] = defaultdict(list)
            if waiting:
                for _, name, code in await uow.directory.unvisited_schools(start, next_month):
                    unvisited[code].append(name)
        waiting = [p for p in waiting if unvisited.get(p.code)]
        if not waiting:
            return 0
        sent = 0
        async with self.uow() as uow:
            for person in waiting:
                assert person.telegram_user_id is not None
                schools = unvisited[person.code]
                listed = "、".join(schools[:MAX_SCHOOLS_LISTED])
                if len(schools) > MAX_SCHOOLS_LISTED:
                    listed = t("reminder.visit.more", names=listed)
                sent += await uow.outbox.enqueue(
                    person.telegram_user_id, "visit_reminder",
                    t("reminder.visit", month=today.month, count=len(schools), schools=listed),
                    now, dedup_key=keys[person.code])
            await uow.commit()
        return sent

    async def _coverage(self, today: date, now: datetime) -> int:
        """After a month ends, staff get its visit coverage (visited / assigned schools)."""
        this_month = month_bounds(today)[0]
        start = month_bounds(this_month - timedelta(days=1))[0]
        async with reading(self.uow) as uow:
            staff = [p for p in await uow.directory.people("staff") if p.telegram_user_id]
            keys = {p.code: f"coverage:{start:%Y-%m}:{p.code}" for p in staff}
            queued = await uow.outbox.queued_keys(list(keys.values()))
            waiting = [p for p in staff if keys[p.code] not in queued]
            if not waiting:
                return 0
            total = await uow.directory.supervised_school_count()
            missing = await uow.directory.unvisited_schools(start, this_month)
            names = {p.code: p.name for p in await uow.directory.people()}
        text = self._coverage_text(start, total, missing, names)
        sent = 0
        async with self.uow() as uow:
            for person in waiting:
                assert person.telegram_user_id is not None
                sent += await uow.outbox.enqueue(person.telegram_user_id, "coverage", text, now,
                                                 dedup_key=keys[person.code])
            await uow.commit()
        return sent

    async def _report_notices(self, today: date, now: datetime) -> int:
        """Tell staff when a 半月报 or 季度通报 falls due (the day before, and on the day)."""
        due = report_due(today)
        if due is None:
            return 0
        period, key, text = due
        async with reading(self.uow) as uow:
            staff = [p for p in await uow.directory.people("staff") if p.telegram_user_id]
            keys = {p.code: f"report:{key}:{p.code}" for p in staff}
            queued = await uow.outbox.queued_keys(list(keys.values()))
        waiting = [p for p in staff if keys[p.code] not in queued]
        if not waiting:
            return 0
        sent = 0
        async with self.uow() as uow:
            for person in waiting:
                assert person.telegram_user_id is not None
                sent += await uow.outbox.enqueue(person.telegram_user_id, f"report.{period.kind}",
                                                 text, now, dedup_key=keys[person.code])
            await uow.commit()
        return sent

    @staticmethod
    def _coverage_text(month: date, total: int, missing: list[tuple[str, str, str]],
                       names: dict[str, str]) -> str:
        if not missing:
            return t("reminder.coverage.full", year=month.year, month=month.month, total=total)
        visited = total - len(missing)
        by_person = Counter(person for _, _, person in missing)
        laggards = "；".join(t("reminder.coverage.laggard", name=names.get(code, code), count=n)
                            for code, n in by_person.most_common(MAX_LAGGARDS_LISTED))
        return t("reminder.coverage", year=month.year, month=month.month, visited=visited,
                 total=total, rate=f"{visited / total:.0%}" if total else "—",
                 laggards=laggards)
