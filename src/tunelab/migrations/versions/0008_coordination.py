"""coordination: change_counters (caches of every replica follow writes) and rate_buckets (shared rate limits)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'change_counters',
        sa.Column('topic', sa.String(length=32), primary_key=True),
        sa.Column('version', sa.BigInteger(), nullable=False),
    )
    op.create_table(
        'rate_buckets',
        sa.Column('key', sa.String(length=64), primary_key=True),
        sa.Column('tokens', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('wait_s', sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('rate_buckets')
    op.drop_table('change_counters')
