"""The monitor's tables on the shared `MetaData` (made by migration 0003; listed in `tunelab.migrations.tables`).

    monitors            a named monitor's config (parsed YAML, as JSON)
    monitor_items       every classified news item (deduped by content hash)
    monitor_aggregates  per tumbling window and (kind, key) counts
    monitor_alerts      raised alerts and their webhook outbox state
    monitor_deliveries  every delivery attempt (failed ones too)
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tunelab.registry.schema import metadata
from tunelab.registry.sealing import SealedText

monitors = Table(
    "monitors", metadata,
    Column("name", String(64), primary_key=True),
    Column("config", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

monitor_items = Table(
    "monitor_items", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("monitor", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),  # the event's own timestamp
    Column("source", String(128), nullable=False, default=""),
    Column("text", SealedText, nullable=False),
    Column("label", String(128), nullable=False),
    Column("score", Float, nullable=False),  # P(positive) - P(negative), in [-1, 1]
    Column("negative", Boolean, nullable=False),
    Column("positive", Boolean, nullable=False),
    Column("topic", String(128), nullable=True),
    Column("tickers", JSON, nullable=False),
    Column("entities", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("monitor", "hash", name="uq_monitor_items_hash"),
    Index("ix_monitor_items_monitor_at", "monitor", "at"),
)

monitor_aggregates = Table(
    "monitor_aggregates", metadata,
    Column("monitor", String(64), primary_key=True),
    Column("window_s", Integer, primary_key=True),
    Column("window_start", DateTime(timezone=True), primary_key=True),
    Column("kind", String(16), primary_key=True),  # all | ticker | entity | topic
    Column("key", String(128), primary_key=True),
    Column("volume", Integer, nullable=False),
    Column("negative", Integer, nullable=False),
    Column("positive", Integer, nullable=False),
    Column("score_sum", Float, nullable=False),
)

monitor_alerts = Table(
    "monitor_alerts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("monitor", String(64), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("key", String(128), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),  # event time at which the rule fired
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("value", Float, nullable=False),
    Column("details", JSON, nullable=False),
    Column("message", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | logged (no webhook configured)
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_monitor_alerts_monitor_at", "monitor", "at"),
    Index("ix_monitor_alerts_outbox", "status", "next_attempt_at"),
)

monitor_deliveries = Table(
    "monitor_deliveries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, ForeignKey("monitor_alerts.id", ondelete="CASCADE"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_monitor_deliveries_alert", "alert_id"),
)
