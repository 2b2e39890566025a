"""The per-user flood guard's window, on its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from handlers.telegram.flood import FloodGuard

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_limit_then_one_warning_then_silence_then_recovery() -> None:
    guard = FloodGuard(per_minute=3)
    at = [START + timedelta(seconds=s) for s in (0, 1, 2, 3, 4)]
    assert [guard.admit(7, t) for t in at] == [
        (True, False), (True, False), (True, False), (False, True), (False, False)]
    assert guard.admit(8, at[4]) == (True, False)  # someone else is unaffected
    assert guard.admit(7, START + timedelta(seconds=60)) == (True, False)  # first one aged out
    assert guard.admit(7, START + timedelta(seconds=60, milliseconds=1)) == (False, True)


def test_window_slides_rather_than_resetting() -> None:
    guard = FloodGuard(per_minute=2)
    assert guard.admit(1, START) == (True, False)
    assert guard.admit(1, START + timedelta(seconds=50)) == (True, False)
    assert guard.admit(1, START + timedelta(seconds=59)) == (False, True)
    assert guard.admit(1, START + timedelta(seconds=61)) == (True, False)
    assert guard.admit(1, START + timedelta(seconds=62)) == (False, True)


def test_memory_is_bounded() -> None:
    guard = FloodGuard(per_minute=5, max_users=100)
    for user in range(1000):
        guard.admit(user, START)
    assert len(guard._seen) <= 100
