"""Migration 0007 (outbox.channel): every row queued before it is a Telegram message."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import select

from storage.db import create_sync_db_engine
from storage.migrate import alembic_config, upgrade
from storage.models import OutboxRow
from tests.support.migrations import run_sql

pytestmark = pytest.mark.postgres

OLD_ROW = ("INSERT INTO outbox (chat_id, kind, text, markup, notice, not_before, created_at,"
           " attempts, last_error) VALUES (2001, 'assigned', '',  NULL,"
           " '{\"key\": \"notify.plain\", \"params\": {\"text\": \"你好\"}}',"
           " '2026-11-23 02:00:00', '2026-11-23 02:00:00', 0, '')")


def test_rows_queued_before_channels_are_telegram_messages(db_url: str) -> None:
    config = alembic_config(db_url)
    before = ScriptDirectory.from_config(config).get_revision("0007").down_revision
    command.downgrade(config, str(before))
    run_sql(db_url, OLD_ROW)
    upgrade(db_url)
    command.check(config)  # the models and the migrations agree
    engine = create_sync_db_engine(db_url)
    try:
        with engine.connect() as conn:
            channels = list(conn.execute(select(OutboxRow.channel)).scalars())
    finally:
        engine.dispose()
    assert channels == ["telegram"]
    run_sql(db_url, "DELETE FROM outbox")
    command.downgrade(config, str(before))  # and back: the column goes
    upgrade(db_url)
