"""The loop's tables on the shared `MetaData` (made by migrations 0009 and 0011; listed in
`tunelab.migrations.tables`).

    loop_decisions  every champion-against-challenger decision: promoted, refused (with the reason) or staged,
                    the numbers it rests on, its report's path, and whether the promotion was rolled back
    loop_stages     a challenger that passed the golden set in its shadow or canary stage: open until the loop
                    promotes or refuses it
    shadow_answers  the challenger's answer to a live prediction in shadow, linked to the prediction's id
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Float, ForeignKey, Index, Integer, String, Table, Text

from tunelab.registry.schema import metadata
from tunelab.registry.sealing import SealedJSON

loop_decisions = Table(
    "loop_decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(64), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("champion_version", Integer, nullable=False),
    Column("challenger_version", Integer, nullable=True),  # None: no challenger was trained
    Column("decision", String(16), nullable=False),  # promoted | refused | staged
    Column("reason", Text, nullable=False),
    Column("summary", JSON, nullable=False),  # metrics of both models, per-class deltas, the test
    Column("report_path", Text, nullable=False),
    Column("last_feedback_id", Integer, nullable=False),  # the newest correction it saw (the trigger counts on)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("rolled_back_at", DateTime(timezone=True), nullable=True),
    Index("ix_loop_decisions_model", "model", "id"),
)

loop_stages = Table(
    "loop_stages", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(64), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # shadow | canary
    Column("champion_version", Integer, nullable=False),
    Column("challenger_version", Integer, nullable=False),
    Column("requests", Integer, nullable=False),  # live predictions it waits for
    Column("hours", Float, nullable=True),  # or this long
    Column("share", Float, nullable=True),  # canary: the challenger's share of callers; shadow: of predictions
    Column("decision_id", Integer, nullable=False),  # the `staged` decision that opened it
    Column("status", String(16), nullable=False),  # open | promoted | refused
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Index("ix_loop_stages_model_status", "model", "status"),
)

shadow_answers = Table(
    "shadow_answers", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("stage_id", Integer, ForeignKey("loop_stages.id", ondelete="CASCADE"), nullable=False),
    Column("prediction_id", String(32), ForeignKey("predictions.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),  # the challenger's
    Column("output", SealedJSON, nullable=False),  # its answer, as a prediction's output is logged
    Column("latency_ms", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_shadow_answers_stage", "stage_id", "id"),
    Index("ix_shadow_answers_prediction", "prediction_id"),
)
