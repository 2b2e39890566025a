"""Office staff use cases beyond one transition: work queues, triage (category + assignee in
one step), the staff case view with possible duplicates, overdue clocks, and unbinding.

Every method identifies the caller from the Telegram user id on the server side; a user who
is not bound as office staff is refused before anything is read. Case transitions go through
`CaseService.perform`, so the domain has the last word on role and status.
"""

from __future__ import annotations

import asyncio
import copy
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.clocks import running_clock
from bot.domain import (
    CATEGORIES,
    SCHOOL_CATEGORIES,
    TUTORING_CATEGORIES,
    Actor,
    Case,
    CaseEvent,
    DomainError,
    InvalidInput,
    InvalidTransition,
    Role,
    Status,
)
from bot.export import export_rows, to_xlsx
from bot.notices import Notice, merged_notices
from bot.reports import PeriodKind, Report, build_report, chart_png, period_of, to_workbook
from bot.services import CaseService, Clock, UowFactory, actor_for, reading
from bot.timerules import month_bounds
from storage.repository import PersonInfo
from storage.uow import SqlUnitOfWork

SUPERVISOR_ROLES = frozenset({"responsible", "tutoring"})
QUEUE_LIMIT = 50
VERIFY_FAIL_DAYS = (7, 15, 30)
CHAT_EXPORT_MAX_DAYS = 366  # new rectification periods offered when 回头看 fails

# Duplicate detection (see tests/test_office_duplicates.py for the labelled pairs the
# threshold was chosen on: 24 pairs, 12 duplicates, 12 different issues about the same entity).
DUPLICATE_THRESHOLD = 30.0
# Words every tip about a school or institution shares; they say nothing about the issue.
_GENERIC_WORDS = ("学校", "小学", "中学", "初中", "高中", "幼儿园", "培训", "机构", "中心",
                  "教育", "老师", "孩子", "家长", "学生", "我们", "他们", "每天", "现在")
_COUNTY_PREFIX = re.compile(r"^.{1,6}?[县市区]")


@dataclass(frozen=True)
class OfficeRules:
    tz: ZoneInfo
    duplicate_window_days: int = 14
    accept_working_days: int = 1
    propose_working_days: int = 5
    decide_working_days: int = 2


@dataclass(frozen=True)
class Duplicate:
    reference: str
    score: float


@dataclass(frozen=True)
class SupervisorChoice:
    code: str
    name: str
    role: str  # responsible | tutoring
    suggested: bool


@dataclass(frozen=True)
class OverdueItem:
    """An open case past one of its clocks."""

    case: Case
    clock: str  # accept | propose | decide | rectify
    due: datetime  # local time
    days: int  # whole days past due (0 = later today than due)


@dataclass(frozen=True)
class StaffCase:
    """A case as office staff see it: everything, with names resolved."""

    case: Case
    entity_name: str | None
    district_name: str | None
    assignee_name: str | None
    people: dict[str, str]  # person code -> name, for the audit trail
    duplicates: list[Duplicate]
    evidence_count: int
    guess: tuple[str, float]  # the classifier's category and confidence at filing
    alternatives: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Counts:
    triage: int
    approvals: int
    verifications: int
    extensions: int
    overdue: int


