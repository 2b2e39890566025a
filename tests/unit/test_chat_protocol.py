"""The chat protocol: callback data round trips and refuses garbage; the buttons a case
offers each role come from the domain's next actions, the same in notices and in /cases."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from bot.domain import Actor, Case, CaseAction, Disposition, Rating, Role, Status
from bot.notices import parent_notice, staff_notice, supervisor_notice
from bot.ports import Notice
from handlers.telegram import keyboards, views, views_office, views_supervisor
from handlers.telegram import protocol as p
from storage.models import OutboxRow

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
REF = "SJ-2026-000001"
PARENT = Actor(Role.PARENT, user_id=7)
SUPERVISOR = Actor(Role.SUPERVISOR, person_code="DX01")
STAFF = Actor(Role.STAFF, person_code="DDS01")


@pytest.mark.parametrize("button", [
    p.DraftButton(p.DraftChoice.ANONYMOUS), p.EntityPick(3), p.ShowCase(REF),
    p.Rate(REF, Rating.BASICALLY_SATISFIED), p.RateNow(REF, Rating.DISSATISFIED),
    p.SupervisorCase(p.SvStep.ACCEPT, REF), p.PickDisposition(REF, Disposition.RECTIFY),
    p.PickDeadline(REF, 20), p.SkipAnswer(), p.VisitDate("QX-S001", date(2026, 11, 2)),
    p.OfficeCase(p.OfficeStep.APPROVE, REF), p.ShowQueue(p.Queue.TRIAGE),
    p.TriageAssign(REF, 5, "DX01"), p.MergeConfirmed(REF, "SJ-2026-000002"),
    p.ReportPick(p.ReportKind.QUARTER, True),
])
def test_every_family_round_trips_and_only_its_own_family_reads_it(button: p.CallbackData,
                                                                    ) -> None:
    data = button.pack()
    assert len(data.encode()) <= p.MAX_BYTES
    assert type(button).parse(data) == button and type(button).pattern().match(data)
    families = (*p.DRAFT_FAMILIES, *p.PARENT_FAMILIES, *p.SUPERVISOR_FAMILIES,
                *p.OFFICE_FAMILIES)
    assert [f for f in families if f.parse(data) is not None] == [type(button)]


def test_data_keeps_the_short_prefixes() -> None:
    assert p.SupervisorCase(p.SvStep.ACCEPT, REF).pack() == f"s:acc:{REF}"
    assert p.Rate(REF, Rating.SATISFIED).pack() == f"c:rate:{REF}:satisfied"
    assert p.VisitDate("S1", date(2026, 1, 5)).pack() == "s:vd:S1:20260105"
    assert p.ReportPick(p.ReportKind.HALF, False).pack() == "o:rep:half:0"


@pytest.mark.parametrize("data", [
    None, "", "c:rate", f"c:rate:{REF}", f"c:rate:{REF}:great", f"c:rate:{REF}:satisfied:x",
    "s:pdl:REF:abc", "s:pdl:REF:-1", "s:vd:S1:20261399", "s:bogus:REF", "s:acc:", "o:",
    "o:zz:1", "o:ta:REF:x:DX01", "o:rep:half:2", "d:ent:type", "\x00:\u202e", "s:acc:a:b",
    "c:show:" + "é" * 200, "s:pdl:REF:١٢", f"c:show:{REF}\n",
])
def test_garbage_parses_to_none_without_raising(data: str | None) -> None:
    families = (*p.DRAFT_FAMILIES, *p.PARENT_FAMILIES, *p.SUPERVISOR_FAMILIES,
                *p.OFFICE_FAMILIES)
    assert all(f.parse(data) is None for f in families)


def test_pack_refuses_what_cannot_be_carried() -> None:
    with pytest.raises(ValueError, match="64"):
        p.TriageAssign(REF, 1, "X" * 60).pack()
    with pytest.raises(ValueError):
        p.ShowCase("A:B").pack()
    with pytest.raises(ValueError):
        p.ShowCase("").pack()
    assert keyboards.button("x", p.TriageAssign(REF, 1, "X" * 60)) is None  # dropped, logged


def case_in(status: Status, **fields: object) -> Case:
    case = Case.file(reference=REF, text="作业太多", category="homework_burden",
                     confidence=0.9, reporter_user_id=7, now=NOW)
    case.status = status
    case.assignee_code = "DX01"
    for name, value in fields.items():
        setattr(case, name, value)
    return case


def with_pending_extension(case: Case) -> Case:
    case.rectify_deadline = date(2026, 12, 1)
    case.request_extension(SUPERVISOR, date(2026, 12, 10), "学校需要更多时间", NOW)
    return case


def test_next_actions_per_role_and_state() -> None:
    A = CaseAction
    assert case_in(Status.ASSIGNED).next_actions(SUPERVISOR) == (A.ACCEPT, A.HAND_BACK)
    assert case_in(Status.ACCEPTED).next_actions(SUPERVISOR) == (A.PROPOSE, A.ASK,
                                                                 A.HAND_BACK)
    assert case_in(Status.RECTIFYING).next_actions(SUPERVISOR) == (A.REPORT_DONE,
                                                                   A.REQUEST_EXTENSION)
    pending = with_pending_extension(case_in(Status.RECTIFYING))
    assert pending.next_actions(SUPERVISOR) == (A.REPORT_DONE,)
    assert pending.next_actions(STAFF) == (A.GRANT_EXTENSION, A.REFUSE_EXTENSION, A.SUPERVISE)
    assert case_in(Status.ASSIGNED).next_actions(Actor(Role.SUPERVISOR, person_code="DX02")) == ()
    assert case_in(Status.AWAITING_INFO).next_actions(PARENT) == (A.ANSWER,)
    assert case_in(Status.ACCEPTED).next_actions(PARENT) == (A.ADD_INFO,)
    assert case_in(Status.CLOSED).next_actions(PARENT) == (A.RATE,)
    assert case_in(Status.CLOSED).next_actions(Actor(Role.PARENT, user_id=8)) == ()
    assert case_in(Status.CLOSED, rating=Rating.DISSATISFIED).next_actions(PARENT) == (A.REOPEN,)
    assert case_in(Status.CLOSED, rating=Rating.DISSATISFIED,
                   reopen_count=1).next_actions(PARENT) == ()
    assert case_in(Status.CLOSED, merged_into="SJ-2026-000009").next_actions(PARENT) == ()
    assert case_in(Status.TRIAGE).next_actions(STAFF) == (A.TRIAGE, A.DECLINE)
    assert case_in(Status.PROPOSED).next_actions(STAFF) == (A.APPROVE, A.REJECT, A.SUPERVISE)
    assert case_in(Status.RECTIFICATION_REPORTED).next_actions(STAFF) == (A.VERIFY_PASS,
                                                                          A.VERIFY_FAIL)
    assert case_in(Status.PROPOSED).next_actions(SUPERVISOR) == ()


def data_of(markup: object) -> list[str]:
    if markup is None:
        return []
    return [b.callback_data for row in markup.inline_keyboard for b in row]  # type: ignore[attr-defined]


def test_supervisor_buttons_are_the_same_in_notices_and_in_the_case_view() -> None:
    """The fixed copies: an accepted case offers hand back; a rectifying case with an
    extension pending offers no second extension."""
    accepted = case_in(Status.ACCEPTED)
    notice = keyboards.supervisor_keyboard(REF, accepted.next_actions(SUPERVISOR),
                                           with_open=True)
    assert data_of(notice) == [f"s:prop:{REF}", f"s:ask:{REF}", f"s:back:{REF}",
                               f"s:open:{REF}"]
    assert data_of(views_supervisor.actions(accepted)) == data_of(notice)[:-1]
    pending = with_pending_extension(case_in(Status.RECTIFYING))
    notice = keyboards.supervisor_keyboard(REF, pending.next_actions(SUPERVISOR),
                                           with_open=True)
    assert data_of(notice) == [f"s:done:{REF}", f"s:open:{REF}"]
    assert data_of(views_supervisor.actions(pending)) == [f"s:done:{REF}"]


def test_parent_and_staff_views_follow_next_actions() -> None:
    closed = case_in(Status.CLOSED, disposition=Disposition.FIXED)
    _, markup = views.parent_case(closed, UTC)
    assert data_of(markup) == [f"c:rate:{REF}:{r.value}" for r in Rating]
    _, markup = views.parent_case(case_in(Status.AWAITING_INFO), UTC)
    assert data_of(markup) == [f"c:info:{REF}"] and "回复督学" in str(markup)
    pending = with_pending_extension(case_in(Status.RECTIFYING))
    assert data_of(views_office.actions(pending)) == [f"o:xok:{REF}", f"o:xno:{REF}",
                                                     f"o:sup:{REF}", f"o:hist:{REF}"]


def rendered(notice: Notice) -> tuple[str, object]:
    """A notice through the outbox's JSON and the delivery's renderer."""
    row = OutboxRow(chat_id=1, kind="k", text="", notice=json.loads(json.dumps(
        notice.to_json())))
    return views.render_outbox(row)


def test_supervisor_notices_offer_what_the_case_view_offers() -> None:
    accepted = case_in(Status.ACCEPTED)
    accepted.text = "请联系13812345678 <b>紧急</b> & 尽快"
    text, markup = rendered(supervisor_notice(accepted, "proposal_rejected", "再核实<一下>"))
    assert data_of(markup) == [f"s:prop:{REF}", f"s:ask:{REF}", f"s:back:{REF}",
                               f"s:open:{REF}"]
    assert "再核实&lt;一下&gt;" in text
    pending = with_pending_extension(case_in(Status.RECTIFYING))
    _, markup = rendered(supervisor_notice(pending, "verification_failed", ""))
    assert data_of(markup) == [f"s:done:{REF}", f"s:open:{REF}"]


def test_notices_translate_ids_and_escape_everything_else() -> None:
    case = case_in(Status.ASSIGNED)
    case.text = "请联系13812345678 <b>紧急</b> & 尽快"
    text, _ = rendered(supervisor_notice(case, "routed", ""))
    assert "作业负担" in text and "homework_burden" not in text
    assert "&lt;b&gt;紧急&lt;/b&gt; &amp; 尽快" in text and "13812345678" not in text
    closed = case_in(Status.CLOSED, disposition=Disposition.FIXED)
    text, markup = rendered(parent_notice(closed, "verified", ""))  # type: ignore[arg-type]
    assert "属实已整改" in text
    assert data_of(markup) == [f"c:rate:{REF}:{r.value}" for r in Rating]
    text, markup = rendered(staff_notice("notify.staff.handed_back", REF, comment="<不归我>"))
    assert "&lt;不归我&gt;" in text and data_of(markup) == [f"o:open:{REF}"]
