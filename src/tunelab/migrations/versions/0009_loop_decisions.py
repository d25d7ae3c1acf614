"""loop tables: loop_decisions (champion against challenger, promoted or refused)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'loop_decisions',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('model', sa.String(length=64), nullable=False),
        sa.Column('alias', sa.String(length=64), nullable=False),
        sa.Column('champion_version', sa.Integer(), nullable=False),
        sa.Column('challenger_version', sa.Integer(), nullable=True),
        sa.Column('decision', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('summary', sa.JSON(), nullable=False),
        sa.Column('report_path', sa.Text(), nullable=False),
        sa.Column('last_feedback_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('rolled_back_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_loop_decisions_model', 'loop_decisions', ['model', 'id'])


def downgrade() -> None:
    op.drop_index('ix_loop_decisions_model', table_name='loop_decisions')
    op.drop_table('loop_decisions')
