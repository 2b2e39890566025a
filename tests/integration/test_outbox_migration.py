"""Migration 0003 (outbox.notice): rows queued before it are still delivered as they were."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import select

from storage.db import create_sync_db_engine
from storage.migrate import alembic_config, current_revision, upgrade
from storage.models import OutboxRow
from tests.support.migrations import head_revision, run_sql

pytestmark = pytest.mark.postgres

OLD_ROW = ("INSERT INTO outbox (chat_id, kind, text, markup, not_before, created_at, attempts,"
           " last_error) VALUES (2001, 'approved', '案件 <SJ> 已办结 & 请评价',"
           " '{\"buttons\": [[[\"满意\", \"c:rate:SJ-2026-000001:satisfied\"]]]}',"
           " '2026-11-23 02:00:00', '2026-11-23 02:00:00', 0, '')")


def test_rows_queued_before_notices_keep_their_text_and_buttons(db_url: str) -> None:
    from handlers.telegram.views import render_outbox

    command.downgrade(alembic_config(db_url), "0002")
    run_sql(db_url, OLD_ROW)
    upgrade(db_url)
    assert current_revision(db_url) == head_revision(db_url)
    command.check(alembic_config(db_url))
    engine = create_sync_db_engine(db_url)
    try:
        with engine.connect() as conn:
            row = OutboxRow(**conn.execute(select(OutboxRow.__table__)).one()._asdict())
    finally:
        engine.dispose()
    assert row.notice is None
    text, markup = render_outbox(row)
    assert text == "案件 &lt;SJ&gt; 已办结 &amp; 请评价"
    assert markup is not None
    assert markup.inline_keyboard[0][0].callback_data == "c:rate:SJ-2026-000001:satisfied"
