"""What the scheduler asks for: deadline pings, overdue escalation (督办), monthly visit
reminders, and the office's visit coverage after a month ends (the reports themselves are
sent by bot/report_delivery.py).

What stands overdue is not pinged case by case every day, and staff are not pinged one
message per staff clock each: the clock pass records on the case the supervisor's overdue
clock and staff's running one, and once a working day each supervisor gets one message
listing their overdue cases and each staff member one listing the office's clocks overdue or
due by the next working day (the case's own reminder, with its buttons, when there is one).
The system's 督办, on the rectification deadline and on every other stage clock alike, are
written together at the end of the run, and staff hear of them in one message.

Everything due is decided from the database and today's date. Each reminder is an outbox row
with a dedup key naming what it is about (the case and its deadline, the supervisor and the
reminder day, the month), so a restart or a second instance queues it once, and a run after
downtime queues what is still due, late, never twice. A 督办 and the notices telling of it
are one transaction, which re-reads the case under lock: issued once, told once. Quiet hours
are bot/outbox.py's rule.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.clocks import (
    SUPERVISABLE,
    StageClock,
    StageRules,
    WorkdayCounter,
    clock_ping,
    ladder_run_out,
    next_look,
    next_workday,
    rectification_look,
    stage_clocks,
    workday_after,
    working_days_between,
)
from bot.config import TimeRules
from bot.domain import Actor, Case, Role, Status
from bot.messages import t
from bot.notices import (
    ping_notice,
    robot_supervised_notice,
    staff_notice,
    supervisor_chat,
    supervisor_notice,
    tell_robots,
    tell_staff,
)
from bot.ports import (
    CaseLook,
    DeadlineRow,
    Due,
    DueList,
    DueRow,
    Notice,
    PersonInfo,
    UnitOfWork,
    UnitOfWorkFactory,
    due_kind,
)
from bot.privacy import mask_personal_data
from bot.services import CaseService
from bot.timerules import is_workday, month_bounds

MAX_SCHOOLS_LISTED = 15
MAX_LAGGARDS_LISTED = 5
MAX_DAILY_LISTED = 10  # cases named (each with a button) in one daily reminder
CLOCK_PAGE = 1000  # cases read (with their history) in one transaction by the clock pass
SUPERVISE_PAGE = 1000  # the system's 督办 written in one transaction, told in one message


@dataclass(frozen=True)
class ReminderRun:
    """How many messages one run queued (already-queued reminders are not counted)."""

    pings: int = 0
    escalations: int = 0
    clock_pings: int = 0  # every other stage clock (accept, propose, decide, verify, ...)
    clock_escalations: int = 0  # their 督办
    rungs: int = 0  # cases moved up the ladder
    daily: int = 0  # the daily reminders: overdue and (for staff) due lists, one per person
    visit_reminders: int = 0
    coverage_reports: int = 0


@dataclass(frozen=True)
class ClockRun:
    pings: int = 0
    escalations: int = 0
    rungs: int = 0


def stage_rules(rules: TimeRules) -> StageRules:
    """The stage clocks' days from the configured time rules."""
    return StageRules(
        accept=rules.accept_working_days, propose=rules.propose_working_days,
        decide=rules.decide_working_days, verify=rules.verify_working_days,
        extension=rules.extension_working_days, interview=rules.interview_working_days,
        county_report=rules.county_report_working_days, ladder=rules.ladder_working_days,
        recheck_after=rules.recheck_after_days)


def _supervised_since(case: Case, started: datetime) -> bool:
    return any(e.action == "supervised" and e.at >= started for e in case.events)


@dataclass(frozen=True)
class Overdue:
    """A clock due its 督办: a stage clock, or the rectification deadline ("rectify")."""

    reference: str
    clock: str
    key: str  # which run of the clock: `StageClock.key`, or the deadline's date
    since: datetime  # a 督办 from then on already covers it (the clock's start, the deadline)
    days: int  # over by this many (working days; calendar days for the deadline)
    owner: str  # "supervisor" or "staff": only a supervisor's own clock is told to them


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


