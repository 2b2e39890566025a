"""Office use cases on real databases (each test runs on SQLite and on PostgreSQL)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from bot.domain import Disposition, DomainError, Status
from bot.duplicates import find_duplicates
from bot.export import export_cases
from storage.models import (
    CaseEventRow,
    CorrectionRow,
    OutboxRow,
)
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


async def corrections(world: World) -> list[tuple[str, str]]:
    async with world.uow() as uow:
        return await uow.cases.corrections()


# --- who may ---------------------------------------------------------------------------
async def test_only_bound_staff_pass_the_gate(world: World) -> None:
    filed = await world.filing.file_tip(tip(category="other", confidence=0.3))
    for user in (PARENT, SUP1, 999_999):
        with pytest.raises(DomainError) as err:
            await world.office.queue(user, Status.TRIAGE)
        assert err.value.key == "case.error.staff_only"
        with pytest.raises(DomainError):
            await world.triage.triage(user, filed.reference, "homework_burden", "S01")
    assert [c.reference for c in await world.office.queue(STAFF, Status.TRIAGE)] == [
        filed.reference]
    assert (await get(world, filed.reference)).status is Status.TRIAGE


# --- triage ---------------------------------------------------------------------------
async def test_triage_correction_is_stored_and_supervisor_notified(world: World) -> None:
    filed = await world.filing.file_tip(tip(category="other", confidence=0.3))
    assert filed.status is Status.TRIAGE
    choices = await world.triage.supervisor_choices(STAFF, filed.reference, "homework_burden")
    assert choices[0].code == "S01" and choices[0].suggested
    assert {c.code for c in choices} == {"S01", "S02", "T01"}  # staff are never offered
    case, person = await world.triage.triage(STAFF, filed.reference, "homework_burden", "S01")
    assert person.name == "王督学"
    assert case.status is Status.ASSIGNED and case.category == "homework_burden"
    assert [e.action for e in case.events][-2:] == ["recategorised", "assigned"]
    async with world.uow() as uow:
        assert await uow.cases.corrections() == [(tip().text, "homework_burden")]
    # Corrections come from the audit trail; the old table is no longer written.
    assert await count(world, CorrectionRow) == 0
    event = case.events[-2]
    assert (event.actor, event.data) == ("ST1", {"old": "other", "new": "homework_burden"})
    assert await count(world, OutboxRow, OutboxRow.chat_id == SUP1,
                       OutboxRow.kind == "assigned") == 1


async def test_tutoring_category_suggests_the_liaison_first(world: World) -> None:
    filed = await world.filing.file_tip(tip(category="other", confidence=0.3, school_code=None,
                                           institution_code="INS01", text="启明星周末上数学课"))
    choices = await world.triage.supervisor_choices(STAFF, filed.reference,
                                                    "unlicensed_tutoring")
    assert [c.code for c in choices if c.suggested] == ["T01"]


async def test_triage_without_category_change_stores_no_correction(world: World) -> None:
    filed = await world.filing.file_tip(tip(confidence=0.3))
    await world.triage.triage(STAFF, filed.reference, "homework_burden", "S02")
    assert await corrections(world) == []
    assert (await get(world, filed.reference)).assignee_code == "S02"


async def test_triage_double_tap_and_bad_assignee_change_nothing(world: World) -> None:
    filed = await world.filing.file_tip(tip(category="other", confidence=0.3))
    with pytest.raises(DomainError) as err:
        await world.triage.triage(STAFF, filed.reference, "homework_burden", "ST2")  # staff
    assert err.value.key == "case.error.person_role"
    with pytest.raises(DomainError):
        await world.triage.triage(STAFF, filed.reference, "no_such_category", "S01")
    with pytest.raises(DomainError):
        await world.triage.triage(STAFF, filed.reference, "homework_burden", "NOBODY")
    assert len((await get(world, filed.reference)).events) == 2
    await world.triage.triage(STAFF, filed.reference, "homework_burden", "S01")
    with pytest.raises(DomainError) as err:
        await world.triage.triage(STAFF, filed.reference, "homework_burden", "S01")
    assert err.value.key == "office.error.already_assigned"
    assert len(await corrections(world)) == 1
    # Once each: the supervisor, and the parent who hears the case was handed to them.
    assert await count(world, OutboxRow, OutboxRow.kind == "assigned") == 2


async def test_triage_of_a_proposed_case_is_refused_without_a_half_correction(
        world: World) -> None:
    filed = await world.filing.file_tip(tip())
    await world.cases.perform(SUP1, filed.reference, lambda c, a, now: c.accept(a, now))
    await world.cases.perform(SUP1, filed.reference, lambda c, a, now: c.propose(
        a, Disposition.UNFOUNDED, now, note="查无此事"))
    with pytest.raises(DomainError) as err:
        await world.triage.triage(STAFF, filed.reference, "other", "S02")
    assert err.value.key == "case.error.wrong_status"
    case = await get(world, filed.reference)
    assert case.category == "homework_burden" and case.assignee_code == "S01"
    assert await corrections(world) == []


# --- approvals, verification, extensions, supervision ----------------------------------
async def test_approve_and_reject(world: World) -> None:
    first = await world.filing.file_tip(tip())
    second = await world.filing.file_tip(tip(text="实验小学课后服务强制收费", school_code="SCH02",
                                            category="after_school_service"))
    await world.cases.perform(SUP1, first.reference, lambda c, a, now: c.accept(a, now))
    await world.cases.perform(SUP1, first.reference, lambda c, a, now: c.propose(
        a, Disposition.UNFOUNDED, now, note="查无此事"))
    await world.cases.perform(SUP2, second.reference, lambda c, a, now: c.accept(a, now))
    await world.cases.perform(SUP2, second.reference, lambda c, a, now: c.propose(
        a, Disposition.FIXED, now, note="已退费"))
    assert {c.reference for c in await world.office.queue(STAFF, Status.PROPOSED)} == {
        first.reference, second.reference}
    closed = await world.office.approve(STAFF, first.reference)
    assert closed.status is Status.CLOSED and closed.closed_at is not None
    with pytest.raises(DomainError) as err:  # the double tap
        await world.office.approve(STAFF, first.reference)
    assert err.value.key == "case.error.wrong_status"
    with pytest.raises(DomainError) as err:
        await world.office.reject(STAFF, second.reference, "   ")
    assert err.value.key == "case.error.comment_required"
    back = await world.office.reject(STAFF, second.reference, "请补充退费凭证")
    assert back.status is Status.ACCEPTED and back.disposition is None
    assert back.events[-1].comment == "请补充退费凭证"
    assert await count(world, OutboxRow, OutboxRow.chat_id == SUP2,
                       OutboxRow.kind == "proposal_rejected") == 1
    assert await count(world, OutboxRow, OutboxRow.chat_id == PARENT,
                       OutboxRow.kind == "approved") == 1


async def test_verification_passed_and_failed(world: World) -> None:
    a = await world.filing.file_tip(tip())
    b = await world.filing.file_tip(tip(text="一小老师让家长批改作业"))
    for ref in (a.reference, b.reference):
        await to_rectifying(world, ref, date(2026, 12, 8))
        await world.cases.perform(SUP1, ref, lambda c, a_, now: c.report_rectified(
            a_, "已整改", now))
    assert len(await world.office.queue(STAFF, Status.RECTIFICATION_REPORTED)) == 2
    passed = await world.office.verify_passed(STAFF, a.reference)
    assert passed.status is Status.CLOSED
    choices = world.office.verify_fail_choices()
    assert [d for d, _ in choices] == [7, 15, 30]
    deadline = world.office.deadline_after(15)
    assert deadline == date(2026, 12, 8)
    with pytest.raises(DomainError):
        world.office.deadline_after(16)  # a forged period
    failed = await world.office.verify_failed(STAFF, b.reference, deadline, "作业量仍超标")
    assert failed.status is Status.RECTIFYING and failed.rectify_deadline == deadline
    assert failed.events[-1].action == "verification_failed"
    with pytest.raises(DomainError):
        await world.office.verify_failed(STAFF, b.reference, deadline, "again")


async def test_extension_granted_and_refused(world: World) -> None:
    a = await world.filing.file_tip(tip())
    b = await world.filing.file_tip(tip(text="一小老师让家长批改作业"))
    for ref in (a.reference, b.reference):
        await to_rectifying(world, ref, date(2026, 12, 8))
        await world.cases.perform(SUP1, ref, lambda c, a_, now: c.request_extension(
            a_, date(2026, 12, 20), "学校需要采购设备", now))
    assert {c.reference for c in await world.office.extension_requests(STAFF)} == {
        a.reference, b.reference}
    granted = await world.office.grant_extension(STAFF, a.reference)
    assert granted.rectify_deadline == date(2026, 12, 20) and granted.pending_extension is None
    with pytest.raises(DomainError) as err:
        await world.office.grant_extension(STAFF, a.reference)
    assert err.value.key == "case.error.no_pending_extension"
    with pytest.raises(DomainError):
        await world.office.refuse_extension(STAFF, b.reference, "")
    refused = await world.office.refuse_extension(STAFF, b.reference, "期限已足够")
    assert refused.rectify_deadline == date(2026, 12, 8)
    assert refused.events[-1].action == "extension_refused"
    assert [c.reference for c in await world.office.extension_requests(STAFF)] == []
    assert await count(world, OutboxRow, OutboxRow.chat_id == SUP1,
                       OutboxRow.kind == "extension_refused") == 1


async def test_overdue_lists_late_clocks_and_supervise_notifies(world: World) -> None:
    late = await world.filing.file_tip(tip())
    await to_rectifying(world, late.reference, date(2026, 11, 30))
    waiting = await world.filing.file_tip(tip(text="实验小学课后服务强制收费", school_code="SCH02",
                                             category="after_school_service"))
    assert await world.office.overdue(STAFF) == []
    world.clock.current += timedelta(days=10)  # 2026-12-03: deadline passed, accept clock too
    items = await world.office.overdue(STAFF)
    assert [(i.case.reference, i.clock) for i in items] == [
        (late.reference, "rectify"), (waiting.reference, "accept")]
    assert items[0].days == 3
    case = await world.office.supervise(STAFF, late.reference)
    assert case.supervised_at is not None and case.events[-1].action == "supervised"
    assert await count(world, OutboxRow, OutboxRow.chat_id == SUP1,
                       OutboxRow.kind == "supervised") == 1
    with pytest.raises(DomainError):
        await world.office.supervise(SUP1, late.reference)


async def test_unbind_releases_the_chat(world: World) -> None:
    person = await world.invites.unbind(STAFF, "S01")
    assert person.name == "王督学"
    async with world.uow() as uow:
        assert await uow.directory.person_by_user(SUP1) is None
    assert await count(world, OutboxRow, OutboxRow.chat_id == SUP1,
                       OutboxRow.kind == "unbound") == 1
    for code, key in (("S01", "office.error.not_bound"), ("ST1", "office.error.unbind_self"),
                      ("NOPE", "case.error.unknown_person")):
        with pytest.raises(DomainError) as err:
            await world.invites.unbind(STAFF, code)
        assert err.value.key == key
    with pytest.raises(DomainError):
        await world.invites.unbind(SUP2, "S02")


async def test_detail_shows_everything_with_duplicates(world: World) -> None:
    first = await world.filing.file_tip(tip(text="城关一小三年级作业太多，每天写到晚上十一点",
                                           anonymous=False, reporter_name="王芳",
                                           reporter_phone="13912345678"))
    world.clock.current += timedelta(days=2)
    second = await world.filing.file_tip(
        tip(text="城关第一小学三年级二班作业每天要写到十一点，孩子睡不够"))
    other = await world.filing.file_tip(tip(text="城关一小食堂饭菜质量差，孩子吃不饱"))
    detail = await world.office.detail(STAFF, second.reference)
    assert [d.reference for d in detail.duplicates] == [first.reference]
    assert detail.entity_name == "青溪县城关第一小学" and detail.district_name == "城关镇"
    assert detail.assignee_name == "王督学" and detail.guess == ("homework_burden", 0.95)
    named = await world.office.detail(STAFF, first.reference)
    assert named.case.reporter_phone == "13912345678"  # staff see the reporter
    assert other.reference not in [d.reference for d in named.duplicates]
    with pytest.raises(DomainError):
        await world.office.detail(SUP2, first.reference)


async def test_duplicates_respect_window_entity_and_open_status(world: World) -> None:
    text = "城关一小三年级作业太多，每天写到晚上十一点"
    old = await world.filing.file_tip(tip(text=text))
    world.clock.current += timedelta(days=20)  # outside the 14-day window
    recent = await world.filing.file_tip(tip(text=text))
    other_school = await world.filing.file_tip(tip(text=text, school_code="SCH02"))
    async with world.uow() as uow:
        case = await uow.cases.get(recent.reference)
        assert case is not None
        assert await find_duplicates(uow, case, 14) == []
        assert [d.reference for d in await find_duplicates(uow, case, 30)] == [old.reference]
    assert other_school.reference


# --- export ---------------------------------------------------------------------------
async def exported_world(world: World) -> tuple[str, str, str]:
    """Three cases: one closed on time and rated, one accepted late, one in triage."""
    on_time = await world.filing.file_tip(tip(anonymous=False, reporter_name="王芳"))
    await world.cases.perform(SUP1, on_time.reference, lambda c, a, now: c.accept(a, now))
    await world.cases.perform(SUP1, on_time.reference, lambda c, a, now: c.propose(
        a, Disposition.FIXED, now, note="已整改"))
    await world.office.approve(STAFF, on_time.reference)
    from bot.domain import Rating

    await world.cases.perform(PARENT, on_time.reference, lambda c, a, now: c.rate(
        a, Rating.SATISFIED, now))
    late = await world.filing.file_tip(tip(text="实验小学课后服务强制收费", school_code="SCH02",
                                          category="after_school_service"))
    world.clock.current += timedelta(days=3)  # Thursday: the 1-working-day clock ran out
    await world.cases.perform(SUP2, late.reference, lambda c, a, now: c.accept(a, now))
    triage = await world.filing.file_tip(tip(category="other", confidence=0.2, school_code=None,
                                            text="学校门口交通拥堵"))
    return on_time.reference, late.reference, triage.reference


async def test_export_xlsx_reads_back(world: World) -> None:
    on_time, late, triage = await exported_world(world)
    async with world.uow() as uow:
        data = await export_cases(uow.case_facts, date(2026, 11, 1), date(2026, 11, 30),
                                  "xlsx", tz=TZ, now=world.clock.now())
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None and sheet.freeze_panes == "A2"
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[0] == "案件编号" and sheet["A1"].font.bold
    by_ref = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert list(by_ref) == [on_time, late, triage]
    first = by_ref[on_time]
    assert first["提交时间"] == datetime(2026, 11, 23, 10, 0)  # a real date, Shanghai time
    assert first["类别"] == "作业负担" and first["学校/机构"] == "青溪县城关第一小学"
    assert first["区县/乡镇"] == "城关镇" and first["状态"] == "已办结"
    assert first["处理意见"] == "属实已整改" and first["承办督学"] == "王督学"
    assert first["按时受理"] == "是" and first["按时提出意见"] == "是"
    assert first["家长评价"] == "满意" and isinstance(first["办结时间"], datetime)
    assert first["受理期限"] == datetime(2026, 11, 24, 10, 0)
    assert by_ref[late]["按时受理"] == "否" and by_ref[late]["按时提出意见"] is None
    assert by_ref[triage]["状态"] == "督导室分办中" and by_ref[triage]["按时受理"] is None
    assert sheet.column_dimensions["D"].width >= 20


async def test_export_csv_has_bom_and_filters_by_local_day(world: World) -> None:
    on_time, late, triage = await exported_world(world)
    async with world.uow() as uow:
        data = await export_cases(uow.case_facts, date(2026, 11, 26), date(2026, 11, 26),
                                  "csv", tz=TZ, now=world.clock.now())
        empty = await export_cases(uow.case_facts, date(2026, 11, 24), date(2026, 11, 25),
                                   "csv", tz=TZ, now=world.clock.now())
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][0] == "案件编号" and [r[0] for r in rows[1:]] == [triage]
    assert rows[1][1] == "2026-11-26 10:00" and rows[1][2] == "其他"
    assert len(list(csv.reader(io.StringIO(empty.decode("utf-8-sig"))))) == 1
    assert on_time and late
    with pytest.raises(ValueError):
        async with world.uow() as uow:
            await export_cases(uow.case_facts, date(2026, 11, 30), date(2026, 11, 1), "csv")


async def test_audit_rows_are_appended_not_rewritten(world: World) -> None:
    filed = await world.filing.file_tip(tip(category="other", confidence=0.3))
    before = await count(world, CaseEventRow)
    await world.triage.triage(STAFF, filed.reference, "homework_burden", "S01")
    assert await count(world, CaseEventRow) == before + 2
