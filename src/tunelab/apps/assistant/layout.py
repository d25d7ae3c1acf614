"""The assistant folder: `assistant.json` (written last), the knowledge base as built (`kb.json`), and its parts.

    assistant.json      name, thresholds, calibration, counts, sources (a folder without it is unfinished)
    kb.json             the knowledge base that was built, with resolved hand-offs merged in
    classifier/         a TuneLab run folder: the intent classifier (absent for a FAQ-only assistant)
    encoder/            the sentence encoder for FAQ retrieval (safetensors)
    faq_index.*         FAQ phrasing embeddings and their entry ids
    calibration.json    the held-out questions' scores (each out-of-scope component too) and the chosen thresholds
    ood.json            the out-of-scope score that decides hand-offs and the blend's weights (apps/assistant/ood.py)
    ood_stats.*         the served classifier's training-feature statistics: class means, shared precision matrix,
                        kNN bank (safetensors + JSON)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunelab.apps.assistant.kb import FaqEntry, Intent, KnowledgeBase
from tunelab.artifacts.files import read_json, write_json_atomic
from tunelab.errors import ArtifactError, IncompleteRunError

MANIFEST = "assistant.json"
SCHEMA = 1


@dataclass(frozen=True)
class AssistantManifest:
    name: str
    thresholds: dict[str, float]
    calibration: dict[str, Any]
    counts: dict[str, int]
    base_model: str
    max_length: int
    created_at: str
    kb_source: str
    kb_sha256: str
    sources: dict[str, Any] = field(default_factory=dict)  # how the calibration set was made, hand-offs used
    schema: int = SCHEMA


def save_assistant_manifest(folder: Path, manifest: AssistantManifest) -> None:
    write_json_atomic(folder / MANIFEST, asdict(manifest))


def load_assistant_manifest(folder: Path) -> AssistantManifest:
    path = Path(folder) / MANIFEST
    try:
        exists, complete = Path(folder).is_dir(), path.is_file()
    except OSError as exc:  # a name too long, a permission problem
        raise ArtifactError(f"cannot read {folder}: {exc.strerror}") from None
    if not exists:
        raise ArtifactError(f"{folder} is not an assistant folder (it does not exist)")
    if not complete:
        raise IncompleteRunError(f"{folder} has no {MANIFEST}: not an assistant, or its build did not finish",
                                 hint="build it with `tunelab assistant build KB -o FOLDER`")
    raw = read_json(path)
    if raw.get("schema") != SCHEMA:
        raise ArtifactError(f"{path}: unknown assistant schema {raw.get('schema')!r} (this TuneLab reads {SCHEMA})")
    try:
        return AssistantManifest(**raw)
    except TypeError as exc:
        raise ArtifactError(f"{path} is malformed: {exc}") from None


def save_kb_copy(folder: Path, kb: KnowledgeBase) -> None:
    write_json_atomic(folder / "kb.json", {
        "source": kb.path, "variables": kb.variables, "out_of_scope": list(kb.out_of_scope),
        "intents": [{"name": i.name, "examples": list(i.examples), "answer": i.answer} for i in kb.intents],
        "faq": [{"id": f.id, "questions": list(f.questions), "answer": f.answer} for f in kb.faq]})


def load_kb_copy(folder: Path) -> KnowledgeBase:
    raw = read_json(Path(folder) / "kb.json")
    return KnowledgeBase(raw["source"], tuple(Intent(i["name"], tuple(i["examples"]), i["answer"])
                                              for i in raw["intents"]),
                         tuple(FaqEntry(f["id"], tuple(f["questions"]), f["answer"]) for f in raw["faq"]),
                         tuple(raw["out_of_scope"]), dict(raw["variables"]))
