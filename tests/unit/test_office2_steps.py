"""不予受理 at triage, and every step of a case its parent hears about (bot/notices.py)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from bot.domain import Actor, CaseAction, Disposition, DomainError, Rating, Role, Status
from bot.notices import parent_notice
from handlers.telegram.views import case_list, parent_case, render_outbox
from tests.support.fakes import Sent
from tests.support.office2 import (
    NOW,
    OTHER_PARENT,
    PARENT,
    STAFF,
    SUP1,
    TZ,
    World,
    make_world,
    rectifying,
    tip,
)


@pytest.fixture
def world() -> World:
    return make_world()


def told(world: World, chat: int) -> list[Sent]:
    """What a chat was told about its case's steps (the filing's own reference row aside)."""
    return [sent for sent in world.db.sent_to(chat) if sent.kind != "filed"]


def rendered(world: World, chat: int) -> list[str]:
    """The texts a chat was sent about its case's steps, as Telegram would show them."""
    out = []
    for sent in told(world, chat):
        row = SimpleNamespace(id=1, text="", markup=None, notice=sent.notice.to_json())
        out.append(render_outbox(row)[0])  # type: ignore[arg-type]
    return out


# --- 不予受理 -------------------------------------------------------------------------------
async def test_staff_decline_an_emoji_tip_and_the_parent_hears_the_reason(world: World) -> None:
    filed = await world.filing.file_tip(tip(text="😡😡😡", category="other", confidence=0.2,
                                            school_code=None))
    assert filed.status is Status.TRIAGE
    staff = Actor(Role.STAFF, person_code="ST1")
    assert CaseAction.DECLINE in world.db.cases[filed.reference].next_actions(staff)
    case = await world.triage.decline(STAFF, filed.reference, "内容为空，无法核查")
    assert (case.status, case.disposition) == (Status.CLOSED, Disposition.DECLINED)
    event = case.events[-1]
    assert (event.action, event.actor, event.comment) == ("declined", "ST1", "内容为空，无法核查")
    [text] = rendered(world, PARENT)
    assert "不予受理" in text and "内容为空，无法核查" in text
    # The parent may still rate it; dissatisfied, the tip goes back to triage.
    assert case.next_actions(Actor(Role.PARENT, user_id=PARENT)) == (CaseAction.RATE,)


async def test_decline_needs_staff_a_reason_and_a_tip_in_triage(world: World) -> None:
    triage = await world.filing.file_tip(tip(confidence=0.2))
    routed = await world.filing.file_tip(tip())
    with pytest.raises(DomainError) as err:
        await world.triage.decline(STAFF, triage.reference, "  ")
    assert err.value.key == "case.error.comment_required"
    with pytest.raises(DomainError) as err:
        await world.triage.decline(SUP1, triage.reference, "无关")
    assert err.value.key == "case.error.staff_only"
    with pytest.raises(DomainError) as err:
        await world.triage.decline(STAFF, routed.reference, "无关")
    assert err.value.key == "case.error.wrong_status"
    assert world.db.cases[triage.reference].status is Status.TRIAGE
    assert told(world, PARENT) == []


async def test_a_declined_tip_reopened_by_a_dissatisfied_parent_returns_to_triage(
        world: World) -> None:
    filed = await world.filing.file_tip(tip(confidence=0.2))
    await world.triage.decline(STAFF, filed.reference, "与双减无关")
    parent = Actor(Role.PARENT, user_id=PARENT)
    await world.cases.perform(PARENT, filed.reference,
                              lambda c, a, now: c.rate(a, Rating.DISSATISFIED, now))
    case = await world.cases.perform(PARENT, filed.reference,
                                     lambda c, a, now: c.reopen(a, "确有其事", now))
    assert case.status is Status.TRIAGE and case.disposition is None
    assert case.next_actions(parent) == (CaseAction.ADD_INFO,)


# --- what the parent hears ------------------------------------------------------------------
async def test_the_parent_hears_assignment_after_triage_and_a_hand_back(world: World) -> None:
    filed = await world.filing.file_tip(tip(confidence=0.2))
    await world.triage.triage(STAFF, filed.reference, "homework_burden", "S01")
    await world.supervision.hand_back(SUP1, filed.reference, "内部：不是我片区，别告诉家长")
    kinds = [m.kind for m in told(world, PARENT)]
    assert kinds == ["assigned", "handed_back"]
    texts = rendered(world, PARENT)
    assert "交督学办理" in texts[0]
    assert "重新安排" in texts[1] and "别告诉家长" not in texts[1]


async def test_the_parent_hears_rectification_steps_with_their_dates(world: World) -> None:
    deadline = NOW.date() + timedelta(days=15)
    reference = await rectifying(world, deadline, note="作业公示不到位，联系13812345678")
    await world.cases.perform(SUP1, reference, lambda c, a, now: c.request_extension(
        a, deadline + timedelta(days=7), "内部：校长出差", now))
    await world.office.grant_extension(STAFF, reference)
    await world.supervision.report_rectified(SUP1, reference, "已公示")
    new = NOW.date() + timedelta(days=30)
    await world.office.verify_failed(STAFF, reference, new, "内部：公示栏仍是旧内容")
    await world.supervision.report_rectified(SUP1, reference, "已重新公示")
    await world.office.verify_passed(STAFF, reference)
    kinds = [m.kind for m in told(world, PARENT)]
    assert kinds == ["accepted", "approved", "deadline_extended", "rectification_reported",
                     "verification_failed", "rectification_reported", "verified"]
    texts = rendered(world, PARENT)
    assert deadline.isoformat() in texts[1] and "作业公示不到位" in texts[1]
    assert "13812345678" not in "".join(texts)  # personal data in findings is masked
    assert (deadline + timedelta(days=7)).isoformat() in texts[2]
    assert new.isoformat() in texts[4]
    assert "属实限期整改" in texts[6] and "整改到位" in texts[6] and "评价" in texts[6]
    assert not any("内部" in text for text in texts)  # internal notes stay internal
    heard = [text for text in rendered(world, SUP1)
             if "延期申请已获批准" in text or "复查未通过" in text]
    assert (deadline + timedelta(days=7)).isoformat() in heard[0] and new.isoformat() in heard[1]


