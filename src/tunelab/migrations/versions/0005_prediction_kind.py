"""predictions.kind: whose prediction a row is ('model', or an application's, e.g. 'assistant'); 0004 retired

Revision ID: 0005
Revises: 0003

The prediction log holds a registered model's predictions and, since 0002, the assistant's answers (logged so
that `POST /v1/feedback` works on them). Both shared the model namespace: an answer of assistant "support" looked
like a prediction of a model "support", and model views (the review queue, A/B feedback counts) broke on it.
`kind` tells them apart; the store's model views read kind 'model' only. Existing rows become 'model' (the server
default), except the assistant's answers already logged: their ids are in `assistant_turns`.

Revision 0004 ("dashboard tables") was an empty placeholder and is removed from the history. Databases stamped
0004 exist; since 0004 changed nothing, their schema is that of 0003. `env.py` restamps 0004 as 0003 (its
`RETIRED` map) before upgrading, so they take this revision next like any database at 0003. This revision gets
a new id rather than reusing 0004's: a database at 0004 must still receive the column.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, not batch mode: on SQLite a batch would copy and drop `predictions`, and dropping it
    # cascades to `feedback` (foreign keys are on).
    op.add_column('predictions', sa.Column('kind', sa.String(length=16), server_default='model', nullable=False))
    op.execute("UPDATE predictions SET kind = 'assistant' WHERE id IN (SELECT id FROM assistant_turns)")


def downgrade() -> None:
    op.drop_column('predictions', 'kind')  # SQLite >= 3.35 drops a column in place (no table copy)
