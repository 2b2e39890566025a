"""cases.remind_on: the day the scheduler next looks at a case's stage clocks

Every save sets it to the day of the change; the scheduler computes the case's clocks and
moves it on to the next day a ping, a 督办 or a rung may fall due (NULL: nothing runs). The
reminder run reads only cases with remind_on <= today, through an index.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


# Plain ALTER TABLE (no batch table copy): on SQLite a copy would DROP the old cases table,
# which the foreign keys of events, evidence and corrections refuse once data exists.
def upgrade() -> None:
    op.add_column('cases', sa.Column('remind_on', sa.Date(), nullable=True))
    op.create_index('ix_cases_remind_on', 'cases', ['remind_on', 'id'], unique=False)
    # Every open case is looked at on the first run after the upgrade (a day long past).
    op.execute(sa.text("UPDATE cases SET remind_on = :day WHERE status <> 'closed'")
               .bindparams(sa.bindparam("day", date(2000, 1, 1), type_=sa.Date())))


def downgrade() -> None:
    op.drop_index('ix_cases_remind_on', table_name='cases')
    op.drop_column('cases', 'remind_on')  # SQLite >= 3.35 drops a plain column in place
