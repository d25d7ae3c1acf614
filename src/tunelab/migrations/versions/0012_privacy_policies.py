"""privacy policies: privacy_policies (a model's, an assistant's or a monitor's own redaction policy)

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'privacy_policies',
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('types', sa.JSON(), nullable=False),
        sa.Column('mode', sa.String(length=8), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'name'),
    )


def downgrade() -> None:
    op.drop_table('privacy_policies')
