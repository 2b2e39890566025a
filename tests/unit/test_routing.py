"""One routing policy: filing's automatic assignment and triage's suggestions agree."""

from __future__ import annotations

import itertools

import pytest

from bot.domain import (
    CATEGORIES,
    SCHOOL_CATEGORIES,
    TUTORING_CATEGORIES,
    Responsibility,
    candidates,
    route,
)

RESPONSIBILITIES = [Responsibility(*codes) for codes in itertools.product(
    (None, "S1"), (None, "L1", "S1"), (None, "D1", "L1"))]


@pytest.mark.parametrize("category", sorted(CATEGORIES))
@pytest.mark.parametrize("responsibility", RESPONSIBILITIES, ids=repr)
def test_filing_assigns_the_first_triage_suggestion_or_nobody(
        category: str, responsibility: Responsibility) -> None:
    decision = route(category, 0.99, 0.5, responsibility)
    suggested = candidates(category, responsibility)
    if decision.assignee_code is not None:
        assert suggested and decision.assignee_code == suggested[0].code
        assert decision.reason == suggested[0].reason


def test_school_categories_suggest_the_school_supervisor_then_the_tutoring_side() -> None:
    resp = Responsibility("S1", "L1", "D1")
    category = sorted(SCHOOL_CATEGORIES)[0]
    assert [c.code for c in candidates(category, resp)] == ["S1", "L1", "D1"]
    assert route(category, 0.99, 0.5, resp).assignee_code == "S1"
    # Without a school supervisor, filing asks the office rather than guess the tutoring side.
    no_school = Responsibility(None, "L1", "D1")
    assert [c.code for c in candidates(category, no_school)] == ["L1", "D1"]
    assert route(category, 0.99, 0.5, no_school).assignee_code is None


def test_tutoring_categories_suggest_the_liaison_then_the_district() -> None:
    category = sorted(TUTORING_CATEGORIES)[0]
    resp = Responsibility("S1", "L1", "D1")
    assert [c.code for c in candidates(category, resp)] == ["L1", "D1", "S1"]
    assert route(category, 0.99, 0.5, Responsibility("S1", None, "D1")).assignee_code == "D1"


def test_other_tips_follow_the_entity_they_name_and_are_never_routed() -> None:
    resp = Responsibility("S1", "L1", "D1")
    assert [c.code for c in candidates("other", resp, about_school=True)] == ["S1", "L1", "D1"]
    assert [c.code for c in candidates("other", resp, about_school=False)] == ["L1", "D1", "S1"]
    assert route("other", 0.99, 0.5, resp).assignee_code is None


def test_one_person_in_two_roles_is_suggested_once() -> None:
    resp = Responsibility("S1", "S1", "D1")
    assert [c.code for c in candidates(sorted(TUTORING_CATEGORIES)[0], resp)] == ["S1", "D1"]
