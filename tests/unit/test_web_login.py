"""Console logins and reads on the fake unit of work: one-time links, Telegram's initData
signature and age, and what the console lists for staff and for a supervisor."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from bot.console import ConsoleService, QueueFilters
from bot.domain import DomainError, Status
from bot.filing import FilingService, Rules, TipInput
from bot.office import OfficeRules, OfficeService
from bot.services import CHANNEL, CaseService
from bot.supervision import SupervisionRules, SupervisionService
from bot.triage import TriageService
from bot.web_login import WebLoginService, hash_token, init_data_user, sign_init_data
from tests.support.fakes import Entity, FakeClock, FakeStore, FakeUnitOfWorkFactory

TOKEN = "123456:test-bot-token"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PARENT, SUP1, SUP2, STAFF = 1001, 2001, 2002, 3001


def signed(user_id: int = STAFF, at: datetime = NOW, token: str = TOKEN, **extra: str) -> str:
    fields = {"auth_date": str(int(at.timestamp())), "query_id": "AAq",
              "user": json.dumps({"id": user_id, "first_name": "林"}), **extra}
    return sign_init_data(fields, token)


def test_init_data_signed_for_this_bot_and_recent_names_the_user() -> None:
    assert init_data_user(signed(), TOKEN, NOW) == STAFF
    assert init_data_user(signed(at=NOW - timedelta(hours=23)), TOKEN, NOW) == STAFF


@pytest.mark.parametrize("data", [
    signed(token="654321:another-bot"),  # signed for another bot
    signed(at=NOW - timedelta(days=2)),  # stale
    signed(at=NOW + timedelta(hours=1)),  # from the future
    signed().replace("query_id=AAq", "query_id=AAr"),  # a field changed after signing
    signed().split("&hash=")[0],  # no hash
    urlencode({"auth_date": "x", "hash": "00"}),
    "",
    "%%%",
])
def test_forged_stale_or_malformed_init_data_is_refused(data: str) -> None:
    with pytest.raises(DomainError) as refused:
        init_data_user(data, TOKEN, NOW)
    assert refused.value.key == "web.error.init_data"


def test_a_user_id_swapped_into_signed_data_is_refused() -> None:
    data = signed()
    forged = data.replace("%22id%22%3A+3001", "%22id%22%3A+2001")
    assert forged != data
    with pytest.raises(DomainError):
        init_data_user(forged, TOKEN, NOW)


@pytest.fixture
def store() -> FakeUnitOfWorkFactory:
    db = FakeStore()
    db.add_person("S01", "王督学", "responsible", SUP1)
    db.add_person("S02", "李督学", "responsible", SUP2)
    db.add_person("ST1", "陈老师", "staff", STAFF)
    db.districts["D01"] = ("城关镇", None)
    db.schools["SCH01"] = Entity("城关第一小学", "D01", "S01")
    db.schools["SCH02"] = Entity("实验小学", "D01", "S02")
    return FakeUnitOfWorkFactory(db)


async def test_a_link_is_stored_hashed_and_works_once_within_its_minutes(
        store: FakeUnitOfWorkFactory) -> None:
    clock = FakeClock(NOW)
    logins = WebLoginService(store, clock, TOKEN)
    token, expires = await logins.issue(STAFF)
    assert expires == NOW + timedelta(minutes=10)
    assert token not in store.store.web_logins and hash_token(token) in store.store.web_logins
    user = await logins.redeem(token)
    assert (user.code, user.role, user.is_staff) == ("ST1", "staff", True)
    with pytest.raises(DomainError, match=r"web.error.link_invalid"):
        await logins.redeem(token)
    late, _ = await logins.issue(SUP1)
    clock.advance(minutes=10, seconds=1)
    with pytest.raises(DomainError, match=r"web.error.link_invalid"):
        await logins.redeem(late)
    with pytest.raises(DomainError, match=r"web.error.link_invalid"):
        await logins.redeem("not-a-token")
    clock.advance(days=1, minutes=1)
    await logins.issue(STAFF)  # links expired over a day ago are forgotten
    assert len(store.store.web_logins) == 1


async def test_parents_get_no_link_and_an_unbound_person_cannot_use_one(
        store: FakeUnitOfWorkFactory) -> None:
    logins = WebLoginService(store, FakeClock(NOW), TOKEN)
    with pytest.raises(DomainError, match=r"web.error.not_bound"):
        await logins.issue(PARENT)
    assert store.store.web_logins == {}
    token, _ = await logins.issue(SUP2)
    person = store.store.people["S02"]
    store.store.people["S02"] = type(person)(person.id, person.code, person.name, person.role,
                                             None)
    with pytest.raises(DomainError, match=r"web.error.not_bound"):
        await logins.redeem(token)
    with pytest.raises(DomainError, match=r"web.error.not_bound"):
        await logins.from_init_data(signed(SUP2))


def _console(store: FakeUnitOfWorkFactory, clock: FakeClock) -> tuple[ConsoleService,
                                                                      FilingService,
                                                                      SupervisionService]:
    tz = ZoneInfo("UTC")
    cases = CaseService(store, clock)
    office = OfficeService(store, clock, cases, OfficeRules(tz=tz))
    supervision = SupervisionService(store, clock, cases, SupervisionRules(tz=tz))
    console = ConsoleService(store, clock, cases, office, supervision,
                             TriageService(store, cases), tz)
    return console, FilingService(cases, Rules(tips_per_hour=100, threshold=0.6)), supervision


async def test_a_supervisor_lists_only_their_cases_whatever_the_filter_says(
        store: FakeUnitOfWorkFactory) -> None:
    clock = FakeClock(NOW)
    console, filing, _ = _console(store, clock)
    logins = WebLoginService(store, clock, TOKEN)
    mine = await filing.file_tip(TipInput(text="作业多，电话13912345678", reporter_user_id=PARENT,
                                          category="homework_burden", confidence=0.9,
                                          school_code="SCH01"))
    other = await filing.file_tip(TipInput(text="实验小学补课", reporter_user_id=PARENT,
                                           category="homework_burden", confidence=0.9,
                                           school_code="SCH02"))
    sup = await logins.user(SUP1)
    page = await console.queue(sup, QueueFilters(supervisor="S02"))
    assert [c.reference for c in page.cases] == [mine.reference]
    staff = await logins.user(STAFF)
    everything = await console.queue(staff, QueueFilters())
    assert [c.reference for c in everything.cases] == [other.reference, mine.reference]
    assert [c.reference for c in (await console.queue(staff, QueueFilters(
        supervisor="S02"))).cases] == [other.reference]
    assert (await console.queue(staff, QueueFilters(text=mine.reference.lower()))).cases[0] \
        .reference == mine.reference
    first = await console.queue(staff, QueueFilters(), limit=1)
    assert first.next_before is not None
    rest = await console.queue(staff, QueueFilters(before=first.next_before), limit=1)
    assert [c.reference for c in rest.cases] == [mine.reference] and rest.next_before is None
    view = await console.case(sup, mine.reference)
    assert "13912345678" not in view.text and view.reporter is None
    with pytest.raises(DomainError, match=r"case.error.not_found"):
        await console.case(sup, other.reference)


async def test_actions_through_the_console_record_the_web_channel(
        store: FakeUnitOfWorkFactory) -> None:
    clock = FakeClock(NOW)
    _, filing, supervision = _console(store, clock)
    filed = await filing.file_tip(TipInput(text="作业多", reporter_user_id=PARENT,
                                           category="homework_burden", confidence=0.9,
                                           school_code="SCH01"))
    CHANNEL.set("web")
    try:
        await supervision.accept(SUP1, filed.reference)
    finally:
        CHANNEL.set("telegram")
    case = store.store.cases[filed.reference]
    assert case.status is Status.ACCEPTED
    assert case.events[-1].data["channel"] == "web"
    assert all(e.data.get("channel") != "web" for e in case.events[:-1])
