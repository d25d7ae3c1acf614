"""The registry's core tables (SQLAlchemy Core) and the `metadata` every table of the database sits on.

    models        a named model (e.g. "intents")
    versions      run folders registered as numbered versions of a model
    aliases       movable names for a version ("production", "staging"); alias_events keeps history
    splits        A/B traffic weights per model: {version: weight}
    predictions   every served prediction (id, version, latency, output, text or its hash); `kind` says whose:
                  'model' (a registered model's) or an application's (e.g. 'assistant' answers)
    feedback      corrections and thumbs on a prediction id
    api_keys      hashed keys with scopes and an optional own rate limit; key_usage counts use
    sessions      dashboard logins: a session id (hashed) per logged-in admin key; logout or expiry ends it

Applications declare their own tables on `metadata` next to their code (`apps/*/tables.py`); the one list of
table modules is `tunelab.migrations.tables`, and the migrations in `tunelab/migrations/versions` create them all.
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

from tunelab.registry.sealing import SealedJSON, SealedText

metadata = MetaData()

MODEL_KIND = "model"  # predictions.kind of a registered model's predictions (the default)

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
    Column("text", SealedText, nullable=True),  # None when only the hash is logged; sealed with a data key
    Column("text_hash", String(64), nullable=False),
    Column("output", SealedJSON, nullable=False),
    Column("score", Float, nullable=True),  # top score: the feedback queue sorts on it
    Column("latency_ms", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("kind", String(16), nullable=False, server_default=MODEL_KIND),  # migration 0005
    Index("ix_predictions_created", "created_at"),
    Index("ix_predictions_model_version", "model", "version"),
)

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("prediction_id", String(32), ForeignKey("predictions.id", ondelete="CASCADE"), nullable=False),
    Column("model", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("label", SealedJSON, nullable=True),  # a label, a list of labels, or a list of spans
    Column("thumb", Integer, nullable=True),  # +1 / -1
    Column("comment", SealedText, nullable=True),
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

sessions = Table(  # dashboard logins (migration 0006): the cookie names a session; the server can end it
    "sessions", metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 of the session id (the cookie is signed, not secret)
    Column("key_id", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_sessions_key", "key_id"),
)
