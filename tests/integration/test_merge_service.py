"""Merging duplicate cases on real databases (each test runs on SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.domain import Disposition, DomainError, Rating, Status
from bot.duplicates import find_duplicates
from bot.supervision import SupervisionRules, SupervisionService
from handlers.telegram import views
from storage.models import CaseEventRow, OutboxRow
from tests.support.outbox import shown
from tests.support.worlds import (
    PARENT,
    STAFF,
    SUP1,
    SUP2,
    TZ,
    World,
    count,
    get,
    tip,
    to_rectifying,
)

pytestmark = pytest.mark.postgres
PARENT2, PARENT3 = 1002, 1003
TEXT = "城关一小三年级作业太多，每天写到晚上十一点"
TEXT2 = "城关第一小学三年级二班作业每天要写到十一点，孩子睡不够，我电话13912345678"


@dataclass(frozen=True)
class Sent:
    kind: str
    text: str
    markup: dict[str, Any] | None


async def outbox(world: World, chat_id: int) -> list[Sent]:
    async with world.uow() as uow:
        rows = await uow.session.execute(
            select(OutboxRow).where(OutboxRow.chat_id == chat_id).order_by(OutboxRow.id))
        return [Sent(s.kind, s.text, s.markup) for s in map(shown, rows.scalars())]


async def merged_pair(world: World) -> tuple[str, str]:
    """Two parents' tips about the same problem at SCH01; the second merged into the first."""
    target = (await world.filing.file_tip(tip(text=TEXT))).reference
    source = (await world.filing.file_tip(tip(text=TEXT2, reporter_user_id=PARENT2))).reference
    await world.merging.merge(STAFF, source, target)
    return source, target


async def test_merge_closes_the_source_and_tells_its_parent_and_the_supervisor(
        world: World) -> None:
    target = (await world.filing.file_tip(tip(text=TEXT))).reference
    source = (await world.filing.file_tip(tip(text=TEXT2, reporter_user_id=PARENT2))).reference
    async with world.uow() as uow:
        case = await uow.cases.get(source)
        assert case is not None
        assert [d.reference for d in await find_duplicates(uow, case, 14)] == [target]

    merged, into = await world.merging.merge(STAFF, source, target)
    assert (merged.reference, into.reference) == (source, target)
    stored_source, stored_target = await get(world, source), await get(world, target)
    assert stored_source.status is Status.CLOSED and stored_source.merged_into == target
    assert stored_source.merged_into_status is Status.ASSIGNED
    assert stored_source.events[-1].action == "merged"
    assert stored_target.status is Status.ASSIGNED and stored_target.merged_into is None
    assert stored_target.events[-1].action == "merge_received"

    told = await outbox(world, PARENT2)
    assert told[-1].kind == "merged" and source in told[-1].text and "合并办理" in told[-1].text
    assert all(target not in row.text and "十一点" not in row.text for row in told)
    supervisor = (await outbox(world, SUP1))[-1]
    assert supervisor.kind == "merge_received" and source in supervisor.text
    assert target in supervisor.text and "139****5678" in supervisor.text  # masked phone
    assert "13912345678" not in supervisor.text
    async with world.uow() as uow:
        case = await uow.cases.get(target)
        assert case is not None
        assert await find_duplicates(uow, case, 14) == []  # the merged one is closed


async def test_followers_hear_the_targets_steps_under_their_own_reference(
        world: World) -> None:
    source, target = await merged_pair(world)
    third = (await world.filing.file_tip(tip(text=TEXT, reporter_user_id=PARENT3))).reference
    await world.merging.merge(STAFF, third, target)

    await to_rectifying(world, target, date(2026, 12, 20))
    for parent, reference in ((PARENT, target), (PARENT2, source), (PARENT3, third)):
        rows = await outbox(world, parent)
        accepted = [r for r in rows if r.kind == "accepted"]
        approved = [r for r in rows if r.kind == "approved"]
        assert len(accepted) == len(approved) == 1, parent
        assert reference in accepted[0].text and reference in approved[0].text
        assert "限期整改" in approved[0].text and "2026-12-20" in approved[0].text
        others = {target, source, third} - {reference}
        assert not any(o in r.text for r in rows for o in others)  # nothing about the rest
    assert (await get(world, source)).status is Status.CLOSED  # still waiting for the outcome
    assert (await get(world, source)).awaiting_merged_outcome


