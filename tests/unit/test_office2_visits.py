"""Institution visits (联系督导), their reminders and coverage; staff night alerts; the
week a hotspot list belongs to."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain import DomainError
from bot.hotspots import HotspotRules, week_start
from bot.messages import t
from tests.support.office2 import NOW, STAFF, SUP1, TUTOR, World, make_world


@pytest.fixture
def world() -> World:
    return make_world()


async def test_a_liaison_supervisor_logs_a_visit_to_their_institution(world: World) -> None:
    assert await world.supervision.institutions(TUTOR) == [("INS01", "启明星培训"),
                                                         ("INS02", "小太阳托管")]
    logged = await world.supervision.log_visit(TUTOR, "INS01", NOW.date(), "查看收费公示",
                                               "photo-1", institution=True)
    assert logged.institution and logged.school_name == "启明星培训" and logged.with_photo
    cov = logged.coverage
    assert cov.institutions_visited == [("INS01", "启明星培训")]
    assert cov.institutions_unvisited == [("INS02", "小太阳托管")]
    assert world.db.institution_visits == [("T01", "INS01", NOW.date())]
    with pytest.raises(DomainError) as err:  # not theirs
        await world.supervision.log_visit(SUP1, "INS01", NOW.date(), "", institution=True)
    assert err.value.key == "sv.error.not_your_institution"
    with pytest.raises(DomainError) as err:  # the school flow does not take an institution
        await world.supervision.log_visit(TUTOR, "INS01", NOW.date(), "")
    assert err.value.key == "sv.error.not_your_school"
    with pytest.raises(DomainError) as err:
        await world.supervision.log_visit(TUTOR, "INS02", NOW.date() + timedelta(days=1), "",
                                          institution=True)
    assert err.value.key == "sv.error.bad_visit_date"
    assert len(world.db.institution_visits) == 1


async def test_the_monthly_reminder_lists_unvisited_institutions(world: World) -> None:
    await world.supervision.log_visit(TUTOR, "INS01", NOW.date(), "", institution=True)
    world.clock.at = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    run = await world.reminders.run()
    assert run.visit_reminders == 3  # 王督学, 李督学 (schools) and 赵督学 (institutions)
    [tutor] = world.db.sent_to(TUTOR)
    assert tutor.notice.key == "reminder.visit.institutions"
    assert tutor.notice.params["institutions"] == "小太阳托管"
    [school] = world.db.sent_to(SUP1)
    assert school.notice.key == "reminder.visit" and school.notice.more == ()
    assert (await world.reminders.run()).visit_reminders == 0  # once per reminder day


async def test_the_coverage_to_staff_counts_institutions(world: World) -> None:
    await world.supervision.log_visit(TUTOR, "INS01", NOW.date(), "", institution=True)
    await world.supervision.log_visit(SUP1, "SCH01", NOW.date(), "")
    world.clock.at = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    await world.reminders.run()
    [coverage] = [m for m in world.db.sent_to(STAFF) if m.kind == "coverage"]
    notice = coverage.notice
    assert notice.more == ("reminder.coverage.institutions",)
    line = t(notice.more[0], **notice.params)
    assert "1/2" in line and "50%" in line and "赵督学 1 个" in line


async def test_staff_switch_their_night_alerts(world: World) -> None:
    assert await world.office.night_alerts(STAFF) is False
    assert await world.office.set_night_alerts(STAFF, True) is True
    assert world.db.people["ST1"].night_pings is True
    assert await world.office.night_alerts(STAFF) is True
    await world.office.set_night_alerts(STAFF, False)
    assert world.db.people["ST1"].night_pings is False
    with pytest.raises(DomainError) as err:
        await world.office.set_night_alerts(SUP1, True)
    assert err.value.key == "case.error.staff_only"
    assert world.db.people["S01"].night_pings is False


@pytest.mark.parametrize(("now", "start"), [
    (datetime(2026, 11, 23, 9, 0), datetime(2026, 11, 23, 9, 0)),  # Monday 09:00: due
    (datetime(2026, 11, 23, 8, 59), datetime(2026, 11, 16, 9, 0)),  # just before: last week
    (datetime(2026, 11, 29, 23, 0), datetime(2026, 11, 23, 9, 0)),  # Sunday night
    (datetime(2026, 12, 1, 12, 0), datetime(2026, 11, 30, 9, 0)),  # Tuesday after
])
def test_the_week_a_hotspot_list_belongs_to(now: datetime, start: datetime) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    rules = HotspotRules(tz=tz)
    assert week_start(now.replace(tzinfo=tz), rules) == start.replace(tzinfo=tz)
    friday = HotspotRules(tz=tz, weekday=5, hour=16)
    assert week_start(datetime(2026, 11, 27, 16, 0, tzinfo=tz), friday).date() == date(
        2026, 11, 27)
