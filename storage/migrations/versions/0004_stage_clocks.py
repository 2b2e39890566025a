"""cases.remind_on: the day the scheduler next looks at a case's stage clocks

Every save sets it to the day of the change; the scheduler computes the case's clocks and
moves it on to the next day a ping, a 督办 or a rung may fall due (NULL: nothing runs). The
reminder run reads only cases with remind_on <= today, through an index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remind_on', sa.Date(), nullable=True))
        batch_op.create_index('ix_cases_remind_on', ['remind_on', 'id'], unique=False)
    # Open cases and cases owed a re-check are looked at on the first run after the upgrade.
    op.execute("UPDATE cases SET remind_on = CURRENT_DATE WHERE status <> 'closed'")


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_remind_on')
        batch_op.drop_column('remind_on')
