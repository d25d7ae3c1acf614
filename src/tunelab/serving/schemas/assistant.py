"""Wire types of the assistant application: ask, versions, conversations, hand-offs."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tunelab.serving.schemas.common import Body, Out

ID_MAX = 2**31 - 1


class AskRequest(Body):
    question: str = Field(min_length=1, max_length=4000, description="The customer's question")
    conversation_id: str | None = Field(None, min_length=1, max_length=128,
                                        description="Conversation id; a new one is made and returned when absent")
    version: int | None = Field(None, ge=1, le=ID_MAX, description="Assistant version (default: the newest)")


class ResolveRequest(Body):
    label: str = Field(min_length=1, max_length=200, description="The right intent, FAQ id, or out_of_scope")
    reply: str | None = Field(None, max_length=8000, description="What the human answered")


class RegisterAssistantRequest(Body):
    path: str = Field(min_length=1, max_length=4096, description="A built assistant folder on the server")


class SuggestionOut(Out):
    kind: str = Field(description="intent or faq")
    id: str
    score: float
    answer: str


class AssistantReply(Out):
    id: str = Field(description="The turn id: send feedback on it")
    assistant: str
    version: int
    conversation_id: str
    handoff_id: int | None = None
    question: str
    route: str = Field(description="intent, faq or handoff")
    label: str = Field(description="The intent, the FAQ id, or out_of_scope")
    answer: str | None
    confidence: float
    evidence: dict[str, Any] = Field(description="Scores and thresholds behind the route")
    suggestions: list[SuggestionOut]


class AssistantVersionOut(Out):
    name: str
    version: int
    path: str
    thresholds: dict[str, float]
    metrics: dict[str, Any]
    created_at: str


class AssistantList(Out):
    assistants: list[AssistantVersionOut]


class TurnOut(Out):
    id: str
    assistant: str
    version: int
    conversation_id: str
    question: str | None
    route: str
    label: str
    answer: str | None
    confidence: float
    created_at: str


class ConversationOut(Out):
    conversation_id: str
    turns: list[TurnOut]


class HandoffOut(Out):
    id: int
    assistant: str
    version: int
    turn_id: str
    conversation_id: str
    question: str
    suggestions: list[dict[str, Any]]
    status: str
    label: str | None
    reply: str | None
    resolved_by: str | None
    created_at: str
    resolved_at: str | None


class HandoffList(Out):
    handoffs: list[HandoffOut]
