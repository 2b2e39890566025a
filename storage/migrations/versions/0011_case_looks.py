"""case_looks: the scheduler's per-case columns move out of the cases table

The clock pass moves thousands of looks on a working day's first run. On the cases table each
move rewrote a wide row and (on PostgreSQL, since `remind_on` is indexed) an entry in every
one of its indexes; on a table of its own it rewrites a narrow row and three indexes. The
values are copied as they stand, so no look is lost.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

COLUMNS = ('remind_on', 'overdue_sv_since', 'overdue_sv_clock', 'staff_due_on',
           'staff_due_clock')
OLD_INDEXES = (('ix_cases_remind_on', ['remind_on', 'id']),
               ('ix_cases_overdue_sv', ['overdue_sv_since']),
               ('ix_cases_staff_due', ['staff_due_on']))


def upgrade() -> None:
    op.create_table(
        'case_looks',
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('remind_on', sa.Date(), nullable=True),
        sa.Column('overdue_sv_since', sa.Date(), nullable=True),
        sa.Column('overdue_sv_clock', sa.String(length=16), nullable=True),
        sa.Column('staff_due_on', sa.Date(), nullable=True),
        sa.Column('staff_due_clock', sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                                name=op.f('fk_case_looks_case_id_cases')),
        sa.PrimaryKeyConstraint('case_id', name=op.f('pk_case_looks')))
    columns = ", ".join(COLUMNS)
    op.execute(f"INSERT INTO case_looks (case_id, {columns}) SELECT id, {columns} FROM cases")
    op.create_index('ix_case_looks_remind_on', 'case_looks', ['remind_on', 'case_id'])
    op.create_index('ix_case_looks_overdue_sv', 'case_looks', ['overdue_sv_since'])
    op.create_index('ix_case_looks_staff_due', 'case_looks', ['staff_due_on'])
    # Plain ALTER TABLE, as in 0009: a batch copy would drop the cases table on SQLite.
    for name, _ in OLD_INDEXES:
        op.drop_index(name, table_name='cases')
    for column in COLUMNS:
        op.drop_column('cases', column)  # SQLite >= 3.35 drops a plain column in place


def downgrade() -> None:
    op.add_column('cases', sa.Column('remind_on', sa.Date(), nullable=True))
    op.add_column('cases', sa.Column('overdue_sv_since', sa.Date(), nullable=True))
    op.add_column('cases', sa.Column('overdue_sv_clock', sa.String(length=16), nullable=True))
    op.add_column('cases', sa.Column('staff_due_on', sa.Date(), nullable=True))
    op.add_column('cases', sa.Column('staff_due_clock', sa.String(length=16), nullable=True))
    op.execute("UPDATE cases SET " + ", ".join(
        f"{column} = (SELECT {column} FROM case_looks WHERE case_looks.case_id = cases.id)"
        for column in COLUMNS))
    for name, columns in OLD_INDEXES:
        op.create_index(name, 'cases', columns)
    op.drop_table('case_looks')
