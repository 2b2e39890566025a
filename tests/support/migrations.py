"""Raw SQL against a migrated database, for migration tests that seed rows an old schema had."""

from __future__ import annotations

from sqlalchemy import text

from storage.db import create_sync_db_engine


def run_sql(url: str, *statements: str) -> list[tuple[object, ...]]:
    """Run `statements` in one transaction on `url`; the rows of the last that returns any."""
    engine = create_sync_db_engine(url)
    try:
        with engine.begin() as conn:
            rows: list[tuple[object, ...]] = []
            for sql in statements:
                result = conn.execute(text(sql))
                if result.returns_rows:
                    rows = [tuple(r) for r in result]
            return rows
    finally:
        engine.dispose()


def head_revision(url: str) -> str:
    """The newest revision of the migration scripts (what `upgrade` reaches)."""
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert head is not None
    return head
