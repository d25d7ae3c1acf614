"""The recommender's tables on the shared `MetaData` (made by migration 0007; listed in `tunelab.migrations.tables`).

    recommenders        build folders registered as numbered versions of a named recommender
    recommender_events  impressions, clicks, purchases... on what was recommended; the next build's training data
                        (`tunelab recommend build --from-registry NAME`, or `recommend events NAME -o FILE`)
    recommender_items   items added or updated through the API (`PUT /v1/recommenders/{name}/items`), per name:
                        a registered build folder is never written to, so these are laid over every version of
                        the name when it loads (embedded on arrival, and again when a server loads the version)
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Float, Index, Integer, String, Table, Text, UniqueConstraint

from tunelab.registry.schema import metadata

recommenders = Table(
    "recommenders", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("path", Text, nullable=False),
    Column("metrics", JSON, nullable=False),  # the build's evaluation table
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("name", "version", name="uq_recommenders_name_version"),
)

recommender_events = Table(
    "recommender_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("recommender", String(64), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("item_id", String(128), nullable=False),
    Column("event", String(32), nullable=False),  # impression | click | view | purchase | like | rating | ...
    Column("value", Float, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("key_id", String(32), nullable=True),
    Index("ix_recommender_events_recommender_at", "recommender", "at"),
)

recommender_items = Table(
    "recommender_items", metadata,
    Column("recommender", String(64), primary_key=True),
    Column("item_id", String(128), primary_key=True),
    Column("text", Text, nullable=False),
    Column("fields", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
