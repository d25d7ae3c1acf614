"""What the assistant pages show: registered assistants, a conversation's turns with their evidence, hand-offs.

Reads only: the turns come from `AssistantStore.conversation`, each turn's evidence from the prediction it was
logged as (same id), and a hand-off turn's suggestions from its hand-off row. Asking and resolving go through
the server's `Desk` (the same calls as `/v1/assistants`), never through this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab.apps.assistant.kb import OUT_OF_SCOPE
from tunelab.apps.assistant.layout import load_kb_copy
from tunelab.apps.assistant.store import AssistantStore, AssistantVersion, Handoff, Turn
from tunelab.errors import NotFoundError, UsageError

MAX_TURNS = 50


@dataclass(frozen=True)
class AssistantRow:
    """One assistant on the list page: its newest version, how many versions, its open hand-offs."""

    newest: AssistantVersion
    versions: int
    open_handoffs: int


@dataclass(frozen=True)
class ChatTurn:
    turn: Turn
    evidence: dict[str, Any]
    handoff: Handoff | None  # the hand-off this turn opened (with its suggestions), if any


@dataclass(frozen=True)
class Queue:
    """The open hand-offs of one assistant and, per version they came from, the labels they can get."""

    handoffs: list[Handoff]
    labels: dict[int, list[str]] = field(default_factory=dict)


def list_assistants(assistants: AssistantStore) -> list[AssistantRow]:
    by_name: dict[str, list[AssistantVersion]] = {}
    for version in assistants.list():
        by_name.setdefault(version.name, []).append(version)
    return [AssistantRow(versions[-1], len(versions), len(assistants.handoffs(name, "open", 10_000)))
            for name, versions in by_name.items()]


def conversation_turns(assistants: AssistantStore, name: str, conversation_id: str) -> list[ChatTurn]:
    """The last turns of a conversation, oldest first, each with its evidence and hand-off (if any)."""
    if not conversation_id:
        return []
    check_conversation_id(conversation_id)
    turns = assistants.conversation(name, conversation_id, limit=10_000)[-MAX_TURNS:]
    handoffs = {h.turn_id: h for h in assistants.handoffs(name, None, 10_000)} if any(
        t.route == "handoff" for t in turns) else {}
    out = []
    for turn in turns:
        try:
            evidence = assistants.store.get_prediction(turn.id)["output"].get("evidence") or {}
        except NotFoundError:
            evidence = {}  # purged by retention: the turn itself stays
        out.append(ChatTurn(turn, evidence, handoffs.get(turn.id)))
    return out


def check_conversation_id(value: str) -> str:
    if not value or len(value) > 128 or any(not c.isprintable() for c in value):
        raise UsageError("a conversation id is 1-128 printable characters",
                         hint="start a new conversation from the assistant page")
    return value


def open_queue(assistants: AssistantStore, name: str) -> Queue:
    """The open hand-offs, oldest first, and the labels (intents, FAQ ids, out_of_scope) of their versions."""
    handoffs = assistants.handoffs(name, "open", 500)
    labels = {}
    for version in sorted({h.version for h in handoffs}):
        kb = load_kb_copy(Path(assistants.get(name, version).path))
        labels[version] = sorted(kb.answer_ids()) + [OUT_OF_SCOPE]
    return Queue(handoffs, labels)
