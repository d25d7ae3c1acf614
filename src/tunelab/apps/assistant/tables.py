"""The assistant's tables on the shared `MetaData` (made by migration 0002; listed in `tunelab.migrations.tables`).

    assistants       built assistant folders registered as numbered versions of a named assistant
    assistant_turns  one question and its answer in a conversation; its id is the answer's prediction id
    handoffs         questions handed to a human; resolved ones become training examples

Each answer is also logged in the registry's `predictions` table (through `Store.log_predictions`, as kind
`PREDICTION_KIND`), so `POST /v1/feedback` works on it while model views never see it.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Float, Index, Integer, String, Table, Text, UniqueConstraint

from tunelab.registry.schema import metadata
from tunelab.registry.sealing import SealedText

PREDICTION_KIND = "assistant"  # the `kind` of the assistant's answers in the prediction log

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
    Column("question", SealedText, nullable=True),  # None when only the hash is logged
    Column("route", String(16), nullable=False),  # intent | faq | handoff
    Column("label", Text, nullable=False),
    Column("answer", SealedText, nullable=True),
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
    Column("question", SealedText, nullable=False),
    Column("suggestions", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # open | resolved
    Column("label", Text, nullable=True),  # resolution: an intent, a FAQ id or out_of_scope
    Column("reply", SealedText, nullable=True),  # what the human answered
    Column("resolved_by", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Index("ix_handoffs_assistant_status", "assistant", "status", "id"),
)