class OfficeService:
    """What bound office staff do in chat, checked on the server for every call."""

    def __init__(self, uow: UowFactory, clock: Clock, cases: CaseService,
                 rules: OfficeRules) -> None:
        self.uow = uow
        self.clock = clock
        self.cases = cases
        self.rules = rules

    # --- identity and dates -------------------------------------------------------
    async def staff(self, user_id: int) -> PersonInfo:
        """The bound staff member behind this Telegram user, or a refusal."""
        async with reading(self.uow) as uow:
            person = await uow.directory.person_by_user(user_id)
        if person is None or person.role != "staff":
            raise DomainError("case.error.staff_only")
        return person

    def today(self) -> date:
        return self.clock.now().astimezone(self.rules.tz).date()

    def verify_fail_choices(self) -> list[tuple[int, date]]:
        """New rectification deadlines offered when a verification fails."""
        today = self.today()
        return [(d, today + timedelta(days=d)) for d in VERIFY_FAIL_DAYS]

    def deadline_after(self, days: int) -> date:
        """The deadline `days` after today, if `days` is one of the offered periods."""
        for offered, deadline in self.verify_fail_choices():
            if offered == days:
                return deadline
        raise InvalidInput("office.error.bad_button")

    # --- queues -------------------------------------------------------------------
    async def queue(self, user_id: int, status: Status, limit: int = QUEUE_LIMIT) -> list[Case]:
        """Cases waiting for the office in `status`, oldest first."""
        await self.staff(user_id)
        async with reading(self.uow) as uow:
            return await uow.cases.list_by_status(status, limit=limit)

    async def extension_requests(self, user_id: int) -> list[Case]:
        """Rectifying cases whose supervisor asked for a later deadline, undecided."""
        await self.staff(user_id)
        async with reading(self.uow) as uow:
            # The pending request lives in the events, so list with them (one query).
            loaded = await uow.cases.list_by_status(Status.RECTIFYING, limit=500,
                                                    with_events=True)
        return [c for c in loaded if c is not None and c.pending_extension is not None]

    async def overdue(self, user_id: int) -> list[OverdueItem]:
        """Open cases past a clock: rectification deadlines first, then the oldest."""
        await self.staff(user_id)
        now = self.clock.now().astimezone(self.rules.tz)
        async with reading(self.uow) as uow:
            late = await uow.cases.overdue_rectifications(now.date())
            loaded = await uow.cases.list_by_status(Status.ASSIGNED, Status.ACCEPTED,
                                                    Status.PROPOSED, limit=500,
                                                    with_events=True)
        items = []
        for case in late:
            assert case.rectify_deadline is not None
            due = datetime.combine(case.rectify_deadline, time(23, 59, 59), tzinfo=self.rules.tz)
            items.append(OverdueItem(case, "rectify", due, (now.date() - due.date()).days))
        for full in loaded:
            if full is None:
                continue
            clock = self.clock_of(full)
            if clock is not None and clock[1] < now:
                items.append(OverdueItem(full, clock[0], clock[1], (now - clock[1]).days))
        return sorted(items, key=lambda item: (item.clock != "rectify", item.due))

    def clock_of(self, case: Case) -> tuple[str, datetime] | None:
        """The clock running on a case now and when it runs out (local time)."""
        rules = self.rules
        clock = running_clock(case, rules.tz, accept_days=rules.accept_working_days,
                              propose_days=rules.propose_working_days,
                              decide_days=rules.decide_working_days)
        return (clock.name, clock.due) if clock else None

    async def counts(self, user_id: int) -> Counts:
        """How much is waiting in each office queue (the /office menu)."""
        await self.staff(user_id)
        async with reading(self.uow) as uow:
            triage = await uow.cases.count_by_status(Status.TRIAGE)
            approvals = await uow.cases.count_by_status(Status.PROPOSED)
            verify = await uow.cases.count_by_status(Status.RECTIFICATION_REPORTED)
        return Counts(triage, approvals, verify, len(await self.extension_requests(user_id)),
                      len(await self.overdue(user_id)))

    # --- one case -----------------------------------------------------------------
    async def detail(self, user_id: int, reference: str) -> StaffCase:
        """Everything about one case, names resolved, with possible duplicates."""
        await self.staff(user_id)
        _, case = await self.cases.view(user_id, reference)
        async with reading(self.uow) as uow:
            evidence = len(await uow.cases.evidence(case))
            entity = await _entity_name(uow, case)
            district = None
            if case.district_code:
                district = (await uow.directory.names("district", [case.district_code])).get(
                    case.district_code)
            codes = {e.actor for e in case.events if e.actor_role in (Role.STAFF,
                                                                     Role.SUPERVISOR)}
            codes |= {str(e.data[k]) for e in case.events for k in ("assignee", "previous")
                      if e.data.get(k)}
            if case.assignee_code:
                codes.add(case.assignee_code)
            people = await uow.directory.names("person", sorted(codes)) if codes else {}
            duplicates = (await find_duplicates(uow, case, self.rules.duplicate_window_days)
                          if case.is_open else [])
        return StaffCase(case=case, entity_name=entity, district_name=district,
                         assignee_name=people.get(case.assignee_code or ""), people=people,
                         duplicates=duplicates, evidence_count=evidence, guess=filed_guess(case),
                         alternatives=filed_alternatives(case))

    async def supervisor_choices(self, user_id: int, reference: str,
                                 category: str) -> list[SupervisorChoice]:
        """Supervisors for a case: the directory's responsible ones first, then the rest."""
        await self.staff(user_id)
        _, case = await self.cases.view(user_id, reference)
        async with reading(self.uow) as uow:
            responsibility, _ = await uow.directory.responsibility(
                case.school_code, case.institution_code, case.district_code)
            people = [p for p in await uow.directory.people() if p.role in SUPERVISOR_ROLES]
        school = responsibility.school_supervisor
        tutoring = [responsibility.institution_supervisor,
                    responsibility.district_tutoring_supervisor]
        if category in SCHOOL_CATEGORIES:
            order = [school, *tutoring]
        elif category in TUTORING_CATEGORIES:
            order = [*tutoring, school]
        else:
            order = [school, *tutoring] if case.school_code else [*tutoring, school]
        suggested = list(dict.fromkeys(code for code in order if code))
        by_code = {p.code: p for p in people}
        first = [SupervisorChoice(c, by_code[c].name, by_code[c].role, True)
                 for c in suggested if c in by_code]
        rest = [SupervisorChoice(p.code, p.name, p.role, False) for p in people
                if p.code not in suggested]
        return first + rest

    # --- transitions ----------------------------------------------------------------
    async def triage(self, user_id: int, reference: str, category: str,
                     supervisor_code: str) -> tuple[Case, PersonInfo]:
        """Set category and assignee in one transaction; a changed category is a correction."""
        await self.staff(user_id)
        if category not in CATEGORIES:
            raise InvalidInput("case.error.unknown_category", category=category[:32])
        async with reading(self.uow) as uow:
            person = await uow.directory.person(supervisor_code)
        if person is None:
            raise InvalidInput("case.error.unknown_person", code=supervisor_code[:32])
        if person.role not in SUPERVISOR_ROLES:
            raise InvalidInput("case.error.person_role", code=supervisor_code[:32])

        def action(case: Case, actor: Actor, now: datetime) -> Any:
            # Check the assignment first so a refused assign never leaves a half correction.
            if case.status not in (Status.TRIAGE, Status.ASSIGNED, Status.ACCEPTED):
                raise InvalidTransition("case.error.wrong_status", reference=case.reference,
                                        status=case.status.value)
            old = case.category
            if category == old and supervisor_code == case.assignee_code:
                # A double tap, or a reassignment to the same person: nothing to do.
                raise InvalidTransition("office.error.already_assigned",
                                        reference=case.reference, name=person.name)
            if category != old:
                case.recategorise(actor, category, now)
            case.assign(actor, supervisor_code, now)
            return ("correction", old, category) if category != old else None

        return await self.cases.perform(user_id, reference, action), person

    async def approve(self, user_id: int, reference: str) -> Case:
        await self.staff(user_id)
        return await self.cases.perform(user_id, reference,
                                        lambda c, a, now: c.approve_proposal(a, now))

    async def reject(self, user_id: int, reference: str, comment: str) -> Case:
        await self.staff(user_id)
        return await self.cases.perform(user_id, reference,
                                        lambda c, a, now: c.reject_proposal(a, comment, now))

    async def verify_passed(self, user_id: int, reference: str) -> Case:
        await self.staff(user_id)
        return await self.cases.perform(user_id, reference, lambda c, a, now:
                                        c.verify_rectification(a, now, passed=True))

    async def verify_failed(self, user_id: int, reference: str, new_deadline: date,
                            comment: str) -> Case:
        await self.staff(user_id)
        return await self.cases.perform(user_id, reference, lambda c, a, now:
                                        c.verify_rectification(a, now, passed=False,
                                                               comment=comment,
                                                               new_deadline=new_deadline))

    async def grant_extension(self, user_id: int, reference: str) -> Case:
        """Extend the deadline to the date the supervisor asked for (read from the case)."""
        await self.staff(user_id)

        def action(case: Case, actor: Actor, now: datetime) -> None:
            wanted = case.pending_extension
            if wanted is None:
                raise InvalidTransition("case.error.no_pending_extension")
            case.extend_deadline(actor, wanted, "", now)

        return await self.cases.perform(user_id, reference, action)

    async def refuse_extension(self, user_id: int, reference: str, reason: str) -> Case:
        await self.staff(user_id)
        if not reason.strip():
            raise InvalidInput("case.error.comment_required")
        return await self.cases.perform(user_id, reference,
                                        lambda c, a, now: c.refuse_extension(a, reason, now))

    async def supervise(self, user_id: int, reference: str, comment: str = "") -> Case:
        await self.staff(user_id)
        return await self.cases.perform(user_id, reference,
                                        lambda c, a, now: c.supervise(a, now, comment))

    # --- duplicates -------------------------------------------------------------------
    async def check_merge(self, user_id: int, source_ref: str,
                          target_ref: str) -> tuple[Case, Case]:
        """Refuse now, before staff confirm, a merge that the domain would refuse."""
        await self.staff(user_id)
        async with reading(self.uow) as uow:
            actor = actor_for(await uow.directory.person_by_user(user_id), user_id)
            source, target = await _load_pair(uow, source_ref, target_ref, lock=False)
            copy.deepcopy(source).merge_into(actor, copy.deepcopy(target), self.clock.now())
            await _refuse_source_with_followers(uow, source)
        return source, target

    async def merge(self, user_id: int, source_ref: str, target_ref: str) -> tuple[Case, Case]:
        """Merge the duplicate `source_ref` into `target_ref`: one transaction, both cases
        locked; the source's parent follows the target from now on."""
        await self.staff(user_id)
        now = self.clock.now()
        async with self.uow() as uow:
            actor = actor_for(await uow.directory.person_by_user(user_id), user_id)
            source, target = await _load_pair(uow, source_ref, target_ref, lock=True)
            source.merge_into(actor, target, now)  # the domain's refusals come first
            await _refuse_source_with_followers(uow, source)  # a refusal rolls it all back
            await uow.cases.save(source)
            await uow.cases.save(target)
            await _tell_merged(uow, source, target, now)
            await uow.commit()
        return source, target

    async def dismiss_duplicate(self, user_id: int, reference: str, other_ref: str) -> Case:
        """Staff keep two cases apart: each stops listing the other as a possible duplicate."""
        await self.staff(user_id)
        now = self.clock.now()
        async with self.uow() as uow:
            actor = actor_for(await uow.directory.person_by_user(user_id), user_id)
            case, other = await _load_pair(uow, reference, other_ref, lock=True)
            case.dismiss_duplicate(actor, other, now)
            if case.reference not in other.dismissed_duplicates:
                other.dismiss_duplicate(actor, case, now)
            await uow.cases.save(case)
            await uow.cases.save(other)
            await uow.commit()
        return case

    async def check(self, user_id: int, reference: str, *allowed: Status) -> Case:
        """Refuse before a question is asked if the case is not in a status that allows it."""
        await self.staff(user_id)
        _, case = await self.cases.view(user_id, reference)
        if case.status not in allowed:
            raise InvalidTransition("case.error.wrong_status", reference=case.reference,
                                    status=case.status.value)
        return case

    # --- exports ------------------------------------------------------------------
    async def export_xlsx(self, user_id: int, date_from: date,
                          date_to: date) -> tuple[bytes, int]:
        """The cases created on local days date_from..date_to as XLSX, and how many."""
        await self.staff(user_id)
        if date_to < date_from:
            raise InvalidInput("export.error.range_order")
        if (date_to - date_from).days > CHAT_EXPORT_MAX_DAYS:
            raise InvalidInput("export.error.range_too_long", days=CHAT_EXPORT_MAX_DAYS)
        async with reading(self.uow) as uow:
            rows = await export_rows(uow, date_from, date_to, tz=self.rules.tz,
                                     now=self.clock.now(),
                                     accept_days=self.rules.accept_working_days,
                                     propose_days=self.rules.propose_working_days)
        data = await asyncio.to_thread(to_xlsx, rows, date_from, date_to)
        return data, len(rows)

    async def report(self, user_id: int, kind: PeriodKind,
                     previous: bool = False) -> tuple[Report, bytes, bytes]:
        """The half-month or quarterly report: its figures, the workbook and the chart."""
        await self.staff(user_id)
        today = self.today()
        period = period_of(kind, today, previous)
        month_start, next_month = month_bounds(min(period.end, today))
        async with reading(self.uow) as uow:
            rows = await export_rows(uow, period.start, period.end, tz=self.rules.tz,
                                     now=self.clock.now(),
                                     accept_days=self.rules.accept_working_days,
                                     propose_days=self.rules.propose_working_days)
            schools = await uow.directory.supervised_school_count()
            unvisited = len(await uow.directory.unvisited_schools(month_start, next_month))
        report = build_report(period, rows, (schools - unvisited, schools))
        chart = await asyncio.to_thread(chart_png, report)  # matplotlib blocks
        workbook = await asyncio.to_thread(to_workbook, report, rows, chart)
        return report, workbook, chart

    # --- people -------------------------------------------------------------------
    async def unbind(self, user_id: int, person_code: str) -> PersonInfo:
        """Release a supervisor's or staff member's chat so they can bind with a new invite."""
        me = await self.staff(user_id)
        code = person_code.strip()
        if code == me.code:
            raise InvalidInput("office.error.unbind_self")
        now = self.clock.now()
        async with self.uow() as uow:
            person = await uow.directory.person(code)
            if person is None:
                raise InvalidInput("case.error.unknown_person", code=code[:32])
            if person.telegram_user_id is None:
                raise InvalidInput("office.error.not_bound", name=person.name)
            await uow.directory.bind(person.id, None, now)
            await uow.outbox.enqueue(person.telegram_user_id, "unbound",
                                     Notice("office.unbound.notice"), now)
            await uow.commit()
        return person