async def _with_next_actions(uow: UnitOfWork, pings: list[Outgoing]) -> list[Outgoing]:
    """Deadline pings with the buttons each case offers the supervisor now (no second
    extension request while one is pending). Only pings not yet queued get here."""
    cases = await uow.cases.get_many({p.notice.reference for p in pings if p.notice.reference})
    done = []
    for ping in pings:
        case = cases.get(ping.notice.reference or "")
        if case is not None:
            supervisor = Actor(Role.SUPERVISOR, person_code=case.assignee_code)
            ping = replace(ping, notice=replace(ping.notice,
                                                actions=case.next_actions(supervisor)))
        done.append(ping)
    return done


class ReminderService:
    """Decides and queues every reminder that is due; the scheduler calls `run`."""

    def __init__(self, uow: UnitOfWorkFactory, cases: CaseService, rules: TimeRules,
                 tz: ZoneInfo) -> None:
        self.uow = uow
        self.cases = cases
        self.clock = cases.clock
        self.rules = rules
        self.tz = tz
        self.stages = stage_rules(rules)
        self._daily_sent_on: date | None = None  # the day this instance queued them

    async def run(self) -> ReminderRun:
        """Queue everything due now. Deadline and clock reminders go on working days only:
        what falls due on a holiday is sent on the next working day."""
        now = self.clock.now()
        today = now.astimezone(self.tz).date()
        pings = escalations = daily = 0
        clocks = ClockRun()
        if is_workday(today):
            pings, overdue = await self._deadlines(today, now)
            clocks, more = await self._stage_clocks(today, now)
            # The daily reminders read what the clock pass recorded while the 督办 are
            # written (a 督办 leaves a case's overdue items as recorded), and are queued
            # after them.
            async with asyncio.TaskGroup() as tasks:
                issuing = tasks.create_task(self._supervise(overdue + more))
                reading = tasks.create_task(self._daily(today))
            escalations = issuing.result()["rectify"]
            clocks = replace(clocks, escalations=issuing.result().total() - escalations)
            daily = await self._queue(now, reading.result())
            self._daily_sent_on = today
        return ReminderRun(pings=pings, escalations=escalations, clock_pings=clocks.pings,
                           clock_escalations=clocks.escalations, rungs=clocks.rungs,
                           daily=daily,
                           visit_reminders=await self._visit_reminders(today, now),
                           coverage_reports=await self._coverage(today, now))

    async def _deadlines(self, today: date, now: datetime) -> tuple[int, list[Overdue]]:
        """Ping supervisors about rectification deadlines; find the long overdue (督办).

        The job runs every minute, so each page is read first and a write transaction is
        opened only for pings not yet queued: a steady state costs reads, not writes. Only
        cases whose next look (`remind_on`) has come are read: once today's pings are queued
        the clock pass moves it to the next day the deadline calls for something.
        """
        until = today + timedelta(days=self.rules.ping_days_before)
        pings = 0
        overdue: list[Overdue] = []
        after: tuple[date, int] | None = None
        while True:  # pages of a few hundred rows keep each transaction short
            async with self.uow.read() as uow:
                # only cases whose next look has come (the clock pass moves it on)
                page = await uow.cases.rectification_deadlines(until, after, due_by=today)
                if not page:
                    break
                wanted = self._pings(page, today)
                queued = await uow.outbox.queued_keys([m.key for m in wanted])
                fresh = await _with_next_actions(uow, [m for m in wanted
                                                       if m.key not in queued])
            after = (page[-1].deadline, page[-1].case_id)
            pings += await self._queue(now, fresh)
            for row in page:
                days_over = (today - row.deadline).days
                since = datetime.combine(row.deadline + timedelta(days=1), time(0),
                                         tzinfo=self.tz)
                if days_over >= self.rules.escalate_after_days and (
                        row.supervised_at is None or row.supervised_at < since):
                    overdue.append(Overdue(row.reference, "rectify", str(row.deadline), since,
                                           days_over, "supervisor"))
        return pings, overdue

    async def _stage_clocks(self, today: date, now: datetime
                            ) -> tuple[ClockRun, list[Overdue]]:
        """Every stage clock: ping its owner, find its 督办, climb the ladder.

        Candidates are the cases whose next look (`remind_on`, set to the day of any change)
        has come; each is checked exactly from its history, then moved on to the next day
        something may fall due. A steady state reads an index range and finds nothing.
        """
        run = ClockRun()
        overdue: list[Overdue] = []
        writing: asyncio.Task[ClockRun] | None = None  # the previous page's writes
        async with self.uow.read() as uow:
            candidates = await uow.cases.clock_candidates(today)
        try:
            for start in range(0, len(candidates), CLOCK_PAGE):
                page_overdue, pings, climb, looks = await self._clock_page(
                    candidates[start:start + CLOCK_PAGE], today, now)
                overdue += page_overdue
                if writing is not None:
                    run = _sum(run, await writing)
                # a page's writes go on while the next page is read and checked
                writing = asyncio.create_task(self._write_clock_page(now, pings, climb, looks))
            if writing is not None:
                run = _sum(run, await writing)
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
        return run, overdue

    async def _clock_page(self, ids: list[int], today: date, now: datetime
                          ) -> tuple[list[Overdue], list[Outgoing], list[str], list[CaseLook]]:
        """Check one page of candidates: the 督办 due on it, and what to write (pings not yet
        queued, the cases to climb a rung, every case's next look)."""
        overdue: list[Overdue] = []
        wanted: list[Outgoing] = []
        climb: list[str] = []
        looks: list[CaseLook] = []
        async with self.uow.read() as uow:
            page = await uow.cases.get_by_ids(ids)
            people = await uow.directory.persons(
                {case.assignee_code for case in page if case.assignee_code})
            for case in page:
                found, look = self._clock_work(case, today, now)
                assignee = people.get(case.assignee_code or "")
                for clock, kind, days in found:
                    if kind != "late":  # overdue: in the daily reminder
                        wanted += self._clock_pings(case, clock, kind, days, assignee)
                    elif (clock.name in SUPERVISABLE
                          and days >= self.rules.escalate_after_days
                          and not _supervised_since(case, clock.started)):
                        overdue.append(Overdue(case.reference, clock.name, clock.key,
                                               clock.started, days, clock.owner))
                run_out = ladder_run_out(case, self.tz, self.stages)
                if run_out is not None and now > run_out:
                    climb.append(case.reference)
                looks.append(look)
            queued = await uow.outbox.queued_keys([m.key for m in wanted])
        return overdue, [m for m in wanted if m.key not in queued], climb, looks

    async def _write_clock_page(self, now: datetime, pings: list[Outgoing], climb: list[str],
                                looks: list[CaseLook]) -> ClockRun:
        """A page's rungs, then its pings and next looks in one transaction (a case that
        climbed changed since it was read: its look was written with the climb)."""
        rungs = await self._climb(climb)
        async with self.uow() as uow:
            queued = await uow.outbox.enqueue_many(
                [(m.chat_id, m.kind, m.notice, m.key) for m in pings], now)
            await uow.cases.set_remind_on(looks)
            await uow.commit()
        return ClockRun(pings=queued, rungs=rungs)

    def _clock_work(self, case: Case, today: date, now: datetime
                    ) -> tuple[list[tuple[StageClock, str, int]], CaseLook]:
        """The pings the case's clocks call for today, the next day to look again, and what
        the daily reminders read. Overdue clocks and staff's clocks are not pinged case by
        case: they are recorded on the case, and the case is looked at again for its 督办."""
        found = []
        looks: list[date] = []
        overdue: Due | None = None  # the supervisor's longest overdue
        staff: Due | None = None  # staff's earliest due
        for clock in stage_clocks(case, self.tz, self.stages):
            ping = clock_ping(clock, today, self.tz)
            due_day = clock.due.astimezone(self.tz).date()
            if clock.owner == "staff":
                staff = _earlier(staff, Due(clock.name, due_day))
            elif today <= due_day:
                looks.append(next_look(clock, today, self.tz))
            else:
                overdue = _earlier(overdue, Due(clock.name, due_day))
            if ping is not None and (clock.owner != "staff" or ping[0] == "late"):
                found.append((clock, *ping))  # a late staff clock only for its 督办
            if clock.name in SUPERVISABLE and not _supervised_since(case, clock.started) \
                    and (clock.owner == "staff" or today > due_day):
                looks.append(self._escalation_look(
                    workday_after(due_day, self.rules.escalate_after_days), today))
        deadline = case.rectify_deadline
        if case.status is Status.RECTIFYING and deadline is not None:
            # the deadline's own pings and 督办 (`_deadlines`) read the same next look
            if today <= deadline:
                looks.append(rectification_look(deadline, today, self.rules.ping_days_before))
            else:
                overdue = _earlier(overdue, Due("rectify", deadline))
                overdue_since = datetime.combine(deadline + timedelta(days=1), time(0),
                                                 tzinfo=self.tz)
                if case.supervised_at is None or case.supervised_at < overdue_since:
                    looks.append(self._escalation_look(
                        deadline + timedelta(days=self.rules.escalate_after_days), today))
        run_out = ladder_run_out(case, self.tz, self.stages)
        if run_out is not None and now <= run_out:
            looks.append(run_out.astimezone(self.tz).date())
        elif run_out is not None:
            looks.append(today)  # climbs in this run; the climb is looked at again
        assert case.id is not None
        # A case still due today (a rung to climb) keeps today's look and is read again.
        day = max(min(looks), today) if looks else None
        return found, CaseLook(case.id, case.updated_at or case.created_at, day, overdue,
                               staff)

    @staticmethod
    def _escalation_look(day: date, today: date) -> date:
        """The day an overdue clock's 督办 falls due; once it has (the 督办 is issued in this
        run, which changes the case), the next working day, should it not have been."""
        return day if day > today else next_workday(today)

    def _clock_pings(self, case: Case, clock: StageClock, kind: str, days: int,
                     assignee: PersonInfo | None) -> list[Outgoing]:
        """The supervisor's ping before and on the day their clock runs out."""
        if clock.owner != "supervisor" or assignee is None or not assignee.telegram_user_id:
            return []
        params: dict[str, str | int] = {
            "reference": case.reference, "clock": t(f"clock.name.{clock.name}"),
            "due": clock.due.astimezone(self.tz).strftime("%Y-%m-%d"), "days": days}
        actor = Actor(Role.SUPERVISOR, person_code=case.assignee_code)
        notice = Notice(f"reminder.clock.{kind}", params, case.reference,
                        case.next_actions(actor), Role.SUPERVISOR, open_button=True)
        return [Outgoing(assignee.telegram_user_id, f"ping.clock.{kind}", notice,
                         f"clock:{case.reference}:{clock.key}:{kind}")]

    async def _supervise(self, overdue: list[Overdue]) -> Counter[str]:
        """The system's 督办 on every clock overdue `escalate_after_days`: once per clock.
        Returns how many were issued, by clock ("rectify" for the deadline).

        Written a page at a time, each page one transaction: its cases are read locked,
        checked again (one that moved on, or was supervised since by staff or by another
        instance, is skipped), changed and saved together. A supervisor hears of each 督办 on
        their own clock, with its buttons; staff and the office's robots hear of the page's
        督办 in one message each.
        """
        issued: Counter[str] = Counter()
        for start in range(0, len(overdue), SUPERVISE_PAGE):
            issued.update(await self._supervise_page(overdue[start:start + SUPERVISE_PAGE]))
        return issued

    async def _supervise_page(self, page: list[Overdue]) -> Counter[str]:
        now = self.clock.now()
        async with self.uow() as uow:
            cases = await uow.cases.get_many({item.reference for item in page},
                                             for_update=True)
            done: list[tuple[Overdue, Case]] = []
            for item in page:
                case = cases.get(item.reference)
                if case is not None and self._still_overdue(case, item):
                    case.supervise(Actor.system(), now, self._supervise_comment(item))
                    done.append((item, case))
            if not done:
                return Counter()
            today = now.astimezone(self.tz).date()  # with their next look, as the clock pass
            await uow.cases.save_many([case for _, case in done],
                                      [self._clock_work(case, today, now)[1] for _, case in done])
            people = await uow.directory.persons(
                {case.assignee_code for _, case in done if case.assignee_code})
            messages: list[tuple[int, str, Notice, str | None]] = []
            for item, case in done:
                chat = await supervisor_chat(uow, case, people.get(case.assignee_code or ""))
                if item.owner == "supervisor" and chat:
                    # a scheduled ping (it waits for the morning), unlike staff's own 督办
                    messages.append((chat, "ping.supervised", supervisor_notice(
                        case, "supervised", case.events[-1].comment), None))
            names = {code: person.name for code, person in people.items()}
            notice = _supervised_notice(done, names)
            messages += [(person.telegram_user_id, "staff.escalated", notice, None)
                         for person in await uow.directory.people("staff")
                         if person.telegram_user_id]
            await uow.outbox.enqueue_many(messages, now)
            await tell_robots(uow, "supervised", _robot_notice(done), now)
            await uow.commit()
        return Counter(item.clock if item.clock == "rectify" else "clock" for item, _ in done)

    def _still_overdue(self, case: Case, item: Overdue) -> bool:
        """Whether the clock is still overdue and not yet supervised, read again under lock."""
        if _supervised_since(case, item.since):
            return False
        if item.clock == "rectify":
            return case.status is Status.RECTIFYING and str(case.rectify_deadline) == item.key
        return any(c.key == item.key for c in stage_clocks(case, self.tz, self.stages))

    @staticmethod
    def _supervise_comment(item: Overdue) -> str:
        """The 督办's comment in the case history, also what staff read of it."""
        if item.clock == "rectify":
            return t("reminder.escalation.comment", days=item.days)
        return t("reminder.clock.supervise_comment", clock=t(f"clock.name.{item.clock}"),
                 days=item.days)

    async def _climb(self, references: list[str]) -> int:
        """Each 督办 or 约谈 that ran out: the case moves up a rung and staff are asked. One
        transaction for the page; each case read locked and checked again."""
        if not references:
            return 0
        now = self.clock.now()
        today = now.astimezone(self.tz).date()
        async with self.uow() as uow:
            climbed = []
            for case in (await uow.cases.get_many(references, for_update=True)).values():
                run_out = ladder_run_out(case, self.tz, self.stages)
                if run_out is not None and now > run_out \
                        and case.climb(now, "ran_out") is not None:
                    climbed.append(case)
            if not climbed:
                return 0
            await uow.cases.save_many(  # with their next look, as the clock pass
                climbed, [self._clock_work(case, today, now)[1] for case in climbed])
            for case in climbed:
                await tell_staff(uow, "staff.escalated.ladder", staff_notice(
                    f"notify.staff.{case.events[-1].action}", case.reference,
                    comment=t("ladder.reason.ran_out")), now)
            await uow.commit()
        return len(climbed)

    def _pings(self, page: list[DeadlineRow], today: date) -> list[Outgoing]:
        """The pings this page of deadlines calls for today, keyed per deadline (and day)."""
        wanted = []
        for row in page:
            ping = deadline_ping(row.deadline, today, self.rules.ping_days_before)
            if ping is None or row.assignee_user_id is None:
                continue  # not yet due, or nobody bound to tell (escalation still applies)
            kind, days = ping
            if kind == "late":
                continue  # in the supervisor's daily overdue reminder (`_overdue`)
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

    async def _daily(self, today: date) -> list[Outgoing]:
        """Once a working day, one message per person: a supervisor's overdue cases; for
        each staff member, the office's clocks overdue or due by the next working day. Longest
        overdue first, each named case with a button. One item comes as that case's own
        reminder, with its buttons. Keyed per person and day: once, across instances."""
        if self._daily_sent_on == today:
            return []
        counter = WorkdayCounter(today)
        messages: list[Outgoing] = []
        async with self.uow.read() as uow:
            lists: dict[tuple[str, str], tuple[int, DueList]] = {}
            office: DueList | None = None
            for due in await uow.cases.due_lists(today, next_workday(today), MAX_DAILY_LISTED):
                if due.owner == "staff":
                    office = due
                elif due.assignee_user_id and due.assignee_code:
                    lists[(due.owner, due.assignee_code)] = (due.assignee_user_id, due)
            if office:
                for person in await uow.directory.people("staff"):
                    if person.telegram_user_id:
                        lists[("staff", person.code)] = (person.telegram_user_id, office)
            keys = {who: f"daily:{who[0]}:{who[1]}:{today}" for who in lists}
            queued = await uow.outbox.queued_keys(list(keys.values()))
            lists = {who: entry for who, entry in lists.items() if keys[who] not in queued}
            # a supervisor's single overdue case comes as its own reminder, with its buttons
            cases = await uow.cases.get_many([due.items[0].reference for (owner, _), (_, due)
                                              in lists.items()
                                              if owner == "supervisor" and due.count == 1])
            office_message: Outgoing | None = None  # the same for every staff member
            for who, (chat, due) in lists.items():
                if who[0] == "staff" and office_message is not None:
                    message: Outgoing | None = office_message
                elif due.count == 1:
                    message = self._daily_case(chat, due.items[0], today, counter, cases)
                else:
                    message = self._daily_list(chat, due, today, counter)
                if who[0] == "staff":
                    office_message = message
                if message is not None:
                    messages.append(replace(message, chat_id=chat, key=keys[who]))
        return messages

    def _daily_list(self, chat: int, due: DueList, today: date,
                    counter: WorkdayCounter) -> Outgoing:
        listed, owner = due.items[:MAX_DAILY_LISTED], due.owner
        lines = []
        for row in listed:
            kind = due_kind(row.day, today)
            if row.clock == "rectify":
                lines.append(t("reminder.daily.line.rectify", reference=row.reference,
                               days=(today - row.day).days, deadline=row.day.isoformat()))
            else:
                lines.append(t(f"reminder.daily.line.{kind}", reference=row.reference,
                               clock=t(f"clock.name.{row.clock}"), due=row.day.isoformat(),
                               days=counter.since(row.day)))
        key = "reminder.overdue" if owner == "supervisor" else "reminder.office"
        more = (("reminder.daily.more",) if due.count > len(listed) else ()) + (f"{key}.end",)
        notice = Notice(key, {
            "count": due.count, "late": due.late, "today": due.today,
            "soon": due.soon, "lines": "\n".join(lines), "rest": due.count - len(listed),
            "references": "\n".join(row.reference for row in listed)},
            audience=Role.SUPERVISOR if owner == "supervisor" else Role.STAFF, more=more)
        return Outgoing(chat, "ping.overdue" if owner == "supervisor" else "ping.office",
                        notice, "")

    def _daily_case(self, chat: int, row: DueRow, today: date, counter: WorkdayCounter,
                    cases: dict[str, Case]) -> Outgoing | None:
        """The one item's own reminder, as the clock and deadline pings read."""
        kind = due_kind(row.day, today)
        days = counter.since(row.day) if kind == "late" else working_days_between(today,
                                                                                  row.day)
        if row.owner == "staff":
            return Outgoing(chat, f"ping.clock.{kind}", staff_notice(
                f"reminder.clock.{kind}", row.reference, clock=t(f"clock.name.{row.clock}"),
                due=row.day.isoformat(), days=days), "")
        case = cases.get(row.reference)
        if case is None or case.id is None:
            return None
        actions = case.next_actions(Actor(Role.SUPERVISOR, person_code=case.assignee_code))
        if row.clock == "rectify":
            deadline = DeadlineRow(case.id, case.reference, case.category, row.day,
                                   case.supervised_at, chat)
            notice = self._ping(deadline, "late", (today - row.day).days)
            return Outgoing(chat, "ping.late", replace(notice, actions=actions), "")
        return Outgoing(chat, "ping.clock.late", Notice(
            "reminder.clock.late", {"reference": row.reference,
                                    "clock": t(f"clock.name.{row.clock}"),
                                    "due": row.day.isoformat(), "days": days},
            row.reference, actions, Role.SUPERVISOR, open_button=True), "")

    async def _queue(self, now: datetime, messages: list[Outgoing]) -> int:
        """Queue messages in one transaction (none: no transaction); count the new ones."""
        if not messages:
            return 0
        async with self.uow() as uow:
            sent = await uow.outbox.enqueue_many(
                [(m.chat_id, m.kind, m.notice, m.key) for m in messages], now)
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


