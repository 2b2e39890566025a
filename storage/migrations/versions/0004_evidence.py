"""evidence kept safely: the stored original's hash, the cleaned copy's file id, purging

`sha256` names the original kept in the evidence directory (content-addressed, so one file
serves every row with the same content); `stored_size` is its size in bytes;
`clean_file_id` is the Telegram file id of the copy without location and camera metadata
(sent to supervisors); `purged_at` is when the retention job deleted the file.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('stored_size', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('clean_file_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_evidence_sha256', ['sha256'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_index('ix_evidence_sha256')
        batch_op.drop_column('purged_at')
        batch_op.drop_column('clean_file_id')
        batch_op.drop_column('stored_size')
        batch_op.drop_column('sha256')
