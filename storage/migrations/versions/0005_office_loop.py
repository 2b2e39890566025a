"""institution_visits: liaison supervisors' visits to tutoring institutions

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'institution_visits',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('supervisor_id', sa.Integer(), nullable=False),
        sa.Column('institution_id', sa.Integer(), nullable=False),
        sa.Column('visit_date', sa.Date(), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('photo_file_id', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['supervisor_id'], ['people.id'],
                                name=op.f('fk_institution_visits_supervisor_id_people')),
        sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'],
                                name=op.f('fk_institution_visits_institution_id_institutions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_institution_visits')),
    )
    op.create_index('ix_institution_visits_institution_date', 'institution_visits',
                    ['institution_id', 'visit_date'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_institution_visits_institution_date', table_name='institution_visits')
    op.drop_table('institution_visits')