def office_for(container: Any) -> OfficeService:
    """Wire the office service from the composition root's container."""
    settings = container.settings
    rules = settings.time_rules
    return OfficeService(container.uow, container.clock, container.cases, OfficeRules(
        tz=settings.tz, duplicate_window_days=settings.cases.duplicate_window_days,
        accept_working_days=rules.accept_working_days,
        propose_working_days=rules.propose_working_days,
        decide_working_days=rules.decide_working_days))


async def _load_pair(uow: SqlUnitOfWork, first: str, second: str, *,
                     lock: bool) -> tuple[Case, Case]:
    """Two cases by reference (the same object if both name one case)."""
    wanted = first.strip().upper(), second.strip().upper()
    loaded: dict[str, Case] = {}
    for reference in sorted(set(wanted)):  # one lock order, so two merges never deadlock
        case = await (uow.cases.get_for_update(reference) if lock else uow.cases.get(reference))
        if case is None:
            raise DomainError("case.error.not_found", reference=reference[:32])
        loaded[reference] = case
    return loaded[wanted[0]], loaded[wanted[1]]


async def _refuse_source_with_followers(uow: SqlUnitOfWork, source: Case) -> None:
    # Cases still waiting on the source would wait for an outcome that never comes.
    if source.id is not None and any(f.awaiting_merged_outcome
                                     for f in await uow.cases.followers(source)):
        raise InvalidTransition("case.error.merge_source_has_followers",
                                reference=source.reference)


