"""Evaluate an assistant on labelled questions: in-scope accuracy, out-of-scope precision/recall, FAQ MRR and recall@k.

Labels are intent names, FAQ ids or `out_of_scope`. Ranking metrics (MAP, MRR, recall@k) are plain functions.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.apps.assistant.calibrate import RouteMetrics, Thresholds, route_labels, score_routes
from tunelab.apps.assistant.kb import OUT_OF_SCOPE
from tunelab.apps.assistant.prior import Separation, separation
from tunelab.errors import DataError, DataProblem

KS = (1, 3, 5)


@dataclass(frozen=True)
class AssistantEvaluation:
    routes: RouteMetrics
    route_counts: dict[str, int]  # intent / faq / handoff
    faq_mrr: float | None  # over questions whose label is a FAQ id (None when there are none)
    faq_recall_at: dict[int, float]
    faq_questions: int
    thresholds: Thresholds
    detection: dict[str, Separation] = field(default_factory=dict)  # per out-of-scope score: AUROC, AUPRC, FPR@95
    ood_method: str | None = None  # the score that decides hand-offs (None: the two thresholds)
    oos_share: float | None = None  # the share the precision was reweighted to (None: the data's own)

    def to_dict(self) -> dict[str, Any]:
        return {**self.routes.to_dict(), "routes": self.route_counts,
                "faq_mrr": None if self.faq_mrr is None else round(self.faq_mrr, 4),
                "faq_recall_at": {str(k): round(v, 4) for k, v in self.faq_recall_at.items()},
                "faq_questions": self.faq_questions, "thresholds": asdict(self.thresholds),
                "ood_method": self.ood_method, "oos_share": self.oos_share,
                "detection": {name: d.to_dict() for name, d in self.detection.items()}}


def evaluate_assistant(assistant: Any, questions: Sequence[str], labels: Sequence[str],
                       thresholds: Thresholds | None = None, oos_share: float | None = None) -> AssistantEvaluation:
    """Route every question with `assistant` (a router.Assistant) and score against `labels`; with `oos_share`
    the hand-off precision is that of traffic with this share of out-of-scope questions."""
    thresholds = thresholds or assistant.thresholds
    scores = assistant.score(list(questions))
    predicted = route_labels(scores.scored(), thresholds)
    kinds = np.where(predicted == OUT_OF_SCOPE, "handoff",
                     np.where(np.isin(predicted, list(scores.intents)), "intent", "faq"))
    counts = {k: int((kinds == k).sum()) for k in ("intent", "faq", "handoff")}
    faq_rows = [i for i, label in enumerate(labels) if label in scores.faq_ids]
    ranks = [rank_of(scores.similarities[i], scores.faq_ids.index(labels[i])) for i in faq_rows]
    mrr = float(np.mean([1.0 / r for r in ranks])) if ranks else None
    recall = {k: float(np.mean([r <= k for r in ranks])) for k in KS} if ranks else {}
    ood = getattr(assistant, "ood", None)
    return AssistantEvaluation(score_routes(predicted, labels, oos_share), counts, mrr, recall, len(ranks),
                               thresholds, detection_of(scores, labels), ood.method if ood else None, oos_share)


def detection_of(scores: Any, labels: Sequence[str]) -> dict[str, Separation]:
    """Each out-of-scope score's separation of the labelled questions (empty without both kinds or scores)."""
    is_oos = np.array([label == OUT_OF_SCOPE for label in labels])
    if scores.components is None or is_oos.all() or not is_oos.any():
        return {}
    named = {n: scores.components.values[n] for n in scores.components.names}
    if scores.ood is not None:
        named = {"decision": scores.ood, **named}
    return {name: separation(values, is_oos) for name, values in named.items()}


def rank_of(scores: np.ndarray, gold: int) -> int:
    """1-based rank of item `gold` when sorted by descending score (ties count against it)."""
    return int((scores > scores[gold]).sum() + (scores[scores == scores[gold]].size - 1) + 1)


def average_precision(scores: Sequence[float], relevant: Sequence[bool]) -> float:
    """AP of one ranking (descending score; stable order on ties); 0 when nothing is relevant."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    hits, total = 0, 0.0
    for position, i in enumerate(order, start=1):
        if relevant[i]:
            hits += 1
            total += hits / position
    return total / hits if hits else 0.0


def reciprocal_rank(scores: Sequence[float], relevant: Sequence[bool]) -> float:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    return next((1.0 / p for p, i in enumerate(order, start=1) if relevant[i]), 0.0)


def read_labelled(path: str | Path, text_column: str = "text", label_column: str = "label") -> tuple[list[str],
                                                                                                       list[str]]:
    """A CSV of questions and their labels (intent, FAQ id or out_of_scope)."""
    path = Path(path)
    if not path.is_file():
        raise DataError([DataProblem(str(path), "file not found")])
    texts, labels, problems = [], [], []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in (text_column, label_column) if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError([DataProblem(str(path), f"missing column(s) {', '.join(missing)}", 1)])
        for row in reader:
            text, label = (row.get(text_column) or "").strip(), (row.get(label_column) or "").strip()
            if not text or not label:
                problems.append(DataProblem(str(path), "empty text or label", reader.line_num,
                                            text_column if not text else label_column))
                continue
            texts.append(text)
            labels.append(label)
    if problems or not texts:
        raise DataError(problems or [DataProblem(str(path), "no rows")])
    return texts, labels


def read_questions(path: str | Path, text_column: str = "text") -> list[str]:
    """Unlabelled questions: a CSV's `text` column, or a text file with one question per line."""
    path = Path(path)
    if not path.is_file():
        raise DataError([DataProblem(str(path), "file not found")])
    with open(path, encoding="utf-8", newline="") as handle:
        if path.suffix.lower() != ".csv":
            texts = [line.strip() for line in handle if line.strip()]
        else:
            reader = csv.DictReader(handle)
            if text_column not in (reader.fieldnames or []):
                raise DataError([DataProblem(str(path), f"missing column {text_column}", 1)])
            texts = [t for row in reader if (t := (row.get(text_column) or "").strip())]
    if not texts:
        raise DataError([DataProblem(str(path), "no questions")])
    return texts