async def test_closing_the_target_closes_followers_and_each_parent_rates_their_own(
        world: World) -> None:
    source, target = await merged_pair(world)
    await world.cases.perform(SUP1, target, lambda c, a, now: c.accept(a, now))
    await world.cases.perform(SUP1, target, lambda c, a, now: c.propose(
        a, Disposition.FIXED, now, note="已约谈学校，作业量已调整"))
    with pytest.raises(DomainError) as early:
        await world.cases.perform(PARENT2, source, lambda c, a, now: c.rate(
            a, Rating.SATISFIED, now))
    assert early.value.key == "case.error.merged_pending"
    await world.office.approve(STAFF, target)

    follower = await get(world, source)
    assert follower.status is Status.CLOSED and follower.disposition is Disposition.FIXED
    assert follower.disposition_note == "已约谈学校，作业量已调整"
    assert follower.events[-1].action == "merged_case_closed"
    closed = [r for r in await outbox(world, PARENT2) if r.kind == "approved"]
    assert len(closed) == 1 and source in closed[0].text and "属实已整改" in closed[0].text
    assert closed[0].markup is not None
    buttons = [b[1] for row in closed[0].markup["buttons"] for b in row]
    assert buttons == [f"c:rate:{source}:{r}" for r in
                       ("satisfied", "basically_satisfied", "dissatisfied")]

    # Each parent rates their own case, and only their own.
    with pytest.raises(DomainError) as foreign:
        await world.cases.perform(PARENT2, target, lambda c, a, now: c.rate(
            a, Rating.SATISFIED, now))
    assert foreign.value.key == "case.error.not_found"
    await world.cases.perform(PARENT2, source, lambda c, a, now: c.rate(
        a, Rating.DISSATISFIED, now))
    await world.cases.perform(PARENT, target, lambda c, a, now: c.rate(
        a, Rating.SATISFIED, now))
    assert (await get(world, source)).rating is Rating.DISSATISFIED
    assert (await get(world, target)).rating is Rating.SATISFIED

    # The dissatisfied follower reopens their own case; it goes back to its supervisor apart.
    reopened = await world.cases.perform(PARENT2, source, lambda c, a, now: c.reopen(
        a, "没有改", now))
    assert reopened.status is Status.ASSIGNED and reopened.merged_into is None
    assert (await get(world, source)).merged_into is None
    assert (await get(world, target)).status is Status.CLOSED


async def test_a_rectification_verified_closes_followers_with_its_deadline(
        world: World) -> None:
    source, target = await merged_pair(world)
    await to_rectifying(world, target, date(2026, 12, 20))
    await world.cases.perform(SUP1, target, lambda c, a, now: c.report_rectified(
        a, "已整改", now))
    await world.office.verify_passed(STAFF, target)
    follower = await get(world, source)
    assert follower.disposition is Disposition.RECTIFY
    assert follower.rectify_deadline == date(2026, 12, 20)
    verified = [r for r in await outbox(world, PARENT2) if r.kind == "verified"]
    assert len(verified) == 1 and source in verified[0].text and "c:rate:" + source in str(
        verified[0].markup)


async def test_a_parent_never_sees_the_target(world: World) -> None:
    source, target = await merged_pair(world)
    with pytest.raises(DomainError) as refused:
        await world.cases.view(PARENT2, target)
    assert refused.value.key == "case.error.not_found"
    _, case = await world.cases.view(PARENT2, source)
    text, markup = views.parent_case(case, TZ)
    assert "已与其他家长反映的相同问题合并办理" in text and "督学已受理" not in text
    assert "已分派督学" in text  # the target's status, not its text or reference
    assert target not in text and "十一点" not in text.replace(TEXT2, "")
    assert markup is None  # no rating before the target closes, no adding to a closed case
    listed, _ = views.case_list(await world.cases.cases_of_reporter(PARENT2))
    assert f"{source} · 作业负担 · 合并办理中" in listed