def _supervised_notice(done: list[tuple[Overdue, Case]], names: dict[str, str]) -> Notice:
    """What staff hear of a page of the system's 督办: one as that case's own notice, more as
    a list naming each case (with a button) and its supervisor."""
    if len(done) == 1:
        item, case = done[0]
        name = names.get(case.assignee_code or "", "—")
        if item.clock == "rectify":
            return staff_notice("notify.staff.escalated", case.reference, days=item.days,
                                name=name)
        return staff_notice("notify.staff.clock_supervised", case.reference,
                            clock=t(f"clock.name.{item.clock}"), days=item.days, name=name)
    listed = done[:MAX_DAILY_LISTED]
    lines = [t("notify.staff.supervised_list.line", reference=case.reference,
               comment=case.events[-1].comment, name=names.get(case.assignee_code or "", "—"))
             for _, case in listed]
    return Notice("notify.staff.supervised_list", {
        "count": len(done), "lines": "\n".join(lines), "rest": len(done) - len(listed),
        "references": "\n".join(case.reference for _, case in listed)},
        audience=Role.STAFF, more=(("reminder.daily.more",) if len(done) > len(listed)
                                   else ()) + ("notify.staff.supervised_list.end",))


def _robot_notice(done: list[tuple[Overdue, Case]]) -> Notice:
    """What the office's group robots read of a page of the system's 督办 (masked)."""
    if len(done) == 1:
        case = done[0][1]
        return robot_supervised_notice(case, case.events[-1].comment)
    listed = done[:MAX_DAILY_LISTED]
    lines = [t("notify.robot.supervised_list.line", reference=case.reference,
               category=t(f"category.{case.category}"),
               comment=mask_personal_data(case.events[-1].comment)) for _, case in listed]
    return Notice("notify.robot.supervised_list", {
        "count": len(done), "lines": "\n".join(lines), "rest": len(done) - len(listed)},
        audience=Role.STAFF, more=("reminder.daily.more",) if len(done) > len(listed) else ())


def _sum(run: ClockRun, more: ClockRun) -> ClockRun:
    return ClockRun(run.pings + more.pings, run.escalations + more.escalations,
                    run.rungs + more.rungs)


def _earlier(held: Due | None, item: Due) -> Due:
    return item if held is None or item.day < held.day else held


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
