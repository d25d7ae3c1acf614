"""recommender tables: recommenders (registered builds), recommender_events (feedback), recommender_items (API items)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'recommenders',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('path', sa.Text(), nullable=False),
        sa.Column('metrics', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name', 'version', name='uq_recommenders_name_version'),
    )
    op.create_table(
        'recommender_events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('recommender', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=128), nullable=False),
        sa.Column('item_id', sa.String(length=128), nullable=False),
        sa.Column('event', sa.String(length=32), nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('key_id', sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_recommender_events_recommender_at', 'recommender_events', ['recommender', 'at'])
    op.create_table(
        'recommender_items',
        sa.Column('recommender', sa.String(length=64), nullable=False),
        sa.Column('item_id', sa.String(length=128), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('fields', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('recommender', 'item_id'),
    )


def downgrade() -> None:
    op.drop_table('recommender_items')
    op.drop_index('ix_recommender_events_recommender_at', table_name='recommender_events')
    op.drop_table('recommender_events')
    op.drop_table('recommenders')
