"""loop stages: loop_stages (a challenger in shadow or canary) and shadow_answers (its answers to live predictions)

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'loop_stages',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('model', sa.String(length=64), nullable=False),
        sa.Column('alias', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('champion_version', sa.Integer(), nullable=False),
        sa.Column('challenger_version', sa.Integer(), nullable=False),
        sa.Column('requests', sa.Integer(), nullable=False),
        sa.Column('hours', sa.Float(), nullable=True),
        sa.Column('share', sa.Float(), nullable=True),
        sa.Column('decision_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_loop_stages_model_status', 'loop_stages', ['model', 'status'])
    op.create_table(
        'shadow_answers',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('stage_id', sa.Integer(), nullable=False),
        sa.Column('prediction_id', sa.String(length=32), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('output', sa.JSON(), nullable=False),
        sa.Column('latency_ms', sa.Float(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['stage_id'], ['loop_stages.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['prediction_id'], ['predictions.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_shadow_answers_stage', 'shadow_answers', ['stage_id', 'id'])
    op.create_index('ix_shadow_answers_prediction', 'shadow_answers', ['prediction_id'])


def downgrade() -> None:
    op.drop_index('ix_shadow_answers_prediction', table_name='shadow_answers')
    op.drop_index('ix_shadow_answers_stage', table_name='shadow_answers')
    op.drop_table('shadow_answers')
    op.drop_index('ix_loop_stages_model_status', table_name='loop_stages')
    op.drop_table('loop_stages')
