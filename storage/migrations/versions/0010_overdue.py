"""cases.overdue_sv_* and staff_due_*: what the daily reminders read

The clock pass no longer reads every overdue case every day: it records on the case the
supervisor's longest-overdue clock and staff's earliest-due running clock, and the daily
reminders (one message per person) read these columns through their indexes. Every open case
is looked at on the first run after the upgrade, which fills them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


# Plain ALTER TABLE, as in 0009: a batch copy would drop the cases table on SQLite.
def upgrade() -> None:
    op.add_column('cases', sa.Column('overdue_sv_since', sa.Date(), nullable=True))
    op.add_column('cases', sa.Column('overdue_sv_clock', sa.String(length=16), nullable=True))
    op.add_column('cases', sa.Column('staff_due_on', sa.Date(), nullable=True))
    op.add_column('cases', sa.Column('staff_due_clock', sa.String(length=16), nullable=True))
    op.create_index('ix_cases_overdue_sv', 'cases', ['overdue_sv_since'], unique=False)
    op.create_index('ix_cases_staff_due', 'cases', ['staff_due_on'], unique=False)
    op.execute(sa.text("UPDATE cases SET remind_on = :day WHERE status <> 'closed'")
               .bindparams(sa.bindparam("day", date(2000, 1, 1), type_=sa.Date())))


def downgrade() -> None:
    op.drop_index('ix_cases_staff_due', table_name='cases')
    op.drop_index('ix_cases_overdue_sv', table_name='cases')
    for column in ('staff_due_clock', 'staff_due_on', 'overdue_sv_clock', 'overdue_sv_since'):
        op.drop_column('cases', column)