async def _tell_merged(uow: SqlUnitOfWork, source: Case, target: Case, now: datetime) -> None:
    """The source's parent (nothing about anyone else) and both supervisors hear of it."""
    parent, receiving, merged = merged_notices(source, target)
    await uow.outbox.enqueue(source.reporter_user_id, "merged", parent, now)
    if target.assignee_code:
        person = await uow.directory.person(target.assignee_code)
        if person and person.telegram_user_id:
            await uow.outbox.enqueue(person.telegram_user_id, "merge_received", receiving,
                                     now)
    if source.assignee_code and source.assignee_code != target.assignee_code:
        person = await uow.directory.person(source.assignee_code)
        if person and person.telegram_user_id:
            await uow.outbox.enqueue(person.telegram_user_id, "merged", merged, now)


def entered_status_at(case: Case) -> datetime:
    """When the case last moved into its current status (not counting same-status events)."""
    for event in reversed(case.events):
        if event.to_status is case.status and event.from_status is not case.status:
            return event.at
    return case.created_at


def filed_guess(case: Case) -> tuple[str, float]:
    """The classifier's category and confidence when the tip was filed."""
    filed = _filed_event(case)
    if filed is None:
        return case.category, case.confidence
    return (str(filed.data.get("category", case.category)),
            float(filed.data.get("confidence", case.confidence)))


