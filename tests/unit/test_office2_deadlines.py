"""A rectification deadline typed by the supervisor (besides the 7/15/30-day buttons)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.domain import DomainError
from tests.support.office2 import World, make_world  # today: 2026-11-23


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.mark.parametrize(("typed", "expected"), [
    ("2026-12-20", date(2026, 12, 20)), ("2026/12/20", date(2026, 12, 20)),
    ("2026年12月20日", date(2026, 12, 20)), ("12月20日", date(2026, 12, 20)),
    ("12月20号", date(2026, 12, 20)), ("12/20", date(2026, 12, 20)),
    ("１２／２０", date(2026, 12, 20)), (" 12-20 ", date(2026, 12, 20)),
    ("1月5日", date(2027, 1, 5)),  # a month already passed: next year
    ("2027-11-23", date(2027, 11, 23)),  # exactly a year ahead
])
def test_typed_deadlines_are_understood(world: World, typed: str, expected: date) -> None:
    assert world.supervision.deadline_from_text(typed) == expected


@pytest.mark.parametrize(("typed", "key"), [
    ("2026-11-23", "sv.error.deadline_past"), ("11月20日", "sv.error.deadline_past"),
    ("2025-12-01", "sv.error.deadline_past"), ("2027-11-24", "sv.error.deadline_too_far"),
    ("2030-01-01", "sv.error.deadline_too_far"), ("2月30日", "sv.error.bad_deadline"),
    ("下周五", "sv.error.bad_deadline"), ("", "sv.error.bad_deadline"),
    ("15", "sv.error.bad_deadline"),
])
def test_past_far_and_unreadable_deadlines_are_refused(world: World, typed: str,
                                                       key: str) -> None:
    with pytest.raises(DomainError) as err:
        world.supervision.deadline_from_text(typed)
    assert err.value.key == key
