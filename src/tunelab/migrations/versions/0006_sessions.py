"""sessions: dashboard logins the server can end (logout, expiry, key revocation)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sessions',
        sa.Column('id_hash', sa.String(length=64), primary_key=True),
        sa.Column('key_id', sa.String(length=32), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_sessions_key', 'sessions', ['key_id'])


def downgrade() -> None:
    op.drop_index('ix_sessions_key', table_name='sessions')
    op.drop_table('sessions')
