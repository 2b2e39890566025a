"""case merge: cases.merged_into_id

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

FK = 'fk_cases_merged_into_id_cases'


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    # On SQLite the foreign key is written inline so this stays a plain ALTER TABLE ADD
    # COLUMN: a batch table copy would DROP the old cases table, which the foreign keys of
    # events, evidence and corrections (PRAGMA foreign_keys=ON) refuse once data exists.
    sqlite = _sqlite()
    foreign_key = sa.ForeignKey('cases.id', name=op.f(FK))
    with op.batch_alter_table('cases', schema=None) as batch_op:
        if sqlite:
            batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), foreign_key,
                                          nullable=True), inline_references=True)
        else:
            batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
            batch_op.create_foreign_key(op.f(FK), 'cases', ['merged_into_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_cases_merged_into_id'), ['merged_into_id'],
                              unique=False)


def downgrade() -> None:
    if _sqlite():
        # SQLite cannot drop a column used by a foreign key, so batch copies the table. As in
        # SQLite's own procedure for table changes, foreign keys are off during the copy (the
        # pragma only works between transactions; the driver runs in autocommit mode).
        op.execute("COMMIT")
        op.execute("PRAGMA foreign_keys=OFF")
        op.execute("BEGIN IMMEDIATE")
        with op.batch_alter_table('cases', schema=None, recreate='always') as batch_op:
            batch_op.drop_index(batch_op.f('ix_cases_merged_into_id'))
            batch_op.drop_column('merged_into_id')
        op.execute("COMMIT")
        op.execute("PRAGMA foreign_keys=ON")
        op.execute("BEGIN IMMEDIATE")
        return
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_merged_into_id'))
        batch_op.drop_constraint(op.f(FK), type_='foreignkey')
        batch_op.drop_column('merged_into_id')
