"""processed_updates: Telegram update ids taken in, so a redelivered update is not handled twice

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'processed_updates',
        sa.Column('update_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('update_id'),
    )
    op.create_index('ix_processed_updates_seen_at', 'processed_updates', ['seen_at'])


def downgrade() -> None:
    op.drop_index('ix_processed_updates_seen_at', table_name='processed_updates')
    op.drop_table('processed_updates')
