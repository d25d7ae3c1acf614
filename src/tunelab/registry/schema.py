"""The registry's tables (SQLAlchemy Core). Alembic migrations in `migrations/` create and change them.

    models        a named model (e.g. "intents")
    versions      run folders registered as numbered versions of a model
    aliases       movable names for a version ("production", "staging"); alias_events keeps history
    splits        A/B traffic weights per model: {version: weight}
    predictions   every served prediction (id, version, latency, output, text or its hash)
    feedback      corrections and thumbs on a prediction id
    api_keys      hashed keys with scopes and an optional own rate limit; key_usage counts use
    assistants    built assistant folders as versions; assistant_turns the conversations; handoffs to humans
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

models = Table(
    "models", metadata,
    Column("name", String(64), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

versions = Table(
    "versions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(64), ForeignKey("models.name"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("run_path", Text, nullable=False),
    Column("task", String(32), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("base_model", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("model", "version", name="uq_versions_model_version"),
)

aliases = Table(
    "aliases", metadata,
    Column("model", String(64), ForeignKey("models.name"), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

alias_events = Table(
    "alias_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(64), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("version", Integer, nullable=True),  # None: alias removed
    Column("previous_version", Integer, nullable=True),
    Column("actor", String(64), nullable=False, default=""),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_alias_events_model_alias", "model", "alias", "id"),
)

splits = Table(
    "splits", metadata,
    Column("model", String(64), ForeignKey("models.name"), primary_key=True),
    Column("weights", JSON, nullable=False),  # {"3": 0.9, "4": 0.1}
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

predictions = Table(
    "predictions", metadata,
    Column("id", String(32), primary_key=True),
    Column("model", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("key_id", String(32), nullable=True),
    Column("caller", String(128), nullable=True),
    Column("text", Text, nullable=True),  # None when only the hash is logged
    Column("text_hash", String(64), nullable=False),
    Column("output", JSON, nullable=False),
    Column("score", Float, nullable=True),  # top score: the feedback queue sorts on it
    Column("latency_ms", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_predictions_created", "created_at"),
    Index("ix_predictions_model_version", "model", "version"),
)

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("prediction_id", String(32), ForeignKey("predictions.id", ondelete="CASCADE"), nullable=False),
    Column("model", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("label", JSON, nullable=True),  # a label, a list of labels, or a list of spans
    Column("thumb", Integer, nullable=True),  # +1 / -1
    Column("comment", Text, nullable=True),
    Column("correct", Boolean, nullable=True),  # did the prediction match the given label / thumb?
    Column("key_id", String(32), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_feedback_prediction", "prediction_id"),
    Index("ix_feedback_model_version", "model", "version"),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", String(32), primary_key=True),  # public key id, also the key's prefix
    Column("name", String(64), nullable=False, unique=True),
    Column("hash", String(64), nullable=False),  # sha256 of the secret part (keys are 192-bit random)
    Column("scopes", String(128), nullable=False),
    Column("rate_per_s", Float, nullable=True),
    Column("burst", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

key_usage = Table(
    "key_usage", metadata,
    Column("key_id", String(32), primary_key=True),
    Column("requests", BigInteger, nullable=False, default=0),
    Column("texts", BigInteger, nullable=False, default=0),
    Column("tokens", BigInteger, nullable=False, default=0),
    Column("errors", BigInteger, nullable=False, default=0),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
)

# ---- assistant (migration 0002) ------------------------------------------------------------------

assistants = Table(  # built assistant folders registered as numbered versions of a named assistant
    "assistants", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("path", Text, nullable=False),
    Column("thresholds", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("name", "version", name="uq_assistants_name_version"),
)

assistant_turns = Table(  # one question and its answer in a conversation; id = the logged prediction's id
    "assistant_turns", metadata,
    Column("id", String(32), primary_key=True),
    Column("assistant", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("conversation_id", String(128), nullable=False),
    Column("question", Text, nullable=True),  # None when only the hash is logged
    Column("route", String(16), nullable=False),  # intent | faq | handoff
    Column("label", Text, nullable=False),
    Column("answer", Text, nullable=True),
    Column("confidence", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_assistant_turns_conversation", "assistant", "conversation_id", "created_at"),
)

handoffs = Table(  # questions handed to a human; resolved ones become training examples
    "handoffs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("assistant", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("turn_id", String(32), nullable=False),
    Column("conversation_id", String(128), nullable=False),
    Column("question", Text, nullable=False),
    Column("suggestions", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # open | resolved
    Column("label", Text, nullable=True),  # resolution: an intent, a FAQ id or out_of_scope
    Column("reply", Text, nullable=True),  # what the human answered
    Column("resolved_by", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Index("ix_handoffs_assistant_status", "assistant", "status", "id"),
)

# ---- monitor (migration 0003) --------------------------------------------------------------------

# monitors: a named monitor's config (parsed YAML, as JSON); monitor_items: every classified news item (deduped by
# content hash); monitor_aggregates: per tumbling window and (kind, key) counts; monitor_alerts: raised alerts and
# their webhook outbox state; monitor_deliveries: every delivery attempt (failed ones too).
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
    Column("text", Text, nullable=False),
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


# ---- dashboard (migration 0004) ------------------------------------------------------------------
