"""Merging duplicate cases in the domain: who may, from which statuses, and what it records."""

from __future__ import annotations

import copy
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
    route,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=2)
STAFF = Actor(Role.STAFF, person_code="ST1", user_id=3001)
SUP = Actor(Role.SUPERVISOR, person_code="S01", user_id=2001)
SYSTEM = Actor.system()


def filed(seq: int, user: int) -> Case:
    case = Case.file(reference=f"SJ-2026-{seq:06d}", text=f"作业太多，每天写到十一点（{seq}）",
                     category="homework_burden", confidence=0.9, reporter_user_id=user,
                     now=NOW, school_code="SCH01")
    case.route(route("homework_burden", 0.9, 0.5, Responsibility(school_supervisor="S01")), NOW)
    return case


def pair() -> tuple[Case, Case]:
    """An assigned target (filed first) and an assigned duplicate of it."""
    return filed(1, 1001), filed(2, 1002)


def closed_target() -> Case:
    target = filed(1, 1001)
    target.accept(SUP, NOW)
    target.propose(SUP, Disposition.FIXED, NOW, note="已立行立改")
    target.approve_proposal(STAFF, LATER)
    return target


def snapshot(*cases: Case) -> list[Case]:
    return [copy.deepcopy(c) for c in cases]


def test_staff_merge_closes_the_source_and_records_both_sides() -> None:
    target, source = pair()
    source.merge_into(STAFF, target, LATER)
    assert source.status is Status.CLOSED and source.closed_at == LATER
    assert source.merged_into == target.reference and source.awaiting_merged_outcome
    merged = source.events[-1]
    assert (merged.action, merged.from_status, merged.to_status) == (
        "merged", Status.ASSIGNED, Status.CLOSED)
    assert merged.data == {"into": target.reference} and merged.actor == "ST1"
    received = target.events[-1]
    assert received.action == "merge_received" and received.data == {"from": source.reference}
    assert target.status is Status.ASSIGNED  # the target's own status does not move
    assert received.from_status is received.to_status is Status.ASSIGNED
    assert target.merged_into is None and not target.awaiting_merged_outcome


def test_a_half_way_proposal_of_the_source_is_dropped() -> None:
    target, source = pair()
    source.accept(SUP, NOW)
    source.propose(SUP, Disposition.RECTIFY, NOW, note="限期", deadline=date(2026, 12, 20))
    source.merge_into(STAFF, target, LATER)
    assert source.disposition is None and source.rectify_deadline is None
    assert source.awaiting_merged_outcome


def _refused(source: Case, target: Case, actor: Actor, error: type[DomainError],
             key: str) -> None:
    before = snapshot(source, target)
    with pytest.raises(error) as caught:
        source.merge_into(actor, target, LATER)
    assert caught.value.key == key
    assert [source, target] == before  # nothing changed, not even an event


@pytest.mark.parametrize("actor", [SUP, SYSTEM, Actor(Role.PARENT, user_id=1002)])
def test_only_staff_may_merge(actor: Actor) -> None:
    target, source = pair()
    _refused(source, target, actor, PermissionDenied, "case.error.staff_only")


def test_a_closed_source_is_refused() -> None:
    target = filed(1, 1001)
    source = closed_target()
    source.reference = "SJ-2026-000009"
    _refused(source, target, STAFF, InvalidTransition, "case.error.closed")


def test_a_closed_target_is_refused() -> None:
    _refused(filed(2, 1002), closed_target(), STAFF, InvalidTransition, "case.error.closed")


def test_a_case_cannot_be_merged_into_itself() -> None:
    case = filed(1, 1001)
    _refused(case, case, STAFF, InvalidInput, "case.error.merge_self")
    _refused(case, copy.deepcopy(case), STAFF, InvalidInput, "case.error.merge_self")


def test_a_target_that_is_itself_merged_is_refused() -> None:
    first, second = pair()
    second.merge_into(STAFF, first, NOW)
    third = filed(3, 1003)
    _refused(third, second, STAFF, InvalidTransition, "case.error.merge_target_merged")


def test_merging_twice_is_refused_politely() -> None:
    target, source = pair()
    source.merge_into(STAFF, target, NOW)
    _refused(source, target, STAFF, InvalidTransition, "case.error.closed")


def test_a_merged_case_cannot_be_rated_until_its_target_closes() -> None:
    target, source = pair()
    source.merge_into(STAFF, target, NOW)
    parent = Actor(Role.PARENT, user_id=1002)
    before = snapshot(source)
    with pytest.raises(InvalidTransition) as caught:
        source.rate(parent, Rating.SATISFIED, NOW)
    assert caught.value.key == "case.error.merged_pending" and [source] == before


def test_closing_the_target_gives_the_follower_its_outcome_to_rate() -> None:
    target, source = pair()
    source.merge_into(STAFF, target, NOW)
    with pytest.raises(InvalidTransition):
        source.close_merged(target, LATER)  # the target is still open
    target.accept(SUP, NOW)
    target.propose(SUP, Disposition.FIXED, NOW, note="已立行立改")
    target.approve_proposal(STAFF, LATER)
    source.close_merged(target, LATER)
    assert source.status is Status.CLOSED and source.disposition is Disposition.FIXED
    assert source.disposition_note == "已立行立改" and not source.awaiting_merged_outcome
    event = source.events[-1]
    assert event.action == "merged_case_closed" and event.actor_role is Role.SYSTEM
    assert event.data == {"from": target.reference, "disposition": "fixed"}
    with pytest.raises(InvalidTransition):
        source.close_merged(target, LATER)  # once only

    parent = Actor(Role.PARENT, user_id=1002)
    source.rate(parent, Rating.DISSATISFIED, LATER)
    source.reopen(parent, "还是没改", LATER)  # a follower reopens on its own
    assert source.status is Status.ASSIGNED and source.merged_into is None
    assert target.status is Status.CLOSED and target.rating is None


def test_dismissing_a_duplicate_is_recorded_once_by_staff_only() -> None:
    case, other = pair()
    with pytest.raises(PermissionDenied):
        case.dismiss_duplicate(SUP, other, NOW)
    case.dismiss_duplicate(STAFF, other, NOW)
    assert case.dismissed_duplicates == {other.reference}
    assert case.status is Status.ASSIGNED and case.events[-1].action == "duplicate_dismissed"
    before = snapshot(case)
    with pytest.raises(InvalidTransition) as caught:
        case.dismiss_duplicate(STAFF, other, NOW)
    assert caught.value.key == "case.error.duplicate_already_dismissed" and [case] == before
