"""Migration 0002 (cases.merged_into_id) on databases that already hold cases, both ways."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect

from storage.db import create_sync_db_engine
from storage.migrate import alembic_config, current_revision, upgrade
from tests.support.migrations import head_revision, run_sql

pytestmark = pytest.mark.postgres

CASE = ("INSERT INTO cases (id, reference, status, category, confidence, model_version, text,"
        " reporter_user_id, anonymous, disposition_note, transfer_to, rating_comment,"
        " reopen_count, created_at, updated_at{extra}) VALUES ({id}, 'SJ-2026-00000{id}',"
        " 'assigned', 'other', 0.5, '', '作业太多', 1001, true, '', '', '', 0,"
        " '2026-11-23 02:00:00', '2026-11-23 02:00:00'{value})")
EVENT = ("INSERT INTO case_events (case_id, seq, action, actor_role, actor, at, to_status,"
         " comment, data) VALUES ({id}, 1, 'filed', 'parent', '1001',"
         " '2026-11-23 02:00:00', 'new', '', '{{}}')")


def _columns(url: str) -> set[str]:
    engine = create_sync_db_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns("cases")}
    finally:
        engine.dispose()


def test_downgrade_and_upgrade_keep_cases_and_events(db_url: str) -> None:
    command.check(alembic_config(db_url))  # the models and the migrations agree
    run_sql(db_url, CASE.format(id=1, extra="", value=""), EVENT.format(id=1),
         CASE.format(id=2, extra=", merged_into_id", value=", 1"), EVENT.format(id=2))

    command.downgrade(alembic_config(db_url), "0001")
    assert current_revision(db_url) == "0001"
    assert "merged_into_id" not in _columns(db_url)
    assert run_sql(db_url, "SELECT id FROM cases ORDER BY id") == [(1,), (2,)]
    assert run_sql(db_url, "SELECT count(*) FROM case_events") == [(2,)]

    upgrade(db_url)  # back up, with cases and events in place
    assert current_revision(db_url) == head_revision(db_url)
    command.check(alembic_config(db_url))
    assert run_sql(db_url, "SELECT id, merged_into_id FROM cases ORDER BY id") == [
        (1, None), (2, None)]
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        run_sql(db_url, "UPDATE cases SET merged_into_id = 99 WHERE id = 2")
    with pytest.raises(Exception, match="append-only"):  # the audit triggers survived
        run_sql(db_url, "DELETE FROM case_events")
