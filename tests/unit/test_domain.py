"""The case domain: allowed and forbidden transitions, permissions, routing, references."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.domain import (
    Actor,
    Case,
    Disposition,
    DomainError,
    InvalidInput,
    InvalidTransition,
    PermissionDenied,
    Rating,
    Responsibility,
    Role,
    Status,
    format_reference,
    parse_reference,
    route,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PARENT = Actor(Role.PARENT, user_id=1001)
OTHER_PARENT = Actor(Role.PARENT, user_id=1002)
SUP = Actor(Role.SUPERVISOR, person_code="S01", user_id=2001)
OTHER_SUP = Actor(Role.SUPERVISOR, person_code="S02", user_id=2002)
STAFF = Actor(Role.STAFF, person_code="ST1", user_id=3001)


def new_case() -> Case:
    return Case.file(reference="SJ-2026-000001", text="作业太多，每天写到23:00",
                     category="homework_burden", confidence=0.97, reporter_user_id=1001,
                     now=NOW, school_code="SCH01")


def case_in(status: Status) -> Case:
    """Walk a case along the normal path to `status` using only legal moves."""
    case = new_case()
    if status is Status.NEW:
        return case
    if status is Status.TRIAGE:
        case.route(route("other", 0.9, 0.5, Responsibility()), NOW)
        return case
    case.route(route("homework_burden", 0.9, 0.5, Responsibility(school_supervisor="S01")), NOW)
    if status is Status.ASSIGNED:
        return case
    case.accept(SUP, NOW)
    if status is Status.ACCEPTED:
        return case
    if status is Status.AWAITING_INFO:
        case.request_info(SUP, "请问是几年级？", NOW)
        return case
    if status is Status.CLOSED:
        case.propose(SUP, Disposition.UNFOUNDED, NOW, note="经核实不属实")
        case.approve_proposal(STAFF, NOW)
        return case
    case.propose(SUP, Disposition.RECTIFY, NOW, deadline=date(2026, 12, 8))
    if status is Status.PROPOSED:
        return case
    case.approve_proposal(STAFF, NOW)
    if status is Status.RECTIFYING:
        return case
    case.report_rectified(SUP, "已整改", NOW)
    assert status is Status.RECTIFICATION_REPORTED
    return case


LATER = date(2026, 12, 30)
# Every action with the actor entitled to it (so only the status decides).
ACTIONS: dict[str, Callable[[Case], object]] = {
    "route": lambda c: c.route(route("homework_burden", 0.9, 0.5,
                                     Responsibility(school_supervisor="S01")), NOW),
    "assign": lambda c: c.assign(STAFF, "S01", NOW),
    "accept": lambda c: c.accept(SUP, NOW),
    "hand_back": lambda c: c.hand_back(SUP, "不是我负责的学校", NOW),
    "request_info": lambda c: c.request_info(SUP, "请补充时间", NOW),
    "propose": lambda c: c.propose(SUP, Disposition.FIXED, NOW, note="已立行立改"),
    "reject": lambda c: c.reject_proposal(STAFF, "证据不足", NOW),
    "approve": lambda c: c.approve_proposal(STAFF, NOW),
    "report_rectified": lambda c: c.report_rectified(SUP, "已完成", NOW),
    "verify": lambda c: c.verify_rectification(STAFF, NOW, passed=True),
    "extend": lambda c: c.extend_deadline(STAFF, LATER, "需要更多时间", NOW),
    "supervise": lambda c: c.supervise(STAFF, NOW),
    "rate": lambda c: c.rate(PARENT, Rating.SATISFIED, NOW),
}

ALLOWED: dict[str, set[Status]] = {
    "route": {Status.NEW},
    "assign": {Status.TRIAGE, Status.ASSIGNED, Status.ACCEPTED},
    "accept": {Status.ASSIGNED},
    "hand_back": {Status.ASSIGNED, Status.ACCEPTED},
    "request_info": {Status.ACCEPTED},
    "propose": {Status.ACCEPTED},
    "reject": {Status.PROPOSED},
    "approve": {Status.PROPOSED},
    "report_rectified": {Status.RECTIFYING},
    "verify": {Status.RECTIFICATION_REPORTED},
    "extend": {Status.RECTIFYING},
    "supervise": {Status.ASSIGNED, Status.ACCEPTED, Status.PROPOSED, Status.RECTIFYING,
                  Status.RECTIFICATION_REPORTED},  # the verify clock may be supervised too
    "rate": {Status.CLOSED},
}


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_every_transition_is_allowed_or_refused_without_change(action: str,
                                                                status: Status) -> None:
    case = case_in(status)
    if case.assignee_code is None and action != "route":
        case.assignee_code = "S01"  # so that only the status decides
    before = copy.deepcopy(case)
    if status in ALLOWED[action]:
        ACTIONS[action](case)
        assert len(case.events) == len(before.events) + 1
        event = case.events[-1]
        assert event.from_status == status and event.to_status == case.status
        assert event.at == NOW
    else:
        with pytest.raises(InvalidTransition) as err:
            ACTIONS[action](case)
        assert err.value.key.startswith("case.error.")
        assert case == before


@pytest.mark.parametrize(("actor", "action"), [
    (OTHER_SUP, lambda c, a: c.accept(a, NOW)),
    (PARENT, lambda c, a: c.accept(a, NOW)),
    (STAFF, lambda c, a: c.accept(a, NOW)),
    (SUP, lambda c, a: c.assign(a, "S02", NOW)),
    (PARENT, lambda c, a: c.assign(a, "S02", NOW)),
    (OTHER_SUP, lambda c, a: c.hand_back(a, "x", NOW)),
    (PARENT, lambda c, a: c.supervise(a, NOW)),
    (SUP, lambda c, a: c.recategorise(a, "other", NOW)),
])
def test_wrong_actor_is_refused_and_nothing_changes(
        actor: Actor, action: Callable[[Case, Actor], object]) -> None:
    case = case_in(Status.ASSIGNED)
    before = copy.deepcopy(case)
    with pytest.raises(PermissionDenied):
        action(case, actor)
    assert case == before


def test_only_the_reporter_rates_and_reopens_once() -> None:
    case = case_in(Status.CLOSED)
    with pytest.raises(PermissionDenied):
        case.rate(OTHER_PARENT, Rating.SATISFIED, NOW)
    with pytest.raises(InvalidTransition):
        case.reopen(PARENT, "还是不行", NOW)  # not rated dissatisfied yet
    case.rate(PARENT, Rating.DISSATISFIED, NOW, "没有解决")
    with pytest.raises(InvalidTransition):
        case.rate(PARENT, Rating.SATISFIED, NOW)
    case.reopen(PARENT, "问题依旧", NOW)
    assert case.status is Status.ASSIGNED and case.reopen_count == 1
    case.accept(SUP, NOW)
    case.propose(SUP, Disposition.FIXED, NOW)
    case.approve_proposal(STAFF, NOW)
    case.rate(PARENT, Rating.DISSATISFIED, NOW)
    with pytest.raises(InvalidTransition) as err:
        case.reopen(PARENT, "再次申请", NOW)
    assert err.value.key == "case.error.reopen_once"


def test_whole_life_writes_an_ordered_audit_trail() -> None:
    case = case_in(Status.ACCEPTED)
    case.propose(SUP, Disposition.RECTIFY, NOW, deadline=date(2026, 12, 1))
    case.reject_proposal(STAFF, "期限太长", NOW)
    assert case.disposition is None and case.rectify_deadline is None
    case.propose(SUP, Disposition.RECTIFY, NOW, deadline=date(2026, 11, 30))
    case.approve_proposal(STAFF, NOW)
    case.report_rectified(SUP, "已整改", NOW + timedelta(days=3))
    case.verify_rectification(STAFF, NOW + timedelta(days=4), passed=False, comment="没改好",
                              new_deadline=date(2026, 12, 10))
    case.report_rectified(SUP, "再次整改", NOW + timedelta(days=6))
    case.verify_rectification(STAFF, NOW + timedelta(days=7), passed=True)
    case.rate(PARENT, Rating.SATISFIED, NOW + timedelta(days=8))
    actions = [e.action for e in case.events]
    assert actions == ["filed", "routed", "accepted", "proposed", "proposal_rejected", "proposed",
                       "approved", "rectification_reported", "verification_failed",
                       "rectification_reported", "verified", "rated"]
    for earlier, later in zip(case.events, case.events[1:], strict=False):
        assert earlier.to_status == later.from_status
    assert case.status is Status.CLOSED


@pytest.mark.parametrize(("call", "key"), [
    (lambda c: c.propose(SUP, Disposition.RECTIFY, NOW), "case.error.deadline_in_past"),
    (lambda c: c.propose(SUP, Disposition.RECTIFY, NOW, deadline=NOW.date()),
     "case.error.deadline_in_past"),
    (lambda c: c.propose(SUP, Disposition.FIXED, NOW, deadline=LATER),
     "case.error.deadline_not_allowed"),
    (lambda c: c.propose(SUP, Disposition.TRANSFERRED, NOW), "case.error.transfer_target_required"),
    (lambda c: c.propose(SUP, Disposition.NEEDS_INFO, NOW), "case.error.bad_disposition"),
    (lambda c: c.hand_back(SUP, "  ", NOW), "case.error.comment_required"),
    (lambda c: c.request_info(SUP, "", NOW), "case.error.comment_required"),
    (lambda c: c.recategorise(STAFF, "nonsense", NOW), "case.error.unknown_category"),
])
def test_bad_arguments_are_refused_without_change(call: Callable[[Case], object],
                                                  key: str) -> None:
    case = case_in(Status.ACCEPTED)
    before = copy.deepcopy(case)
    with pytest.raises(InvalidInput) as err:
        call(case)
    assert err.value.key == key
    assert case == before


def test_awaiting_info_resumes_when_parent_answers() -> None:
    case = case_in(Status.AWAITING_INFO)
    with pytest.raises(PermissionDenied):
        case.add_information(OTHER_PARENT, "我也知道", NOW)
    case.add_information(PARENT, "三年级二班", NOW)
    assert case.status is Status.ACCEPTED


def test_anonymous_tip_keeps_no_identity() -> None:
    case = Case.file(reference="SJ-2026-000002", text="补课", category="teacher_paid_tutoring",
                     confidence=0.9, reporter_user_id=5, now=NOW, anonymous=True,
                     reporter_name="张三", reporter_phone="13800000000")
    assert case.reporter_name is None and case.reporter_phone is None


def test_filing_refuses_unknown_category_and_empty_text() -> None:
    with pytest.raises(DomainError):
        Case.file(reference="R", text="x", category="spam", confidence=1, reporter_user_id=1,
                  now=NOW)
    with pytest.raises(DomainError):
        Case.file(reference="R", text="   ", category="other", confidence=1, reporter_user_id=1,
                  now=NOW)


@pytest.mark.parametrize(("category", "confidence", "resp", "expected"), [
    ("homework_burden", 0.9, Responsibility(school_supervisor="S01"), "S01"),
    ("homework_burden", 0.3, Responsibility(school_supervisor="S01"), None),
    ("homework_burden", 0.9, Responsibility(), None),
    ("after_school_service", 0.9, Responsibility(school_supervisor="S01"), "S01"),
    ("teacher_paid_tutoring", 0.9, Responsibility(school_supervisor="S03"), "S03"),
    ("unlicensed_tutoring", 0.9, Responsibility(institution_supervisor="T1",
                                                 district_tutoring_supervisor="T2"), "T1"),
    ("unlicensed_tutoring", 0.9, Responsibility(district_tutoring_supervisor="T2"), "T2"),
    ("fees_refund", 0.9, Responsibility(district_tutoring_supervisor="T2"), "T2"),
    ("fees_refund", 0.9, Responsibility(school_supervisor="S01"), None),
    ("other", 0.99, Responsibility(school_supervisor="S01"), None),
])
def test_routing_policy(category: str, confidence: float, resp: Responsibility,
                        expected: str | None) -> None:
    assert route(category, confidence, 0.6, resp).assignee_code == expected


def test_references_format_and_parse() -> None:
    assert format_reference("SJ", 2026, 123) == "SJ-2026-000123"
    assert parse_reference(" sj-2026-000123 ") == ("SJ", 2026, 123)
    assert parse_reference("SJ-2026-12") is None
    assert parse_reference("'; DROP TABLE cases;--") is None
