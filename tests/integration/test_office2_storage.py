"""Hotspot counts, institution visits and night alerts on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.hotspots import HotspotRules, HotspotService
from bot.office import OfficeRules, OfficeService
from bot.services import CaseService
from bot.supervision import SupervisionRules, SupervisionService
from bot.triage import TriageService
from storage.db import session_factory
from storage.models import District, Institution, OutboxRow, Person
from tests.support.clock import FakeClock
from tests.support.reminders import TZ, at
from tests.support.services import filing, tip

pytestmark = pytest.mark.postgres
STAFF = 3001


async def add_institution(engine: AsyncEngine) -> None:
    """INS01, visited by the tutoring supervisor T01 (bound as 2003 here)."""
    async with session_factory(engine)() as s:
        tutor = (await s.execute(select(Person).where(Person.code == "T01"))).scalar_one()
        tutor.telegram_user_id = 2003
        district = (await s.execute(select(District.id))).scalar_one()
        s.add(Institution(code="INS01", name="启明星培训", district_id=district,
                          supervisor_id=tutor.id))
        await s.commit()


async def file_tips(service: CaseService, clock: FakeClock) -> list[str]:
    """Tips over the month before Monday 2026-11-23 09:00 (Shanghai)."""
    file = filing(service)
    refs = []
    plan = [(2, "SCH01"), (5, "SCH01"), (9, "SCH01"), (3, "SCH02"), (40, "SCH02"),
            (40, "SCH02"), (40, "SCH02")]
    for days_ago, school in plan:
        clock.current = at(date(2026, 11, 23)) - timedelta(days=days_ago)
        refs.append((await file.file_tip(tip(school_code=school))).reference)
    for days_ago in (1, 2, 3):
        clock.current = at(date(2026, 11, 23)) - timedelta(days=days_ago)
        refs.append((await file.file_tip(tip(
            category="unlicensed_tutoring", school_code=None, institution_code="INS01",
            text="启明星培训违规补课"))).reference)
    return refs


async def hotspot_rows(engine: AsyncEngine) -> list[OutboxRow]:
    async with session_factory(engine)() as s:
        return list((await s.execute(select(OutboxRow).where(OutboxRow.kind == "hotspots")
                                     .order_by(OutboxRow.id))).scalars())


async def test_the_weekly_hotspots_reach_staff_once(
        services: tuple[CaseService, FakeClock, AsyncEngine]) -> None:
    service, clock, engine = services
    await add_institution(engine)
    refs = await file_tips(service, clock)
    # An eighth tip about SCH02 within the window, but junk closed as 不予受理: not counted.
    clock.current = at(date(2026, 11, 20))
    junk = (await filing(service).file_tip(tip(school_code="SCH02", confidence=0.1))).reference
    await TriageService(service.uow, service).decline(STAFF, junk, "内容与双减无关")
    rules = HotspotRules(tz=TZ, threshold=3)
    hotspots = HotspotService(service.uow, clock, rules)
    clock.current = at(date(2026, 11, 23), 8)  # before Monday 09:00: last week's is due
    assert await hotspots.run() == 1
    clock.current = at(date(2026, 11, 23), 9)
    second = HotspotService(service.uow, clock, rules)  # another instance, or a restart
    assert await asyncio.gather(hotspots.run(), second.run()) in ([1, 0], [0, 1])
    clock.current = at(date(2026, 11, 25), 15)
    assert await hotspots.run() == 0  # the rest of the week: nothing more
    [_, weekly] = await hotspot_rows(engine)
    assert weekly.chat_id == STAFF and weekly.dedup_key == "hotspots:2026-11-23:ST1"
    params = weekly.notice["params"]  # type: ignore[index]
    assert params["places"].split("\n") == ["school:SCH01", "institution:INS01",
                                           "district:D01"]
    assert "城关第一小学（3条）" in params["lines"] and "启明星培训（3条）" in params["lines"]
    assert "实验小学" not in params["lines"]  # 1 in the window (3 older), 1 declined
    assert "城关镇（7条）" in params["lines"]  # 3 + 1 + 3, the older and the junk not
    name, lines = await hotspots.tips_about(STAFF, "school", "SCH01")
    assert name == "城关第一小学" and [line.reference for line in lines] == refs[:3]
    from bot.domain import DomainError

    with pytest.raises(DomainError):
        await hotspots.tips_about(2001, "school", "SCH01")  # a supervisor, not staff
    with pytest.raises(DomainError):
        await hotspots.tips_about(STAFF, "school", "NOPE")


async def test_institution_visits_count_towards_coverage_and_reminders(
        services: tuple[CaseService, FakeClock, AsyncEngine]) -> None:
    service, clock, engine = services
    await add_institution(engine)
    supervision = SupervisionService(service.uow, clock, service, SupervisionRules(tz=TZ))
    assert await supervision.institutions(2003) == [("INS01", "启明星培训")]
    logged = await supervision.log_visit(2003, "INS01", date(2026, 11, 23), "查看收费公示",
                                         "photo-9", institution=True)
    assert logged.coverage.institutions_visited == [("INS01", "启明星培训")]
    async with service.uow.read() as uow:
        assert await uow.directory.supervised_institution_count() == 1
        assert await uow.directory.unvisited_institutions(date(2026, 11, 1),
                                                          date(2026, 12, 1)) == []
        assert await uow.directory.unvisited_institutions(date(2026, 12, 1),
                                                          date(2027, 1, 1)) == [
            ("INS01", "启明星培训", "T01")]
        assert await uow.directory.institutions_of("S01") == []


async def test_night_alerts_are_stored(
        services: tuple[CaseService, FakeClock, AsyncEngine]) -> None:
    service, clock, engine = services
    office = OfficeService(service.uow, clock, service, OfficeRules(tz=TZ))
    assert await office.set_night_alerts(STAFF, True) is True
    async with session_factory(engine)() as s:
        staff = (await s.execute(select(Person).where(Person.code == "ST1"))).scalar_one()
        assert staff.night_pings is True
    assert await office.night_alerts(STAFF) is True
    await office.set_night_alerts(STAFF, False)
    assert await office.night_alerts(STAFF) is False