async def test_the_outcome_carries_the_findings_and_the_department(world: World) -> None:
    fixed = await world.filing.file_tip(tip())
    await world.supervision.accept(SUP1, fixed.reference)
    await world.supervision.propose(SUP1, fixed.reference, Disposition.FIXED,
                                    note="学校已调整作业量")
    await world.office.approve(STAFF, fixed.reference)
    moved = await world.filing.file_tip(tip(user=OTHER_PARENT))
    await world.supervision.accept(SUP1, moved.reference)
    await world.supervision.propose(SUP1, moved.reference, Disposition.TRANSFERRED,
                                    transfer_to="市场监管局")
    await world.office.approve(STAFF, moved.reference)
    [*_, fixed_text] = rendered(world, PARENT)
    assert "属实已整改" in fixed_text and "学校已调整作业量" in fixed_text
    [*_, moved_text] = rendered(world, OTHER_PARENT)
    assert "转办" in moved_text and "市场监管局" in moved_text


async def test_a_followers_parent_hears_the_outcome_under_their_own_reference(
        world: World) -> None:
    target = await world.filing.file_tip(tip(confidence=0.2, text="一小作业太多"))
    source = await world.filing.file_tip(tip(user=OTHER_PARENT, confidence=0.2,
                                             text="一小作业太多了"))
    from bot.merging import MergingService

    await MergingService(world.uow, world.clock).merge(STAFF, source.reference,
                                                       target.reference)
    await world.triage.decline(STAFF, target.reference, "已由教育局另案处理")
    [*_, text] = rendered(world, OTHER_PARENT)
    assert source.reference in text and target.reference not in text
    assert "已由教育局另案处理" in text


def test_a_step_the_parent_does_not_hear_makes_no_notice(world: World) -> None:
    case = world.db.cases.get("none")
    assert case is None
    from bot.domain import Case

    filed = Case.file(reference="SJ-2026-000001", text="作业多", category="homework_burden",
                      confidence=0.9, reporter_user_id=PARENT, now=NOW)
    assert parent_notice(filed, "proposed", "") is None
    assert parent_notice(filed, "supervised", "") is None


# --- /mycases shows the pending question ----------------------------------------------------
async def test_mycases_shows_the_supervisors_question_itself(world: World) -> None:
    filed = await world.filing.file_tip(tip())
    await world.supervision.accept(SUP1, filed.reference)
    await world.supervision.ask_parent(SUP1, filed.reference, "请问是几年级几班？<b>")
    case = world.db.cases[filed.reference]
    text, _ = case_list([case])
    assert "请问是几年级几班？&lt;b&gt;" in text
    detail, _ = parent_case(case, TZ)
    assert "请问是几年级几班？" in detail
    await world.cases.perform(PARENT, filed.reference,
                              lambda c, a, now: c.add_information(a, "三年级二班", now))
    text, _ = case_list([world.db.cases[filed.reference]])
    assert "请问是几年级几班" not in text


# --- exports and reports show 不予受理 -------------------------------------------------------
def test_exports_and_reports_show_a_declined_tip() -> None:
    from datetime import UTC, datetime

    from bot.export import ExportRow
    from bot.reports import build_report, half_month, summary_text

    row = ExportRow("SJ-2026-000001", datetime(2026, 12, 2, tzinfo=UTC), "other", "", "",
                    Status.CLOSED, Disposition.DECLINED, "", None, None, None,
                    datetime(2026, 12, 2, tzinfo=UTC), None, None, None)
    assert "不予受理" in row.values()
    report = build_report(half_month(NOW.date()), [row], (0, 0))
    assert report.declined == 1
    assert "其中不予受理 1 件" in summary_text(report)


async def test_an_extension_request_lapses_when_the_rectification_moves_on(
        world: World) -> None:
    deadline = NOW.date() + timedelta(days=15)
    reference = await rectifying(world, deadline)
    await world.cases.perform(SUP1, reference, lambda c, a, now: c.request_extension(
        a, deadline + timedelta(days=7), "学校需要时间", now))
    await world.supervision.report_rectified(SUP1, reference, "已整改")
    new = NOW.date() + timedelta(days=7)
    await world.office.verify_failed(STAFF, reference, new, "公示栏仍是旧内容")
    assert await world.office.extension_requests(STAFF) == []
    with pytest.raises(DomainError):  # the old request cannot undo the new deadline
        await world.office.grant_extension(STAFF, reference)
    async with world.uow.read() as uow:
        case = await uow.cases.get(reference)
    assert case is not None and case.rectify_deadline == new
    assert CaseAction.REQUEST_EXTENSION in case.next_actions(Actor(Role.SUPERVISOR, "S01"))
