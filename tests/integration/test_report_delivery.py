"""When reports fall due, and that each is queued for each staff member once (SQLite and
PostgreSQL): a second run, a restarted process or a second instance queues nothing more."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from bot.report_delivery import ReportDelivery, due_on, due_periods, period_of_notice
from bot.reports import half_month, quarter
from tests.support.sql import Units
from tests.support.worlds import STAFF, STAFF2, TZ, World

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize(("day", "expected"), [
    (date(2026, 12, 14), []),
    (date(2026, 12, 15), [("half", date(2026, 12, 1))]),
    (date(2026, 12, 16), []),
    (date(2026, 12, 25), [("quarter", date(2026, 10, 1))]),
    (date(2026, 11, 25), []),
    (date(2026, 12, 31), [("half", date(2026, 12, 15))]),
    (date(2027, 2, 28), [("half", date(2027, 2, 15))]),
    (date(2026, 11, 30), [("half", date(2026, 11, 15))]),
])
def test_the_due_days_spec_names(day: date, expected: list[tuple[str, date]]) -> None:
    assert [(p.kind, p.start) for p in due_on(day)] == expected


def test_a_run_after_downtime_still_finds_what_fell_due() -> None:
    assert due_periods(date(2026, 12, 17)) == [half_month(date(2026, 12, 1))]
    assert due_periods(date(2026, 12, 19)) == []
    assert due_periods(date(2026, 12, 27)) == [quarter(date(2026, 12, 1))]
    assert due_periods(date(2027, 1, 2)) == [half_month(date(2026, 12, 15))]
    period = quarter(date(2026, 12, 1))
    assert period_of_notice({"kind": "quarter", "start": "2026-10-01"}) == period
    assert period_of_notice({"kind": "year", "start": "2026-10-01"}) is None
    assert period_of_notice({"kind": "half", "start": "not a date"}) is None


def delivery(world: World) -> ReportDelivery:
    return ReportDelivery(Units(world.engine), world.clock, world.reporting, TZ)


async def report_rows(world: World) -> list[tuple[int, str, str]]:
    async with world.uow() as uow:
        found = await uow.session.execute(text(
            "SELECT chat_id, kind, dedup_key FROM outbox WHERE kind LIKE 'report.%' "
            "ORDER BY chat_id, id"))
        return [(int(r[0]), str(r[1]), str(r[2])) for r in found.all()]


async def test_a_due_day_queues_the_report_once_per_staff_member(world: World) -> None:
    world.clock.current = datetime(2026, 12, 14, 2, 0, tzinfo=UTC)
    assert (await delivery(world).run()).queued == 0
    world.clock.current = datetime(2026, 12, 15, 2, 0, tzinfo=UTC)
    assert (await delivery(world).run()).queued == 2  # two bound staff members
    assert (await delivery(world).run()).queued == 0  # the job runs every minute
    restarted = delivery(world)  # a new process, or a second instance
    assert (await restarted.run()).queued == 0
    world.clock.current = datetime(2026, 12, 16, 2, 0, tzinfo=UTC)  # a day late: still once
    assert (await restarted.run()).queued == 0
    assert await report_rows(world) == [
        (STAFF, "report.half", "report:half:2026-12-01:ST1"),
        (STAFF2, "report.half", "report:half:2026-12-01:ST2")]
    world.clock.current = datetime(2026, 12, 25, 2, 0, tzinfo=UTC)
    assert (await delivery(world).run()).queued == 2
    keys = {row[2] for row in await report_rows(world) if row[1] == "report.quarter"}
    assert keys == {"report:quarter:2026-10-01:ST1", "report:quarter:2026-10-01:ST2"}


async def test_the_files_are_built_once_for_every_recipient(world: World) -> None:
    world.clock.current = datetime(2026, 12, 15, 2, 0, tzinfo=UTC)
    service = delivery(world)
    first = await service.files(half_month(date(2026, 12, 1)))
    assert await service.files(half_month(date(2026, 12, 1))) is first
    assert first.bulletin.startswith(b"PK") and first.workbook.startswith(b"PK")