def filed_alternatives(case: Case) -> list[tuple[str, float]]:
    """The classifier's runner-up categories, if the filing event recorded them."""
    filed = _filed_event(case)
    raw = filed.data.get("alternatives") if filed else None
    out: list[tuple[str, float]] = []
    if isinstance(raw, list):
        for item in raw:
            if (isinstance(item, list | tuple) and len(item) == 2 and item[0] in CATEGORIES
                    and isinstance(item[1], int | float)):
                out.append((str(item[0]), float(item[1])))
    return out


def _filed_event(case: Case) -> CaseEvent | None:
    return next((e for e in case.events if e.action == "filed"), None)


async def _entity_name(uow: SqlUnitOfWork, case: Case) -> str | None:
    if case.school_code:
        return (await uow.directory.names("school", [case.school_code])).get(case.school_code)
    if case.institution_code:
        return (await uow.directory.names("institution", [case.institution_code])).get(
            case.institution_code)
    return None


# --- duplicates ---------------------------------------------------------------------
def normalise_for_matching(text: str, entity_names: tuple[str, ...] = ()) -> str:
    """Lower-case letters and digits only, without the entity's names and generic words."""
    text = unicodedata.normalize("NFKC", text).lower()
    for name in sorted(entity_names, key=len, reverse=True):
        if len(name) >= 2:
            text = text.replace(name.lower(), "")
    for word in _GENERIC_WORDS:
        text = text.replace(word, "")
    return "".join(ch for ch in text if ch.isalnum())


