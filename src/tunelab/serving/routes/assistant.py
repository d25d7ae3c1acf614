"""HTTP routes of the assistant application (`tunelab.apps.assistant`): ask, conversations, hand-offs, versions.

Scopes: `predict` to ask and read, `feedback` to work the hand-off queue (support staff), `admin` to register.
Answers are logged as predictions of kind `assistant`: `POST /v1/feedback` takes an answer's `id`.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Literal

from fastapi import APIRouter, Query, Request

from tunelab.errors import UsageError
from tunelab.registry import check_name
from tunelab.serving.deps import AdminCaller, FeedbackCaller, PredictCaller, ServicesDep
from tunelab.serving.policy import check_folder
from tunelab.serving.schemas import (
    ERRORS,
    AskRequest,
    AssistantList,
    AssistantReply,
    AssistantVersionOut,
    ConversationOut,
    HandoffList,
    HandoffOut,
    RegisterAssistantRequest,
    ResolveRequest,
)
from tunelab.serving.schemas.assistant import ID_MAX

router = APIRouter(tags=["assistant"], responses=ERRORS)


@router.post("/v1/assistants/{name}/ask", response_model=AssistantReply)
async def ask(name: str, body: AskRequest, request: Request, services: ServicesDep,
              caller: PredictCaller) -> AssistantReply:
    """Answer one question: route (intent, faq, handoff), confidence, evidence, answer or hand-off."""
    check_name(name, "assistant name")
    caller_id = (request.headers.get("x-caller-id") or caller.key_id or "")[:128]
    reply = await asyncio.get_running_loop().run_in_executor(
        None, lambda: services.desk.ask(name, body.question, body.conversation_id, version=body.version,
                                        key_id=caller.key_id, caller=caller_id))
    return AssistantReply.model_validate(reply.to_dict())


@router.get("/v1/assistants", response_model=AssistantList)
def list_assistants(services: ServicesDep, _caller: PredictCaller) -> AssistantList:
    return AssistantList(assistants=[AssistantVersionOut.model_validate(asdict(v))
                                     for v in services.desk.assistants.list()])


@router.get("/v1/assistants/{name}", response_model=AssistantVersionOut)
def show(name: str, services: ServicesDep, _caller: PredictCaller) -> AssistantVersionOut:
    """The newest version of the assistant."""
    return AssistantVersionOut.model_validate(asdict(services.desk.assistants.get(check_name(name, "assistant name"))))


@router.post("/v1/assistants/{name}/versions", status_code=201, response_model=AssistantVersionOut)
def register(name: str, body: RegisterAssistantRequest, services: ServicesDep,
             _caller: AdminCaller) -> AssistantVersionOut:
    """Register a built assistant folder (on the server's disk) as the next version of `name`."""
    check_name(name, "assistant name")
    folder = check_folder(services.settings, body.path, "path")
    return AssistantVersionOut.model_validate(asdict(services.desk.assistants.register(folder, name)))


@router.get("/v1/assistants/{name}/conversations/{conversation_id}", response_model=ConversationOut)
def conversation(name: str, conversation_id: str, services: ServicesDep,
                 _caller: FeedbackCaller) -> ConversationOut:
    turns = services.desk.assistants.conversation(check_name(name, "assistant name"), conversation_id[:128])
    return ConversationOut.model_validate({"conversation_id": conversation_id, "turns": [asdict(t) for t in turns]})


@router.get("/v1/assistants/{name}/handoffs", response_model=HandoffList)
def handoffs(name: str, services: ServicesDep, _caller: FeedbackCaller,
             status: Literal["open", "resolved", "all"] = "open",
             limit: int = Query(100, ge=1, le=10_000)) -> HandoffList:
    """The hand-off queue, oldest first, each with the assistant's top 3 suggestions."""
    rows = services.desk.assistants.handoffs(check_name(name, "assistant name"),
                                             None if status == "all" else status, limit)
    return HandoffList.model_validate({"handoffs": [asdict(h) for h in rows]})


@router.post("/v1/assistants/{name}/handoffs/{handoff_id}/resolve", response_model=HandoffOut)
def resolve(name: str, handoff_id: int, body: ResolveRequest, services: ServicesDep,
            caller: FeedbackCaller) -> HandoffOut:
    """Close a hand-off with the right label; it becomes a training example for the next build."""
    if not 1 <= handoff_id <= ID_MAX:
        raise UsageError("hand-off ids are positive 32-bit numbers")
    handoff = services.desk.resolve(check_name(name, "assistant name"), handoff_id, body.label, reply=body.reply,
                                    actor=caller.key_name)
    return HandoffOut.model_validate(asdict(handoff))
