"""A built assistant loaded from its folder: score questions, route them (intent, FAQ, hand-off), render answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.apps.assistant.calibrate import Scored, Thresholds, route_labels
from tunelab.apps.assistant.index import QUESTION_ROLE, FaqIndex, SentenceEncoder
from tunelab.apps.assistant.kb import OUT_OF_SCOPE, KnowledgeBase, render_answer
from tunelab.apps.assistant.layout import MANIFEST, AssistantManifest, load_assistant_manifest, load_kb_copy
from tunelab.apps.assistant.ood import Components, OodModel, compute_components, load_ood_model
from tunelab.errors import UsageError
from tunelab.inference.loader import ModelLoader
from tunelab.inference.outliers import OodStats

SUGGESTIONS = 3


@dataclass(frozen=True)
class Suggestion:
    kind: str  # "intent" or "faq"
    id: str
    score: float
    answer: str


@dataclass(frozen=True)
class Answer:
    question: str
    route: str  # "intent", "faq" or "handoff"
    label: str  # the intent name, the FAQ id, or "out_of_scope"
    answer: str | None  # None on a hand-off
    confidence: float  # the score of the best candidate: intent probability or FAQ cosine similarity
    evidence: dict[str, Any]
    suggestions: tuple[Suggestion, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "route": self.route, "label": self.label, "answer": self.answer,
                "confidence": round(self.confidence, 6), "evidence": self.evidence,
                "suggestions": [{"kind": s.kind, "id": s.id, "score": round(s.score, 6), "answer": s.answer}
                                for s in self.suggestions]}


@dataclass(frozen=True)
class Scores:
    """Raw scores for n questions: intent probabilities (n, intents) and FAQ similarities (n, entries)."""

    intents: tuple[str, ...]
    probabilities: np.ndarray
    faq_ids: tuple[str, ...]
    similarities: np.ndarray
    best_rows: np.ndarray  # which FAQ phrasing gave each similarity
    components: Components | None = None  # the out-of-scope scores (assistants built with them)
    ood: np.ndarray | None = None  # (n,) the out-of-scope score that decides hand-offs

    def scored(self) -> Scored:
        n = self.probabilities.shape[0]
        top_i = self.probabilities.argmax(1) if self.intents else np.zeros(n, dtype=np.int64)
        top_f = self.similarities.argmax(1) if self.faq_ids else np.zeros(n, dtype=np.int64)
        return Scored(
            intent=np.array([self.intents[i] if self.intents else "" for i in top_i], dtype=object),
            intent_p=self.probabilities.max(1) if self.intents else np.full(n, -np.inf),
            faq=np.array([self.faq_ids[i] if self.faq_ids else "" for i in top_f], dtype=object),
            faq_s=self.similarities.max(1) if self.faq_ids else np.full(n, -np.inf), ood=self.ood)


class Assistant:
    """`Assistant.load(folder)`; `answer(questions)` routes each one; `score(questions)` gives raw scores."""

    def __init__(self, folder: Path, manifest: AssistantManifest, kb: KnowledgeBase, classifier: Any,
                 encoder: SentenceEncoder | None, index: FaqIndex | None, ood: OodModel | None = None) -> None:
        self.folder = folder
        self.manifest = manifest
        self.kb = kb
        self.classifier = classifier  # a tunelab Predictor, or None for a FAQ-only assistant
        self.encoder = encoder
        self.index = index
        self.ood = ood  # None: built before out-of-scope scores (the two thresholds decide hand-offs)
        self.thresholds = Thresholds(**manifest.thresholds)

    @classmethod
    def load(cls, folder: str | Path, loader: ModelLoader | None = None) -> Assistant:
        """`loader` loads the intent classifier's run folder (the server passes its shared model cache)."""
        from tunelab.inference import Predictor

        load_model = loader or Predictor.load
        folder = Path(folder)
        manifest = load_assistant_manifest(folder)
        kb = load_kb_copy(folder)
        classifier = load_model(folder / "classifier") if kb.intents else None
        encoder = index = None
        if kb.faq:
            encoder = SentenceEncoder.load(folder / "encoder", manifest.max_length)
            index = FaqIndex.load(folder)
        return cls(folder, manifest, kb, classifier, encoder, index, load_ood_model(folder))

    @property
    def name(self) -> str:
        return self.manifest.name

    def score(self, questions: Sequence[str]) -> Scores:
        if self.ood is None:
            return score_questions(questions, self.classifier, self.encoder, self.index)
        scores = score_questions(questions, self.classifier, self.encoder, self.index, self.ood.stats, features=True)
        assert scores.components is not None
        return replace(scores, ood=self.ood.decision(scores.components))

    def answer(self, questions: Sequence[str], thresholds: Thresholds | None = None) -> list[Answer]:
        if not questions or any(not isinstance(q, str) or not q.strip() for q in questions):
            raise UsageError("questions must be non-empty texts")
        scores = self.score(questions)
        labels = route_labels(scores.scored(), thresholds or self.thresholds)
        return [self._answer(q, str(label), scores, i) for i, (q, label) in enumerate(zip(questions, labels))]

    def _out_of_scope(self, scores: Scores, i: int) -> dict[str, Any]:
        """The hand-off decision's evidence: the deciding score, its threshold and every component."""
        if self.ood is None or scores.ood is None or scores.components is None:
            return {}
        return {"out_of_scope": {"method": self.ood.method, "score": round(float(scores.ood[i]), 6),
                                 "threshold": self.thresholds.ood, "components": scores.components.row(i)}}

    def _answer(self, question: str, label: str, scores: Scores, i: int) -> Answer:
        answer = self._route_answer(question, label, scores, i)
        answer.evidence.update(self._out_of_scope(scores, i))
        return answer

    def _route_answer(self, question: str, label: str, scores: Scores, i: int) -> Answer:
        candidates = self._candidates(scores, i)
        best = candidates[0] if candidates else Suggestion("none", "", 0.0, "")
        if label == OUT_OF_SCOPE:
            evidence = {"thresholds": {"intent": self.thresholds.intent, "faq": self.thresholds.faq},
                        "best": {"kind": best.kind, "id": best.id, "score": round(best.score, 6)}}
            return Answer(question, "handoff", OUT_OF_SCOPE, None, best.score, evidence,
                          tuple(candidates[:SUGGESTIONS]))
        if label in scores.intents:
            p = float(scores.probabilities[i, scores.intents.index(label)])
            order = np.argsort(-scores.probabilities[i])[:SUGGESTIONS]
            evidence = {"intent": label, "probability": round(p, 6), "threshold": self.thresholds.intent,
                        "alternatives": {scores.intents[j]: round(float(scores.probabilities[i, j]), 6)
                                         for j in order}}
            intent = self.kb.intent(label)
            text = render_answer(intent.answer if intent else "", question, label, self.kb.variables)
            return Answer(question, "intent", label, text, p, evidence)
        j = scores.faq_ids.index(label)
        s = float(scores.similarities[i, j])
        assert self.index is not None
        evidence = {"faq": label, "similarity": round(s, 6), "threshold": self.thresholds.faq,
                    "matched_question": self.index.questions[int(scores.best_rows[i, j])]}
        entry = self.kb.entry(label)
        return Answer(question, "faq", label, entry.answer if entry else "", s, evidence)

    def _candidates(self, scores: Scores, i: int) -> list[Suggestion]:
        """Intents and FAQ entries ranked by score over their route's threshold (comparable across routes)."""
        out = []
        for j, intent in enumerate(scores.intents):
            p = float(scores.probabilities[i, j])
            item = self.kb.intent(intent)
            text = render_answer(item.answer, "", intent, self.kb.variables) if item else ""
            out.append((p / max(self.thresholds.intent, 1e-6), Suggestion("intent", intent, p, text)))
        for j, entry_id in enumerate(scores.faq_ids):
            s = float(scores.similarities[i, j])
            entry = self.kb.entry(entry_id)
            out.append((s / max(self.thresholds.faq, 1e-6), Suggestion("faq", entry_id, s, entry.answer if entry
                                                                         else "")))
        out.sort(key=lambda pair: -pair[0])
        return [s for _, s in out]


