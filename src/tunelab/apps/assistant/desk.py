"""The help desk over registered assistants: ask (answer + log), resolve hand-offs, keep loaded assistants.

Used by the server (one per process, `services.desk`) and by the CLI; blocking calls.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

from tunelab.apps.assistant.build import BuildOptions, BuildSummary, run_build
from tunelab.apps.assistant.kb import OUT_OF_SCOPE
from tunelab.apps.assistant.layout import load_kb_copy
from tunelab.apps.assistant.router import Answer, Assistant
from tunelab.apps.assistant.store import AssistantStore, AssistantVersion, Handoff
from tunelab.errors import UsageError
from tunelab.inference.loader import ModelLoader
from tunelab.privacy.policies import Redactors
from tunelab.registry import Store

MAX_QUESTION_CHARS = 4000


@dataclass(frozen=True)
class Reply:
    """One answered question: the turn id (= prediction id, for feedback) and the answer."""

    id: str
    assistant: str
    version: int
    conversation_id: str
    answer: Answer
    handoff_id: int | None

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "assistant": self.assistant, "version": self.version,
                "conversation_id": self.conversation_id, "handoff_id": self.handoff_id, **self.answer.to_dict()}


class Desk:
    """`ask(name, question, conversation_id)`; loaded assistants stay in memory (LRU, `max_loaded`)."""

    def __init__(self, store: Store, max_loaded: int = 4, log_text: bool = True,
                 loader: ModelLoader | None = None, redactors: Redactors | None = None) -> None:
        self.assistants = AssistantStore(store)
        self.loader = loader  # the server's model cache for the intent classifiers
        self.max_loaded = max_loaded
        self.log_text = log_text
        # questions and replies are stored redacted (the classifier saw them whole): each assistant's own policy,
        # else the server's; None: stored as asked
        self.redactors = redactors
        self._loaded: OrderedDict[tuple[str, int], Assistant] = OrderedDict()
        self._lock = threading.Lock()

    def loaded(self, version: AssistantVersion) -> Assistant:
        key = (version.name, version.version)
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
        assistant = Assistant.load(version.path, self.loader)  # outside the lock: loading takes seconds
        with self._lock:
            self._loaded[key] = assistant
            while len(self._loaded) > self.max_loaded:
                self._loaded.popitem(last=False)
        return assistant

    def ask(self, name: str, question: str, conversation_id: str | None = None, *, version: int | None = None,
            key_id: str | None = None, caller: str | None = None) -> Reply:
        check_question(question)
        started = time.perf_counter()
        info = self.assistants.get(name, version)
        answer = self.loaded(info).answer([question])[0]
        turn_id = uuid.uuid4().hex
        conversation = conversation_id or uuid.uuid4().hex
        logged = replace(answer, question=self._scrub(info.name, answer.question))
        handoff_id = self.assistants.log_turn(turn_id, info, conversation, logged,
                                              latency_ms=(time.perf_counter() - started) * 1000, key_id=key_id,
                                              caller=caller, log_text=self.log_text)
        return Reply(turn_id, info.name, info.version, conversation, answer, handoff_id)

    def resolve(self, name: str, handoff_id: int, label: str, *, reply: str | None = None,
                actor: str | None = None) -> Handoff:
        """Resolve with an intent name, a FAQ id or out_of_scope known to the version that handed it off."""
        handoff = self.assistants.handoff(name, handoff_id)
        kb = load_kb_copy(Path(self.assistants.get(name, handoff.version).path))
        known = kb.answer_ids() | {OUT_OF_SCOPE}
        if label not in known:
            raise UsageError(f"{label!r} is not an intent or FAQ id of assistant {name!r} version {handoff.version}",
                             hint=f"use one of: {', '.join(sorted(known)[:30])}")
        return self.assistants.resolve(name, handoff_id, label, reply=self._scrub(name, reply) if reply else reply,
                                       actor=actor)

    def _scrub(self, name: str, text: str) -> str:
        return self.redactors.for_target("assistant", name).scrub(text) if self.redactors is not None else text


def check_question(question: object) -> str:
    if not isinstance(question, str) or not question.strip():
        raise UsageError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise UsageError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
    try:
        question.encode("utf-8")
    except UnicodeError:
        raise UsageError("the question is not valid Unicode text (lone surrogates)") from None
    return question


def build_registered(kb_path: str | Path, output: str | Path, options: BuildOptions, store: Store | None, *,
                     use_handoffs: bool = True, register: bool = True) -> tuple[BuildSummary, AssistantVersion | None]:
    """Build with the resolved hand-offs of `options.name` from the registry `store` (with `use_handoffs`), then
    register the folder there as the next version of that name (with `register`)."""
    assistants = AssistantStore(store) if store is not None else None
    extra = assistants.resolved_examples(options.name) if assistants is not None and use_handoffs else []
    summary = run_build(kb_path, output, options, extra)
    version = assistants.register(summary.folder, options.name) if assistants is not None and register else None
    return summary, version
