"""Assistant pages: the registered assistants, a chat tester per assistant, and the hand-off queue.

Questions are answered by the server's own `Desk` (`desk.ask`, as `POST /v1/assistants/{name}/ask`: logged, a
hand-off queued) and hand-offs resolved with `desk.resolve` (as `.../handoffs/{id}/resolve`), so a resolved
hand-off is a training example for the next build. Works without JavaScript: the chat form posts and the
page comes back with the whole conversation."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Query
from starlette.requests import Request
from starlette.responses import Response

from tunelab.apps.assistant.desk import check_question
from tunelab.errors import UsageError
from tunelab.registry import check_name
from tunelab.serving.dashboard import chat
from tunelab.serving.dashboard.pages import Admin, PostedForm, field, new_router
from tunelab.serving.dashboard.web import redirect, render
from tunelab.serving.deps import services_of

router = new_router()


@router.get("/assistant")
def assistants_page(request: Request, _admin: Admin) -> Response:
    rows = chat.list_assistants(services_of(request).desk.assistants)
    return render(request, "assistants.html", active="assistant", rows=rows)


@router.get("/assistant/{name}")
def chat_page(request: Request, name: str, _admin: Admin,
              conversation: str = Query("", max_length=128)) -> Response:
    """The chat tester: the conversation so far (each answer with route, confidence, evidence) and a question box."""
    assistants = services_of(request).desk.assistants
    info = assistants.get(check_name(name, "assistant name"))
    turns = chat.conversation_turns(assistants, name, conversation)
    return render(request, "chat.html", active="assistant", info=info, conversation=conversation, turns=turns,
                  open_handoffs=len(assistants.handoffs(name, "open", 10_000)))


@router.post("/assistant/{name}/ask")
def ask(request: Request, name: str, admin: Admin, form: PostedForm) -> Response:
    """Ask as `POST /v1/assistants/{name}/ask` does; back to the chat page with the conversation."""
    check_name(name, "assistant name")
    question = check_question(field(form, "question"))
    conversation = field(form, "conversation").strip() or None
    if conversation is not None:
        chat.check_conversation_id(conversation)
    reply = services_of(request).desk.ask(name, question, conversation, key_id=admin.key_id,
                                 caller=f"dashboard:{admin.label}"[:128])
    target = f"/assistant/{quote(name)}?conversation={quote(reply.conversation_id, safe='')}#turn-{reply.id}"
    return redirect(request, target)


@router.get("/assistant/{name}/handoffs")
def handoffs_page(request: Request, name: str, _admin: Admin) -> Response:
    assistants = services_of(request).desk.assistants
    info = assistants.get(check_name(name, "assistant name"))
    queue = chat.open_queue(assistants, name)
    resolved = assistants.handoffs(name, "resolved", 10_000)[-20:][::-1]
    return render(request, "handoffs.html", active="assistant", info=info, queue=queue, resolved=resolved)


@router.post("/assistant/{name}/handoffs/{handoff_id}/resolve")
def resolve(request: Request, name: str, handoff_id: int, admin: Admin, form: PostedForm) -> Response:
    """Resolve as `POST /v1/assistants/{name}/handoffs/{id}/resolve`: it leaves the queue and becomes an
    example for the next build."""
    if not 1 <= handoff_id <= 2**31 - 1:
        raise UsageError("hand-off ids are positive 32-bit numbers")
    label = field(form, "label").strip()
    if not label:
        raise UsageError("choose the right intent, FAQ entry or out_of_scope")
    reply = field(form, "reply").strip()[:8000] or None
    services_of(request).desk.resolve(check_name(name, "assistant name"), handoff_id, label, reply=reply,
                             actor=admin.key_name)
    return redirect(request, f"/assistant/{quote(name)}/handoffs")
