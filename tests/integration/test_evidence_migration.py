"""Migration 0004 (evidence kept safely): evidence rows attached before it keep their file ids
and gain the new columns empty; a downgrade drops them and keeps the rows."""

from __future__ import annotations

from alembic import command

from storage.migrate import alembic_config, upgrade
from tests.support.migrations import run_sql

CASE = ("INSERT INTO cases (id, reference, status, category, confidence, model_version, text,"
        " reporter_user_id, anonymous, disposition_note, transfer_to, reopen_count,"
        " rating_comment, created_at, updated_at) VALUES (1, 'SJ-2026-000001', 'assigned',"
        " 'homework_burden', 0.9, '', '作业太多', 1001, true, '', '', 0, '',"
        " '2026-11-23 02:00:00', '2026-11-23 02:00:00')")
EVIDENCE = ("INSERT INTO evidence (case_id, kind, file_id, file_unique_id, mime_type, file_name,"
            " size, added_by, created_at) VALUES (1, 'photo', 'AgACfile', 'u1', 'image/jpeg',"
            " '', 100, 'parent', '2026-11-23 02:00:00')")


def test_evidence_attached_before_0008_is_kept(db_url: str) -> None:
    command.downgrade(alembic_config(db_url), "0003")
    run_sql(db_url, CASE, EVIDENCE)
    upgrade(db_url)
    command.check(alembic_config(db_url))
    assert run_sql(db_url, "SELECT file_id, sha256, stored_size, clean_file_id, purged_at"
                           " FROM evidence") == [("AgACfile", None, None, None, None)]
    command.downgrade(alembic_config(db_url), "0003")
    assert run_sql(db_url, "SELECT file_id FROM evidence") == [("AgACfile",)]
    upgrade(db_url)
