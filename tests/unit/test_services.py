"""The services on the fake unit of work: use cases end to end, in milliseconds.

The same services run against SQLite and PostgreSQL in tests/integration
(test_storage_services.py, test_office_service.py, test_supervisor_services.py, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import TimeRules
from bot.domain import Actor, Case, Disposition, DomainError, Status, candidates
from bot.filing import FilingService, Rules, TipInput
from bot.health import check_health
from bot.invites import InviteService
from bot.merging import MergingService
from bot.office import OfficeRules, OfficeService
from bot.reminders import ReminderService
from bot.services import CaseService
from bot.supervision import SupervisionRules, SupervisionService
from bot.triage import TriageService
from tests.support.fakes import Entity, FakeClock, FakeStore, FakeUnitOfWorkFactory

PARENT, OTHER_PARENT = 1001, 1002
SUP1, SUP2, TUTOR, STAFF = 2001, 2002, 2003, 3001
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
TZ = ZoneInfo("UTC")


@dataclass
class World:
    store: FakeUnitOfWorkFactory
    clock: FakeClock
    cases: CaseService
    filing: FilingService
    office: OfficeService
    merging: MergingService
    triage: TriageService
    supervision: SupervisionService
    reminders: ReminderService
    invites: InviteService

    @property
    def db(self) -> FakeStore:
        return self.store.store


@pytest.fixture
def world() -> World:
    store = FakeStore()
    store.add_person("S01", "王督学", "responsible", SUP1)
    store.add_person("S02", "李督学", "responsible", SUP2)
    store.add_person("T01", "赵督学", "tutoring", TUTOR)
    store.add_person("ST1", "陈老师", "staff", STAFF)
    store.add_person("ST2", "周老师", "staff")
    store.districts["D01"] = ("城关镇", "T01")
    store.schools["SCH01"] = Entity("城关第一小学", "D01", "S01", ("城关一小",))
    store.schools["SCH02"] = Entity("实验小学", "D01", "S02")
    store.institutions["INS01"] = Entity("启明星培训", "D01")
    uow = FakeUnitOfWorkFactory(store)
    clock = FakeClock(NOW)
    cases = CaseService(uow, clock)
    return World(uow, clock, cases, FilingService(cases, Rules(tips_per_hour=3, threshold=0.6)),
                 OfficeService(uow, clock, cases, OfficeRules(tz=TZ)),
                 MergingService(uow, clock),
                 TriageService(uow, cases),
                 SupervisionService(uow, clock, cases, SupervisionRules(tz=TZ)),
                 ReminderService(uow, cases, TimeRules(), TZ),
                 InviteService(uow, clock))


def tip(user: int = PARENT, **kw: object) -> TipInput:
    values: dict[str, object] = {"text": "三年级作业每天写到晚上十一点", "reporter_user_id": user,
                                 "category": "homework_burden", "confidence": 0.95,
                                 "school_code": "SCH01"}
    values.update(kw)
    return TipInput(**values)  # type: ignore[arg-type]


async def rectifying(world: World, deadline: date) -> str:
    """A case of SUP1 in rectification until `deadline`."""
    filed = await world.filing.file_tip(tip())
    await world.supervision.accept(SUP1, filed.reference)
    await world.supervision.propose(SUP1, filed.reference, Disposition.RECTIFY,
                                    note="限期整改", deadline=deadline)
    await world.office.approve(STAFF, filed.reference)
    return filed.reference


# --- filing -------------------------------------------------------------------------
async def test_a_confident_tip_is_routed_and_only_its_supervisor_is_told(world: World) -> None:
    filed = await world.filing.file_tip(tip(text="电话13812345678，作业太多"))
    assert filed.reference == "SJ-2026-000001"
    assert (filed.status, filed.handler_role) == (Status.ASSIGNED, "responsible")
    assert filed.accept_due is not None and filed.accept_due > NOW
    notice, reply = world.db.outbox
    assert (notice.chat_id, notice.kind) == (SUP1, "routed")
    # The parent's reference: written with the case, leased to the handler that replies.
    assert (reply.chat_id, reply.kind, reply.dedup_key) == (PARENT, "filed",
                                                           "filed:SJ-2026-000001")
    assert reply.not_before > NOW and reply.notice.params["reference"] == filed.reference
    assert "13812345678" not in str(notice.notice.params)  # supervisors never see personal data
    case = world.db.cases[filed.reference]
    assert case.assignee_code == "S01" and case.district_code == "D01"


async def test_an_uncertain_tip_goes_to_triage_and_bound_staff_hear_of_it(world: World) -> None:
    filed = await world.filing.file_tip(tip(confidence=0.3))
    assert (filed.status, filed.handler_role, filed.accept_due) == (Status.TRIAGE, "triage",
                                                                    None)
    assert [(m.chat_id, m.kind) for m in world.db.outbox] == [(STAFF, "staff.triage"),
                                                               (PARENT, "filed")]


async def test_the_hourly_limit_refuses_the_extra_tip_and_stores_nothing(world: World) -> None:
    for _ in range(3):
        await world.filing.file_tip(tip())
    with pytest.raises(DomainError) as err:
        await world.filing.file_tip(tip())
    assert err.value.key == "tip.error.rate_limited"
    assert len(world.db.cases) == 3
    assert (await world.filing.filing_status(PARENT))[1] is False
    assert (await world.filing.filing_status(OTHER_PARENT))[1] is True
    world.clock.advance(hours=1, seconds=1)
    assert (await world.filing.file_tip(tip())).reference == "SJ-2026-000004"


# --- case actions ---------------------------------------------------------------------
async def test_perform_saves_the_step_and_tells_the_parent(world: World) -> None:
    filed = await world.filing.file_tip(tip())
    case = await world.supervision.accept(SUP1, filed.reference)
    assert case.status is Status.ACCEPTED
    assert world.db.cases[filed.reference].status is Status.ACCEPTED
    assert [m.kind for m in world.db.sent_to(PARENT)] == ["filed", "accepted"]


async def test_a_refused_action_changes_nothing_and_strangers_learn_nothing(
        world: World) -> None:
    filed = await world.filing.file_tip(tip())
    commits, events = world.store.commits, len(world.db.cases[filed.reference].events)
    with pytest.raises(DomainError) as err:
        await world.supervision.accept(SUP2, filed.reference)  # not theirs
    assert err.value.key == "case.error.not_found"

    def accept_twice(case: Case, actor: Actor, now: datetime) -> None:
        case.accept(actor, now)
        case.accept(actor, now)  # refused: the first step is rolled back with it

    with pytest.raises(DomainError):
        await world.cases.perform(SUP1, filed.reference, accept_twice)
    assert world.store.commits == commits
    assert len(world.db.cases[filed.reference].events) == events


async def test_a_second_accept_is_answered_politely(world: World) -> None:
    filed = await world.filing.file_tip(tip())
    await world.supervision.accept(SUP1, filed.reference)
    with pytest.raises(DomainError) as err:
        await world.supervision.accept(SUP1, filed.reference)
    assert err.value.key == "sv.error.already_accepted"


# --- office -------------------------------------------------------------------------
async def test_triage_suggests_the_routing_policy_and_a_recategorisation_is_a_correction(
        world: World) -> None:
    filed = await world.filing.file_tip(tip(category="other", confidence=0.3,
                                           text="学校收费不合理"))
    choices = await world.triage.supervisor_choices(STAFF, filed.reference, "homework_burden")
    async with world.store.read() as uow:
        resp, _ = await uow.directory.responsibility("SCH01", None, None)
    assert [c.code for c in choices if c.suggested] == [
        c.code for c in candidates("homework_burden", resp)] == ["S01", "T01"]
    assert "ST1" not in {c.code for c in choices}  # staff are never offered
    case, person = await world.triage.triage(STAFF, filed.reference, "homework_burden", "S01")
    assert (case.status, case.category, person.code) == (Status.ASSIGNED, "homework_burden",
                                                         "S01")
    async with world.store.read() as uow:
        assert await uow.cases.corrections() == [("学校收费不合理", "homework_burden")]


async def test_triage_without_a_new_category_records_no_correction(world: World) -> None:
    filed = await world.filing.file_tip(tip(confidence=0.3))
    await world.triage.triage(STAFF, filed.reference, "homework_burden", "S02")
    async with world.store.read() as uow:
        assert await uow.cases.corrections() == []


async def test_only_bound_staff_use_the_office(world: World) -> None:
    filed = await world.filing.file_tip(tip(confidence=0.3))
    for user in (PARENT, SUP1):
        with pytest.raises(DomainError) as err:
            await world.triage.triage(user, filed.reference, "homework_burden", "S01")
        assert err.value.key == "case.error.staff_only"


async def test_a_merged_tip_follows_its_target_to_the_end(world: World) -> None:
    target = await world.filing.file_tip(tip())
    source = await world.filing.file_tip(tip(user=OTHER_PARENT, text="三年级作业太多写到半夜"))
    await world.merging.merge(STAFF, source.reference, target.reference)
    assert world.db.cases[source.reference].merged_into == target.reference
    assert [m.kind for m in world.db.sent_to(OTHER_PARENT)] == ["filed", "merged"]
    await world.supervision.accept(SUP1, target.reference)
    await world.supervision.propose(SUP1, target.reference, Disposition.FIXED, note="已整改")
    await world.office.approve(STAFF, target.reference)
    follower = world.db.cases[source.reference]
    assert follower.status is Status.CLOSED and follower.disposition is Disposition.FIXED
    assert [m.kind for m in world.db.sent_to(OTHER_PARENT)][-1] == "approved"


async def test_unbinding_releases_the_chat_and_tells_the_person(world: World) -> None:
    person = await world.invites.unbind(STAFF, "S02")
    assert person.code == "S02" and world.db.people["S02"].telegram_user_id is None
    assert [m.kind for m in world.db.sent_to(SUP2)] == ["unbound"]
    with pytest.raises(DomainError) as err:
        await world.invites.unbind(STAFF, "ST1")
    assert err.value.key == "office.error.unbind_self"


# --- supervision ----------------------------------------------------------------------
async def test_open_cases_put_overdue_rectifications_first(world: World) -> None:
    fresh = await world.filing.file_tip(tip())
    late = await rectifying(world, NOW.date() + timedelta(days=2))
    world.clock.advance(days=5)
    lines = await world.supervision.open_cases(SUP1)
    assert [line.reference for line in lines] == [late, fresh.reference]
    assert lines[0].overdue_days == 3


async def test_a_visit_counts_towards_the_months_coverage(world: World) -> None:
    logged = await world.supervision.log_visit(SUP1, "SCH01", NOW.date(), "查看作业公示")
    assert logged.coverage.visited == [("SCH01", "城关第一小学")]
    assert logged.coverage.unvisited == []
    with pytest.raises(DomainError) as err:
        await world.supervision.log_visit(SUP1, "SCH02", NOW.date(), "")
    assert err.value.key == "sv.error.not_your_school"


# --- reminders, invites, health -----------------------------------------------------------
async def test_deadline_pings_are_queued_once(world: World) -> None:
    reference = await rectifying(world, NOW.date() + timedelta(days=2))
    first = await world.reminders.run()
    again = await world.reminders.run()
    assert (first.pings, again.pings) == (1, 0)
    [ping] = [m for m in world.db.outbox if m.kind.startswith("ping.")]
    assert (ping.chat_id, ping.kind, ping.dedup_key) == (
        SUP1, "ping.soon", f"ping:{reference}:{NOW.date() + timedelta(days=2)}:soon")


async def test_an_invite_binds_once(world: World) -> None:
    code, _ = await world.invites.issue("ST2", "staff")
    person = await world.invites.bind(4001, code)
    assert (person.code, person.telegram_user_id) == ("ST2", 4001)
    with pytest.raises(DomainError) as err:
        await world.invites.bind(4002, code)
    assert err.value.key == "invite.error.invalid"


async def test_binding_with_a_new_code_tells_the_account_it_replaces(world: World) -> None:
    code, _ = await world.invites.issue("S02", "supervisor")  # S02 is bound to SUP2
    person = await world.invites.bind(5002, code)
    assert person.telegram_user_id == 5002
    [told] = [m for m in world.db.outbox if m.chat_id == SUP2]
    assert (told.kind, told.notice.key) == ("unbound", "invite.replaced.notice")
    assert not [m for m in world.db.outbox if m.chat_id == 5002 and m.kind == "unbound"]


async def test_an_invite_for_a_person_of_another_role_says_which_role_they_have(
        world: World) -> None:
    with pytest.raises(DomainError) as err:
        await world.invites.issue("S02", "staff")
    assert err.value.key == "invite.error.other_role"
    assert err.value.params["flag"] == "--supervisor"


async def test_an_invite_finds_its_person_without_regard_to_case(world: World) -> None:
    issued = await world.invites.issue_invite("st2", "staff", hours=24)
    assert issued.person.code == "ST2" and issued.expires == NOW + timedelta(hours=24)


@pytest.mark.parametrize("hours", [0, -1, 721])
async def test_an_invite_of_absurd_length_is_refused(world: World, hours: int) -> None:
    with pytest.raises(DomainError) as err:
        await world.invites.issue("ST2", "staff", hours=hours)
    assert err.value.key == "invite.error.hours"


async def test_health_reports_the_delivery_backlog(world: World) -> None:
    filed = await world.filing.file_tip(tip())
    assert await world.filing.reply_sent(filed.reference)  # the handler replied
    world.clock.advance(minutes=10)
    health = await check_health(world.store, world.clock)
    assert (health.outbox_due, health.status) == (1, "degraded")


async def test_a_supervisor_who_binds_late_hears_of_the_cases_waiting_for_them(
        world: World) -> None:
    await world.invites.unbind(STAFF, "S02")
    filed = await world.filing.file_tip(tip(school_code="SCH02"))
    assert not [m for m in world.db.outbox if m.kind == "routed"]  # nobody to tell yet
    code, _ = await world.invites.issue("S02", "supervisor")
    await world.invites.bind(5001, code)
    [notice] = [m for m in world.db.outbox if m.chat_id == 5001 and m.kind == "routed"]
    assert notice.notice.key == "notify.supervisor.routed"
    assert notice.notice.reference == filed.reference
    assert notice.notice.actions  # 受理 / 退回 offered, as if they had been bound


async def test_staff_who_bind_late_hear_of_tips_to_triage(world: World) -> None:
    filed = await world.filing.file_tip(tip(school_code=None, category="other"))
    code, _ = await world.invites.issue("ST2", "staff")
    await world.invites.bind(4001, code)
    waiting = [m.notice for m in world.db.outbox if m.chat_id == 4001]
    assert [(n.key, n.reference) for n in waiting] == [("notify.staff.triage",
                                                        filed.reference)]


async def test_triage_without_a_known_place_offers_the_category_s_kind_of_supervisor_first(
        world: World) -> None:
    filed = await world.filing.file_tip(tip(category="other", confidence=0.3, school_code=None,
                                           text="小区里有人办补习班"))
    choices = await world.triage.supervisor_choices(STAFF, filed.reference,
                                                    "unlicensed_tutoring")
    assert not any(c.suggested for c in choices)
    assert choices[0].role == "tutoring"
    choices = await world.triage.supervisor_choices(STAFF, filed.reference, "homework_burden")
    assert choices[0].role == "responsible"