def score_questions(questions: Sequence[str], classifier: Any, encoder: SentenceEncoder | None,
                    index: FaqIndex | None, stats: OodStats | None = None, features: bool = False) -> Scores:
    """Intent probabilities from `classifier` (a Predictor) and FAQ similarities from `encoder` + `index`; with
    `features`, one pass that also gives the pooled features and the out-of-scope components (`stats`: the
    training features' statistics behind Mahalanobis and kNN). A classifier trained with an out-of-scope class
    (the knowledge base's examples as negatives) scores the intents only; that class's probability is `reject`."""
    n = len(questions)
    pooled = logits = reject = None
    if classifier is not None and features:
        labels = tuple(classifier.labels)
        pooled, logits = classifier.features(list(questions), pooling=stats.pooling if stats else "head")
        shifted = np.exp(logits - logits.max(1, keepdims=True))
        probabilities = (shifted / shifted.sum(1, keepdims=True)).astype(np.float32).reshape(n, -1)
    elif classifier is not None:
        labels = tuple(classifier.labels)
        probs = classifier.predict_proba(list(questions))
        probabilities = np.array([[p[name] for name in labels] for p in probs], dtype=np.float32).reshape(n, -1)
    else:
        labels, probabilities = (), np.zeros((n, 0), dtype=np.float32)
    intents = tuple(name for name in labels if name != OUT_OF_SCOPE)
    if len(intents) < len(labels):  # trained with an out-of-scope class: its probability is a score, not an intent
        keep = [j for j, name in enumerate(labels) if name != OUT_OF_SCOPE]
        reject = probabilities[:, labels.index(OUT_OF_SCOPE)]
        probabilities = probabilities[:, keep]
        logits = logits[:, keep] if logits is not None else None
    if encoder is not None and index is not None and index.entry_ids:
        similarities, rows = index.entry_scores(encoder.embed(list(questions), QUESTION_ROLE))
        faq_ids = index.entry_ids
    else:
        faq_ids, similarities, rows = (), np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64)
    components = None
    if features:
        components = compute_components(stats, pooled, logits, similarities.max(1) if faq_ids else None, reject)
    return Scores(intents, probabilities, faq_ids, similarities, rows, components)


__all__ = ["MANIFEST", "Answer", "Assistant", "Scores", "Suggestion", "score_questions"]