def similarity(a: str, b: str, entity_names: tuple[str, ...] = ()) -> float:
    """0..100: mean of character ratio and bigram token-set ratio of the normalised texts.

    Chinese has no spaces, so word-token ratios see one token; character bigrams stand in
    for words, and the entity's own names are removed because both tips share them anyway.
    """
    from rapidfuzz import fuzz

    na, nb = (normalise_for_matching(x, entity_names) for x in (a, b))
    if not na or not nb:
        return 0.0
    return (fuzz.ratio(na, nb) + fuzz.token_set_ratio(_bigrams(na), _bigrams(nb))) / 2


def _bigrams(text: str) -> str:
    return " ".join(text[i:i + 2] for i in range(len(text) - 1)) or text


def entity_name_variants(names: list[str]) -> tuple[str, ...]:
    """Names and aliases, plus each name without its county prefix (青溪县一小 → 一小)."""
    out: list[str] = []
    for name in names:
        out.append(name)
        short = _COUNTY_PREFIX.sub("", name)
        if short != name and len(short) >= 2:
            out.append(short)
    return tuple(dict.fromkeys(out))


async def find_duplicates(uow: SqlUnitOfWork, case: Case, window_days: int,
                          threshold: float = DUPLICATE_THRESHOLD) -> list[Duplicate]:
    """Open cases about the same school or institution, filed within `window_days` of this
    one, whose text is similar; best match first."""
    if not (case.school_code or case.institution_code) or window_days <= 0:
        return []
    window = timedelta(days=window_days)
    open_cases = await uow.cases.open_about(
        school_code=case.school_code, institution_code=case.institution_code,
        since=case.created_at - window, until=case.created_at + window)
    names = await _entity_names(uow, case)
    found = []
    for other in open_cases:
        if other.reference == case.reference or other.reference in case.dismissed_duplicates:
            continue
        same = ((case.school_code and other.school_code == case.school_code)
                or (case.institution_code and other.institution_code == case.institution_code))
        if not same or abs(other.created_at - case.created_at) > window:
            continue
        score = similarity(case.text, other.text, names)
        if score >= threshold:
            found.append(Duplicate(other.reference, round(score, 1)))
    return sorted(found, key=lambda d: -d.score)


async def _entity_names(uow: SqlUnitOfWork, case: Case) -> tuple[str, ...]:
    wanted = {("school", case.school_code), ("institution", case.institution_code)}
    names: list[str] = []
    for kind, code, name, aliases, _ in await uow.directory.entity_rows():
        if (kind, code) in wanted:
            names += [name, *aliases]
    return entity_name_variants(names)
