"""monitor tables: monitors, monitor_items, monitor_aggregates, monitor_alerts, monitor_deliveries

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('monitors',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('monitor_items',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('monitor', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=128), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('label', sa.String(length=128), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('negative', sa.Boolean(), nullable=False),
    sa.Column('positive', sa.Boolean(), nullable=False),
    sa.Column('topic', sa.String(length=128), nullable=True),
    sa.Column('tickers', sa.JSON(), nullable=False),
    sa.Column('entities', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('monitor', 'hash', name='uq_monitor_items_hash')
    )
    with op.batch_alter_table('monitor_items', schema=None) as batch_op:
        batch_op.create_index('ix_monitor_items_monitor_at', ['monitor', 'at'], unique=False)

    op.create_table('monitor_aggregates',
    sa.Column('monitor', sa.String(length=64), nullable=False),
    sa.Column('window_s', sa.Integer(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('volume', sa.Integer(), nullable=False),
    sa.Column('negative', sa.Integer(), nullable=False),
    sa.Column('positive', sa.Integer(), nullable=False),
    sa.Column('score_sum', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('monitor', 'window_s', 'window_start', 'kind', 'key')
    )
    op.create_table('monitor_alerts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('monitor', sa.String(length=64), nullable=False),
    sa.Column('rule', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('monitor_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_monitor_alerts_monitor_at', ['monitor', 'at'], unique=False)
        batch_op.create_index('ix_monitor_alerts_outbox', ['status', 'next_attempt_at'], unique=False)

    op.create_table('monitor_deliveries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['monitor_alerts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('monitor_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_monitor_deliveries_alert', ['alert_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('monitor_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_monitor_deliveries_alert')
    op.drop_table('monitor_deliveries')
    with op.batch_alter_table('monitor_alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_monitor_alerts_outbox')
        batch_op.drop_index('ix_monitor_alerts_monitor_at')
    op.drop_table('monitor_alerts')
    op.drop_table('monitor_aggregates')
    with op.batch_alter_table('monitor_items', schema=None) as batch_op:
        batch_op.drop_index('ix_monitor_items_monitor_at')
    op.drop_table('monitor_items')
    op.drop_table('monitors')
