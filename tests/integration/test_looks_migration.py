"""Migration 0011 (case_looks) both ways: every case's look and what it holds overdue move
with it, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect

from storage.db import create_sync_db_engine
from storage.migrate import alembic_config, current_revision, head_revision, upgrade
from tests.support.migrations import run_sql

pytestmark = pytest.mark.postgres

CASE = ("INSERT INTO cases (id, reference, status, category, confidence, model_version, text,"
        " reporter_user_id, anonymous, disposition_note, transfer_to, rating_comment,"
        " reopen_count, created_at, updated_at, remind_on, overdue_sv_since, overdue_sv_clock,"
        " staff_due_on, staff_due_clock) VALUES ({id}, 'SJ-2026-00000{id}', '{status}', 'other',"
        " 0.5, '', '作业太多', 1001, true, '', '', '', 0, '2026-11-23 02:00:00',"
        " '2026-11-23 02:00:00', {look})")
OPEN = CASE.format(id=1, status="proposed",
                   look="'2026-11-30', '2026-11-20', 'accept', '2026-11-26', 'decide'")
CLOSED = CASE.format(id=2, status="closed", look="NULL, NULL, NULL, NULL, NULL")
LOOKS = ("SELECT case_id, remind_on, overdue_sv_since, overdue_sv_clock, staff_due_on,"
         " staff_due_clock FROM case_looks ORDER BY case_id")
ON_CASES = ("SELECT id, remind_on, overdue_sv_since, overdue_sv_clock, staff_due_on,"
            " staff_due_clock FROM cases ORDER BY id")


def _columns(url: str, table: str = "cases") -> set[str]:
    engine = create_sync_db_engine(url)
    try:
        found = inspect(engine)
        return {c["name"] for c in found.get_columns(table)} if found.has_table(table) else set()
    finally:
        engine.dispose()


def _text(rows: list[tuple[object, ...]]) -> list[tuple[str, ...]]:
    return [tuple(str(value) for value in row) for row in rows]


def test_the_looks_move_to_their_table_and_back(db_url: str) -> None:
    command.check(alembic_config(db_url))  # the models and the migrations agree
    command.downgrade(alembic_config(db_url), "0010")
    run_sql(db_url, OPEN, CLOSED)
    upgrade(db_url)
    assert current_revision(db_url) == head_revision()
    assert "remind_on" not in _columns(db_url)
    moved = [("1", "2026-11-30", "2026-11-20", "accept", "2026-11-26", "decide"),
             ("2", "None", "None", "None", "None", "None")]
    assert _text(run_sql(db_url, LOOKS)) == moved
    command.downgrade(alembic_config(db_url), "0010")
    assert _text(run_sql(db_url, ON_CASES)) == moved
    assert _columns(db_url, "case_looks") == set()  # the table is gone
