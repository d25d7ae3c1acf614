"""HTTP routes of the assistant application (`tunelab.apps.assistant`): ask, conversations, hand-offs, versions.

Scopes: `predict` to ask and read, `feedback` to work the hand-off queue (support staff), `admin` to register.
Answers are logged as predictions: `POST /v1/feedback` takes an answer's `id`.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from tunelab.errors import UsageError
from tunelab.registry import check_name
from tunelab.serving.app import ERRORS
from tunelab.serving.auth import Caller
from tunelab.serving.deps import require

TAGS: list[Any] = ["assistant"]
NAME_MAX = 2**31 - 1


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AskRequest(_Body):
    question: str = Field(min_length=1, max_length=4000, description="The customer's question")
    conversation_id: str | None = Field(None, min_length=1, max_length=128,
                                        description="Conversation id; a new one is made and returned when absent")
    version: int | None = Field(None, ge=1, le=NAME_MAX, description="Assistant version (default: the newest)")


class ResolveRequest(_Body):
    label: str = Field(min_length=1, max_length=200, description="The right intent, FAQ id, or out_of_scope")
    reply: str | None = Field(None, max_length=8000, description="What the human answered")


class RegisterAssistantRequest(_Body):
    path: str = Field(min_length=1, max_length=4096, description="A built assistant folder on the server")


def desk_of(state: Any) -> Any:
    """The server's assistant desk (created on first use): the API routes and the dashboard share it."""
    from tunelab.apps.assistant.desk import Desk

    desk = state.extensions.get("assistant")
    if desk is None:
        desk = state.extensions["assistant"] = Desk(state.store, max_loaded=state.settings.max_models,
                                                    log_text=state.settings.log_text)
    return desk


def install(app: FastAPI, state: Any) -> None:
    """Add the assistant routes to the app."""
    desk = desk_of(state)

    @app.post("/v1/assistants/{name}/ask", tags=TAGS, responses=ERRORS)
    async def ask(name: str, body: AskRequest, request: Request, caller: Caller = require("predict")) -> Any:
        """Answer one question: route (intent, faq, handoff), confidence, evidence, answer or hand-off."""
        check_name(name, "assistant name")
        caller_id = request.headers.get("x-caller-id") or caller.key_id or ""
        reply = await asyncio.get_running_loop().run_in_executor(
            None, lambda: desk.ask(name, body.question, body.conversation_id, version=body.version,
                                   key_id=caller.key_id, caller=caller_id[:128]))
        return reply.to_dict()

    @app.get("/v1/assistants", tags=TAGS, responses=ERRORS)
    def list_assistants(_caller: Caller = require("predict")) -> Any:
        return {"assistants": [v.to_dict() for v in desk.assistants.list()]}

    @app.get("/v1/assistants/{name}", tags=TAGS, responses=ERRORS)
    def show(name: str, _caller: Caller = require("predict")) -> Any:
        """The newest version of the assistant."""
        return desk.assistants.get(check_name(name, "assistant name")).to_dict()

    @app.post("/v1/assistants/{name}/versions", tags=TAGS, status_code=201, responses=ERRORS)
    def register(name: str, body: RegisterAssistantRequest, _caller: Caller = require("admin")) -> Any:
        """Register a built assistant folder (on the server's disk) as the next version of `name`."""
        check_name(name, "assistant name")
        if "\x00" in body.path:
            raise UsageError("path contains a NUL byte")
        folder = Path(body.path).resolve()
        root = state.settings.runs_root
        if root and not folder.is_relative_to(Path(root).resolve()):
            raise UsageError("path must be inside the server's runs folder", hint=root)
        return desk.assistants.register(folder, name).to_dict()

    @app.get("/v1/assistants/{name}/conversations/{conversation_id}", tags=TAGS, responses=ERRORS)
    def conversation(name: str, conversation_id: str, _caller: Caller = require("feedback")) -> Any:
        turns = desk.assistants.conversation(check_name(name, "assistant name"), conversation_id[:128])
        return {"conversation_id": conversation_id, "turns": [asdict(t) for t in turns]}

    @app.get("/v1/assistants/{name}/handoffs", tags=TAGS, responses=ERRORS)
    def handoffs(name: str, status: Literal["open", "resolved", "all"] = "open",
                 limit: int = Query(100, ge=1, le=10_000), _caller: Caller = require("feedback")) -> Any:
        """The hand-off queue, oldest first, each with the assistant's top 3 suggestions."""
        rows = desk.assistants.handoffs(check_name(name, "assistant name"), None if status == "all" else status,
                                        limit)
        return {"handoffs": [asdict(h) for h in rows]}

    @app.post("/v1/assistants/{name}/handoffs/{handoff_id}/resolve", tags=TAGS, responses=ERRORS)
    def resolve(name: str, handoff_id: int, body: ResolveRequest, caller: Caller = require("feedback")) -> Any:
        """Close a hand-off with the right label; it becomes a training example for the next build."""
        if not 1 <= handoff_id <= NAME_MAX:
            raise UsageError("hand-off ids are positive 32-bit numbers")
        handoff = desk.resolve(check_name(name, "assistant name"), handoff_id, body.label, reply=body.reply,
                               actor=caller.key_name)
        return asdict(handoff)
