"""The loop's table on the shared `MetaData` (made by migration 0008; listed in `tunelab.migrations.tables`).

    loop_decisions  every champion-against-challenger decision: promoted or refused (with the reason), the
                    numbers it rests on, its report's path, and whether the promotion was rolled back
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Index, Integer, String, Table, Text

from tunelab.registry.schema import metadata

loop_decisions = Table(
    "loop_decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(64), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("champion_version", Integer, nullable=False),
    Column("challenger_version", Integer, nullable=True),  # None: no challenger was trained
    Column("decision", String(16), nullable=False),  # promoted | refused
    Column("reason", Text, nullable=False),
    Column("summary", JSON, nullable=False),  # metrics of both models, per-class deltas, the test
    Column("report_path", Text, nullable=False),
    Column("last_feedback_id", Integer, nullable=False),  # the newest correction it saw (the trigger counts on)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("rolled_back_at", DateTime(timezone=True), nullable=True),
    Index("ix_loop_decisions_model", "model", "id"),
)
