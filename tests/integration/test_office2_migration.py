"""Migration 0005 (institution_visits) both ways, with the rest of the data kept."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect

from storage.db import create_sync_db_engine
from storage.migrate import alembic_config, current_revision, head_revision, upgrade
from tests.support.migrations import run_sql

pytestmark = pytest.mark.postgres

PEOPLE = ("INSERT INTO people (id, code, name, phone, role, night_pings) VALUES"
          " (1, 'T01', '赵督学', '', 'tutoring', false)")
INSTITUTION = ("INSERT INTO institutions (id, code, name, licensed, kind, aliases, supervisor_id)"
               " VALUES (1, 'INS01', '启明星培训', true, '', '', 1)")
VISIT = ("INSERT INTO institution_visits (supervisor_id, institution_id, visit_date, note,"
         " photo_file_id, created_at) VALUES (1, 1, '2026-11-23', '查看收费公示', '',"
         " '2026-11-23 02:00:00')")


def _tables(url: str) -> set[str]:
    engine = create_sync_db_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_institution_visits_come_and_go_with_their_revision(db_url: str) -> None:
    command.check(alembic_config(db_url))  # the models and the migrations agree
    run_sql(db_url, PEOPLE, INSTITUTION, VISIT)
    assert run_sql(db_url, "SELECT note FROM institution_visits") == [("查看收费公示",)]
    command.downgrade(alembic_config(db_url), "0003")
    assert "institution_visits" not in _tables(db_url)
    assert run_sql(db_url, "SELECT code FROM institutions") == [("INS01",)]
    upgrade(db_url)
    assert current_revision(db_url) == head_revision()
    assert run_sql(db_url, "SELECT count(*) FROM institution_visits") == [(0,)]
    run_sql(db_url, VISIT)
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        run_sql(db_url, VISIT.replace("(1, 1,", "(1, 99,"))