async def test_forged_or_refused_merges_change_nothing(world: World) -> None:
    target = (await world.filing.file_tip(tip(text=TEXT))).reference
    source = (await world.filing.file_tip(tip(text=TEXT2, reporter_user_id=PARENT2))).reference
    events = await count(world, CaseEventRow)
    messages = await count(world, OutboxRow)
    attempts = [(SUP1, source, target, "case.error.staff_only"),
                (PARENT2, source, target, "case.error.staff_only"),
                (STAFF, source, source, "case.error.merge_self"),
                (STAFF, source, "SJ-2026-999999", "case.error.not_found"),
                (STAFF, "SJ-2026-999999", target, "case.error.not_found")]
    for user, a, b, key in attempts:
        for call in (world.merging.check_merge, world.merging.merge):
            with pytest.raises(DomainError) as refused:
                await call(user, a, b)
            assert refused.value.key == key, (user, a, b)
    assert await count(world, CaseEventRow) == events
    assert await count(world, OutboxRow) == messages

    await world.merging.merge(STAFF, source, target)
    events = await count(world, CaseEventRow)
    third = (await world.filing.file_tip(tip(text=TEXT, reporter_user_id=PARENT3))).reference
    events += 2  # filed and routed
    for a, b, key in ((source, target, "case.error.closed"),  # a double tap
                      (third, source, "case.error.merge_target_merged"),
                      (target, third, "case.error.merge_source_has_followers")):
        with pytest.raises(DomainError) as refused:
            await world.merging.merge(STAFF, a, b)
        assert refused.value.key == key
    assert await count(world, CaseEventRow) == events


async def test_two_opposite_merges_at_once_leave_one_merged(world: World) -> None:
    first = (await world.filing.file_tip(tip(text=TEXT))).reference
    second = (await world.filing.file_tip(tip(text=TEXT2, reporter_user_id=PARENT2))).reference
    results = await asyncio.gather(world.merging.merge(STAFF, first, second),
                                   world.merging.merge(STAFF, second, first),
                                   return_exceptions=True)
    assert sum(isinstance(r, DomainError) for r in results) == 1
    states = [(await get(world, r)) for r in (first, second)]
    assert sorted(c.status.value for c in states) == ["assigned", "closed"]
    assert sum(c.merged_into is not None for c in states) == 1


async def test_keeping_apart_removes_the_hint_on_both_cases(world: World) -> None:
    first = (await world.filing.file_tip(tip(text=TEXT))).reference
    second = (await world.filing.file_tip(tip(text=TEXT2, reporter_user_id=PARENT2))).reference
    assert [d.reference for d in (await world.office.detail(STAFF, first)).duplicates] == [
        second]
    with pytest.raises(DomainError):
        await world.merging.dismiss_duplicate(SUP1, first, second)
    await world.merging.dismiss_duplicate(STAFF, first, second)
    assert (await world.office.detail(STAFF, first)).duplicates == []
    assert (await world.office.detail(STAFF, second)).duplicates == []
    with pytest.raises(DomainError) as again:
        await world.merging.dismiss_duplicate(STAFF, second, first)
    assert again.value.key == "case.error.duplicate_already_dismissed"


async def test_the_supervisor_sees_likely_duplicates_of_their_case(world: World) -> None:
    first = (await world.filing.file_tip(tip(text=TEXT))).reference
    second = (await world.filing.file_tip(tip(text=TEXT2, reporter_user_id=PARENT2))).reference
    supervision = SupervisionService(world.cases.uow, world.clock, world.cases,
                                     SupervisionRules(tz=TZ, duplicate_window_days=14))
    assert (await supervision.detail(SUP1, first)).duplicates == (second,)
    with pytest.raises(DomainError):
        await supervision.detail(SUP2, first)  # not theirs
    world.clock.current += timedelta(hours=1)
    await world.merging.merge(STAFF, second, first)
    assert (await supervision.detail(SUP1, first)).duplicates == ()
