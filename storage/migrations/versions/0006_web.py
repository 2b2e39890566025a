"""web console: one-time login links, indexes for its keyset-paged case lists

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'web_logins',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_web_logins')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_web_logins_token_hash')),
    )
    op.create_index(op.f('ix_web_logins_expires_at'), 'web_logins', ['expires_at'])
    op.create_index('ix_cases_status_id', 'cases', ['status', 'id'])
    op.create_index('ix_cases_assignee_id', 'cases', ['assignee_id', 'id'])
    op.create_index('ix_cases_category_id', 'cases', ['category', 'id'])


def downgrade() -> None:
    op.drop_index('ix_cases_category_id', table_name='cases')
    op.drop_index('ix_cases_assignee_id', table_name='cases')
    op.drop_index('ix_cases_status_id', table_name='cases')
    op.drop_index(op.f('ix_web_logins_expires_at'), table_name='web_logins')
    op.drop_table('web_logins')
